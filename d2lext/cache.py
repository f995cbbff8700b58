"""The execution cache: one entry per (document, framework), keyed by what can change its outputs.

The key covers the framework and its kernel, the code of the cells that run in it (in order, with
the tags that change execution), and the saved package's code for that framework when the cells
import it. Prose, other frameworks' cells and other documents are not in it, so editing them
re-runs nothing. Entries are written atomically and older entries of the same pair are pruned.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nbformat

from .cells import Chapter
from .config import Framework
from .files import write_atomic
from .runs import Result, Run

#: Bump when the entry format or what the key covers changes.
FORMAT = 1
#: Cell tags that change how a cell executes (the others only change how it is shown).
EXECUTION_TAGS = frozenset({"raises-exception", "skip-execution"})


def imports_package(chapter: Chapter, framework: str, package: str) -> bool:
    """Whether the framework's cells import the saved package."""
    pattern = re.compile(rf"^\s*(from\s+{re.escape(package)}\b|import\s+{re.escape(package)}\b)", re.MULTILINE)
    return any(pattern.search(cell.source) for cell in chapter.cells_for(framework))


def cache_key(chapter: Chapter, framework: Framework, package_code: str | None) -> str:
    """The key of a run; ``package_code`` is the saved module's code, if the cells import it."""
    content = {
        "format": FORMAT,
        "framework": framework.name,
        "kernel": framework.kernel,
        "cells": [
            [cell.source, sorted(EXECUTION_TAGS.intersection(cell.tags))] for cell in chapter.cells_for(framework.name)
        ],
        "package": package_code,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


class Cache:
    """Entries under ``root/<docname>/<framework>/<key>.json``."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, docname: str, framework: str, key: str) -> Path:
        return self.root.joinpath(*docname.split("/"), framework, f"{key}.json")

    def has(self, docname: str, framework: str, key: str) -> bool:
        return self.path(docname, framework, key).is_file()

    def load(self, run: Run, key: str) -> Result | None:
        """The cached result of a run, or ``None`` (missing or unreadable entries are misses)."""
        try:
            entry = json.loads(self.path(run.chapter.docname, run.framework.name, key).read_text(encoding="utf8"))
        except (OSError, ValueError):
            return None
        cells = run.chapter.cells_for(run.framework.name)
        if entry.get("key") != key or len(entry.get("cells", [])) != len(cells):
            return None
        result = Result(run, seconds=entry.get("seconds", 0.0), cached=True)
        for cell, (count, outputs) in zip(cells, entry["cells"], strict=True):
            result.outputs[cell.index] = [nbformat.from_dict(output) for output in outputs]
            result.execution_counts[cell.index] = count
        return result

    def store(self, result: Result, key: str) -> None:
        """Write a successful result atomically, then drop the pair's older entries."""
        run = result.run
        cells = run.chapter.cells_for(run.framework.name)
        entry = {
            "key": key,
            "docname": run.chapter.docname,
            "framework": run.framework.name,
            "seconds": result.seconds,
            "cells": [[result.execution_counts.get(c.index), result.outputs.get(c.index, [])] for c in cells],
        }
        target = self.path(run.chapter.docname, run.framework.name, key)
        write_atomic(target, json.dumps(entry))
        for old in target.parent.glob("*.json"):
            if old != target:
                old.unlink(missing_ok=True)
