"""The Sphinx wiring: options, the build object, its events, the parser, and each component's setup.

env-get-outdated      plan: read the book, write the package, key every run; chapters whose
                      runs are not cached are read again
env-before-read-docs  execute the missing runs, merge each chapter's runs into one notebook
parse (BookParser)    hand MyST-NB the chapter's merged notebook
transforms            framework tabs (tabs.py), figure text (figures.py), equation numbers (equations.py)
env-get-updated       pages to write although they were not read: the navigation changed, or
                      a partial build left them unwritten
builder.write         a partial build (ONLY=) writes only the pages it builds (restrict_writing)
build-finished        the authors' report (render/authoring.py), the PDFs' links (render/pdf_links.py)
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from myst_nb.sphinx_ import Parser as MystNbParser
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from . import config as options
from .build import BookBuild, Site
from .errors import BookError
from .files import write_if_changed
from .messages import WARNING_TYPE, SphinxLog, logger, setup_messages, stop_on_book_errors
from .package.check import numbering_differences
from .plan import resolve
from .render.api import setup_api
from .render.authoring import setup_authoring, write_authors_report
from .render.equations import setup_equations
from .render.figures import setup_figures
from .render.icons import setup_icons
from .render.latex import setup_latex
from .render.mathjax import setup_mathjax
from .render.notebook_links import setup_notebook_links
from .render.offline import setup_offline
from .render.pdf_links import setup_pdf_links
from .render.prose import setup_prose
from .render.references import place_nodes, setup_references
from .render.search import setup_search
from .render.tabs import setup_tabs
from .state import attach, book_build, site_state

STATIC = Path(__file__).parent / "site" / "static"


def start_build(app: Sphinx) -> BookBuild | None:
    """This build's object, its kernels warming on a cold build; ``None`` if the options are invalid."""
    try:
        config = options.load(app.config, Path(app.confdir))
    except BookError:
        return None  # reported at config-inited
    conf = app.config
    site = Site(conf.project, conf.release, conf.html_baseurl, conf.html_file_suffix or ".html")
    build = BookBuild(config, Path(app.doctreedir).parent, Path(app.srcdir), site, SphinxLog(), Path(app.confdir))
    # A partial build naming what the sources do not have stops at planning, with the close names:
    # no kernel is started for it.
    warm = all(_on_disk(Path(app.srcdir), name) for name in config.only)
    stop_on_book_errors(build.start)(warm=warm)  # waits for another build; makes missing environments
    return build


def _on_disk(source: Path, name: str) -> bool:
    """Whether ``name`` (an ``ONLY`` name) may be a document or a folder of the sources."""
    path = source / name.strip().strip("/")
    return path.exists() or any(path.with_name(path.name + suffix).is_file() for suffix in (".md", ".ipynb", ".rst"))


@stop_on_book_errors
def check_options(build: BookBuild | None, app: Sphinx, config) -> None:
    if build is None:
        options.load(config, Path(app.confdir))  # raises the error that stopped start_build


def report_config_warnings(build: BookBuild | None, app: Sphinx, config) -> None:
    """Once a build: what of a d2l-book ``config.ini`` is left out, each at its line."""
    if build is not None and build.config.d2lbook is not None:
        for warning in build.config.d2lbook.warnings:
            logger.warning(warning.message, location=warning.location, type=WARNING_TYPE, subtype="config")


#: Environment attributes: docname -> {framework: key} of the runs the document's page was made
#: from; the documents whose pages show a failed run (KEEP_GOING); the document that was given the
#: book's references (a d2l-book book without a references page).
SHOWN, FAILED, REFERENCES = "d2l_shown_runs", "d2l_failed_pages", "d2l_references_added"


def exclude_environments(build: BookBuild | None, app: Sphinx, config) -> None:
    """The frameworks' environments are not part of the book, even when they sit in its folder
    (their packages hold Markdown files Sphinx would read as documents)."""
    pattern = build.environments_pattern() if build is not None else None
    if pattern is not None and pattern not in config.exclude_patterns:
        config.exclude_patterns = [*config.exclude_patterns, pattern]


def attach_build(build: BookBuild | None, app: Sphinx) -> None:
    attach(app.env, build)
    if not isinstance(getattr(app.env, SHOWN, None), dict):
        setattr(app.env, SHOWN, {})
    if not isinstance(getattr(app.env, FAILED, None), set):
        setattr(app.env, FAILED, set())


