"""The plan of a build, made before anything is read by Sphinx or executed.

Pure rules over the book: each framework's module code (made once per build), and every
(chapter, framework) run's cache key, with the keys of the chapters it depends on folded in.
``due.py`` says, from the plan, what runs and what is read again.
"""

from __future__ import annotations

import dataclasses as dc
from pathlib import Path

from ..config import BookConfig
from ..errors import BookError
from ..package.write import module_source
from ..sources.book import Book
from ..sources.cells import Chapter
from ..sources.saved import Place, SavedBlock
from .cache import cache_key, combined_key, imports_package


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
