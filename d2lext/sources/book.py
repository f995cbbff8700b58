"""The whole book, read statically: structure, chapters, saved blocks, and where each block is defined.

Both the Sphinx build and ``make lib`` read the book through here, so the package they write is
the same. Nothing here needs Sphinx.
"""

from __future__ import annotations

import dataclasses as dc
import hashlib
import pickle
from pathlib import Path

from myst_parser.config.main import MdParserConfig

from ..config import BookConfig
from ..files import read_text, write_atomic
from . import d2lbook, saved
from .cells import Chapter, read_chapter, readable_text
from .d2lbook import mapped_line
from .saved import Place, SavedBlock
from .toc import Outline, outline, section_numbers, toc_order


@dc.dataclass
class Book:
    order: list[str]
    """Every document, in table-of-contents order."""
    outlines: dict[str, Outline]
    chapters: list[Chapter]
    """The text notebooks, in order."""
    blocks: list[SavedBlock]
    """Every saved block, in order."""
    numbers: dict[str, dict[int, tuple]]
    """``docname -> {heading line: section number}``."""
    converted: dict[str, tuple[str, tuple[int, ...]]] = dc.field(default_factory=dict)
    """The documents read through a converter (d2l-book Markdown): their MyST text and line map, made
    once per build (or kept from the memo) for the parser and for the lines messages name."""
    references_added: str | None = None
    """The document that was given the book's references (a d2l-book book cited from, with no
    ``:bibliography:`` page in this build), if any."""

    def source_line(self, docname: str, line: int) -> int:
        """The line of the author's file behind a line of the text the build read."""
        _, line_map = self.converted.get(docname, ("", ()))
        return mapped_line(line_map, line)

    def places(self, baseurl: str = "", suffix: str = ".html") -> dict[SavedBlock, Place]:
        """Where each block is defined: its section's number, title and address on the site."""
        found = {}
        for block in self.blocks:
            document = self.outlines.get(block.docname, Outline())
            heading = document.heading_before(block.line)
            number = ""
            title = ""
            anchor = ""
            if heading is not None:
                title = heading.title
                number = ".".join(map(str, self.numbers.get(block.docname, {}).get(heading.line, ())))
                anchored = document.anchored(heading)
                anchor = f"#{anchored.slug}" if anchored else ""
            base = baseurl.rstrip("/") + "/" if baseurl else ""
            found[block] = Place(number, title, f"{base}{block.docname}{suffix}{anchor}")
        return found


#: A document's parsed state, reused while its text is unchanged: (text hash, outline, chapter,
#: blocks, its converted text and line map or ``None`` when it is read as it is).
Parsed = tuple[Outline, Chapter | None, list[SavedBlock], tuple[str, tuple[int, ...]] | None]
Memo = dict[str, tuple[str, Outline, Chapter | None, list[SavedBlock], tuple[str, tuple[int, ...]] | None]]


def read_book(
    root: str,
    sources: dict[str, Path],
    config: BookConfig,
    md_config: MdParserConfig,
    memo: Memo | None = None,
) -> Book:
    """Read the MyST documents among ``sources`` (docname -> path); others only take a place in the order.

    ``memo`` (updated in place) spares parsing a document whose text did not change.
    """
    memo = {} if memo is None else memo
    parsed: dict[str, Parsed] = {}

    def parse(docname: str) -> Parsed | None:
        path = sources[docname]
        if path.suffix != ".md":
            return None
        if docname not in parsed:
            text = read_text(path)
            digest = hashlib.sha256(text.encode()).hexdigest()
            known = memo.get(docname)
            if known is None or known[0] != digest:
                readable = readable_text(text, config, path)  # d2l-book sources: their MyST form, once
                chapter = read_chapter(path, docname, config, md_config, readable=readable)
                blocks = saved.chapter_blocks(chapter) if chapter else []
                converted = readable if readable[0] is not text else None
                known = (digest, outline(readable[0], md_config), chapter, blocks, converted)
                memo[docname] = known
            parsed[docname] = known[1:]
        return parsed[docname]

    def outline_of(docname: str) -> Outline | None:
        found = parse(docname) if docname in sources else None
        return found[0] if found else None

    order = toc_order(root, set(sources), outline_of)
    chapters, blocks = [], []
    for docname in order:
        found = parse(docname)
        if found and found[1] is not None:
            chapters.append(found[1])
            blocks.extend(found[2])
    outlines = {docname: found[0] for docname, found in parsed.items()}
    converted = {docname: found[3] for docname, found in parsed.items() if found[3] is not None}
    added = d2lbook.with_references(converted, root, config.d2lbook.lang) if config.d2lbook else None
    return Book(order, outlines, chapters, blocks, section_numbers(order, outline_of), converted, added)


#: Bump when what a memoised document holds changes.
MEMO_FORMAT = 5


def settings_text(value) -> str:
    """``value`` as text that is the same in every process for equal settings.

    ``repr()`` is not: a set prints its members in an order that changes with each process's string
    hashing (MyST's ``enable_extensions`` is one), and a function prints its address. Here sets are
    sorted, dataclasses and mappings listed by field, functions named by their module and name.
    """
    if dc.is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(f"{f.name}={settings_text(getattr(value, f.name))}" for f in dc.fields(value))
        return f"{type(value).__qualname__}({fields})"
    if isinstance(value, dict):
        items = sorted((settings_text(key), settings_text(item)) for key, item in value.items())
        return "{" + ", ".join(f"{key}: {item}" for key, item in items) + "}"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(settings_text(item) for item in value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(settings_text(item) for item in value) + "]"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"<{getattr(value, '__module__', '')}.{value.__qualname__}>"
    return repr(value)


class MemoFile:
    """Documents parsed by earlier builds, kept in a file and reused while their text and the settings match.

    Planning reads every document on every build (the package and the cache keys depend on all of
    them); parsing is most of a no-op build's own cost, so unchanged documents are not parsed again.
    ``settings`` is whatever the parse depends on besides the text; it is compared as
    ``settings_text`` writes it, so that the next process finds the memo.
    """

    def __init__(self, path: Path, settings):
        self.path = path
        self.settings = settings_text((MEMO_FORMAT, settings))
        self.entries: Memo = {}
        try:
            with open(path, "rb") as stream:
                stored = pickle.load(stream)
            if stored.get("settings") == self.settings:
                self.entries = stored["entries"]
        except Exception:  # missing, from another version, damaged: parse again
            pass
        self.before = dict(self.entries)

    def save(self, docnames: set[str]) -> None:
        """Keep the entries of ``docnames`` (the documents that still exist); write only on change."""
        self.entries = {name: entry for name, entry in self.entries.items() if name in docnames}
        if self.entries != self.before:
            write_atomic(self.path, pickle.dumps({"settings": self.settings, "entries": self.entries}))
