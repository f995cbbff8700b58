"""d2l-book Markdown, read as our own chapters: the format of the existing Dive into Deep Learning books.

A d2l-book source is converted, in memory and line by line, into the MyST-NB text notebook the
rest of the pipeline reads, keeping a map from each converted line back to its source line, so
every message still names the author's file and line.

- ```` ```{.python .input} ```` cells (with or without attributes such as ``n=2``) run; their
  frameworks come from a first line ``#@tab a, b``, ``#@tab all`` or ``%%tab a``; a cell without
  one belongs to the book's first tab. Each framework gets its own copy of the cell, with that
  framework's aliases applied and its ``if tab.selected(...)`` branch kept, as the published
  book shows it. ``#@hide_output``, ``#@hide_code`` and ``#@hide`` become MyST-NB tags. The
  cell that loads d2l-book's tab selector (``%load_ext d2lbook.tab``) is dropped.
- ``:begin_tab:`a, b``` ... ``:end_tab:`` prose becomes a ``{framework}`` block.
- ``:label:`` after a heading, image or table, ``:numref:``, ``:ref:``, ``:eqref:`` with
  ``:eqlabel:``, ``:cite:`` (``:citet:``, ``:citep:``), ``:bibliography:``, ``:width:``,
  ```` ```toc ```` and ```` ```eval_rst ```` blocks become their MyST forms.
- Slide marks: ``[**text**]`` and ``(**text**)`` keep ``text``; ``[~~text~~]`` and ``(~~text~~)``
  are dropped. As in d2l-book, a pair may span lines, paragraphs, display math and code blocks
  within the prose between two code cells (``[**a**](url)`` is a link, not a mark).

The code blocks are found with markdown-it-py (the parser MyST uses): a fence closes where
CommonMark closes it, whatever its length, indentation or character. The prose constructs are
d2l-book's own, line-based ones (``:label:`` on the line after a heading, or after the heading's
blank line; display math that starts on the line after a prose line), read line by line between
the code blocks. Each converted line keeps the source line it came from; a removed slide mark
keeps the line count.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses as dc
import glob
import os
import re
import sys
import textwrap
from pathlib import Path

from ..errors import BookError
from ..files import display_path, read_text

#: The front matter that makes a converted chapter with code a MyST-NB notebook.
NOTEBOOK_HEADER = ["---", "file_format: mystnb", "kernelspec:", "  name: python3", "  display_name: Python 3", "---"]

_CELL = re.compile(r"^(?P<fence>`{3,})\{\.python\s+\.input\b[^}]*\}\s*$")
_TAB = re.compile(r"^\s*(?P<marker>#@tab|%%tab)\s+(?P<names>.+?)\s*$")
_HIDE = {"#@hide_output": "remove-output", "#@hide_code": "remove-input", "#@hide": "remove-cell"}
_LABEL = re.compile(r"^\s*:label:`(?P<label>[^`]+)`\s*$")
_EQLABEL = re.compile(r"\s*:eqlabel:`(?P<label>[^`]+)`\s*$")
_WIDTH = re.compile(r"\s*:width:`(?P<width>[^`]+)`")
_IMAGE = re.compile(r"^\s*!\[(?P<caption>[^\]]*)\]\((?P<path>[^)\s]+)\)(?P<rest>.*)$")
_HEADING = re.compile(r"^#{1,6}\s")
_CAPTION = re.compile(r"^:(?P<caption>[^:`\s][^`]*)$")
_BEGIN_TAB = re.compile(r"^\s*:begin_tab:`(?P<names>[^`]*)`\s*$")
_END_TAB = re.compile(r"^\s*:end_tab:\s*$")
_BIBLIOGRAPHY = re.compile(r"^\s*:bibliography:`(?P<path>[^`]+)`\s*$")
_ROLES = {"numref": "numref", "ref": "ref", "eqref": "eq", "cite": "cite:p", "citep": "cite:p", "citet": "cite:t"}
_ROLE = re.compile(r"(?<![\w{}]):(?P<role>numref|ref|eqref|citet|citep|cite):`(?P<target>[^`]+)`")
#: d2l-book's slide marks: (opening, closing, whether the text between them is kept in the book).
_SLIDE_MARKS = (("[**", "**]", True), ("(**", "**)", True), ("[~~", "~~]", False), ("(~~", "~~)", False))
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_SELECTED = re.compile(
    r"^(?P<indent>\s*)(?P<keyword>if|elif)\s+"
    r"(?P<calls>tab\.selected\([^)]*\)(?:\s+or\s+tab\.selected\([^)]*\))*)\s*:\s*$"
)
_SELECTED_CALL = re.compile(r"tab\.selected\(([^)]*)\)")
_ELSE = re.compile(r"^(?P<indent>\s*)else\s*:\s*$")


class SourceError(ValueError):
    """Markup that cannot be read as the author meant it; ``line`` is its line in the source."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


@dc.dataclass(frozen=True)
class Library:
    """One tab's ``[library-<tab>]`` section of ``config.ini``: how ``d2l.<name>`` reads in that framework."""

    lib_name: str = ""
    simple: tuple[tuple[str, str], ...] = ()
    """``d2l.name`` -> ``<lib_name>.target``."""
    fluent: tuple[tuple[str, str], ...] = ()
    """``d2l.name(a, *args)`` -> ``a.target(*args)``."""
    alias: tuple[tuple[str, str], ...] = ()
    """``name = expression`` definitions added to the saved module."""
    reverse: tuple[tuple[str, str], ...] = ()
    """Regular-expression rewrites of the code (pattern, replacement)."""

    def module_code(self) -> str:
        """What the saved module gains, so that readers' ``d2l.<name>`` calls work as the book's do."""
        lines = [f"{name} = {self.lib_name}.{target}" for name, target in self.simple]
        lines += [f"{name} = lambda x, *args, **kwargs: x.{target}(*args, **kwargs)" for name, target in self.fluent]
        lines += [f"{name} = {expression}" for name, expression in self.alias]
        return "\n".join(lines)


