"""Under each executed page's title, links to its per-framework notebooks (written into the site)."""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.osutil import relative_uri

from .files import write_if_changed
from .notebooks import framework_notebook, site_path
from .state import book_build

_LABELS = {"zh": "下载 Notebook:", "": "Download notebook:"}


def link_notebooks(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Write the page's per-framework notebooks and link them under its title."""
    build = book_build(app.env)
    if app.builder.format != "html" or build is None or build.plan is None or docname not in build.plan.chapters:
        return
    chapter = build.plan.chapters[docname]
    links = []
    for framework in build.config.selected_frameworks:
        result = build.result(docname, framework.name)
        if result is None:  # no cells for it, or its run failed (KEEP_GOING)
            continue
        target = Path(app.outdir) / site_path(docname, framework.name)
        write_if_changed(target, nbformat.writes(framework_notebook(chapter, framework, result, app.env.myst_config)))
        uri = relative_uri(app.builder.get_target_uri(docname), site_path(docname, framework.name))
        links.append(
            f'<a class="d2l-notebook d2l-notebook-{framework.name}" href="{html.escape(uri)}" download>'
            f"{html.escape(framework.label)}</a>"
        )
    if not links:
        return
    language = (app.config.language or "").split("_")[0]
    label = html.escape(_LABELS.get(language, _LABELS[""]))
    markup = f'<p class="d2l-notebooks">{label} {" | ".join(links)}</p>'
    header = nodes.raw("", markup, format="html")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and isinstance(section[0], nodes.title):
        section.insert(1, header)
    else:
        doctree.insert(0, header)


def setup_notebook_links(app: Sphinx) -> None:
    app.connect("doctree-resolved", link_notebooks)
