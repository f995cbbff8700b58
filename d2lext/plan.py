"""Planning a build, before anything is read by Sphinx or executed.

Pure rules over the book and the cache: every run's cache key, which runs are due for the
documents being read, and which documents must be read again because their runs are not cached,
their pages were made from other runs, or a file they show was rewritten.
"""

from __future__ import annotations

import dataclasses as dc
from collections.abc import Callable, Iterable
from pathlib import Path

from .book import Book
from .cache import cache_key, combined_key, imports_package
from .cells import Chapter
from .config import BookConfig
from .errors import BookError
from .package import module_source
from .runs import Run
from .saved import Place, SavedBlock


@dc.dataclass
class Plan:
    """What this build knows before reading: the book, the package written from it, each run's key."""

    config: BookConfig
    book: Book
    keys: dict[tuple[str, str], str]
    """(docname, framework) -> cache key, for every selected framework a chapter has cells for."""
    places: dict[SavedBlock, Place]
    package: Path
    """Folder the package is written to."""
    rewritten: list[Path]
    """Files of the package this build changed."""
    archive: Path
    """The package's source archive, offered for download on the API page."""
    chapters: dict[str, Chapter] = dc.field(init=False)
    """The book's text notebooks by docname, in table-of-contents order."""

    def __post_init__(self) -> None:
        self.chapters = {chapter.docname: chapter for chapter in self.book.chapters}


def package_code(book: Book, config: BookConfig) -> dict[str, str]:
    """Each configured framework's module as code alone (no provenance notes): made once per build,
    for the cache keys and the package's dependencies."""
    return {
        framework.name: module_source(
            framework.name, framework.label, book.blocks, "", aliases=config.aliases(framework.name)
        )
        for framework in config.frameworks.values()
    }


def run_keys(
    book: Book,
    config: BookConfig,
    environments: dict[str, str] | None = None,
    code: dict[str, str] | None = None,
) -> dict[tuple[str, str], str]:
    """The cache key of every (chapter, selected framework) run that has cells to execute.

    ``environments`` gives each framework's environment fingerprint (upgrading it re-runs its runs);
    ``code`` each framework's module code (``package_code``, made here when not given).

    A chapter that depends on others (front matter ``d2l.depends``) folds their keys, in the same
    framework, into its own: a change that re-runs them re-runs it.
    """
    package = code if code is not None else package_code(book, config)
    own = {}
    for chapter in book.chapters:
        for framework in config.selected_frameworks:
            if chapter.cells_for(framework.name):
                imported = imports_package(chapter, framework.name, config.package_name)
                module = package[framework.name] if imported else None
                environment = (environments or {}).get(framework.name, "")
                own[chapter.docname, framework.name] = cache_key(chapter, framework, module, environment)
    chapters = {chapter.docname: chapter for chapter in book.chapters}
    for chapter in book.chapters:
        for name in chapter.depends:
            if name not in chapters:
                raise BookError(
                    f"{chapter.where(1)}: d2l.depends names {name!r}, which is not a chapter of the book "
                    f"(chapters: {', '.join(chapters)})"
                )
    keys: dict[tuple[str, str], str] = {}

    def key_of(docname: str, framework: str, path: tuple[str, ...]) -> str | None:
        if docname in path:
            cycle = " -> ".join((*path, docname))
            raise BookError(f"{chapters[path[0]].where(1)}: chapters depend on each other: {cycle}")
        if (docname, framework) not in keys and (docname, framework) in own:
            upstream = [key_of(name, framework, (*path, docname)) for name in chapters[docname].depends]
            keys[docname, framework] = combined_key(own[docname, framework], upstream)
        return keys.get((docname, framework))

    for docname, framework in own:
        key_of(docname, framework, ())
    return keys


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
) -> set[str]:
    """Documents to read again although their text did not change.

    - A chapter whose runs are not all cached (``cached(docname, framework, key)``), and the
      chapters those runs depend on (they run again, see ``upstream_runs``).
    - A chapter whose page was made from other runs than the current ones: ``shown`` maps each
      document read before to the keys of the runs its page shows. Undoing an edit makes the
      keys those of cached runs again, and the page must follow although nothing executes.
    - A page that depends on a package file this build rewrote (Sphinx checked its
      dependencies before the package was written).
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
    rewritten = {Path(path).resolve() for path in plan.rewritten}
    stale |= {
        docname
        for docname, files in dependencies.items()
        if docname in found and any(Path(file).resolve() in rewritten for file in files)
    }
    return stale
