"""The book's structure, read statically from the sources: table-of-contents order and section numbers.

The saved package must be written before any chapter is read or executed, so neither the order nor
the numbers can come from Sphinx's own toctree collection (which exists only after reading). The
numbering follows Sphinx's rules for ``:numbered:`` toctrees; the build checks that it agrees with
Sphinx's own once the documents are read.
"""

from __future__ import annotations

import dataclasses as dc
import fnmatch
import posixpath
import re
from collections.abc import Callable

from markdown_it.renderer import RendererHTML
from markdown_it.tree import SyntaxTreeNode
from myst_parser.config.main import MdParserConfig
from myst_parser.mdit_to_docutils.base import compute_unique_slug
from myst_parser.parsers.directives import parse_directive_text
from myst_parser.parsers.mdit import create_md_parser
from myst_parser.slugs import SLUG_PRESETS

_TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<ref>[^<>]+)>$")
_SUFFIXES = (".md", ".ipynb", ".rst")


@dc.dataclass(frozen=True)
class Heading:
    line: int
    """1-based line of the heading in its source file."""
    level: int
    title: str
    slug: str
    """MyST's anchor for it (``myst_heading_anchors``), "" when it gets none."""


@dc.dataclass(frozen=True)
class Toctree:
    line: int
    entries: tuple[tuple[str, bool], ...]
    """``(entry, glob)`` pairs, as written."""
    numbered: int
    """Depth of ``:numbered:``; 0 when not numbered."""


@dc.dataclass(frozen=True)
class Outline:
    """What the structure needs from one document: its headings and toctrees, in order."""

    headings: tuple[Heading, ...] = ()
    toctrees: tuple[Toctree, ...] = ()

    def heading_before(self, line: int) -> Heading | None:
        """The innermost heading a source line falls under."""
        found = None
        for heading in self.headings:
            if heading.line >= line:
                break
            found = heading
        return found

    def anchored(self, heading: Heading) -> Heading | None:
        """``heading``, or its nearest enclosing heading, that has an anchor."""
        index = self.headings.index(heading)
        level = heading.level + 1
        for candidate in reversed(self.headings[: index + 1]):
            if candidate.level < level:
                if candidate.slug:
                    return candidate
                level = candidate.level
        return None


def outline(text: str, md_config: MdParserConfig | None = None) -> Outline:
    """Parse a MyST document's headings (with MyST's own anchors) and toctrees."""
    md_config = md_config or MdParserConfig()
    parser = create_md_parser(md_config, RendererHTML)
    slug_func = md_config.heading_slug_func
    if isinstance(slug_func, str):
        slug_func = SLUG_PRESETS[slug_func]
    headings, toctrees, slugs = [], [], set()
    tree = SyntaxTreeNode(parser.parse(text))
    for node in tree.children:  # top level: headings inside directives do not make sections
        if node.type == "heading":
            level = int(node.tag[1:])
            title = "".join(
                child.content for child in node.children[0].children if child.type in ("text", "code_inline")
            )
            slug = compute_unique_slug(node, slugs, slug_func) if level <= md_config.heading_anchors else ""
            if slug:
                slugs.add(slug)
            headings.append(Heading(node.map[0] + 1, level, title, slug))
        elif node.type in ("fence", "colon_fence") and node.info.strip().startswith("{toctree}"):
            toctrees.append(_toctree(node.info.strip().removeprefix("{toctree}"), node.content, node.map[0] + 1))
    return Outline(tuple(headings), tuple(toctrees))


def _numbered(value: str | None) -> int:
    """``:numbered:`` as Sphinx reads it: no value numbers every level, else the depth."""
    return 999 if not value or not value.strip() else int(value)


def _flag(value: str | None) -> None:
    if value and value.strip():
        raise ValueError(f"no argument is allowed; {value!r} supplied")


class TocTree:
    """The toctree directive's options, as Sphinx declares them (``sphinx.directives.other``),
    for MyST's directive parser: restated so that reading the sources never imports Sphinx."""

    required_arguments = 0
    optional_arguments = 0
    final_argument_whitespace = False
    has_content = True
    option_spec = {
        "maxdepth": int,
        "name": str,
        "class": str,
        "caption": str,
        "glob": _flag,
        "hidden": _flag,
        "includehidden": _flag,
        "numbered": _numbered,
        "titlesonly": _flag,
        "reversed": _flag,
    }


