"""Markup rules: read a chapter's text notebook and decide which code cells run in which framework.

Pure functions of text and configuration; nothing here needs Sphinx.

- A code cell tagged with configured framework names (``:tags: [torch]``) belongs to those frameworks.
- A code cell with no framework tag is shared: it runs in every selected framework.
- Any other tag must be one MyST-NB knows (``hide-input``, ``raises-exception``, ...) or be listed in
  ``d2l_extra_tags``; anything else is taken for a misspelt framework and stops the build.
"""

from __future__ import annotations

import ast
import dataclasses as dc
import posixpath
import re
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from markdown_it.renderer import RendererHTML
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from ..config import KNOWN_TAGS, BookConfig, positive_seconds
from ..errors import BookError
from ..files import display_path, read_text
from . import d2lbook


@dc.dataclass(frozen=True)
class Cell:
    """A code cell of a chapter, with where it is and which frameworks run it."""

    index: int
    """Position among all cells of the chapter's notebook."""
    line: int
    """1-based line of the cell's fence in the source file."""
    source: str
    tags: tuple[str, ...]
    frameworks: tuple[str, ...] | None
    """Framework names the cell is tagged with, or ``None`` for a shared cell."""
    body_line: int = 0
    """1-based file line of the cell's first code line, minus one (add a cell line to get a file line)."""
    imported: tuple[str, ...] = ()
    """Modules the cell imports (``import``, ``from ... import``, ``importlib.import_module("...")``);
    ``("*",)`` when the cell cannot be parsed, so it may import anything."""

    def runs_in(self, framework: str) -> bool:
        return self.frameworks is None or framework in self.frameworks

    @property
    def shared(self) -> bool:
        return self.frameworks is None


@dc.dataclass
class Chapter:
    """A text notebook of the book, read once and used by every stage."""

    docname: str
    path: Path
    """Absolute path of the source file."""
    display_path: str
    """Path shown in messages (relative to where the build was started, when possible)."""
    notebook: nbformat.NotebookNode
    cells: list[Cell]
    timeout: float | None = None
    """Seconds a cell may run, from the front matter's ``d2l: {timeout: N}``; ``None``: conf.py's."""
    depends: tuple[str, ...] = ()
    """Chapters whose runs this one's depend on (front matter ``d2l: {depends: [...]}``), as docnames."""
    line_map: tuple[int, ...] = ()
    """For a source read through a converter (d2l-book Markdown): each read line's line in the file."""

    def source_line(self, line: int) -> int:
        """The file line of a line of the text that was read."""
        return d2lbook.mapped_line(self.line_map, line)

    def where(self, line: int) -> str:
        return f"{self.display_path}:{self.source_line(line)}"

    def cells_for(self, framework: str) -> list[Cell]:
        return [cell for cell in self.cells if cell.runs_in(framework)]


def cell_frameworks(tags: list[str], config: BookConfig, where: str) -> tuple[str, ...] | None:
    """The frameworks a cell's tags name, ``None`` when it names none (a shared cell)."""
    names = []
    for tag in tags:
        if tag in config.frameworks:
            names.append(tag)
        elif tag not in KNOWN_TAGS and tag not in config.extra_tags:
            raise BookError(
                f"{where}: unknown framework {tag!r} in the cell's tags; "
                f"known frameworks: {', '.join(config.frameworks)} "
                f"(a tag that is not a framework must be one of MyST-NB's or listed in d2l_extra_tags)"
            )
    return tuple(names) or None


def readable_text(text: str, config: BookConfig, path: Path) -> tuple[str, tuple[int, ...]]:
    """The text the pipeline reads for the Markdown source at ``path``, and its line map (empty:
    the same lines).

    A d2l-book source (by its content, or all sources with ``d2l_source_format = "d2lbook"``) is
    converted with the book's ``config.ini`` settings; a MyST source is read as it is.
    """
    settings = config.d2lbook
    if settings is None or config.source_format == "myst":
        return text, ()
    if config.source_format == "d2lbook" or d2lbook.is_d2lbook(text):
        try:
            converted = d2lbook.convert(text, settings)
        except d2lbook.SourceError as error:
            raise BookError(f"{display_path(path)}:{error.line}: {error}") from None
        return converted.text, converted.lines
    return text, ()