@dc.dataclass(frozen=True)
class Settings:
    """What converting a d2l-book source needs from the book's ``config.ini`` and ``conf.py``."""

    tabs: tuple[str, ...]
    """The book's tabs (d2l-book names), in order; the first is a marker-less cell's."""
    frameworks: dict[str, str] = dc.field(default_factory=dict)
    """d2l-book tab name -> our framework name (``pytorch`` -> ``torch``); unnamed ones stay."""
    libraries: dict[str, Library] = dc.field(default_factory=dict)
    """d2l-book tab name -> its aliases."""
    lang: str = ""
    """The book's language (``config.ini``'s ``lang``): the references' title."""
    warnings: tuple[ConfigWarning, ...] = ()
    """What of ``config.ini`` is left out (the build reports each once)."""

    def framework(self, tab: str) -> str:
        return self.frameworks.get(tab, tab)

    def check_tabs(self, names: list[str], marker: str, line: int) -> None:
        """Stop at a tab name that is not one of the book's (a typo would make a framework of it)."""
        unknown = [name for name in names if name != "all" and name not in self.tabs]
        if unknown:
            raise SourceError(
                line,
                f"unknown tab {', '.join(map(repr, unknown))} in {marker}; "
                f"the book's tabs (config.ini [build] tabs): {', '.join(self.tabs) or 'none'}",
            )

    def module_code(self, framework: str) -> str:
        """The aliases the saved module of one of our frameworks gains."""
        return "\n".join(
            library.module_code() for tab, library in self.libraries.items() if self.framework(tab) == framework
        )


@dc.dataclass(frozen=True)
class Converted:
    text: str
    """The MyST (or MyST-NB) text."""
    lines: tuple[int, ...]
    """1-based source line of each converted line (index 0 is line 1)."""
    notebook: bool
    """Whether it has code cells (and so the notebook front matter)."""

    def source_line(self, line: int) -> int:
        """The source line a converted line came from."""
        return mapped_line(self.lines, line)


def mapped_line(line_map: tuple[int, ...], line: int) -> int:
    """The source line behind ``line`` of a converted text (``line_map[i]`` is line ``i + 1``'s);
    a line outside the text is taken as its first or last one; no map: the same line."""
    if not line_map:
        return line
    return line_map[min(max(line, 1), len(line_map)) - 1]


def is_d2lbook(text: str) -> bool:
    """Whether a Markdown file is d2l-book's: it has a ```` ```{.python .input} ```` cell, a
    ```` ```toc ```` block or d2l-book's roles, and no MyST-NB front matter."""
    if text.startswith("---") and "file_format: mystnb" in text.split("\n---", 1)[0]:
        return False
    return bool(
        re.search(r"^`{3,}(\{\.python\s+\.input\b|toc\s*$|eval_rst\s*$)", text, re.M)
        or re.search(r":(numref|label|begin_tab|eqlabel|cite|bibliography):`", text)
    )


class _Output:
    def __init__(self):
        self.lines: list[str] = []
        self.origins: list[int] = []

    def add(self, line: str, origin: int) -> None:
        self.lines.append(line)
        self.origins.append(origin)


def convert(text: str, settings: Settings) -> Converted:
    """A d2l-book source as MyST-NB text, with each converted line's source line.

    Raises ``SourceError`` for markup that would be lost or misread: a code block never closed,
    a tab that is not one of the book's."""
    original = text.splitlines()
    fences = _fences(original)
    source = _without_slide_marks(original, fences)
    out = _Output()
    has_code = any(fence.cell for fence in fences.values())
    if has_code:
        for line in NOTEBOOK_HEADER:
            out.add(line, 1)
        out.add("", 1)
    index = 0
    while index < len(source):
        line = source[index]
        number = index + 1
        fence = fences.get(index)
        if fence is not None and fence.cell:
            _code_cell(source[index + 1 : fence.end], number, settings, out)
            index = fence.end + 1
            continue
        autodoc = _autodoc(source[index + 1 : fence.end]) if fence is not None and fence.info == "eval_rst" else None
        if autodoc is not None:  # the package's API, documented from the saved code (render/api.py)
            for kind, name, options, offset in autodoc:
                out.add(f"```{{d2l-auto{kind}}} {name}", number + offset)
                for option in options:
                    out.add(option, number + offset)
                out.add("```", number + offset)
                out.add("", number + offset)
            index = fence.end + 1
            continue
        if fence is not None and fence.info in ("toc", "eval_rst"):
            name = "toctree" if fence.info == "toc" else "eval-rst"
            out.add(f"{fence.markup}{{{name}}}", number)
            for inner in range(index + 1, fence.end + 1):
                out.add(source[inner], inner + 1)
            index = fence.end + 1
            continue
        if fence is not None:  # another code block (```python, ```bash, indented): shown as it is, not run
            for inner in range(index, fence.end + 1):
                out.add(source[inner], inner + 1)
            index = fence.end + 1
            continue
        following = source[index + 1] if index + 1 < len(source) else ""
        image = _IMAGE.match(line)
        if _HEADING.match(line):
            # d2l-book labels the heading with a :label: on the next line, or after blank lines.
            after = index + 1
            while after < len(source) and not source[after].strip() and after not in fences:
                after += 1
            label = _LABEL.match(source[after]) if after < len(source) and after not in fences else None
            if label:
                out.add(f"({label.group('label')})=", after + 1)
                out.add(_prose(line), number)
                for blank in range(index + 1, after):
                    out.add("", blank + 1)
                index = after + 1
                continue
        if image:
            width = _WIDTH.search(image.group("rest") + " " + following)
            label = _LABEL.match(following) or (
                _LABEL.match(source[index + 2])
                if width and index + 2 < len(source) and not _LABEL.match(following)
                else None
            )
            if width or label:
                out.add(f"```{{figure}} {image.group('path')}", number)
                if label:
                    out.add(f":name: {label.group('label')}", number)
                if width:
                    out.add(f":width: {width.group('width')}", number)
                out.add("", number)
                out.add(_prose(image.group("caption")), number)
                out.add("```", number)
                skip = 1 + (1 if _WIDTH.match(following) or _LABEL.match(following) else 0)
                if label and width and not _LABEL.match(following) and _WIDTH.match(following):
                    skip += 1
                index += skip
                continue
        caption = _CAPTION.match(line)
        table_start = index + 1 + (1 if caption and index + 1 < len(source) and not source[index + 1].strip() else 0)
        if caption and table_start < len(source) and _table_ends(source, table_start):
            # Pandoc's table caption (":Caption" before the table), and the table's label after it:
            # a numbered MyST table.
            end = _table_ends(source, table_start)
            label = _LABEL.match(source[end]) if end < len(source) else None
            out.add(f"```{{table}} {_prose(caption.group('caption'))}", number)
            if label:
                out.add(f":name: {label.group('label')}", end + 1)
            out.add("", number)
            for inner in range(table_start, end):
                out.add(_prose(source[inner]), inner + 1)
            out.add("```", end)
            index = end + 1 if label else end
            continue
        if line.lstrip().startswith("|") and _table_ends(source, index):
            # A table without a caption, followed by its label: a target before the table.
            end = _table_ends(source, index)
            label = _LABEL.match(source[end]) if end < len(source) else None
            if label:
                out.add(f"({label.group('label')})=", end + 1)
                for inner in range(index, end):
                    out.add(_prose(source[inner]), inner + 1)
                index = end + 1
                continue
        math_end = _math_end(source, index, fences) if line.strip().startswith("$$") else None
        if math_end is not None:
            # Display math is a block of its own: d2l-book (pandoc) reads it inside a paragraph,
            # MyST only after a blank line, so one is added before it and after it. (Display math
            # followed by prose on its closing line stays in its paragraph: MyST's
            # dmath_double_inline shows it as display math there, as pandoc does.)
            if out.lines and _continues_a_paragraph(out.lines[-1]):
                out.add("", number)
            index = _math(source, index, math_end, out)
            if index < len(source) and source[index].strip() and index not in fences:
                out.add("", index)
            continue
        begin = _BEGIN_TAB.match(line)
        if begin:
            tabs = [name for name in re.split(r"[,\s]+", begin.group("names")) if name]
            settings.check_tabs(tabs, ":begin_tab:", number)
            names = [settings.framework(name) for name in tabs]
            if "all" in names:
                names = [settings.framework(tab) for tab in settings.tabs]
            out.add(f":::{{framework}} {', '.join(names)}", number)
            index += 1
            continue
        if _END_TAB.match(line):
            out.add(":::", number)
            index += 1
            continue
        bibliography = _BIBLIOGRAPHY.match(line)
        if bibliography:
            out.add("```{bibliography}", number)
            out.add("```", number)
            index += 1
            continue
        if _LABEL.match(line):  # a label with nothing we know to attach it to: a plain target
            out.add(f"({_LABEL.match(line).group('label')})=", number)
            index += 1
            continue
        out.add(_prose(line), number)
        index += 1
    return Converted("\n".join(out.lines) + "\n", tuple(out.origins), has_code)


