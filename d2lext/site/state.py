"""What the site's code keeps during one build: pages and notebooks written, the navigation the
pages show, the pages a partial build left unwritten, the bibliography's entries. Owned by the
site, not by the build of the book's runs.

Nothing here needs Sphinx; the Sphinx handlers of the site (search, notebook links, the wiring)
read and set it through ``state.site_state(env)``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import write_if_changed
from ..sources.book import Book


class SiteState:
    """One build's site: what it wrote, and what its pages show."""

    def __init__(self, folder: Path):
        self.folder = folder
        """Where the site remembers, between builds, the navigation its pages show."""
        self.pages_written = False
        """Whether this build wrote a page (the search index is then made again)."""
        self.notebooks_changed = False
        """Whether this build wrote or removed a notebook (the per-framework archives are packed again)."""
        self._bibliography: dict | None = None

    @property
    def _navigation_file(self) -> Path:
        return self.folder / "navigation.json"

    @property
    def _unwritten_file(self) -> Path:
        return self.folder / "unwritten.json"

    def unwritten(self) -> set[str]:
        """The pages partial builds left unwritten although a full build would have written them
        (read again, older than their source, or all of them after a change of configuration):
        the next build that builds them writes them."""
        try:
            return set(json.loads(self._unwritten_file.read_text(encoding="utf8")))
        except (OSError, ValueError):
            return set()

    def leave_unwritten(self, pages: set[str]) -> None:
        """A partial build does not write ``pages``: remembered at once, before it writes anything
        (a build stopped while writing forgets none of them)."""
        write_if_changed(self._unwritten_file, json.dumps(sorted(self.unwritten() | pages), ensure_ascii=False))

    @staticmethod
    def navigation(book: Book) -> str:
        """What every page's navigation shows: the documents in order, with their headings."""
        return json.dumps(
            [
                [docname, [[h.level, h.title] for h in book.outlines[docname].headings]]
                for docname in book.order
                if docname in book.outlines
            ],
            ensure_ascii=False,
        )

    def navigation_changed(self, book: Book) -> bool:
        """Whether the table of contents changed since the last finished build (then every page's
        sidebar and previous/next links must be written again: Sphinx rewrites only the pages it
        reads, sphinx-doc/sphinx#5506)."""
        try:
            return self._navigation_file.read_text(encoding="utf8") != self.navigation(book)
        except OSError:
            return True

    def finished(self, book: Book, built: set[str] | frozenset[str] | None = None) -> None:
        """After a successful build: remember the navigation the pages now show; the pages it
        wrote (``built`` by a partial build; ``None``: every page) are no longer unwritten."""
        write_if_changed(self._navigation_file, self.navigation(book))
        unwritten = self.unwritten() - built if built is not None else set()
        if unwritten or self._unwritten_file.exists():
            write_if_changed(self._unwritten_file, json.dumps(sorted(unwritten), ensure_ascii=False))

    @staticmethod
    def section_titles(book: Book) -> list[str]:
        """Every section title of the book (the search index keeps Chinese ones as words)."""
        return [heading.title for outline in book.outlines.values() for heading in outline.headings]

    def bibliography(self, paths: tuple[Path, ...]) -> dict:
        """The entries of the book's ``.bib`` files, by key (read once per build)."""
        if self._bibliography is None:
            from pybtex.database import parse_file

            self._bibliography = {}
            for path in paths:
                try:
                    self._bibliography.update(parse_file(str(path)).entries)
                except Exception:  # an unreadable file: its citations stay keys
                    continue
        return self._bibliography
