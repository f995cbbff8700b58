"""Regroup rendered cells into framework tabs (sphinx-design tab sets in one sync group).

Runs on the doctree MyST-NB produced from the merged notebook (see ``merge``): consecutive
framework cells become one tab set; the copies of a shared cell whose outputs differ become one
listing with tabbed outputs.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_design.shared import create_component

from ..config import BookConfig, Framework
from ..execute.merge import METADATA_KEY
from ..state import book_build

#: The sphinx-design sync group of every framework tab: choosing a framework switches all of them.
SYNC_GROUP = "framework"

PLAIN, TABS, OUTPUTS = "plain", "tabs", "outputs"


def marks_of(node: nodes.Node) -> dict | None:
    """The merge marks of a rendered code cell, ``None`` for anything else."""
    if not isinstance(node, nodes.container) or node.get("nb_element") != "cell_code":
        return None
    return (node.get("cell_metadata") or {}).get(METADATA_KEY)


def plan_groups(marks: list[dict | None]) -> list[tuple[str, list[int]]]:
    """Group sibling positions: runs of framework cells -> TABS, copies of one shared cell -> OUTPUTS."""
    groups: list[tuple[str, list[int]]] = []
    for position, mark in enumerate(marks):
        if not mark or "framework" not in mark:
            groups.append((PLAIN, [position]))
            continue
        kind = OUTPUTS if "shared" in mark else TABS
        if groups and groups[-1][0] == kind and position - 1 in groups[-1][1]:
            previous = marks[groups[-1][1][-1]]
            if kind == TABS or previous.get("shared") == mark.get("shared"):
                groups[-1][1].append(position)
                continue
        groups.append((kind, [position]))
    return groups


def tab_item(framework: Framework, children: list[nodes.Node]) -> nodes.container:
    label = nodes.rubric(
        framework.label,
        nodes.Text(framework.label),
        classes=["sd-tab-label"],
        sync_group=SYNC_GROUP,
        sync_id=framework.name,
    )
    content = create_component("tab-content", classes=["sd-tab-content"], children=children)
    return create_component("tab-item", classes=["sd-tab-item"], children=[label, content])


def tab_set(items: list[nodes.container], kind: str) -> nodes.container:
    return create_component("tab-set", classes=["sd-tab-set", f"d2l-{kind}"], children=items)


def framework_tabs(cells: list[nodes.container], config: BookConfig) -> nodes.container:
    by_framework: dict[str, list[nodes.Node]] = {}
    for cell in cells:
        by_framework.setdefault(marks_of(cell)["framework"], []).append(cell)
    items = [tab_item(fw, by_framework[fw.name]) for fw in config.selected_frameworks if fw.name in by_framework]
    return tab_set(items, TABS)


def output_tabs(copies: list[nodes.container], config: BookConfig) -> nodes.container:
    """One listing: the first copy's code, then each framework's outputs in a tab."""
    listing = copies[0]
    outputs = {}
    for copy in copies:
        found = [c for c in copy.children if c.get("nb_element") == "cell_code_output"]
        outputs[marks_of(copy)["framework"]] = found[0].children if found else []
        if found and copy is listing:
            listing.remove(found[0])
    items = []
    for framework in config.selected_frameworks:
        if framework.name in outputs:
            shown = list(outputs[framework.name]) or [nodes.paragraph("", "(no output)", classes=["d2l-no-output"])]
            box = nodes.container("", *shown, nb_element="cell_code_output", classes=["cell_output"])
            items.append(tab_item(framework, [box]))
    listing += tab_set(items, OUTPUTS)
    return listing


class FrameworkTabs(SphinxTransform):
    """Put framework cells into tabs when more than one framework is selected."""

    default_priority = 800

    def apply(self, **kwargs) -> None:
        build = book_build(self.env)
        if build is None or not build.config.multi:
            return
        config = build.config
        parents = []
        for node in self.document.findall(nodes.container):
            if marks_of(node) and node.parent not in parents:
                parents.append(node.parent)
        for parent in parents:
            children = list(parent.children)
            regrouped = []
            for kind, positions in plan_groups([marks_of(child) for child in children]):
                members = [children[p] for p in positions]
                if kind == TABS:
                    regrouped.append(framework_tabs(members, config))
                elif kind == OUTPUTS:
                    regrouped.append(output_tabs(members, config))
                else:
                    regrouped.extend(members)
            parent.clear()
            parent.extend(regrouped)


def setup_tabs(app: Sphinx) -> None:
    app.add_transform(FrameworkTabs)
