"""The saved package: collect ``#@save`` blocks statically and write ``d2l/<framework>.py``.

``#@save`` at the end of a ``def``/``class`` line (or of a decorator line above one) saves that
definition. ``#@save`` on a line of its own saves the statements that follow, up to the first blank
line between top-level statements. A saved block made only of imports goes to the module's header.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses as dc
import functools
import gzip
import io
import json
import re
import symtable
import tarfile
import tokenize
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager
from packaging.version import InvalidVersion, Version

from .cells import Cell, Chapter
from .config import BookConfig
from .errors import BookError

MARKER = "#@save"
_MARKER_AT_END = re.compile(r"\s*#@save\s*$")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


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
        name = " ".join(part for part in (self.number, self.title) if part)
        return f"{name} ({self.url})" if name else self.url


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


def _start(node: ast.stmt) -> int:
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
    python = TransformerManager().transform_cell(source)  # IPython magics -> plain calls
    try:
        tree = ast.parse(python)
    except SyntaxError as error:
        raise BookError(
            f"{where(error.lineno or 1)}: the cell holding a #@save block is not valid Python: {error.msg}"
        ) from None
    lines = source.splitlines()
    statements = tree.body
    ranges = []
    for marker in markers:
        alone = not lines[marker - 1].split(MARKER)[0].strip()
        if alone:
            following = [s for s in statements if _start(s) > marker]
            if not following:
                raise BookError(f"{where(marker)}: #@save on its own line but no code follows it")
            block = [following[0]]
            for statement in following[1:]:
                gap = lines[block[-1].end_lineno : _start(statement) - 1]
                if any(not text.strip() for text in gap):
                    break
                block.append(statement)
        else:
            owner = [s for s in statements if _start(s) <= marker < _body_start(s)]
            if not owner or not isinstance(owner[0], _DEFINITIONS):
                raise BookError(
                    f"{where(marker)}: #@save at the end of a line must mark a top-level def or class "
                    f"(put it on its own line to save other statements)"
                )
            block = owner
        imports_only = all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in block)
        ranges.append((_start(block[0]), block[-1].end_lineno, imports_only))
    return ranges


def collect(chapters: list[Chapter]) -> list[SavedBlock]:
    """Every saved block of the book, chapters in table-of-contents order."""
    return [block for chapter in chapters for block in chapter_blocks(chapter)]


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
            origin=f"{source_name}:{cell.body_line + first}",
            line=cell.body_line + first,
            imports_only=imports_only,
        )
        for first, last, imports_only in saved_ranges(cell.source, where)
    ]


def module_source(
    framework: str, label: str, blocks: list[SavedBlock], title: str, places: dict[SavedBlock, Place] | None = None
) -> str:
    """The text of ``d2l/<framework>.py``.

    With ``places``, each block is preceded by a comment naming its source line and section, and
    each function and class it defines says in its docstring where it is defined. Without, only
    the code (what cache keys cover).
    """
    mine = [b for b in blocks if b.frameworks is None or framework in b.frameworks]
    imports: list[str] = []
    for block in mine:
        if block.imports_only:
            for line in block.code.splitlines():
                if line.strip() not in {known.strip() for known in imports}:
                    imports.append(line)
    docstring = (
        f'"""Functions and classes saved by "{title}" for {label}.\n\n'
        f"Generated from the book's #@save blocks; edit the book, not this file.\n"
        f'Use it as: from d2l import {framework} as d2l\n"""\n'
    )
    parts = [
        docstring if places is not None else "",
        "import sys\n",
        "\n".join(imports) + ("\n" if imports else ""),
        "d2l = sys.modules[__name__]\n",
    ]
    for block in mine:
        if block.imports_only:
            continue
        if places is None:
            parts.append(f"\n{block.code}\n")
            continue
        place = places[block]
        section = " ".join(part for part in (place.number, place.title) if part)
        note = f"# Defined in {block.origin}" + (f" ({section})" if section else "")
        parts.append(f"\n{note}\n{with_provenance(block.code, place)}\n")
    return "\n".join(parts)


def with_provenance(code: str, place: Place) -> str:
    """``code`` with "Defined in <section> (<url>)" in the docstring of each top-level def and class."""
    lines = code.splitlines()
    note = f"Defined in {place}"
    edits = []  # (first line, last line, replacement lines), 0-based, applied bottom-up
    for node in ast.parse(code).body:
        if not isinstance(node, _DEFINITIONS) or node.body[0].lineno == node.lineno:
            continue  # a one-line definition has nowhere to put a docstring
        first = node.body[0]
        indent = re.match(r"\s*", lines[first.lineno - 1]).group()
        existing = ast.get_docstring(node)
        if existing is None:
            edits.append((_start(first) - 1, _start(first) - 2, _docstring(note, indent)))
        else:
            edits.append((first.lineno - 1, first.end_lineno - 1, _docstring(f"{existing}\n\n{note}", indent)))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start : end + 1] = replacement
    return "\n".join(lines)


def _docstring(text: str, indent: str) -> list[str]:
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').splitlines()
    if len(body) == 1:
        return [f'{indent}"""{body[0]}"""']
    return [f'{indent}"""{body[0]}', *[f"{indent}{line}" if line else "" for line in body[1:]], f'{indent}"""']