@dc.dataclass(frozen=True)
class _Fence:
    """A code block of the source: its last line (the closing fence's, 0-based), its info string."""

    end: int
    info: str
    markup: str
    cell: bool
    """Whether it is a ```` ```{.python .input} ```` cell at the top level (one that runs)."""


_PARSER = None


_AUTODOC = re.compile(r"^\.\.\s+(?P<directive>autoclass|autofunction|currentmodule)::\s*(?P<name>[\w.]*)\s*$")
_AUTODOC_OPTION = re.compile(r"^\s+:(?P<option>members|undoc-members|show-inheritance|no-index|noindex):\s*$")


def _autodoc(body: list[str]) -> list[tuple[str, str, list[str], int]] | None:
    """An ``eval_rst`` block made only of Sphinx autodoc directives (``.. autoclass:: Module`` with
    ``:members:``, ``.. autofunction:: plot``, ``.. currentmodule:: d2l.torch``), as the books'
    API appendix has them: (``class`` or ``function``, name, ``[":members:"]`` or ``[]``, line
    offset in the block) of each; ``currentmodule`` names nothing to show (every framework's
    module is shown). ``None`` for any other block, which stays reStructuredText."""
    found: list[tuple[str, str, list[str], int]] = []
    autodoc = False
    for offset, line in enumerate(body, 1):
        directive = _AUTODOC.match(line)
        option = _AUTODOC_OPTION.match(line)
        if directive:
            autodoc = True
            if directive.group("directive") != "currentmodule":
                found.append((directive.group("directive").removeprefix("auto"), directive.group("name"), [], offset))
        elif option and found and option.group("option") == "members":
            found[-1][2].append(":members:")
        elif line.strip() and not option:
            return None
    return found if autodoc else None


def _fences(lines: list[str]) -> dict[int, _Fence]:
    """The source's code blocks, by first line (0-based), as CommonMark (markdown-it-py) finds them.

    A fenced block never closed would take the rest of the file (its prose lost): an error."""
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        _PARSER = MarkdownIt("commonmark", {"html": True})
    found: dict[int, _Fence] = {}
    for token in _PARSER.parse("\n".join(lines)):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        start, end = token.map
        if token.type == "code_block":  # indented: the book's text, shown as code
            found[start] = _Fence(end - 1, "", "", False)
            continue
        last = lines[end - 1].strip() if end - 1 > start else ""
        closed = last.startswith(token.markup) and not last.strip(token.markup[0])
        if not closed:
            raise SourceError(start + 1, f"this code block is never closed (no closing {token.markup})")
        info = token.info.strip()
        cell = token.level == 0 and bool(_CELL.match(lines[start].strip()))
        found[start] = _Fence(end - 1, info, token.markup, cell)
    return found


def _without_slide_marks(lines: list[str], fences: dict[int, _Fence]) -> list[str]:
    """The source with d2l-book's slide marks removed from the prose between code cells, as
    d2l-book does for the book: ``[**text**]`` and ``(**text**)`` keep their text, ``[~~text~~]``
    and ``(~~text~~)`` lose it. A pair may span lines, display math and code blocks; lines keep
    their number (a line made only of marks becomes blank)."""
    result = list(lines)
    start = 0
    cells = sorted((first, fence.end) for first, fence in fences.items() if fence.cell)
    for first, last in [*cells, (len(lines), len(lines))]:
        if first > start:
            text = "\n".join(lines[start:first])
            kept = _remove_slide_marks(text)
            if kept != text:
                result[start:first] = kept.split("\n")
        start = last + 1
    return result


