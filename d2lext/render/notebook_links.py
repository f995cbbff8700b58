"""Under each executed page's title, links to its per-framework notebooks (written into the site)."""

from __future__ import annotations

import html
import io
import zipfile
from pathlib import Path

import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.osutil import relative_uri

from ..files import write_if_changed
from ..site.notebooks import FOLDER, archive_name, framework_notebook, notebook_name, short_name, site_path
from ..state import book_build, site_state
from .references import readable

_LABELS = {"zh": ("下载 Notebook:", "全书:", "在线运行:"), "": ("Download notebook:", "whole book:", "Run online:")}


class References:
    """Cross-references and citations of a page's prose, as plain Markdown for its notebook: links
    to the site (absolute under ``html_baseurl``) and "(Wigner, 1958)"."""

    def __init__(self, app: Sphinx, notebook_path: str):
        self.app = app
        self.notebook_path = notebook_path
        self.env = app.env

    def url(self, docname: str, anchor: str = "") -> str:
        target = self.app.builder.get_target_uri(docname)
        base = self.app.config.html_baseurl
        page = base.rstrip("/") + "/" + target if base else relative_uri(self.notebook_path, target)
        return page + (f"#{anchor}" if anchor else "")

    def __call__(self, role: str, target: str) -> str | None:
        if role.startswith("cite"):
            return citation(self.app, target, textual=role == "cite:t")
        if role == "eq":
            found = self.env.domains["math"].equations.get(target)
            if not found:
                return None
            docname, number = found
            anchor = nodes.make_id(f"equation-{target}")  # the id the page gives it
            shown = self.env.toc_fignumbers.get(docname, {}).get("displaymath", {}).get(anchor)
            if shown and self.app.config.math_numfig and self.app.config.numfig:
                number = ".".join(map(str, shown))  # as the page numbers it: 1.1
            return f"[({number})]({self.url(docname, anchor)})"
        found = self.env.domains.standard_domain.labels.get(target)
        if not found:
            return readable(target)
        docname, anchor, title = found
        numbers = self.env.toc_fignumbers.get(docname, {})
        for kind in ("figure", "table", "code-block"):  # a numbered figure, table or listing
            if anchor in numbers.get(kind, {}):
                shown = self.app.config.numfig_format.get(kind, "%s") % ".".join(map(str, numbers[kind][anchor]))
                return f"[{shown}]({self.url(docname, anchor)})"
        number = self.env.toc_secnumbers.get(docname, {}).get(f"#{anchor}" if anchor else "") or ()
        if not number and anchor:
            number = self.env.toc_secnumbers.get(docname, {}).get("") or ()
        text = " ".join(part for part in (".".join(map(str, number)), title) if part) or target
        return f"[{text}]({self.url(docname, anchor)})"


def citation(app: Sphinx, keys: str, textual: bool = False) -> str | None:
    """``Wigner.1958`` as "(Wigner, 1958)", or "Wigner (1958)" for a textual citation."""
    entries = _bibliography(app)
    parts = []
    for key in (key.strip() for key in keys.split(",")):
        entry = entries.get(key)
        if entry is None:
            return None
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [" ".join(person.last_names) for person in people]
        if not names:  # software, a web page: who published it, or its title
            names = [entry.fields.get("organization") or entry.fields.get("title") or key]
        who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
        year = entry.fields.get("year", "")
        parts.append(f"{who} ({year})" if textual else f"{who}, {year}")
    return ", ".join(parts) if textual else f"({'; '.join(parts)})"


