"""The execution cache: entries per (document, framework), keyed by what can change its outputs.

The key covers the framework, its kernel and the environment the kernel runs in (its Python and
installed distributions), the code of the cells that run in it (in order, with the tags that
change execution), and the saved package's code for that framework when the cells import it.
Prose, other frameworks' cells and other documents are not in it, so editing them re-runs
nothing. Entries are written atomically; the cache keeps several per pair, within a size bound.

A run whose cell raised is stored too, as a failure: the next build shows it again without
running it, until its key changes or the author asks for a retry (``failures=False``).
"""

from __future__ import annotations

import dataclasses as dc
import hashlib
import json
import os
from pathlib import Path

import nbformat

from ..config import Framework
from ..execute.runs import Failure, Result, Run
from ..files import write_atomic
from ..sources.cells import Chapter

#: Bump when the entry format or what the key covers changes.
FORMAT = 2
#: Cell tags that change how a cell executes (the others only change how it is shown).
EXECUTION_TAGS = frozenset({"raises-exception", "skip-execution"})
#: The outputs a notebook cell can hold.
OUTPUT_TYPES = frozenset({"stream", "display_data", "execute_result", "error"})


def imports_package(chapter: Chapter, framework: str, package: str) -> bool:
    """Whether the framework's cells import the saved package (decided from their syntax trees)."""
    return any(
        name in ("*", package) or name.startswith(package + ".")
        for cell in chapter.cells_for(framework)
        for name in cell.imported
    )


def cache_key(chapter: Chapter, framework: Framework, package_code: str | None, environment: str = "") -> str:
    """The key of a run; ``package_code`` is the saved module's code, if the cells import it;
    ``environment`` the fingerprint of the Python environment its kernel runs in."""
    content = {
        "format": FORMAT,
        "framework": framework.name,
        "kernel": framework.kernel,
        "environment": environment,
        "cells": [
            [cell.source, sorted(EXECUTION_TAGS.intersection(cell.tags))] for cell in chapter.cells_for(framework.name)
        ],
        "package": package_code,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def combined_key(own: str, upstream: list[str | None]) -> str:
    """A run's key with the keys of the runs it depends on folded in (none: its own key)."""
    if not any(upstream):
        return own
    return hashlib.sha256(json.dumps([own, upstream]).encode()).hexdigest()[:32]


class Cache:
    """Entries under ``root/<docname>/<framework>/<key>.json``, several per (document, framework).

    Keeping earlier results means undoing an edit, or switching a branch back, re-runs nothing.
    ``prune`` bounds the total size, least recently used entries first (a hit marks an entry used).
    """

    def __init__(self, root: Path):
        self.root = root

    def path(self, docname: str, framework: str, key: str) -> Path:
        return self.root.joinpath(*docname.split("/"), framework, f"{key}.json")

    def has(self, docname: str, framework: str, key: str, failures: bool = True) -> bool:
        """Whether the run has an entry (with ``failures=False``, a successful one)."""
        path = self.path(docname, framework, key)
        if failures:
            return path.is_file()
        try:
            return "failure" not in json.loads(path.read_text(encoding="utf8"))
        except Exception:
            return False

    def load(self, run: Run, key: str, failures: bool = True) -> Result | None:
        """The cached result of a run, or ``None``: a missing or damaged entry is a miss, and so
        is a remembered failure with ``failures=False``."""
        path = self.path(run.chapter.docname, run.framework.name, key)
        try:
            result = _result(run, key, json.loads(path.read_text(encoding="utf8")))
        except Exception:  # unreadable, not JSON, or JSON of another shape
            return None
        if result is not None and result.failure is not None and not failures:
            return None
        if result is not None:
            try:
                os.utime(path)  # used now: the last to be evicted
            except OSError:  # a read-only cache still serves its entries
                pass
        return result

    def store(self, result: Result, key: str) -> None:
        """Write a result atomically (earlier results of the pair stay, for undo); a failure is
        stored with its outputs and message, for the page and the next build's error."""
        run = result.run
        cells = run.chapter.cells_for(run.framework.name)
        entry = {
            "key": key,
            "docname": run.chapter.docname,
            "framework": run.framework.name,
            "seconds": result.seconds,
            "cells": [[result.execution_counts.get(c.index), result.outputs.get(c.index, [])] for c in cells],
        }
        if result.failure is not None:
            entry["failure"] = dc.asdict(result.failure)
        write_atomic(self.path(run.chapter.docname, run.framework.name, key), json.dumps(entry))

    def entries(self) -> list[tuple[str, Path]]:
        """``(docname, path)`` of every entry."""
        found = []
        for path in self.root.glob("**/*.json"):
            parts = path.relative_to(self.root).parts
            if len(parts) >= 3:
                found.append(("/".join(parts[:-2]), path))
        return found

    def prune(self, limit: int, documents: set[str], keep: set[Path] = frozenset()) -> list[Path]:
        """Remove the entries of documents that no longer exist, then the least recently used
        ones until the cache holds at most ``limit`` bytes (never those in ``keep``); returns them."""
        removed = []
        sized = []
        for docname, path in self.entries():
            try:
                if docname not in documents:
                    path.unlink()
                    removed.append(path)
                    continue
                status = path.stat()
            except OSError:  # gone meanwhile
                continue
            sized.append((status.st_mtime, status.st_size, path))
        total = sum(size for _, size, _ in sized)
        for _, size, path in sorted(sized, key=lambda item: item[0]):
            if total <= limit:
                break
            if path in keep:
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
            total -= size
        return removed


def _result(run: Run, key: str, entry) -> Result | None:
    """A cache entry read back as a result, ``None`` if it is not this run's."""
    cells = run.chapter.cells_for(run.framework.name)
    if not isinstance(entry, dict) or entry.get("key") != key or len(entry.get("cells", [])) != len(cells):
        return None
    failure = entry.get("failure")
    if failure is not None:
        fields = {field.name for field in dc.fields(Failure)}
        if not isinstance(failure, dict) or not set(failure) <= fields:
            return None
        failure = Failure(**failure)
    result = Result(run, seconds=float(entry.get("seconds", 0.0)), cached=True, failure=failure)
    for cell, (count, outputs) in zip(cells, entry["cells"], strict=True):
        if not all(isinstance(output, dict) and output.get("output_type") in OUTPUT_TYPES for output in outputs):
            return None
        result.outputs[cell.index] = [nbformat.from_dict(output) for output in outputs]
        result.execution_counts[cell.index] = count
    return result
