"""Which runs are due, and which documents must be read again.

Pure rules over the plan and the cache: the runs of the documents being read, the runs they wait
for, and the documents to read again because their runs are not cached, their pages were made
from other runs, or a file they show was rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ..execute.runs import Run
from .keys import Plan


def due_runs(plan: Plan, reading: Iterable[str]) -> list[Run]:
    """The runs of the documents being read, chapters in table-of-contents order, frameworks in tab order."""
    reading = set(reading)
    return [
        Run(chapter, plan.config.frameworks[framework])
        for chapter in plan.book.chapters
        if chapter.docname in reading
        for framework in plan.config.selected
        if (chapter.docname, framework) in plan.keys
    ]


def upstream_runs(plan: Plan, runs: Iterable[Run]) -> list[Run]:
    """The runs that ``runs`` wait for (front matter ``d2l.depends``, followed to the end, in the
    same framework), not among ``runs`` themselves, in table-of-contents order."""
    given = {run.name for run in runs}
    found: dict[str, Run] = {}
    waiting = list(runs)
    while waiting:
        run = waiting.pop()
        for name in run.chapter.depends:
            if (name, run.framework.name) not in plan.keys:
                continue  # no cells in that framework: nothing to run
            upstream = Run(plan.chapters[name], run.framework)
            if upstream.name not in given and upstream.name not in found:
                found[upstream.name] = upstream
                waiting.append(upstream)
    return in_order(plan, found.values())


def in_order(plan: Plan, runs: Iterable[Run]) -> list[Run]:
    """``runs`` once each, chapters in table-of-contents order, frameworks in tab order."""
    chapters = list(plan.chapters)
    frameworks = list(plan.config.frameworks)
    unique = {run.name: run for run in runs}
    return sorted(
        unique.values(), key=lambda run: (chapters.index(run.chapter.docname), frameworks.index(run.framework.name))
    )


def documents_to_read(
    plan: Plan,
    cached: Callable[[str, str, str], bool],
    dependencies: dict[str, Iterable[str]],
    found: Iterable[str],
    shown: dict[str, dict[str, str]] | None = None,
    built: Iterable[str] | None = None,
) -> set[str]:
    """Documents to read again although their text did not change.

    - A chapter whose runs are not all cached (``cached(docname, framework, key)``), and the
      chapters those runs depend on (they run again, see ``upstream_runs``).
    - A chapter whose page was made from other runs than the current ones: ``shown`` maps each
      document read before to the keys of the runs its page shows. Undoing an edit makes the
      keys those of cached runs again, and the page must follow although nothing executes.
    - A page that depends on a package file this build rewrote (Sphinx checked its
      dependencies before the package was written).

    A partial build (``built``: the documents it executes and writes, ``partial.py``) reads the
    others again for the last reason only: the others are lasting (the cache and ``shown`` stay as
    they are until a build executes those runs or reads those pages), while a rewritten package
    file is rewritten once, and the next build would not see it.
    """
    found = set(found)
    uncached = [
        (docname, framework) for (docname, framework), key in plan.keys.items() if not cached(docname, framework, key)
    ]
    stale = {docname for docname, _ in uncached}
    runs = [Run(plan.chapters[docname], plan.config.frameworks[framework]) for docname, framework in uncached]
    stale |= {run.chapter.docname for run in upstream_runs(plan, runs)}
    if shown is not None:
        current: dict[str, dict[str, str]] = {}
        for (docname, framework), key in plan.keys.items():
            current.setdefault(docname, {})[framework] = key
        stale |= {
            docname for docname in plan.chapters if docname in found and shown.get(docname) != current.get(docname, {})
        }
    if built is not None:
        stale &= set(built)
    rewritten = {Path(path).resolve() for path in plan.rewritten}
    stale |= {
        docname
        for docname, files in dependencies.items()
        if docname in found and any(Path(file).resolve() in rewritten for file in files)
    }
    return stale
