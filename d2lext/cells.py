"""Markup rules: read a chapter's text notebook and decide which code cells run in which framework.

Pure functions of text and configuration; nothing here needs Sphinx.

- A code cell tagged with configured framework names (``:tags: [torch]``) belongs to those frameworks.
- A code cell with no framework tag is shared: it runs in every selected framework.
- Any other tag must be one MyST-NB knows (``hide-input``, ``raises-exception``, ...) or be listed in
  ``d2l_extra_tags``; anything else is taken for a misspelt framework and stops the build.
"""

from __future__ import annotations

import dataclasses as dc
import re
from pathlib import Path

import nbformat
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig

from .config import KNOWN_TAGS, BookConfig
from .errors import BookError


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
    timeout: int | None = None
    """Seconds a cell may run, from the front matter's ``d2l: {timeout: N}``; ``None``: conf.py's."""

    def where(self, line: int) -> str:
        return f"{self.display_path}:{line}"

    def cells_for(self, framework: str) -> list[Cell]:
        return [cell for cell in self.cells if cell.runs_in(framework)]


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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


def read_chapter(
    path: Path,
    docname: str,
    config: BookConfig,
    md_config: MdParserConfig | None = None,
    text: str | None = None,
) -> Chapter | None:
    """Read a MyST-NB text notebook; ``None`` if the file is not one."""
    if text is None:
        text = path.read_text(encoding="utf8")
    if not is_myst_markdown_notebook(text):
        return None
    lines = text.splitlines()
    shown = display_path(path)
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
        where = f"{shown}:{line}"
        cells.append(
            Cell(
                index=index,
                line=line,
                source=cell.source,
                tags=tuple(tags),
                frameworks=cell_frameworks(tags, config, where),
                body_line=_body_offset(lines, line),
            )
        )
    return Chapter(docname, path, shown, notebook, cells, _timeout(notebook.metadata.get("d2l"), shown))


def _timeout(settings, shown: str) -> int | None:
    """The document's own cell timeout, validated."""
    if settings is None:
        return None
    if not isinstance(settings, dict) or set(settings) - {"timeout"}:
        raise BookError(f"{shown}: the front matter's d2l settings take only 'timeout' (seconds), got {settings!r}")
    timeout = settings.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
        raise BookError(f"{shown}: d2l.timeout in the front matter must be a positive number of seconds")
    return timeout


def _body_offset(file_lines: list[str], fence_line: int) -> int:
    """Number of file lines before the first code line of the cell fenced at ``fence_line``."""
    number = fence_line  # 0-based index of the line after the fence
    if number < len(file_lines) and file_lines[number].strip() == "---":
        number += 1
        while number < len(file_lines) and file_lines[number].strip() != "---":
            number += 1
        return number + 1
    while number < len(file_lines) and re.match(r"^\s*:[\w-]+:", file_lines[number]):
        number += 1
    return number
