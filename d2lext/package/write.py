"""The saved package: ``d2l/<framework>.py`` from the saved blocks, its ``pyproject.toml`` and source archive."""

from __future__ import annotations

import ast
import gzip
import io
import json
import re
import tarfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..config import BookConfig
from ..errors import BookError
from ..files import write_if_changed
from ..sources.saved import DEFINITIONS, Place, SavedBlock, block_start


def module_source(
    framework: str,
    label: str,
    blocks: list[SavedBlock],
    title: str,
    places: dict[SavedBlock, Place] | None = None,
    aliases: str = "",
) -> str:
    """The text of ``d2l/<framework>.py``.

    With ``places``, each block is preceded by a comment naming its source line and section, and
    each function and class it defines says in its docstring where it is defined. Without, only
    the code (what cache keys cover). ``aliases`` (a d2l-book ``config.ini``'s, for this
    framework) come last, each defined only if what it names exists.
    """
    mine = [b for b in blocks if b.frameworks is None or framework in b.frameworks]
    imports: list[str] = []  # each statement of the blocks of imports once, in order
    for block in mine:
        if block.imports_only:
            for statement in ast.parse(block.code).body:
                text = ast.get_source_segment(block.code, statement) or ""
                if text not in imports:
                    imports.append(text)
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
    if aliases:
        parts.append("\n# Aliases of the book's config.ini: d2l.<name> as in the book's code.")
        for line in aliases.splitlines():
            parts.append(
                f"try:\n    {line}\nexcept (NameError, AttributeError):  # not imported by this book\n    pass"
            )
    return "\n".join(parts)


def with_provenance(code: str, place: Place) -> str:
    """``code`` with "Defined in <section> (<url>)" in the docstring of each top-level def and class."""
    lines = code.splitlines()
    note = f"Defined in {place}"
    edits = []  # (first line, last line, replacement lines), 0-based, applied bottom-up
    for node in ast.parse(code).body:
        if not isinstance(node, DEFINITIONS) or node.body[0].lineno == node.lineno:
            continue  # a one-line definition has nowhere to put a docstring
        first = node.body[0]
        indent = re.match(r"\s*", lines[first.lineno - 1]).group()
        existing = ast.get_docstring(node)
        if existing is None:
            edits.append((block_start(first) - 1, block_start(first) - 2, _docstring(note, indent)))
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
    dependencies: tuple[list[str], dict[str, list[str]]] = ([], {}),
) -> list[Path]:
    """Write the installable package under ``target``; returns the files changed or removed.

    ``dependencies`` is ``(common, extras)``: what ``pip install`` always installs, and one extra
    per framework (``pip install "d2l[torch]"``).

    The package holds exactly the configured frameworks' modules: a framework removed from
    ``conf.py`` leaves it (and so the source archive and the wheel made from it).
    """
    version = package_version(release)
    package = target / config.package_name
    common, extras = dependencies
    pyproject = _PYPROJECT.format(
        name=config.package_name,
        version=version,
        description=json.dumps(f"Saved code of {title}"),
        dependencies=json.dumps(common),
    )
    if extras:
        pyproject += "\n[project.optional-dependencies]\n" + "".join(
            f"{name} = {json.dumps(requirements)}\n" for name, requirements in extras.items()
        )
    files = {
        target / "pyproject.toml": pyproject,
        package / "__init__.py": f'"""Saved code of "{title}"."""\n\n__version__ = "{version}"\n',
    }
    for framework in config.frameworks.values():
        text = module_source(framework.name, framework.label, blocks, title, places, config.aliases(framework.name))
        path = package / f"{framework.name}.py"
        try:
            compile(text, str(path), "exec")
        except SyntaxError as error:
            raise BookError(f"the generated module {path.name} is not valid Python: {error}") from None
        files[path] = text
    changed = [path for path, text in files.items() if write_if_changed(path, text)]
    for stale in sorted(package.glob("*.py")):  # modules of frameworks no longer configured
        if stale not in files:
            stale.unlink()
            changed.append(stale)
    return changed


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
    write_if_changed(path, buffer.getvalue())
    return path


def module_path(target: Path, config: BookConfig, framework: str) -> Path:
    """Where ``write_package(target, ...)`` puts a framework's module."""
    return target / config.package_name / f"{framework}.py"


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = {description}
requires-python = ">=3.9"
dependencies = {dependencies}

[tool.setuptools]
packages = ["{name}"]
"""