def _toctree(first_line: str, content: str, line: int) -> Toctree:
    """A toctree's entries and options, as MyST gives them to Sphinx's directive: its ``---`` YAML
    block or ``:name: value`` lines, converted by the directive's own option spec (``:numbered:``
    without a depth is every level; a value Sphinx rejects, such as ``true``, numbers nothing)."""
    parsed = parse_directive_text(TocTree, first_line, content)
    entries = []
    for text in parsed.body:
        text = text.strip()
        if text:
            match = _TITLED.match(text)
            entries.append(match.group("ref") if match else text)
    glob = "glob" in parsed.options
    numbered = parsed.options.get("numbered", 0)
    return Toctree(line, tuple((entry, glob) for entry in entries), numbered)


def toctree_entries(text: str, md_config: MdParserConfig | None = None) -> list[tuple[str, bool]]:
    """``(entry, glob)`` pairs of every ``{toctree}`` in a MyST document, in order."""
    return [entry for toctree in outline(text, md_config).toctrees for entry in toctree.entries]


def _targets(docname: str, toctree: Toctree, docnames: set[str]) -> list[str]:
    """The documents a toctree lists, as docnames (glob patterns expanded)."""
    found = []
    base = posixpath.dirname(docname)
    for entry, glob in toctree.entries:
        if "://" in entry or entry == "self":
            continue
        target = posixpath.normpath(entry.lstrip("/") if entry.startswith("/") else posixpath.join(base, entry))
        for suffix in _SUFFIXES:
            if target.endswith(suffix):
                target = target[: -len(suffix)]
        if glob and any(ch in target for ch in "*?["):
            found.extend(sorted(fnmatch.filter(docnames, target)))
        elif target in docnames:
            found.append(target)
    return found


def listed(docname: str, document: Outline, docnames: set[str]) -> list[str]:
    """The documents the toctrees of ``docname`` list, in order (glob patterns expanded)."""
    return [target for toctree in document.toctrees for target in _targets(docname, toctree, docnames)]


def toc_order(root: str, docnames: set[str], outline_of: Callable[[str], Outline | None]) -> list[str]:
    """All ``docnames``: depth first from ``root`` through the toctrees, then the rest sorted."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(docname: str) -> None:
        if docname in seen or docname not in docnames:
            return
        seen.add(docname)
        order.append(docname)
        for toctree in (outline_of(docname) or Outline()).toctrees:
            for target in _targets(docname, toctree, docnames):
                visit(target)

    visit(root)
    order.extend(sorted(docnames - seen))
    return order


def section_numbers(order: list[str], outline_of: Callable[[str], Outline | None]) -> dict[str, dict[int, tuple]]:
    """``docname -> {heading line: number}`` for the headings that numbered toctrees number.

    As Sphinx does: each numbered toctree starts a new count; the sections of a document it lists
    are numbered at the level of the entry, their subsections below it, and a toctree inside a
    section numbers its documents among that section's subsections. ``order`` is the
    table-of-contents order (see ``toc_order``).
    """
    docnames = set(order)
    numbers: dict[str, dict[int, tuple]] = {}
    assigned: set[str] = set()

    def walk_items(docname: str, items: list, stack: list[int], depth: int) -> None:
        for item in items:
            if isinstance(item, Toctree):
                walk_toctree(docname, item, stack, depth)
                continue
            heading, children = item
            stack[-1] += 1
            if depth > 0:
                numbers.setdefault(docname, {})[heading.line] = tuple(stack)
            if children:
                stack.append(0)
                walk_items(docname, children, stack, depth - 1)
                stack.pop()

    def walk_toctree(docname: str, toctree: Toctree, stack: list[int], depth: int) -> None:
        if depth <= 0:
            return
        for target in _targets(docname, toctree, docnames):
            if target not in assigned:  # Sphinx warns about a document listed twice; the first wins
                assigned.add(target)
                walk_items(target, _sections(outline_of(target) or Outline()), stack, depth)

    for docname in order:
        for toctree in (outline_of(docname) or Outline()).toctrees:
            if toctree.numbered:
                assigned.add(docname)
                walk_toctree(docname, toctree, [0], toctree.numbered)
    return numbers


def _sections(document: Outline) -> list:
    """The document as nested ``(heading, children)`` sections; toctrees sit in the section holding them."""
    top: list = []
    open_sections: list[tuple[Heading, list]] = []
    items = sorted(
        [(h.line, h) for h in document.headings] + [(t.line, t) for t in document.toctrees], key=lambda i: i[0]
    )
    for _, item in items:
        if isinstance(item, Heading):
            while open_sections and open_sections[-1][0].level >= item.level:
                open_sections.pop()
            section = (item, [])
            (open_sections[-1][1] if open_sections else top).append(section)
            open_sections.append(section)
        else:
            (open_sections[-1][1] if open_sections else top).append(item)
    return top