def _bibliography(app: Sphinx) -> dict:
    """The book's bibliography entries (read once per build, by the build object)."""
    paths = []
    for name in getattr(app.config, "bibtex_bibfiles", []) or []:
        path = Path(app.confdir) / name
        paths.append(path if path.is_file() else Path(app.srcdir) / name)
    site = site_state(app.env)
    return site.bibliography(tuple(paths)) if site is not None else {}


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
        resolve = References(app, site_path(docname, framework.name))
        notebook = framework_notebook(chapter, framework, result, app.env.myst_config, resolve)
        if write_if_changed(target, nbformat.writes(notebook)):
            site_state(app.env).notebooks_changed = True
        uri = relative_uri(app.builder.get_target_uri(docname), site_path(docname, framework.name))
        name = notebook_name(docname, framework.name)
        links.append(
            f'<a class="d2l-notebook d2l-notebook-{framework.name}" href="{html.escape(uri)}" '
            f'download="{html.escape(name)}">{html.escape(framework.label)}</a>'
        )
    if not links:
        return
    language = (app.config.language or "").split("_")[0]
    label, every, online = (html.escape(text) for text in _LABELS.get(language, _LABELS[""]))
    page = app.builder.get_target_uri(docname)
    archives = []
    for fw in build.config.selected_frameworks:
        path = archive_path(app, fw)
        archives.append(
            f'<a class="d2l-notebooks-archive" href="{html.escape(relative_uri(page, path))}" '
            f'download="{html.escape(Path(path).name)}">{html.escape(fw.label)}</a>'
        )
    markup = f'<p class="d2l-notebooks">{label} {" | ".join(links)} ({every} {" | ".join(archives)})</p>'
    services = launch_links(build.config, docname)
    if services:
        markup += f'\n<p class="d2l-launch">{online} {"".join(services)}</p>'
    header = nodes.raw("", markup, format="html")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and isinstance(section[0], nodes.title):
        section.insert(1, header)
    else:
        doctree.insert(0, header)


def launch_links(config, docname: str) -> list[str]:
    """Per service (Colab, ...), links that open the page's notebook there, one per selected
    framework with a repository; the page's script keeps the chosen framework's. Plain links: the
    reader's browser asks the other site for nothing until one is clicked."""
    services = []
    for launch in config.launch:
        links = [
            f'<a class="d2l-launch-link" data-framework="{html.escape(fw.name)}" '
            f'href="{html.escape(address)}" rel="noopener">{html.escape(fw.label)}</a>'
            for fw in config.selected_frameworks
            if (address := launch.address(fw.name, f"{docname}.ipynb")) is not None
        ]
        if links:
            separated = '<span class="d2l-separator"> | </span>'.join(links)
            # A service's separator from the one before it is its own: hidden with it.
            before = '<span class="d2l-service-separator"> · </span>' if services else ""
            services.append(f'<span class="d2l-launch-service">{before}{html.escape(launch.label)}: {separated}</span>')
    return services


def book_name(app: Sphinx) -> str:
    """The book's short name for its downloads: ``d2l_book_name``, else the project's name when it
    makes one, else the package's."""
    build = book_build(app.env)
    config = build.config if build is not None else None
    if config is not None and config.book_name:
        return config.book_name
    return short_name(app.config.project or "") or (config.package_name if config is not None else "book")


def archive_path(app: Sphinx, framework) -> str:
    """Where the archive of all of a framework's notebooks is in the site."""
    return f"{FOLDER}/{archive_name(book_name(app), framework)}"


def write_archives(app: Sphinx, exception: Exception | None) -> None:
    """One zip of all the notebooks per framework, as the published site offers; written only when
    its content changed (fixed timestamps: the same notebooks give the same bytes)."""
    build = book_build(app.env)
    if exception is not None or app.builder.format != "html" or build is None:
        return
    outdir = Path(app.outdir)
    for framework in build.config.selected_frameworks:
        target = outdir / archive_path(app, framework)
        if not site_state(app.env).notebooks_changed and target.is_file():
            continue  # nothing new to pack (a no-op build reads no notebook)
        folder = outdir / FOLDER / framework.name
        top = target.name.removesuffix(".zip")  # unpacks into a folder named as the archive
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*.ipynb")) if folder.is_dir() else []:
                info = zipfile.ZipInfo(f"{top}/{path.relative_to(folder)}", (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        write_if_changed(target, buffer.getvalue())


def setup_notebook_links(app: Sphinx) -> None:
    app.connect("doctree-resolved", link_notebooks)
    app.connect("build-finished", write_archives)
