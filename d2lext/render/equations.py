"""Every display equation numbered when ``math_number_all`` is set, MyST's ``$$...$$`` too.

Sphinx honours ``math_number_all`` only in its ``math`` directive; MyST's dollar math gives an
equation without a label no number. d2l-book's books number every display equation ("(11.3.2)"),
so with ``math_number_all = True`` (the generated configuration of a d2l-book project sets it)
each such equation gets a label and a number as Sphinx's directive would give it. Equations a
cell prints are outputs, not the book's equations: they stay unnumbered, as does amsmath's
starred (unnumbered) form.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform


class NumberEveryEquation(SphinxTransform):
    default_priority = 200  # while the document is read, before the equations are collected for numbering

    def apply(self, **kwargs) -> None:
        if not self.config.math_number_all:
            return
        domain = self.env.domains.math_domain
        docname = self.env.current_document.docname
        for node in self.document.findall(nodes.math_block):
            if node.get("label") or node.get("nowrap") or _in_output(node):
                continue
            label = f"{docname}:{self.env.new_serialno('sphinx.ext.math#equations')}"
            node["label"] = label
            node["docname"] = docname
            domain.note_equation(docname, label, location=node)
            node["number"] = domain.get_equation_number_for(label)
            node_id = nodes.make_id(f"equation-{label}")
            node["ids"].append(node_id)
            self.document.ids[node_id] = node


def _in_output(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.Element) and "cell_output" in parent.get("classes", []):
            return True
        parent = parent.parent
    return False


def setup_equations(app: Sphinx) -> None:
    app.add_transform(NumberEveryEquation)