def write_package(
    target: Path,
    config: BookConfig,
    blocks: list[SavedBlock],
    places: dict[SavedBlock, Place],
    title: str,
    release: str,
) -> list[Path]:
    """Write the installable package under ``target``; returns the files whose content changed."""
    version = package_version(release)
    package = target / config.package_name
    pyproject = _PYPROJECT.format(
        name=config.package_name, version=version, description=json.dumps(f"Saved code of {title}")
    )
    files = {
        target / "pyproject.toml": pyproject,
        package / "__init__.py": f'"""Saved code of "{title}"."""\n\n__version__ = "{version}"\n',
    }
    for framework in config.frameworks.values():
        text = module_source(framework.name, framework.label, blocks, title, places)
        path = package / f"{framework.name}.py"
        try:
            compile(text, str(path), "exec")
        except SyntaxError as error:
            raise BookError(f"the generated module {path.name} is not valid Python: {error}") from None
        files[path] = text
    return [path for path, text in files.items() if _write(path, text)]


def package_version(release: str) -> str:
    """The package's version: the book's ``release`` when it is a valid version, else "0"."""
    try:
        return str(Version(release or "0"))
    except InvalidVersion:
        return "0"


def archive_path(dist: Path, config: BookConfig, release: str) -> Path:
    return dist / f"{config.package_name}-{package_version(release)}.tar.gz"


def write_archive(target: Path, dist: Path, config: BookConfig, release: str) -> Path:
    """A source archive of the package written under ``target`` (pip installs it).

    Byte-identical for the same package: sorted members, no timestamps or owners.
    """
    name, version = config.package_name, package_version(release)
    pyproject = (target / "pyproject.toml").read_text(encoding="utf8")
    top = f"{name}-{version}"
    files = {"pyproject.toml": pyproject.encode()}
    files["PKG-INFO"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    for path in sorted((target / name).glob("*.py")):
        files[f"{name}/{path.name}"] = path.read_bytes()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w") as archive:
            for member in sorted(files):
                info = tarfile.TarInfo(f"{top}/{member}")
                info.size = len(files[member])
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(files[member]))
    path = archive_path(dist, config, release)
    if not path.exists() or path.read_bytes() != buffer.getvalue():
        dist.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(buffer.getvalue())
        temporary.replace(path)
    return path


def module_path(target: Path, config: BookConfig, framework: str) -> Path:
    """Where ``write_package(target, ...)`` puts a framework's module."""
    return target / config.package_name / f"{framework}.py"


def _write(path: Path, text: str) -> bool:
    """Write only when the content changed, atomically; whether it was written."""
    if path.exists() and path.read_text(encoding="utf8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf8")
    temporary.replace(path)
    return True


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = {description}
requires-python = ">=3.9"

[tool.setuptools]
packages = ["{name}"]
"""


@functools.cache
def _defined_names(block: SavedBlock) -> list[str]:
    """Top-level names a saved block defines (functions, classes, assignments, imports)."""
    names = []
    for node in ast.parse(block.code).body:
        if isinstance(node, _DEFINITIONS):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.extend(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _unresolved(block: SavedBlock, provided: set[str]) -> list[tuple[str, str]]:
    """(function, name) pairs: globals a block's functions use that nothing provides."""
    return [(function, shown) for function, needed, shown in _globals_used(block) if needed not in provided]


@functools.cache
def _globals_used(block: SavedBlock) -> list[tuple[str, str, str]]:
    """(function, module-level name it needs, as written) for each global a block's functions use.

    Saved code reaches the package through its self-reference too: ``d2l.plt`` needs ``plt``.
    """
    used = []

    def walk(table) -> None:
        for child in table.get_children():
            if child.get_type() == "function":
                used.extend(
                    (child.get_name(), name, name) for name in child.get_globals() if not hasattr(builtins, name)
                )
            walk(child)

    walk(symtable.symtable(block.code, block.where, "exec"))
    for node in ast.walk(ast.parse(block.code)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and inner.value.id == "d2l":
                    used.append((node.name, inner.attr, f"d2l.{inner.attr}"))
    return used


def package_report(config: BookConfig, blocks: list[SavedBlock]) -> list[str]:
    """Problems a reader of the package would hit, one line each with its place and frameworks.

    - a name saved again (the later one wins, as when the book is run in order);
    - a name used by saved code that no saved import or definition provides (NameError when called);
    - a public name saved for some configured frameworks but not others (AttributeError when a
      reader switches framework).

    A problem of a block saved for several frameworks is one line naming them all.
    """
    found: dict[tuple[str, ...], list[str]] = {}  # (message template parts) -> frameworks
    saved_in: dict[str, set[str]] = {}
    origin: dict[str, str] = {}  # public name -> where it is first saved
    for framework in config.frameworks:
        mine = [b for b in blocks if b.frameworks is None or framework in b.frameworks]
        provided = {"d2l", "sys", "__name__", "__file__"}
        first: dict[str, SavedBlock] = {}
        for block in mine:
            for name in _defined_names(block):
                provided.add(name)
                if block.imports_only:
                    continue
                if name in first and first[name] is not block:
                    found.setdefault(("again", block.where, name, first[name].where), []).append(framework)
                first[name] = block
                if not name.startswith("_"):
                    saved_in.setdefault(name, set()).add(framework)
                    origin.setdefault(name, block.where)
        for block in mine:
            for function, name in _unresolved(block, provided):
                found.setdefault(("unresolved", block.where, function, name), []).append(framework)
    problems = []
    for (kind, where, *names), frameworks in found.items():
        names_of = ", ".join(frameworks)
        if kind == "again":
            name, earlier = names
            problems.append(
                f"{where}: `{name}` [{names_of}] is saved again (first at {earlier}); the later one is kept"
            )
        else:
            function, name = names
            problems.append(
                f"{where}: `{function}` [{names_of}] uses `{name}`, which no saved import or definition provides "
                f"(mark its import with #@save)"
            )
    for name, frameworks in saved_in.items():
        absent = [fw for fw in config.frameworks if fw not in frameworks]
        if absent:
            problems.append(
                f"{origin[name]}: `{name}` is saved for {', '.join(sorted(frameworks))} but not for {', '.join(absent)}"
            )
    return problems