def _remove_slide_marks(text: str) -> str:
    protected = [match.span() for match in _CODE_SPAN.finditer(text)]

    def free(position: int) -> bool:
        return not any(begin <= position < end for begin, end in protected)

    pairs = []
    for opening, closing, keep in _SLIDE_MARKS:
        starts = [m.start() for m in re.finditer(re.escape(opening), text) if free(m.start())]
        ends = [m.start() for m in re.finditer(re.escape(closing), text) if free(m.start())]
        for begin in starts:
            end = next((end for end in ends if end >= begin + len(opening)), None)
            if end is None:
                break
            ends.remove(end)
            if closing == "**]" and text.startswith("(", end + len(closing)):
                continue  # [**bold**](address): a link, not a mark
            pairs.append((begin, end, opening, closing, keep))
    pairs.sort()
    pieces, position = [], 0
    for begin, end, opening, closing, keep in pairs:
        if begin < position:  # inside an earlier pair: d2l-book's marks do not nest
            continue
        pieces.append(text[position:begin])
        inner = text[begin + len(opening) : end]
        pieces.append(inner if keep else "\n" * inner.count("\n"))
        position = end + len(closing)
    pieces.append(text[position:])
    return "".join(pieces)


def _continues_a_paragraph(line: str) -> bool:
    """Whether a converted line is prose that a following line would continue (not a blank line,
    a target, a fence or a directive's edge)."""
    stripped = line.strip()
    return bool(stripped) and not (
        stripped.startswith(("```", ":::", "$$")) or (stripped.startswith("(") and stripped.endswith(")="))
    )


def _table_ends(lines: list[str], start: int) -> int | None:
    """Index of the first line after a Markdown table starting at ``start``, if it is one."""
    if start + 1 >= len(lines) or not re.match(r"^\s*\|?\s*:?-{3,}", lines[start + 1]):
        return None
    end = start
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        end += 1
    return end


def _math_end(lines: list[str], start: int, fences: dict[int, _Fence]) -> int | None:
    """The last line of the ``$$`` display math block opening at ``start``, if it is a block: its
    closing ``$$`` ends a line (before a possible ``:eqlabel:``), before any code block."""
    body = _EQLABEL.sub("", lines[start]).strip()[2:]
    end = start
    while True:
        if "$$" in body:
            return end if body.rstrip().endswith("$$") and body.count("$$") == 1 else None
        end += 1
        if end >= len(lines) or end in fences:
            return None
        body = _EQLABEL.sub("", lines[end])


def _math(lines: list[str], start: int, end: int, out: _Output) -> int:
    """A ``$$...$$`` block (lines ``start`` to ``end``) and the ``:eqlabel:`` after it; returns
    the next line's index."""
    after = end + 1
    label = None
    trailing = _EQLABEL.search(lines[end])
    if trailing:
        label = trailing.group("label")
    else:  # on the next line, or after a blank line (d2l-book takes it either way)
        following = after
        while following < len(lines) and following - after < 2 and not lines[following].strip():
            following += 1
        if following < len(lines) and lines[following].strip().startswith(":eqlabel:"):
            label = _EQLABEL.match(lines[following]).group("label")
            after = following + 1
    for index in range(start, end + 1):
        text = _EQLABEL.sub("", lines[index]) if index == end else lines[index]
        if index == end and label:
            text = f"{text.rstrip()} ({label})"
        out.add(text, index + 1)
    return after


def _prose(line: str) -> str:
    line = _WIDTH.sub("", line)
    return _ROLE.sub(lambda match: f"{{{_ROLES[match.group('role')]}}}`{match.group('target')}`", line)


def _code_cell(body: list[str], fence_line: int, settings: Settings, out: _Output) -> None:
    """One ``{.python .input}`` cell: a MyST-NB code cell per framework it belongs to (none for the
    cell that loads d2l-book's tab selector in a notebook, ``%load_ext d2lbook.tab``, which d2l-book
    drops from every tab)."""
    if any("%load_ext d2lbook.tab" in line for line in body):
        return
    lines = list(body)
    origins = [fence_line + 1 + offset for offset in range(len(lines))]
    tabs = [settings.tabs[0]] if settings.tabs else []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    tab_line = _TAB.match(lines[first]) if first is not None else None
    if tab_line:
        names = [name for name in re.split(r"[,\s]+", tab_line.group("names")) if name]
        settings.check_tabs(names, tab_line.group("marker"), origins[first])
        tabs = list(settings.tabs) if "all" in names else names
        del lines[first], origins[first]
    tags = []
    kept, kept_origins = [], []
    for line, origin in zip(lines, origins, strict=True):
        marker = line.strip()
        if marker in _HIDE:
            tags.append(_HIDE[marker])
            continue
        kept.append(line)
        kept_origins.append(origin)
    for tab in tabs:
        framework = settings.framework(tab)
        code, code_origins = _selected_branches(kept, kept_origins, tab, settings)
        code = apply_aliases(code, settings.libraries.get(tab))
        code_lines = code.split("\n") if code else []
        origins = code_origins + [code_origins[-1] if code_origins else fence_line] * (
            len(code_lines) - len(code_origins)
        )
        out.add("```{code-cell} ipython3", fence_line)
        out.add(f":tags: [{', '.join([framework, *tags])}]", fence_line)
        for line, origin in _sorted_imports(list(zip(code_lines, origins, strict=False))):
            out.add(line, origin)
        out.add("```", fence_line)
        out.add("", fence_line)


_IMPORT = re.compile(r"^(?:import\s+(?P<plain>[\w.]+)|from\s+(?P<source>[\w.]+)\s+import\s+[^()\\]+)[^\\]*$")
#: The book's own package: its imports come after every other.
PACKAGE = "d2l"


