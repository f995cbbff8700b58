"""What ``#@save`` takes: the marked blocks of a chapter's cells, read statically.

``#@save`` at the end of a ``def``/``class`` line (or of a decorator line above one) saves that
definition. ``#@save`` on a line of its own saves the statements that follow, up to the first blank
line between top-level statements. A saved block made only of imports goes to the module's header.
"""

from __future__ import annotations

import ast
import dataclasses as dc
import io
import re
import tokenize

from IPython.core.inputtransformer2 import TransformerManager

from ..errors import BookError
from .cells import Cell, Chapter

MARKER = "#@save"
_MARKER_AT_END = re.compile(r"\s*#@save\s*$")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dc.dataclass(frozen=True)
class SavedBlock:
    """A piece of code a ``#@save`` marker puts into the package."""

    code: str
    frameworks: tuple[str, ...] | None
    """As the cell's: ``None`` for every framework."""
    docname: str
    where: str
    """``path:line`` of the block's first line, as messages show it."""
    origin: str
    """``path:line`` relative to the book's source folder, as the package records it."""
    line: int
    """1-based line of the block's first line in its source file."""
    imports_only: bool


@dc.dataclass(frozen=True)
class Place:
    """Where a saved block is defined, as readers of the package and the site see it."""

    number: str
    """The section's number ("2.1.2"), "" when it is not numbered."""
    title: str
    """The innermost section's title, "" before any heading."""
    url: str
    """The section on the site: ``<page>.html#<anchor>``, under ``html_baseurl`` when it is set."""

    def __str__(self) -> str:
        """ "2.1.1 优化的目标 (https://.../intro.html#...)" when the site's address is known; else
        "section 2.1.1 优化的目标 of the book" (an address relative to a site means nothing in
        ``help()`` or an editor)."""
        name = " ".join(part for part in (self.number, self.title) if part)
        if "://" in self.url:
            return f"{name} ({self.url})" if name else self.url
        return f"section {name} of the book" if name else f"the book's page {self.url}"


def marker_lines(source: str) -> list[int]:
    """1-based lines holding a ``#@save`` comment (not inside a string or another comment)."""
    lines = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT and token.string.strip() == MARKER:
                lines.append(token.start[0])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Fall back to lines: the syntax error itself is reported by the caller.
        lines = [n for n, text in enumerate(source.splitlines(), 1) if _MARKER_AT_END.search(text)]
    return lines


def strip_markers(source: str) -> str:
    """The cell as readers see it: marker comments removed, marker-only lines dropped."""
    marked = set(marker_lines(source))
    if not marked:
        return source
    shown = []
    for number, text in enumerate(source.splitlines(), 1):
        if number in marked:
            text = _MARKER_AT_END.sub("", text)
            if not text.strip():
                continue
        shown.append(text)
    return "\n".join(shown)


def added_to(node: ast.stmt) -> str | None:
    """``Module`` for a function decorated ``@d2l.add_to_class(d2l.Module)`` (or ``(Module)``): a
    method of that class, which the English edition builds over several cells so; not a name of
    the package."""
    for decorator in getattr(node, "decorator_list", []):
        if isinstance(decorator, ast.Call) and decorator.args:
            called = decorator.func
            if getattr(called, "attr", getattr(called, "id", None)) == "add_to_class":
                target = decorator.args[0]
                return getattr(target, "attr", getattr(target, "id", None)) or "?"
    return None


def block_start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _body_start(node: ast.stmt) -> int:
    body = getattr(node, "body", None)
    return body[0].lineno if body else node.end_lineno + 1


def saved_ranges(source: str, where) -> list[tuple[int, int, bool]]:
    """``(first, last, imports_only)`` line ranges (1-based, inclusive) that the markers save.

    ``where(line)`` formats a cell line as ``path:line`` for error messages.
    """
    markers = marker_lines(source)
    if not markers:
        return []
    try:
        python = TransformerManager().transform_cell(source)  # IPython magics -> plain calls
        tree = ast.parse(python)
    except (SyntaxError, tokenize.TokenError) as error:  # IndentationError is a SyntaxError
        if isinstance(error, tokenize.TokenError):
            error = SyntaxError(error.args[0], (None, error.args[1][0], 0, ""))
        raise BookError(
            f"{where(error.lineno or 1)}: the cell holding a #@save block is not valid Python: {error.msg}"
        ) from None
    lines = source.splitlines()
    statements = tree.body
    ranges = []
    for marker in markers:
        alone = not lines[marker - 1].split(MARKER)[0].strip()
        if alone:
            following = [s for s in statements if block_start(s) > marker]
            if not following:
                raise BookError(f"{where(marker)}: #@save on its own line but no code follows it")
            block = [following[0]]
            for statement in following[1:]:
                gap = lines[block[-1].end_lineno : block_start(statement) - 1]
                if any(not text.strip() for text in gap):
                    break
                block.append(statement)
        else:  # the top-level statement the line opens: a def or class (its header, decorators
            # included), or any other statement, over all its lines (``DATA_HUB['x'] = (  #@save``)
            owner = [s for s in statements if block_start(s) <= marker < _body_start(s)]
            if not owner:
                raise BookError(
                    f"{where(marker)}: #@save at the end of a line must mark a top-level statement (a def or "
                    f"class line, an assignment), not a line inside one's body"
                )
            block = owner
        # A block of imports may also call something, as books' import blocks do
        # (warnings.filterwarnings(...), paddle.disable_signal_handler()): still a block of imports.
        imports_only = any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in block) and all(
            isinstance(s, (ast.Import, ast.ImportFrom, ast.Expr)) for s in block
        )
        ranges.append((block_start(block[0]), block[-1].end_lineno, imports_only))
    return ranges


def chapter_blocks(chapter: Chapter) -> list[SavedBlock]:
    """The saved blocks of one chapter, in order."""
    return [block for cell in chapter.cells for block in _cell_blocks(chapter, cell)]


def _cell_blocks(chapter: Chapter, cell: Cell) -> list[SavedBlock]:
    def where(line: int) -> str:
        return chapter.where(cell.body_line + line)

    source_name = f"{chapter.docname}{chapter.path.suffix}"

    lines = cell.source.splitlines()
    return [
        SavedBlock(
            code=strip_markers("\n".join(lines[first - 1 : last])),
            frameworks=cell.frameworks,
            docname=chapter.docname,
            where=where(first),
            origin=f"{source_name}:{chapter.source_line(cell.body_line + first)}",
            line=cell.body_line + first,
            imports_only=imports_only,
        )
        for first, last, imports_only in saved_ranges(cell.source, where)
    ]
