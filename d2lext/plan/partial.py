"""A partial build (``make html ONLY=...``): which documents are built, and which are only read.

In: the names given (``d2l_only``), the documents Sphinx found, and the ``Book`` (its toctrees and
each chapter's ``d2l.depends``). Out: a ``Selection``: the documents named, the chapters they
depend on, and the pages that index them (their ancestors in the table of contents). Those are
built: executed and written. Every other document is still read, for the package, the section
numbers and the references, but never executed and never written. Pure rules; nothing here
imports Sphinx.
"""

from __future__ import annotations

import dataclasses as dc
import difflib
import posixpath
from collections.abc import Iterable

from ..errors import BookError
from ..sources.book import Book
from ..sources.toc import listed

#: Suffixes a name may carry (``chapter_optimization/gd.md`` names ``chapter_optimization/gd``).
SUFFIXES = (".md", ".ipynb", ".rst")


def _folders(documents: Iterable[str]) -> set[str]:
    """Every folder holding a document (``a/b/c`` -> ``a``, ``a/b``)."""
    found = set()
    for docname in documents:
        parts = docname.split("/")[:-1]
        found.update("/".join(parts[: index + 1]) for index in range(len(parts)))
    return found


def _normal(name: str) -> str:
    """A name as a docname: forward slashes, no ``./`` or leading ``/``, no trailing ``/``."""
    name = posixpath.normpath(name.strip().replace("\\", "/")).lstrip("/")
    return "" if name == "." else name


def close_names(name: str, documents: set[str], folders: set[str]) -> list[str]:
    """The documents and folders whose names are close to ``name`` (difflib), best first; when
    none is, the documents whose last part is close to its last part (``gd`` finds
    ``chapter_optimization/gd``)."""
    known = sorted(documents | folders)
    found = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if found:
        return found
    tails: dict[str, list[str]] = {}
    for docname in known:
        tails.setdefault(docname.rsplit("/", 1)[-1], []).append(docname)
    close = difflib.get_close_matches(name.rsplit("/", 1)[-1], sorted(tails), n=3, cutoff=0.75)
    return [docname for tail in close for docname in tails[tail]][:5]


def resolve(names: Iterable[str], documents: Iterable[str]) -> list[str]:
    """The documents ``names`` stand for, once each, in the order given. A name is a document
    (``chapter_optimization/gd``, with or without its suffix) or a folder (every document in it).
    A name that is neither is one book error for all of them, with the close names of each."""
    documents = set(documents)
    folders = _folders(documents)
    found: list[str] = []
    unknown: list[tuple[str, str]] = []
    for name in names:
        key = _normal(name)
        stem = next((key[: -len(suffix)] for suffix in SUFFIXES if key.endswith(suffix)), key)
        if key in documents:
            found.append(key)
        elif stem in documents:
            found.append(stem)
        elif key in folders:
            found.extend(sorted(docname for docname in documents if docname.startswith(key + "/")))
        else:
            unknown.append((name, stem))
    if unknown:
        lines = []
        for name, stem in unknown:
            close = close_names(stem, documents, folders)
            hint = f"did you mean {close[0]}?" if close else "no document or folder has a close name"
            if len(close) > 1:
                hint += f" (also close: {', '.join(close[1:])})"
            lines.append(f"  {name!r}: {hint}")
        what = "a name that is not" if len(unknown) == 1 else f"{len(unknown)} names that are not"
        raise BookError(
            f"ONLY (d2l_only) gives {what} a document or a folder of the book's documents:\n"
            + "\n".join(lines)
            + "\n(a name is a document as a toctree names it, with or without its suffix, or a folder of documents)"
        )
    return list(dict.fromkeys(found))


@dc.dataclass(frozen=True)
class Selection:
    """What a partial build builds (executes and writes); the book's other documents are only read."""

    named: tuple[str, ...]
    """The documents ``ONLY`` names, in table-of-contents order."""
    depended: tuple[str, ...]
    """The chapters they depend on (front matter ``d2l.depends``, followed to the end): their runs
    make files the named chapters read."""
    indexing: tuple[str, ...]
    """The pages that index them: their ancestors in the table of contents."""
    documents: int
    """How many documents the book has."""

    @property
    def built(self) -> frozenset[str]:
        """The documents executed and written."""
        return frozenset((*self.named, *self.depended, *self.indexing))

    def summary(self, uncached_runs: int) -> str:
        """One line for the console: what is built, and what is not."""
        shown = ", ".join(self.named[:4]) + (f" and {len(self.named) - 4} more" if len(self.named) > 4 else "")
        one = len(self.named) == 1
        extra = []
        if self.depended:
            depend = "it depends" if one else "they depend"
            extra.append(f"the {_count(len(self.depended), 'chapter')} {depend} on (d2l.depends)")
        if self.indexing:
            index = "indexes" if len(self.indexing) == 1 else "index"
            extra.append(f"the {_count(len(self.indexing), 'page')} that {index} {'it' if one else 'them'}")
        with_ = f", with {' and '.join(extra)}," if extra else ""
        others = self.documents - len(self.built)
        uncached = f" ({_count(uncached_runs, 'run')} of theirs not cached)" if uncached_runs else ""
        return (
            f"partial build: {len(self.named)} of {_count(self.documents, 'chapter')} ({shown}){with_} "
            f"executed and written; the other {others} are read for the package, section numbers and "
            f"references, not executed{uncached} and not written"
        )

    def report(self, uncached: Iterable[str]) -> dict:
        """What ``d2l-report.json`` says of the partial build."""
        return {
            "named": list(self.named),
            "depended": list(self.depended),
            "indexing": list(self.indexing),
            "not_executed": sorted(uncached),
        }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def select(names: Iterable[str], documents: Iterable[str], book: Book) -> Selection:
    """The selection of a partial build: the documents named (``resolve``), the chapters they
    depend on, and their ancestors in the book's table of contents."""
    documents = set(documents)
    named = set(resolve(names, documents))
    chapters = {chapter.docname: chapter for chapter in book.chapters}
    depended: set[str] = set()
    waiting = list(named)
    while waiting:
        chapter = chapters.get(waiting.pop())
        for name in chapter.depends if chapter else ():
            if name not in named and name not in depended:
                depended.add(name)
                waiting.append(name)
    parents: dict[str, set[str]] = {}
    in_book = set(book.order)
    for docname, document in book.outlines.items():
        for target in listed(docname, document, in_book):
            if target != docname:
                parents.setdefault(target, set()).add(docname)
    indexing: set[str] = set()
    waiting = list(named | depended)
    while waiting:
        for parent in parents.get(waiting.pop(), ()):
            if parent not in indexing:
                indexing.add(parent)
                waiting.append(parent)
    indexing -= named | depended
    position = {docname: index for index, docname in enumerate(book.order)}

    def ordered(docnames: set[str]) -> tuple[str, ...]:
        return tuple(sorted(docnames, key=lambda docname: (position.get(docname, len(position)), docname)))

    return Selection(ordered(named), ordered(depended), ordered(indexing), len(documents))