@stop_on_book_errors
def plan(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    build = book_build(env)
    sources = {docname: Path(env.doc2path(docname)) for docname in env.found_docs}
    shown, failed = getattr(env, SHOWN), getattr(env, FAILED)
    for docname in removed:
        shown.pop(docname, None)
        failed.discard(docname)
    with build.stage():
        if build.config.only:
            build.log.info("")  # Sphinx's "updating environment: " waits for the end of its line
            if app.builder.format != "html":
                raise BookError(
                    f"ONLY (d2l_only) builds HTML pages; the {app.builder.name} builder builds the whole book"
                )
            resolve(build.config.only, env.found_docs)  # an unknown name stops the build before anything is written
        build.make_plan(env.config.root_doc, sources, env.myst_config)
        selection = build.select(env.found_docs)
        remove_pages(app, removed)
        outdated = build.outdated(env.dependencies, env.found_docs, shown, failed)
        references = build.plan.book.references_added
        if getattr(env, REFERENCES, None) != references:  # the root gains or loses the references
            outdated |= {getattr(env, REFERENCES, None), references} & set(env.found_docs)
            setattr(env, REFERENCES, references)
        if selection is not None:
            build.log.info(selection.summary(len(build.uncached_others)))
            build.log.info(unbuilt_pages(app, selection))
        return sorted(outdated - set(added) - set(changed))


def unbuilt_pages(app: Sphinx, selection) -> str:
    """Where references to the documents a partial build does not build lead."""
    others = sorted(app.env.found_docs - selection.built)
    missing = [docname for docname in others if not Path(app.builder.get_outfilename(docname)).is_file()]
    lead = f"partial build: references to the other {len(others)} link to where a full build writes their pages"
    if not missing:
        return f"{lead}; each is there, from an earlier build"
    return f"{lead}; {len(missing)} of them are not there yet (a build without ONLY writes them)"


def restrict_writing(build: BookBuild | None, app: Sphinx) -> None:
    """In a partial build, the builder writes only the pages the build builds (``Selection.built``).

    Sphinx writes every document it read, and more (the pages whose output is older than their
    source, those ``env-get-updated`` names); no event filters them. A partial build reads the
    documents it does not build (for their titles, numbers and labels) without executing them, so
    their pages must not be written: the builder's ``write`` is wrapped to write the built pages,
    as ``sphinx-build <filenames>`` does (Sphinx's "specific" method, which adds the pages whose
    toctrees list them). The pages left out are remembered, before anything is written, and
    written by the next build that builds them (``pages_to_write``).
    """
    if build is None or not build.config.only or app.builder.format != "html":
        return
    write_all = app.builder.write

    def write(build_docnames, updated_docnames, method="update"):
        selection, site = build.selection, site_state(app.env)
        if selection is None:
            return write_all(build_docnames, updated_docnames, method)
        found = app.env.found_docs
        wanted = set(found) if build_docnames is None or list(build_docnames) == ["__all__"] else set(build_docnames)
        if method == "update":
            wanted |= set(updated_docnames)
        site.leave_unwritten((wanted & found) - selection.built)
        return write_all(sorted(selection.built & found), [], "specific")

    app.builder.write = write


def remove_pages(app: Sphinx, docnames) -> None:
    """The pages of documents that no longer exist (Sphinx leaves them in the site)."""
    if app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for docname in docnames:
        (outdir / f"{docname}{app.config.html_file_suffix or '.html'}").unlink(missing_ok=True)
        for notebook in (outdir / "notebooks").glob(f"*/{docname}.ipynb"):
            notebook.unlink()
            site = site_state(app.env)
            if site is not None:
                site.notebooks_changed = True  # the archives are packed again without it


def pages_to_write(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Every page, when the table of contents changed: each shows it in its sidebar and links.
    And the pages a partial build left unwritten (a partial build leaves them again)."""
    build, site = book_build(env), site_state(env)
    if build is None or build.plan is None:
        return []
    if site.navigation_changed(build.plan.book):
        return sorted(env.found_docs)
    return sorted(site.unwritten() & env.found_docs)


@stop_on_book_errors
def execute(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    build = book_build(env)
    with build.stage():
        try:
            build.execute(docnames)
        except BookError:  # cells failed: the authors' report lists them before the build stops
            write_authors_report(app, "failed")
            raise
    shown, failed = getattr(env, SHOWN), getattr(env, FAILED)  # saved with the environment
    for docname in docnames:
        shown[docname] = build.page_keys(docname)
        failed.discard(docname)
    failed.update(build.failed_pages)


def check_numbers(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn if the package's section numbers (computed before reading) differ from the site's."""
    build = book_build(env)
    if build is None or build.plan is None:
        return
    site_numbers = {}
    for docname, toc in env.tocs.items():
        numbers = env.toc_secnumbers.get(docname, {})
        found = (numbers.get(reference.get("anchorname", "")) for reference in toc.findall(nodes.reference))
        site_numbers[docname] = [tuple(number) for number in found if number]
    for docname, message in numbering_differences(build.plan.book, site_numbers):
        SphinxLog().warning(message, subtype="numbering", docname=docname)


def finish(app: Sphinx, exception: Exception | None) -> None:
    """Stop the kernels; copy our script and stylesheet into ``_static`` (not via html_static_path:
    changing a config value at build time makes every rebuild see a changed configuration)."""
    build = book_build(app.env)
    if build is not None:
        build.close()
    if exception is None and app.builder.format == "html":
        for asset in STATIC.iterdir():
            write_if_changed(Path(app.outdir) / "_static" / asset.name, asset.read_bytes())  # a new version too


def release(app: Sphinx, exception: Exception | None) -> None:
    """Last of all: after an HTML build that finished, what its pages show (the navigation, the
    pages a partial build left unwritten) is remembered; the next build of this directory may start."""
    build, site = book_build(app.env), site_state(app.env)
    if build is not None:
        if exception is None and build.plan is not None and app.builder.format == "html":
            site.finished(build.plan.book, build.selection.built if build.selection else None)
        build.release()


def read_merged(text: str, notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """MyST-NB reader for a chapter: its merged, executed notebook (the text was read while planning)."""
    return copy.deepcopy(notebook)


class BookParser(MystNbParser):
    """MyST-NB's parser, fed the merged, executed notebook for the book's chapters."""

    def parse(self, inputstring: str, document) -> None:
        env: BuildEnvironment = document.settings.env
        build = book_build(env)
        path = str(env.doc2path(env.docname))
        merged = build.merged_notebook(path) if build is not None else None
        converted = build.readable_source(env.docname) if build is not None else None
        text = converted if converted is not None else inputstring
        if merged is None:
            super().parse(text, document)
        else:
            original = env.mystnb_config
            reader = (f"{__name__}.read_merged", {"notebook": merged}, False)
            env.mystnb_config = original.copy(
                execution_mode="off", custom_formats={**original.custom_formats, path: reader}
            )
            try:
                super().parse(inputstring, document)
            finally:
                env.mystnb_config = original
        place_nodes(document, text, build.line_map(env.docname) if build is not None else ())


def setup(app: Sphinx) -> dict:
    for name, default, rebuild, doc in options.options():  # any type: config.py validates each
        app.add_config_value(name, default, rebuild, types=Any, description=doc)
    build = start_build(app)  # before loading MyST-NB and the rest: that second is the head start
    app.connect("config-inited", functools.partial(check_options, build))
    app.connect("config-inited", functools.partial(exclude_environments, build))
    app.connect("config-inited", functools.partial(report_config_warnings, build))
    app.connect("builder-inited", functools.partial(attach_build, build))
    app.connect("builder-inited", functools.partial(restrict_writing, build))
    app.setup_extension("sphinx.ext.mathjax")
    app.setup_extension("myst_nb")
    app.setup_extension("sphinx_design")
    app.add_source_parser(BookParser, override=True)
    app.connect("env-get-outdated", plan)
    app.connect("env-before-read-docs", execute)
    app.connect("env-check-consistency", check_numbers)
    app.connect("env-get-updated", pages_to_write)
    app.connect("build-finished", finish)
    app.connect("build-finished", release, priority=999)
    setup_messages(app)
    setup_tabs(app)
    setup_prose(app)
    setup_api(app)
    setup_figures(app)
    setup_equations(app)
    setup_notebook_links(app)
    setup_mathjax(app)
    setup_icons(app)
    setup_search(app)
    setup_offline(app)
    setup_references(app)
    setup_authoring(app)
    setup_latex(app)
    setup_pdf_links(app)
    app.add_js_file("d2l.js")
    app.add_css_file("d2l.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
