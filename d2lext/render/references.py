"""References at the author's line, and references that lead nowhere as readable text.

``place_nodes`` runs when a document has been parsed: each reference (``{numref}``, ``{cite:p}``,
...) gets the line that holds it, not its paragraph's first line, and every node of a document
read converted (d2l-book Markdown) gets the line of the author's file. So the warnings Sphinx and
its extensions give later (a missing reference, an unknown bibtex key) name the author's line.

A ``{numref}``, ``{ref}`` or ``{eq}`` (d2l-book's ``:numref:``, ``:ref:``, ``:eqref:``) whose label
no document of this build defines (a section of the full book left out of this one) shows the
label as words ("linear regression" for ``sec_linear_regression``), never the role's markup.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..messages import SphinxLog
from ..sources.d2lbook import mapped_line

#: Reference types shown as text when their target is missing.
REFERENCE_TYPES = frozenset({"numref", "ref", "eq"})
_PREFIX = re.compile(r"^(sec|subsec|chap|fig|tab|eq|app|appendix)[_:-]")


def readable(label: str) -> str:
    """``sec_linear_regression`` -> ``linear regression``."""
    return re.sub(r"[_\-.]+", " ", _PREFIX.sub("", label)).strip() or label


def missing_reference(app: Sphinx, env: BuildEnvironment, node, contnode):
    if node.get("reftype") not in REFERENCE_TYPES:
        return None
    label = node.get("reftarget", "")
    docname = node.get("refdoc") or env.docname
    line = node.line or 1  # the author's line (place_nodes)
    SphinxLog().warning(
        f"no section, figure, table or equation of this book is labelled {label!r} (shown as text)",
        subtype="reference",
        docname=docname,
        line=line,
    )
    text = readable(label)
    return nodes.inline(text, f"({text})" if node.get("reftype") == "eq" else text, classes=["d2l-missing-ref"])


def place_nodes(document: nodes.document, text: str, line_map: tuple[int, ...]) -> None:
    """Give each reference of a parsed document the line of ``text`` that holds it, then every
    node the author's line (``line_map``: the source line of each line of ``text``; empty: the same).

    MyST gives an inline node its paragraph's first line; the reference's own line is the first
    one from there that holds its target in backquotes."""
    lines = text.splitlines()
    for node in document.findall(addnodes.pending_xref):
        first = node.line
        target = node.get("reftarget")
        if not first or not target:
            continue
        quoted = (f"`{target}`", f"<{target}>`")  # {numref}`label` or {numref}`text <label>`
        for index in range(first - 1, min(first + 200, len(lines))):
            if any(form in lines[index] for form in quoted):
                node.line = index + 1
                break
            if index >= first and not lines[index].strip():  # the paragraph ended
                break
    if line_map:
        for node in document.findall(nodes.Element):
            if node.line:
                node.line = mapped_line(line_map, node.line)


def setup_references(app: Sphinx) -> None:
    app.connect("missing-reference", missing_reference)