def sort_imports(code: str) -> str:
    """Each run of one-line top-level imports in the order d2l-book's published pages show them:
    the standard library, then other packages, then the book's own ``d2l``; within each, ``import x``
    lines before ``from x import y`` lines, by module name (isort's defaults)."""
    return "\n".join(line for line, _ in _sorted_imports([(line, 0) for line in code.split("\n")]))


def _sorted_imports(lines: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``sort_imports`` over (line, source line) pairs, so each line keeps its origin."""
    lines = list(lines)
    index = 0
    while index < len(lines):
        if not _IMPORT.match(lines[index][0]):
            index += 1
            continue
        end = index
        while end < len(lines) and _IMPORT.match(lines[end][0]):
            end += 1
        lines[index:end] = sorted(lines[index:end], key=lambda pair: _import_key(pair[0]))
        index = end
    return lines


def _import_key(line: str) -> tuple:
    match = _IMPORT.match(line)
    module = match.group("plain") or match.group("source")
    top = module.split(".")[0]
    section = 2 if top == PACKAGE else 0 if top in sys.stdlib_module_names else 1
    return section, match.group("plain") is None, module.lower(), line


def _selected_branches(lines: list[str], origins: list[int], tab: str, settings: Settings) -> tuple[str, list[int]]:
    """The code with each ``if tab.selected(...)`` chain reduced to the branch for ``tab``, dedented."""
    result, result_origins = [], []
    index = 0
    while index < len(lines):
        start = _SELECTED.match(lines[index])
        if not start or start.group("keyword") != "if":
            result.append(lines[index])
            result_origins.append(origins[index])
            index += 1
            continue
        indent = start.group("indent")
        chosen: list[int] | None = None
        first = True
        while index < len(lines):
            head = _SELECTED.match(lines[index])
            other = _ELSE.match(lines[index])
            # An ``if`` after the chain's first starts a chain of its own: every ``if`` whose
            # names include the tab keeps its branch, as d2l-book reads them.
            if head and head.group("indent") == indent and (first or head.group("keyword") == "elif"):
                names = [
                    name.strip().strip("'\"")
                    for call in _SELECTED_CALL.findall(head.group("calls"))
                    for name in call.split(",")
                    if name.strip()
                ]
                matches = tab in names or settings.framework(tab) in names
            elif other and other.group("indent") == indent:
                matches = True
            else:
                break
            body = []
            index += 1
            while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > len(indent)):
                body.append(index)
                index += 1
            first = False
            if matches and chosen is None:
                chosen = body
            if other:
                break
        if chosen:
            block = textwrap.dedent("\n".join(lines[i] for i in chosen)).split("\n")
            for text, i in zip(block, chosen, strict=True):
                result.append(indent + text if text.strip() else "")
                result_origins.append(origins[i])
    while result and not result[-1].strip():
        result.pop()
        result_origins.pop()
    return "\n".join(result), result_origins


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def apply_aliases(code: str, library: Library | None) -> str:
    """The code as the framework's tab shows it: ``d2l.cos`` -> ``torch.cos``, ``d2l.numpy(x)`` ->
    ``x.detach().numpy()``, then the reverse aliases. Code that does not parse is left as written."""
    if library is None:
        return code
    for _ in range(20):  # innermost rewrites first, until none is left
        rewritten = _rewrite_innermost(code, library)
        if rewritten is None:
            break
        code = rewritten
    for pattern, replacement in library.reverse:
        code = re.sub(pattern, replacement, code)
    return code


def _rewrite_innermost(code: str, library: Library) -> str | None:
    """One round of alias rewrites (those with no other rewrite inside them); ``None`` when none applies."""
    if "d2l." not in code:
        return None
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    simple, fluent = dict(library.simple), dict(library.fluent)
    data = code.encode("utf8")
    offsets = [0]
    for line in code.split("\n"):
        offsets.append(offsets[-1] + len(line.encode("utf8")) + 1)

    def span(node: ast.AST) -> tuple[int, int]:
        return offsets[node.lineno - 1] + node.col_offset, offsets[node.end_lineno - 1] + node.end_col_offset

    def text(node: ast.AST) -> str:
        start, end = span(node)
        return data[start:end].decode("utf8")

    def d2l_name(node: ast.AST) -> str | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "d2l":
            return node.attr
        return None

    edits: list[tuple[int, int, str]] = []
    fluent_calls = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and d2l_name(node.func) in fluent and node.args
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node.func) in fluent_calls:
            receiver = text(node.args[0])
            if not isinstance(node.args[0], ast.Name | ast.Attribute | ast.Call | ast.Subscript):
                receiver = f"({receiver})"
            rest = [text(arg) for arg in node.args[1:]]
            rest += [(f"{kw.arg}=" if kw.arg else "**") + text(kw.value) for kw in node.keywords]
            edits.append((*span(node), f"{receiver}.{fluent[d2l_name(node.func)]}({', '.join(rest)})"))
        elif d2l_name(node) in simple and id(node) not in fluent_calls:
            edits.append((*span(node), f"{library.lib_name}.{simple[d2l_name(node)]}"))
    innermost = [edit for edit in edits if not any(o != edit and edit[0] <= o[0] and o[1] <= edit[1] for o in edits)]
    if not innermost:
        return None
    for start, end, replacement in sorted(innermost, reverse=True):
        data = data[:start] + replacement.encode("utf8") + data[end:]
    return data.decode("utf8")


#: d2l-book's tab names -> ours (``FRAMEWORKS=torch``, ``from d2l import torch as d2l``).
FRAMEWORK_NAMES = {"pytorch": "torch"}
#: What readers see on each known tab.
LABELS = {
    "mxnet": "MXNet",
    "pytorch": "PyTorch",
    "tensorflow": "TensorFlow",
    "paddle": "Paddle",
    "jax": "JAX",
    "numpy": "NumPy",
}
#: The module each known tab's kernel must import.
MODULES = {
    "mxnet": "mxnet",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "paddle": "paddle",
    "jax": "jax",
    "numpy": "numpy",
}


@dc.dataclass(frozen=True)
class ConfigWarning:
    """A part of ``config.ini`` this tool cannot apply as its author meant it: it is left out, and
    the build goes on (as d2l-book's does)."""

    path: str
    """``config.ini`` as messages name it."""
    line: int
    message: str

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


#: The Sphinx settings ``[build] sphinx_configs`` may set, with the type each takes: plain data
#: that changes how the book is numbered and shown (``latex_elements``: the PDF's), never what is
#: read, run or loaded. Anything else is left out, with a warning naming it.
SPHINX_CONFIGS: dict[str, type] = {
    "numfig": bool,
    "numfig_format": dict,
    "numfig_secnum_depth": int,
    "math_numfig": bool,
    "math_number_all": bool,
    "math_eqref_format": str,
    "latex_elements": dict,
}


@dc.dataclass(frozen=True)
class Project:
    """What a d2l-book ``config.ini`` says about the book."""

    title: str = ""
    author: str = ""
    copyright: str = ""
    release: str = ""
    lang: str = ""
    tabs: tuple[str, ...] = ()
    documents: tuple[str, ...] = ("**/*.md",)
    """``[build] notebooks`` and ``rsts``: the files d2l-book builds (glob patterns, from the book's
    folder; d2l-book's default ``**/*.md``)."""
    exclusions: tuple[str, ...] = ()
    bibfile: str = ""
    latex_logo: str = ""
    """``[pdf] latex_logo``: the image on the PDF's title page, relative to the book's folder."""
    post_latex: str = ""
    """``[pdf] post_latex``: a Python script run on each PDF's ``.tex`` file before LaTeX runs."""
    libraries: dict[str, Library] = dc.field(default_factory=dict)
    sphinx_configs: dict[str, object] = dc.field(default_factory=dict)
    """The Sphinx settings of ``[build] sphinx_configs`` that can be applied (``SPHINX_CONFIGS``)."""
    name: str = ""
    """``[project] name``: the book's short name (``d2l-zh``), which names its downloads and PDFs."""
    site: str = ""
    """The site's address, from ``[deploy] s3_bucket`` (``s3://zh.d2l.ai`` is ``https://zh.d2l.ai/``)."""
    launch: dict[str, dict[str, str]] = dc.field(default_factory=dict)
    """``[colab]`` and ``[sagemaker]`` ``github_repo``: service -> {tab: "owner/name"}."""
    warnings: tuple[ConfigWarning, ...] = ()
    """What is left out, in the order of the file."""


#: What Sphinx could read as a document of a d2l-book project.
DOCUMENT_SUFFIXES = (".md", ".rst", ".ipynb")


def unlisted(book: Path, project: Project) -> list[str]:
    """The book's files that Sphinx would read as documents but d2l-book does not build: matched
    by none of ``[build] notebooks`` and ``rsts``, read as d2l-book reads them (Python's recursive
    glob: ``*/*.md`` is one folder deep, ``**/*.md`` any depth; a folder means all it holds).
    d2l-zh's ``notebooks = *.md */*.md`` leaves out ``contrib/<folder>/*.md``, drafts that link to
    pages it does not have. As exclusion patterns of Sphinx's (``?`` for a name's ``[]*?``). The
    root page, ``index.md``, is always part of the book."""
    listed: set[Path] = {book / "index.md"}
    for pattern in project.documents:
        if (book / pattern).is_dir():
            pattern = f"{pattern.rstrip('/')}/**"
        listed.update(book / found for found in glob.glob(pattern, root_dir=book, recursive=True))
    found = []

    def leave_out(path: Path) -> None:
        found.append(re.sub(r"[][*?]", "?", path.relative_to(book).as_posix()))

    for folder, folders, files in os.walk(book):
        kept = []
        for name in sorted(folders):
            path = Path(folder) / name
            if name.startswith("_build"):
                continue
            if name.startswith(".") and not any(path in item.parents for item in listed):
                leave_out(path)  # (.github/: glob's patterns never match a hidden name, Sphinx reads it)
                continue
            kept.append(name)
        folders[:] = kept
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in DOCUMENT_SUFFIXES and path not in listed:
                leave_out(path)
    return found


def read_config(path: Path) -> Project:
    """Read a d2l-book ``config.ini`` (sections it does not use here are ignored).

    As d2l-book does, a key set twice in a section, or a section given twice, is an error; so is a
    line it cannot read. Each is a book error naming the line. An alias entry, a library section
    or a Sphinx setting that cannot be applied is left out with a warning naming its line."""
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        text = read_text(path)
    except OSError as error:
        raise BookError(f"{display_path(path)}: cannot be read: {error.strerror or error}") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise BookError(f"{display_path(path)}:{_config_problem(error, text.splitlines())}") from None
    headers, values = _value_lines(text.splitlines())
    shown = display_path(path)
    warnings: list[ConfigWarning] = []

    def warn(line: int, message: str) -> None:
        warnings.append(ConfigWarning(shown, line, message))

    def get(section: str, key: str) -> str:
        return parser.get(section, key, fallback="").strip()

    def lines(section: str, key: str) -> Lines:
        """The value's lines, each with the line of config.ini it is on."""
        value = parser.get(section, key, fallback=None)
        if value is None:
            return []
        found = values.get((section, key.lower()))
        if found is None or "\n".join(text for _, text in found).strip() != value.strip():
            line = found[0][0] if found else headers.get(section, 1)  # read otherwise (a [DEFAULT] value)
            return [(line, text) for text in value.splitlines()]
        return found

    def names(value: str) -> tuple[str, ...]:
        return tuple(name for name in re.split(r"[,\s]+", value) if name)

    tabs = names(get("build", "tabs"))
    libraries = {}
    for tab in tabs:
        section = f"library-{tab}"
        if parser.has_section(section):
            libraries[tab] = _library(section, headers[section], get(section, "lib_name"), lines, warn)
    sphinx_configs = _sphinx_configs(lines("build", "sphinx_configs"), warn)
    launch = {}
    for service in LAUNCH_SERVICES:
        repos = _repositories(service, lines(service, "github_repo"), tabs, warn)
        if repos:
            launch[service] = repos
    return Project(
        title=get("project", "title"),
        author=get("project", "author"),
        copyright=get("project", "copyright"),
        release=get("project", "release"),
        lang=get("project", "lang"),
        tabs=tabs,
        documents=(*(names(get("build", "notebooks")) or Project.documents), *names(get("build", "rsts"))),
        exclusions=names(get("build", "exclusions")),
        bibfile=get("pdf", "bibfile"),
        latex_logo=get("pdf", "latex_logo"),
        post_latex=get("pdf", "post_latex"),
        libraries=libraries,
        sphinx_configs=sphinx_configs,
        name=get("project", "name"),
        site=_site(get("deploy", "s3_bucket")),
        launch=launch,
        warnings=tuple(sorted(warnings, key=lambda warning: warning.line)),
    )


#: The services d2l-book links each page's notebook to, with the repositories of ``config.ini``.
LAUNCH_SERVICES = ("colab", "sagemaker")


def _site(bucket: str) -> str:
    """``s3://zh.d2l.ai`` (the bucket d2l-book deploys the site to, named as its domain) as
    ``https://zh.d2l.ai/``; "" for a bucket that is not a domain."""
    host = bucket.strip().removeprefix("s3://").strip("/")
    return f"https://{host}/" if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", host) else ""


def _repositories(service: str, value: Lines, tabs: tuple[str, ...], warn) -> dict[str, str]:
    """``mxnet, d2l-ai/d2l-zh-colab`` lines as {tab: repository}; a line that is not one is left out."""
    found = {}
    for line, text in value:
        text = text.split("#", 1)[0].strip()
        if not text:
            continue
        tab, _, repo = (part.strip() for part in text.partition(","))
        if tab in tabs and re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            found[tab] = repo
        else:
            warn(line, f"[{service}] github_repo: cannot read {text!r}: a line is '<tab>, <owner>/<repository>'")
    return found


#: A value's lines, each with the line of config.ini it is on.
Lines = list[tuple[int, str]]


def _value_lines(lines: list[str]) -> tuple[dict[str, int], dict[tuple[str, str], Lines]]:
    """The line of each ``[section]`` header, and each key's value as configparser reads it (a
    first line, then its continuation lines stripped; comment lines left out, blank lines kept)
    with the line of config.ini each comes from: ``{(section, key): [(line, text), ...]}``."""
    headers: dict[str, int] = {}
    values: dict[tuple[str, str], Lines] = {}
    section = key = None
    indent = 0
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            if not stripped and key is not None:
                values[section, key].append((number, ""))
            continue
        level = len(line) - len(line.lstrip())
        if key is not None and level > indent:
            values[section, key].append((number, stripped))
            continue
        indent = level
        header = configparser.ConfigParser.SECTCRE.match(stripped)
        option = configparser.ConfigParser.OPTCRE.match(stripped)
        if header:
            section, key = header.group("header"), None
            headers.setdefault(section, number)
        elif option and section is not None:
            key = option.group("option").rstrip().lower()
            values[section, key] = [(number, option.group("value").strip())]
    return headers, values


_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _library(section: str, header: int, lib_name: str, lines, warn) -> Library:
    """One ``[library-<tab>]`` section, each entry checked as the line of module code it becomes.

    As d2l-book does, ``exp(`` in ``simple_alias`` reads as ``exp``, and without ``lib_name``
    ``simple_alias`` and ``fluent_alias`` are not applied (``alias`` and ``reverse_alias`` are)."""
    simple = _mapping(lines(section, "simple_alias"), strip_call=True)
    fluent = _mapping(lines(section, "fluent_alias"), strip_call=False)
    if lib_name and not _DOTTED.fullmatch(lib_name):
        warn(
            _line_of(lines(section, "lib_name"), header),
            f"[{section}] lib_name {_quoted(lib_name)} is not a module's name (such as torch or np): "
            f"its simple_alias and fluent_alias are not applied",
        )
        lib_name = ""
    elif not lib_name and (simple or fluent):
        warn(
            header,
            f"[{section}] has no lib_name, so its simple_alias and fluent_alias are not applied (as in "
            f"d2l-book); lib_name names the module d2l.<name> stands for, such as torch or np",
        )
    kept_simple, kept_fluent = [], []
    if lib_name:
        for line, entry, name, target in simple:
            if name.isidentifier() and _DOTTED.fullmatch(target) and _assigns(f"{name} = {lib_name}.{target}", name):
                kept_simple.append((name, target))
            else:
                warn(line, f"[{section}] simple_alias: cannot read {_quoted(entry)}: {_ENTRY}")
        for line, entry, name, target in fluent:
            code = f"{name} = lambda x, *args, **kwargs: x.{target}(*args, **kwargs)"
            if _assigns(code, name):
                kept_fluent.append((name, target))
            else:
                warn(line, f"[{section}] fluent_alias: cannot read {_quoted(entry)}: {_ENTRY}")
    alias = []
    for line, text in lines(section, "alias"):
        name, _, expression = text.partition("=")
        if text and _assigns(text, name.strip()):
            alias.append((name.strip(), expression.strip()))
        elif text:
            warn(line, f"[{section}] alias: cannot read {_quoted(text)}: each line is 'name = expression', in Python")
    args_alias = lines(section, "args_alias")
    if any(text for _, text in args_alias):
        warn(
            args_alias[0][0],
            f"[{section}] args_alias is not applied: this tool reads simple_alias, fluent_alias, alias and "
            f"reverse_alias (the calls it names are left as written)",
        )
    reverse = []
    for line, text in lines(section, "reverse_alias"):
        pattern, arrow, replacement = (part.strip() for part in text.partition("->"))
        if not text:
            continue
        problem = "each line is 'pattern -> replacement'" if not arrow else _regex_problem(pattern, replacement)
        if problem:
            warn(line, f"[{section}] reverse_alias: cannot read {_quoted(text)}: {problem}")
        else:
            reverse.append((pattern, replacement))
    return Library(lib_name, tuple(kept_simple), tuple(kept_fluent), tuple(alias), tuple(reverse))


_ENTRY = "an entry is a name or 'name -> target', and entries are separated by commas"


def _quoted(text: str) -> str:
    """Text of config.ini in a message, as written (``repr`` would double its backslashes)."""
    return f"'{text}'"


def _mapping(lines: Lines, *, strip_call: bool) -> list[tuple[int, str, str, str]]:
    """``(line, entry, name, target)`` of each entry of ``simple_alias`` or ``fluent_alias``, read
    as d2l-book reads them: comma-separated on each line, ``a -> b`` or ``a`` (``a -> a``)."""
    found = []
    for line, text in lines:
        for entry in text.split(","):
            entry = entry.strip()
            if not entry:
                continue
            parts = [part.strip() for part in entry.split("->")]
            name, target = parts if len(parts) == 2 else (entry, entry)
            if strip_call:  # d2l-book's "exp(": the name exp
                name, target = name.removesuffix("("), target.removesuffix("(")
            found.append((line, entry, name, target))
    return found


def _assigns(code: str, name: str) -> bool:
    """Whether ``code`` is one line of Python assigning ``name`` (and nothing else)."""
    if "\n" in code or not name.isidentifier():
        return False
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError):
        return False
    return (
        len(body) == 1
        and isinstance(body[0], ast.Assign)
        and len(body[0].targets) == 1
        and isinstance(body[0].targets[0], ast.Name)
        and body[0].targets[0].id == name
    )


def _regex_problem(pattern: str, replacement: str) -> str:
    """Why ``pattern -> replacement`` cannot rewrite code ("" if it can)."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return f"the pattern is not a regular expression ({error})"
    try:
        compiled.sub(replacement, "")  # reads the replacement's group references
    except re.error as error:
        return f"the replacement does not fit the pattern ({error})"
    return ""


def _line_of(lines: Lines, default: int) -> int:
    return lines[0][0] if lines else default


def _sphinx_configs(lines: Lines, warn) -> dict[str, object]:
    """The Sphinx settings of ``[build] sphinx_configs`` that can be applied.

    d2l-book pastes the value into its ``conf.py``; here it is read, never run: each statement is
    ``name = <a Python literal>`` (read with ``ast.literal_eval``), ``%%`` reads ``%`` (as
    configparser's interpolation gives d2l-book), and only ``SPHINX_CONFIGS`` are applied."""
    if not any(text for _, text in lines):
        return {}
    code = "\n".join(text for _, text in lines).replace("%%", "%")

    def line(number: int | None) -> int:
        return lines[min(max(number or 1, 1), len(lines)) - 1][0]

    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        warn(line(error.lineno), f"[build] sphinx_configs is not Python ({error.msg}): none of it is applied")
        return {}
    found: dict[str, object] = {}
    for statement in tree.body:
        target = statement.targets[0] if isinstance(statement, ast.Assign) and len(statement.targets) == 1 else None
        if not isinstance(target, ast.Name):
            first = (ast.get_source_segment(code, statement) or "").splitlines()[0]
            warn(
                line(statement.lineno),
                f"[build] sphinx_configs: {_quoted(first)} is not applied: it reads 'name = value' settings",
            )
            continue
        name = target.id
        try:
            value = ast.literal_eval(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            warn(
                line(statement.lineno),
                f"[build] sphinx_configs: {name} is not applied: its value is not a plain Python literal "
                f"(no code of config.ini is run)",
            )
            continue
        problem = _sphinx_config_problem(name, value)
        if problem:
            warn(line(statement.lineno), f"[build] sphinx_configs: {name} is not applied: {problem}")
        else:
            found[name] = value
    return found


def _sphinx_config_problem(name: str, value: object) -> str:
    """Why a setting of ``sphinx_configs`` cannot be applied ("" if it can)."""
    kind = SPHINX_CONFIGS.get(name)
    if kind is None:
        return f"the settings read from config.ini are {', '.join(SPHINX_CONFIGS)}"
    if type(value) is not kind:
        return f"it is a {kind.__name__} in Sphinx, not a {type(value).__name__}"
    if isinstance(value, dict) and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "its keys and values are text"
    if name == "numfig_format":
        for kind_name, form in value.items():
            try:
                form % "1"
            except (TypeError, ValueError):
                return f"{kind_name!r}: {form!r} is not a format with one %s"
    return ""


def _config_problem(error: configparser.Error, lines: list[str]) -> str:
    """``"<line>: <what is wrong>"`` for an error of configparser's."""
    if isinstance(error, configparser.MissingSectionHeaderError):
        return (
            f"{error.lineno}: {error.line.strip()!r} comes before any [section]; "
            f"config.ini starts with one, such as [project]"
        )
    if isinstance(error, configparser.DuplicateSectionError):
        return f"{error.lineno}: a second [{error.section}] section; merge it into the first"
    if isinstance(error, configparser.DuplicateOptionError):
        return f"{error.lineno}: [{error.section}] sets {error.option!r} a second time; keep one of them"
    if isinstance(error, configparser.ParsingError) and error.errors:
        number = error.errors[0][0]
        line = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        return (
            f"{number}: cannot read {line!r}: a line of config.ini is a [section], a 'key = value' "
            f"or an indented continuation of the value above"
        )
    return f" {error}"


def settings_from(project: Project, frameworks: dict[str, str] | None = None) -> Settings:
    """Conversion settings for a book: its tabs, our names for them, their aliases, its language, and
    what of its ``config.ini`` is left out."""
    return Settings(
        project.tabs, {**FRAMEWORK_NAMES, **(frameworks or {})}, project.libraries, project.lang, project.warnings
    )


def with_references(converted: dict[str, tuple[str, tuple[int, ...]]], root: str, lang: str) -> str | None:
    """When the converted documents cite (``:cite:``) but none has a ``:bibliography:`` (a book
    built in part, without its references page), the root document gains the references, so that
    every citation resolves; changes ``converted`` in place and returns that document's name."""
    texts = [text for text, _ in converted.values()]
    if root not in converted or any("```{bibliography}" in text for text in texts):
        return None
    if not any(re.search(r"\{cite:[pt]\}`", text) for text in texts):
        return None
    text, lines = converted[root]
    title = "参考文献" if lang.startswith("zh") else "References"
    extra = ["", f"```{{rubric}} {title}", "```", "", "```{bibliography}", "```"]
    last = lines[-1] if lines else 1
    converted[root] = (text + "\n".join(extra) + "\n", (*lines, *[last] * len(extra)))
    return root
