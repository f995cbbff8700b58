"""Checks on the saved package: what a reader of ``d2l/<framework>.py`` would trip over, and the
saved imports that a selected framework's environment cannot import (every chapter would)."""

from __future__ import annotations

import ast
import builtins
import dataclasses as dc
import symtable
from collections.abc import Callable

from ..config import BookConfig, Framework
from ..sources.book import Book
from ..sources.saved import DEFINITIONS, SavedBlock, added_to


@dc.dataclass(frozen=True)
class Problem:
    """One problem of the package, at the saved block it concerns."""

    block: SavedBlock
    text: str

    def __str__(self) -> str:
        return f"{self.block.where}: {self.text}"


def _defined_names(block: SavedBlock) -> list[str]:
    """Top-level names a saved block defines (functions, classes, assignments, imports)."""
    names = []
    for node in ast.parse(block.code).body:
        if isinstance(node, DEFINITIONS) and added_to(node) is None:  # not a method added to a class
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.extend(name for target in targets for name in _bound(target))
    return names


def _bound(target: ast.expr) -> list[str]:
    """The names an assignment's target binds: ``a`` and ``b`` in ``a, *b = ...``; none in
    ``DATA_HUB['x'] = ...`` or ``obj.attr = ...`` (they change an object, they define no name)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _bound(element)]
    return []


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


def package_report(config: BookConfig, blocks: list[SavedBlock]) -> list[Problem]:
    """Problems a reader of the package would hit, one each with its block and frameworks.

    - a name saved again (the later one wins, as when the book is run in order);
    - a name used by saved code that no saved import or definition provides (NameError when called);
    - a public name saved for some configured frameworks but not others (AttributeError when a
      reader switches framework).

    A problem of a block saved for several frameworks is one problem naming them all.
    """
    defined = {block: _defined_names(block) for block in blocks}  # each block parsed once
    used = {block: _globals_used(block) for block in blocks}
    found: dict[tuple, list[str]] = {}  # (kind, block, names...) -> frameworks
    saved_in: dict[str, set[str]] = {}
    origin: dict[str, SavedBlock] = {}  # public name -> the block that first saves it
    for framework in config.frameworks:
        mine = [b for b in blocks if b.frameworks is None or framework in b.frameworks]
        provided = {"d2l", "sys", "__name__", "__file__"}
        first: dict[str, SavedBlock] = {}
        for block in mine:
            for name in defined[block]:
                provided.add(name)
                if block.imports_only:
                    continue
                if name in first and first[name] is not block:
                    found.setdefault(("again", block, name, first[name].where), []).append(framework)
                first[name] = block
                if not name.startswith("_"):
                    saved_in.setdefault(name, set()).add(framework)
                    origin.setdefault(name, block)
        for block in mine:
            for function, needed, shown in used[block]:
                frameworks = found.setdefault(("unresolved", block, function, shown), [])
                if needed not in provided and framework not in frameworks:  # a name used twice: once
                    frameworks.append(framework)
    problems = []
    for (kind, block, *names), frameworks in found.items():
        if not frameworks:
            continue
        names_of = ", ".join(frameworks)
        if kind == "again":
            name, earlier = names
            text = f"`{name}` [{names_of}] is saved again (first at {earlier}); the later one is kept"
        else:
            function, name = names
            text = (
                f"`{function}` [{names_of}] uses `{name}`, which no saved import or definition provides "
                f"(mark its import with #@save)"
            )
        problems.append(Problem(block, text))
    for name, frameworks in saved_in.items():
        absent = [fw for fw in config.frameworks if fw not in frameworks]
        if absent:
            text = f"`{name}` is saved for {', '.join(sorted(frameworks))} but not for {', '.join(absent)}"
            problems.append(Problem(origin[name], text))
    return problems


@dc.dataclass(frozen=True)
class MissingImport:
    """A saved import whose module a framework's environment cannot find."""

    block: SavedBlock
    line: int
    """The import's line in the text the build read (the block's first line is ``block.line``)."""
    framework: Framework
    statement: str
    advice: str
    """Where to add the package: "add it to requirements.txt"."""

    @property
    def text(self) -> str:
        return (
            f"[{self.framework.name}] the saved import `{self.statement}` needs a package the "
            f"{self.framework.label} environment lacks: {self.advice}"
        )


def missing_imports(
    config: BookConfig,
    blocks: list[SavedBlock],
    missing: dict[str, list[str]],
    advice: Callable[[Framework], str],
) -> list[MissingImport]:
    """For each selected framework, the first saved import of each module its environment cannot
    find (``missing``: framework -> modules), in the book's order: every chapter importing the
    package would fail on it."""
    found = []
    for framework in config.selected_frameworks:
        lacking = set(missing.get(framework.name, ()))
        for block in blocks:
            if not lacking:
                break
            if block.frameworks is not None and framework.name not in block.frameworks:
                continue
            for node in ast.parse(block.code).body:
                if isinstance(node, ast.Import):
                    names = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module.split(".")[0]]
                else:
                    continue
                if lacking.isdisjoint(names):
                    continue
                lacking -= set(names)
                statement = " ".join((ast.get_source_segment(block.code, node) or "").split())
                found.append(
                    MissingImport(block, block.line + node.lineno - 1, framework, statement, advice(framework))
                )
    return found


def numbering_differences(book: Book, site_numbers: dict[str, list[tuple[int, ...]]]) -> list[tuple[str, str]]:
    """``(docname, message)`` for each document saving code whose section numbers (computed before
    reading, for the package's provenance notes) differ from the site's."""
    found = []
    for docname in sorted({block.docname for block in book.blocks}):
        ours = [number for _, number in sorted(book.numbers.get(docname, {}).items())]
        theirs = site_numbers.get(docname, [])
        if ours != theirs:
            shown = ", ".join(".".join(map(str, n)) for n in theirs) or "none"
            mine = ", ".join(".".join(map(str, n)) for n in ours) or "none"
            message = (
                f"the saved package numbers its sections {mine}, the site {shown}; "
                f"please report this with the book's toctrees"
            )
            found.append((docname, message))
    return found
