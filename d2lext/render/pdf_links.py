"""Under each page's title, the book's PDFs ("PDF: PyTorch | NumPy"), once ``make pdf`` has made them.

``make pdf`` leaves one PDF per framework in ``<build>/pdf`` (``d2lext/pdf.py``). An HTML build
copies those of its selected frameworks into the site (``pdf/``) and links them under every
page's title. When the PDFs on offer change, every page is written again.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.osutil import relative_uri

from ..state import book_build

FOLDER = "pdf"
#: Environment attribute: the PDFs the pages link, as ``[(framework, file name)]``.
OFFERED = "d2l_pdfs"


def offered(app: Sphinx) -> list[tuple[str, str, Path]]:
    """``(framework, label, path)`` of each selected framework's PDF in the build folder."""
    build = book_build(app.env)
    if build is None:
        return []
    found = []
    for framework in build.config.selected_frameworks:
        pdfs = sorted((build.root / FOLDER).glob(f"*-{framework.name}.pdf"), key=lambda path: path.stat().st_mtime)
        if pdfs:
            found.append((framework.name, framework.label, pdfs[-1]))
    return found


def pages_to_write(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Every page when the PDFs on offer changed (each links them)."""
    if app.builder.format != "html":
        return []
    now = [(name, path.name) for name, _, path in offered(app)]
    if getattr(env, OFFERED, []) == now:
        return []
    setattr(env, OFFERED, now)
    return sorted(env.found_docs)


def link_pdfs(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "html":
        return
    pdfs = offered(app)
    if not pdfs:
        return
    page = app.builder.get_target_uri(docname)
    links = [
        f'<a class="d2l-pdf d2l-pdf-{name}" href="{html.escape(relative_uri(page, f"{FOLDER}/{path.name}"))}">'
        f"{html.escape(label)}</a>"
        for name, label, path in pdfs
    ]
    header = nodes.raw("", f'<p class="d2l-pdfs">PDF: {" | ".join(links)}</p>', format="html")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and len(section) and isinstance(section[0], nodes.title):
        after = 1
        while after < len(section) and "d2l-notebooks" in section[after].astext():
            after += 1  # below the notebooks' line
        section.insert(after, header)
    else:
        doctree.insert(0, header)


def copy_pdfs(app: Sphinx, exception: Exception | None) -> None:
    """The PDFs into the site, when they are not there yet or changed."""
    if exception is not None or app.builder.format != "html":
        return
    for _, _, path in offered(app):
        target = Path(app.outdir) / FOLDER / path.name
        source = path.stat()
        if target.is_file() and (target.stat().st_size, target.stat().st_mtime) == (source.st_size, source.st_mtime):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def setup_pdf_links(app: Sphinx) -> None:
    app.connect("env-get-updated", pages_to_write)
    app.connect("doctree-resolved", link_pdfs)
    app.connect("build-finished", copy_pdfs)