def read_chapter(
    path: Path,
    docname: str,
    config: BookConfig,
    md_config: MdParserConfig | None = None,
    text: str | None = None,
    readable: tuple[str, tuple[int, ...]] | None = None,
) -> Chapter | None:
    """Read a text notebook (MyST-NB, or d2l-book Markdown when configured); ``None`` if the file is not one.

    ``readable`` is the text as the pipeline reads it and its line map, when the caller has
    already made it (``readable_text``): a d2l-book source is then not converted again.
    """
    if readable is None:
        readable = readable_text(read_text(path) if text is None else text, config, path)
    text, line_map = readable
    shown = display_path(path)
    if not is_myst_markdown_notebook(text):
        _no_code_cells(text, shown, md_config)
        return None
    lines = text.splitlines()
    try:
        notebook = read_myst_markdown_notebook(
            text, config=md_config or MdParserConfig(), add_source_map=True, path=str(path)
        )
    except Exception as error:  # MyST-NB raises several types for malformed cells
        raise BookError(f"{shown}: cannot read the notebook: {error}") from None
    source_map = notebook.metadata.get("source_map") or [0] * len(notebook.cells)
    cells = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        line = source_map[index]
        tags = list(cell.metadata.get("tags", []))
        where = f"{shown}:{d2lbook.mapped_line(line_map, line)}"
        cells.append(
            Cell(
                index=index,
                line=line,
                source=cell.source,
                tags=tuple(tags),
                frameworks=cell_frameworks(tags, config, where),
                body_line=_body_offset(lines, line, cell.source),
                imported=imported_modules(cell.source),
            )
        )
    settings = notebook.metadata.get("d2l")
    timeout, depends = _settings(settings, shown, docname)
    return Chapter(docname, path, shown, notebook, cells, timeout, depends, line_map)


def _settings(settings, shown: str, docname: str) -> tuple[float | None, tuple[str, ...]]:
    """The document's own settings, validated: its cell timeout and the chapters it depends on."""
    if settings is None:
        return None, ()
    if not isinstance(settings, dict) or set(settings) - {"timeout", "depends"}:
        raise BookError(
            f"{shown}: the front matter's d2l settings take only 'timeout' (seconds) and 'depends' "
            f"(chapters), got {settings!r}"
        )
    timeout = settings.get("timeout")
    if timeout is not None:
        timeout = positive_seconds(timeout)
        if timeout is None:
            raise BookError(f"{shown}: d2l.timeout in the front matter must be a positive number of seconds")
    depends = settings.get("depends", [])
    if isinstance(depends, str):
        depends = [depends]
    if not isinstance(depends, list) or not all(isinstance(name, str) for name in depends):
        raise BookError(f"{shown}: d2l.depends in the front matter must be a list of chapters")
    folder = posixpath.dirname(docname)
    resolved = tuple(
        posixpath.normpath(name.lstrip("/") if name.startswith("/") else posixpath.join(folder, name)).removesuffix(
            ".md"
        )
        for name in depends
    )
    return timeout, resolved


def _no_code_cells(text: str, shown: str, md_config: MdParserConfig | None) -> None:
    """A ``{code-cell}`` outside a notebook would be dropped silently by MyST-NB: stop instead."""
    if "{code-cell}" not in text:
        return
    parser = create_md_parser(md_config or MdParserConfig(), RendererHTML)
    for token in parser.parse(text):
        if token.type == "fence" and token.info.strip().startswith("{code-cell}") and token.level == 0:
            raise BookError(
                f"{shown}:{token.map[0] + 1}: a {{code-cell}} in a file without MyST-NB front matter "
                f"(its code would be dropped): start the file with '---', 'file_format: mystnb', "
                f"a kernelspec and '---' (see the authoring guide)"
            )


_IMPORTERS = {"import_module", "__import__"}


def imported_modules(source: str) -> tuple[str, ...]:
    """The modules a cell imports, read from its syntax tree (IPython magics allowed)."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return ("*",)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if name in _IMPORTERS and isinstance(node.args[0].value, str):
                found.append(node.args[0].value)
    return tuple(dict.fromkeys(found))


def _body_offset(file_lines: list[str], fence_line: int, source: str = "") -> int:
    """Number of file lines before the first code line of the cell fenced at ``fence_line``.

    MyST drops blank lines between the fence (or its options) and the code: they are skipped
    too, unless the cell's source itself starts with one.
    """
    number = fence_line  # 0-based index of the line after the fence
    if number < len(file_lines) and file_lines[number].strip() == "---":
        number += 1
        while number < len(file_lines) and file_lines[number].strip() != "---":
            number += 1
        number += 1
    else:
        while number < len(file_lines) and re.match(r"^\s*:[\w-]+:", file_lines[number]):
            number += 1
    first = source.split("\n", 1)[0]
    while number < len(file_lines) and not file_lines[number].strip() and first.strip():
        number += 1
    return number
