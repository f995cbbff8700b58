"""Tab parity: the listings each selected framework lacks.

A listing is a run of framework cells that follow each other with no prose between them (what
the page shows as one tab set, ``render/tabs.py``). A selected framework none of whose cells is in
the group lacks that listing. Shared cells run in every framework, so they never lack one.
"""

from __future__ import annotations

import dataclasses as dc

from ..sources.cells import Cell, Chapter


@dc.dataclass(frozen=True)
class MissingListing:
    """A listing of a chapter that some selected frameworks lack."""

    docname: str
    path: str
    """The source as messages name it."""
    line: int
    """The author's line of the listing's first cell."""
    present: tuple[str, ...]
    """The frameworks the listing has cells for."""
    missing: tuple[str, ...]
    """The selected frameworks it has none for."""
    read_line: int = 0
    """The line in the text the build read (d2l-book sources are read converted)."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def listings(chapter: Chapter) -> list[list[Cell]]:
    """The chapter's groups of framework cells that follow each other in its notebook."""
    groups: list[list[Cell]] = []
    previous = None
    for cell in chapter.cells:
        if cell.shared:
            previous = None
            continue
        if previous is not None and cell.index == previous + 1:
            groups[-1].append(cell)
        else:
            groups.append([cell])
        previous = cell.index
    return groups


def missing_listings(chapter: Chapter, selected: tuple[str, ...]) -> list[MissingListing]:
    """The listings of ``chapter`` that a selected framework lacks, in the chapter's order."""
    found = []
    for group in listings(chapter):
        present = tuple(dict.fromkeys(name for cell in group for name in cell.frameworks))
        missing = tuple(name for name in selected if name not in present)
        if missing:
            first = group[0]
            line = chapter.source_line(first.line)
            found.append(MissingListing(chapter.docname, chapter.display_path, line, present, missing, first.line))
    return found


def parity_message(missing: MissingListing, labels: dict[str, str]) -> str:
    """The warning an author reads: which frameworks lack the listing, and which have it."""
    lacking = ", ".join(labels.get(name, name) for name in missing.missing)
    having = ", ".join(labels.get(name, name) for name in missing.present)
    return f"listing for {having} only: {lacking} {'lacks' if len(missing.missing) == 1 else 'lack'} it"
