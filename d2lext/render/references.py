"""References that lead nowhere: one warning at the author's line, and readable text in the page.

A ``{numref}``, ``{ref}`` or ``{eq}`` (d2l-book's ``:numref:``, ``:ref:``, ``:eqref:``) whose label
no document of this build defines (a section of the full book left out of this one) shows the
label as words ("linear regression" for ``sec_linear_regression``), never the role's markup.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..messages import SphinxLog
from ..state import book_build

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
    line = node.line or 1
    build = book_build(env)
    if build is not None:
        line = build.source_line(docname, line)
    SphinxLog().warning(
        f"no section, figure, table or equation of this book is labelled {label!r} (shown as text)",
        subtype="reference",
        docname=docname,
        line=line,
    )
    text = readable(label)
    return nodes.inline(text, f"({text})" if node.get("reftype") == "eq" else text, classes=["d2l-missing-ref"])


def setup_references(app: Sphinx) -> None:
    app.connect("missing-reference", missing_reference)
