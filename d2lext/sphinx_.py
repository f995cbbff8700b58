"""The thin Sphinx adapter: wires the pipeline stages into Sphinx events.

env-get-outdated      read every chapter, write the saved package, compute each (chapter,
                      framework) cache key; chapters with a missing entry are read again
env-before-read-docs  load cached runs and execute the missing ones (all at once, on one pool of
                      kernels), then merge each chapter's runs into one notebook
parse (BookParser)    hand MyST-NB the merged notebook of the chapter
transform             regroup cells into framework tabs
"""

from __future__ import annotations

import atexit
import copy
import dataclasses as dc
import json
import os
import pickle
import time
from pathlib import Path

import nbformat
from docutils import nodes
from myst_nb.sphinx_ import Parser as MystNbParser
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset_file

from . import saved, site
from .api import ApiDirective
from .book import Book, Memo, read_book
from .cache import Cache, cache_key, imports_package
from .cells import Chapter
from .config import CONFIG_VALUES, BookConfig
from .config import load as load_config
from .errors import BookError, ExecutionFailed, stop_on_book_errors
from .execute import Engine, Result, Run, kernel_env, missing_requirement
from .figures import FigureText
from .merge import merge
from .prose import FrameworkDirective
from .tabs import FrameworkTabs

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


@dc.dataclass
class Plan:
    """What this build knows before reading: the chapters, and each run's cache key."""

    config: BookConfig
    chapters: dict[str, Chapter]
    keys: dict[tuple[str, str], str]
    """(docname, framework) -> cache key, for every selected framework a chapter has cells for."""
    book: Book
    places: dict[saved.SavedBlock, saved.Place]
    package: Path
    """Folder the package is written to."""
    rewritten: list[Path]
    """Files of the package this build changed."""
    archive: Path
    """The package's source archive, offered for download on the API page."""


#: This build's plan and its merged notebooks (by source path). Parsers get no handle on the app,
#: so they live at module level; they are refilled before each build reads its documents (and
#: are inherited by Sphinx's parallel reading processes).
PLAN: list[Plan] = []
ENGINE: list[Engine] = []
PREPARED: dict[str, nbformat.NotebookNode] = {}
#: This build's successful runs, by (docname, framework), for writing the per-framework notebooks.
RUNS: dict[tuple[str, str], Result] = {}
_reading: list[nbformat.NotebookNode] = []


def read_prepared(text: str) -> nbformat.NotebookNode:
    """MyST-NB reader (registered per document in ``BookParser``) returning the merged notebook."""
    return copy.deepcopy(_reading[-1])


class BookParser(MystNbParser):
    """MyST-NB's parser, fed the merged, executed notebook for the book's chapters."""

    def parse(self, inputstring: str, document) -> None:
        env: BuildEnvironment = document.settings.env
        path = str(env.doc2path(env.docname))
        prepared = PREPARED.get(path)
        if prepared is None:
            return super().parse(inputstring, document)
        original = env.mystnb_config
        reader = (f"{__name__}.read_prepared", {}, False)
        env.mystnb_config = original.copy(
            execution_mode="off", custom_formats={**original.custom_formats, path: reader}
        )
        _reading.append(prepared)
        try:
            super().parse(inputstring, document)
        finally:
            _reading.pop()
            env.mystnb_config = original


def build_root(app: Sphinx) -> Path:
    """The build directory (``_build``): the package, the cache and the report live here."""
    return Path(app.doctreedir).parent


def package_root(app: Sphinx) -> Path:
    """Folder holding the installable package (``pyproject.toml`` and ``d2l/``)."""
    return build_root(app) / app.config.d2l_package_name


def state_dir(app: Sphinx) -> Path:
    return build_root(app) / ".d2l-cache"


class BookMemo:
    """Documents parsed by earlier builds, reused while their text and the settings match.

    Planning reads every document on every build (the package and the cache keys depend on all of
    them); parsing is most of a no-op build's own cost, so unchanged documents are not parsed again.
    """

    def __init__(self, path: Path, settings: str):
        self.path = path
        self.settings = settings
        self.entries: Memo = {}
        try:
            with open(path, "rb") as stream:
                stored = pickle.load(stream)
            if stored.get("settings") == settings:
                self.entries = stored["entries"]
        except Exception:  # missing, from another version, damaged: parse again
            pass
        self.before = dict(self.entries)

    def save(self, docnames: set[str]) -> None:
        self.entries = {name: entry for name, entry in self.entries.items() if name in docnames}
        if self.entries == self.before:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as stream:
            pickle.dump({"settings": self.settings, "entries": self.entries}, stream)
        temporary.replace(self.path)


def read_book_of(app: Sphinx, env: BuildEnvironment, config: BookConfig) -> Book:
    """The book as the build's sources hold it now (unchanged documents are not parsed again)."""
    settings = repr(
        (
            MEMO_FORMAT,
            sorted(config.frameworks),
            sorted(config.extra_tags),
            env.myst_config,
            Path.cwd(),
            str(env.srcdir),
        )
    )
    memo = BookMemo(state_dir(app) / "chapters.pickle", settings)
    sources = {docname: Path(env.doc2path(docname)) for docname in env.found_docs}
    book = read_book(env.config.root_doc, sources, config, env.myst_config, memo.entries)
    memo.save(set(sources))
    return book


#: Bump when what a memoised document holds changes.
MEMO_FORMAT = 2


def places_of(app: Sphinx, book: Book) -> dict:
    return book.places(app.config.html_baseurl, app.config.html_file_suffix or ".html")


def plan_build(app: Sphinx, env: BuildEnvironment) -> Plan:
    """Read the chapters, write the saved package, and key every run; nothing executes here."""
    config = load_config(app.config)
    book = read_book_of(app, env, config)
    chapters, blocks = book.chapters, book.blocks
    for problem in saved.package_report(config, blocks):
        logger.warning(f"saved package: {problem}", type="d2l", subtype="package")
    places = places_of(app, book)
    site.note_terms(heading.title for outline in book.outlines.values() for heading in outline.headings)
    rewritten = saved.write_package(package_root(app), config, blocks, places, app.config.project, app.config.release)
    archive = saved.archive_path(build_root(app) / "dist", config, app.config.release)
    if rewritten or not archive.exists():
        saved.write_archive(package_root(app), archive.parent, config, app.config.release)
    package_code = {
        framework.name: saved.module_source(framework.name, framework.label, blocks, "")
        for framework in config.selected_frameworks
    }
    keys = {}
    for chapter in chapters:
        for framework in config.selected_frameworks:
            if chapter.cells_for(framework.name):
                imported = imports_package(chapter, framework.name, config.package_name)
                code = package_code[framework.name] if imported else None
                keys[chapter.docname, framework.name] = cache_key(chapter, framework, code)
    chapters_by_name = {chapter.docname: chapter for chapter in chapters}
    return Plan(config, chapters_by_name, keys, book, places, package_root(app), rewritten, archive)


@stop_on_book_errors
def on_env_get_outdated(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    """Plan the build; chapters whose outputs are not cached must be read (and run) again."""
    plan = plan_build(app, env)
    PLAN[:] = [plan]
    cache = Cache(state_dir(app))
    stale = {docname for (docname, framework), key in plan.keys.items() if not cache.has(docname, framework, key)}
    # Pages showing the package (the API reference) are read again when it changed; Sphinx's own
    # dependency check ran before this build rewrote the package.
    rewritten = {Path(path).resolve() for path in plan.rewritten}
    stale |= {
        docname
        for docname, files in env.dependencies.items()
        if docname in env.found_docs and any(Path(file).resolve() in rewritten for file in files)
    }
    return sorted(stale - set(added) - set(changed))


class Progress:
    """One line per run as it finishes, then a summary; the same as JSON in the build directory."""

    def __init__(self, total: int):
        self.total = total
        self.done: list[Result] = []
        self.started = time.perf_counter()

    def __call__(self, result: Result) -> None:
        self.done.append(result)
        status = "failed" if result.failure else "cached" if result.cached else "executed"
        seconds = 0.0 if result.cached else result.seconds
        logger.info(f"[{len(self.done)}/{self.total}] {result.run.name} {seconds:.1f} s ({status})")

    def summary(self, path: Path, keys: dict[tuple[str, str], str], warm_up_wait: float = 0.0) -> dict:
        executed = [r for r in self.done if not r.cached]
        report = {
            "runs": len(self.done),
            "executed": sum(1 for r in executed if not r.failure),
            "cached": sum(1 for r in self.done if r.cached),
            "failed": sum(1 for r in self.done if r.failure),
            "execution_seconds": round(sum(r.seconds for r in executed), 3),
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "warm_up_wait_seconds": round(warm_up_wait, 3),
            "details": [
                {
                    "document": r.run.chapter.docname,
                    "framework": r.run.framework.name,
                    "status": "failed" if r.failure else "cached" if r.cached else "executed",
                    "seconds": round(r.seconds, 3),
                    "kernel": None if r.cached else r.kernel,
                    "key": keys.get((r.run.chapter.docname, r.run.framework.name)),
                    "error": r.failure.message() if r.failure else None,
                }
                for r in self.done
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf8")
        if self.done:
            logger.info(
                f"execution: {report['executed']} executed, {report['cached']} cached, {report['failed']} failed; "
                f"{report['execution_seconds']:.1f} s in kernels, {report['wall_seconds']:.1f} s wall"
            )
        return report


@stop_on_book_errors
def on_env_before_read_docs(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    plan = PLAN[0] if PLAN else plan_build(app, env)
    config = plan.config
    cache = Cache(state_dir(app))
    reading = set(docnames)
    due = [  # in table-of-contents order
        Run(chapter, config.frameworks[framework])
        for docname, chapter in plan.chapters.items()
        if docname in reading
        for framework in config.selected
        if (docname, framework) in plan.keys
    ]
    progress = Progress(len(due))
    results: list[Result] = []
    missing: list[Run] = []
    for run in due:
        cached = cache.load(run, plan.keys[run.chapter.docname, run.framework.name])
        if cached is None:
            missing.append(run)
        else:
            progress(cached)
            results.append(cached)

    for framework in {run.framework for run in missing}:
        problem = missing_requirement(framework)
        if problem:
            raise BookError(problem)

    def finished(result: Result) -> None:
        if not result.failure:  # stored at once: an interrupted build keeps what finished
            cache.store(result, plan.keys[result.run.chapter.docname, result.run.framework.name])
        progress(result)

    if missing:
        logger.info(f"executing {len(missing)} runs on {min(config.jobs, len(missing))} kernels at once")
        results += engine(app, config).execute(
            missing,
            timeout=lambda run: (
                (run.chapter.timeout, "d2l.timeout in the document's front matter")
                if run.chapter.timeout
                else (config.timeout, "d2l_timeout in conf.py")
            ),
            report=finished,
        )
    waited = ENGINE[0].warm_up_wait if ENGINE else 0.0
    progress.summary(build_root(app) / "d2l-report.json", plan.keys, waited)

    failures = [result.failure for result in results if result.failure]
    if failures and not config.keep_going:
        raise ExecutionFailed("\n".join(failure.message() for failure in failures))
    for failure in failures:
        logger.warning(f"execution failed (shown in the page, KEEP_GOING): {failure.message()}")

    by_chapter: dict[str, dict[str, Result]] = {}
    for result in results:
        by_chapter.setdefault(result.run.chapter.docname, {})[result.run.framework.name] = result
    PREPARED.clear()
    RUNS.clear()
    for result in results:
        if not result.failure:
            RUNS[result.run.chapter.docname, result.run.framework.name] = result
    for docname, runs in by_chapter.items():
        chapter = plan.chapters[docname]
        PREPARED[str(chapter.path)] = merge(chapter, config, runs)


def engine(app: Sphinx, config: BookConfig) -> Engine:
    """This build's kernels (created on first use, closed when the build ends)."""
    if not ENGINE:
        env = kernel_env(package_root(app), state_dir(app))
        roots = tuple(os.path.join(str(path), "") for path in (package_root(app), app.srcdir))  # "dir/"
        ENGINE.append(Engine(config.jobs, env, state_dir(app) / "logs", roots))
        atexit.register(close_engine)
    return ENGINE[0]


def check_section_numbers(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn if the package's section numbers (computed before reading) differ from the site's."""
    if not PLAN:
        return
    book = PLAN[0].book
    for docname in sorted({block.docname for block in book.blocks}):
        ours = [number for _, number in sorted(book.numbers.get(docname, {}).items())]
        secnumbers = env.toc_secnumbers.get(docname, {})
        theirs = []
        if docname in env.tocs:
            for reference in env.tocs[docname].findall(nodes.reference):
                number = secnumbers.get(reference.get("anchorname", ""))
                if number:
                    theirs.append(tuple(number))
        if ours != theirs:
            shown = ", ".join(".".join(map(str, n)) for n in theirs) or "none"
            mine = ", ".join(".".join(map(str, n)) for n in ours) or "none"
            logger.warning(
                f"{docname}: the saved package numbers its sections {mine}, the site {shown}; "
                f"please report this with the book's toctrees",
                type="d2l",
                subtype="numbering",
            )


def close_engine(*args) -> None:
    """At the end of the build, or at exit after an error or Ctrl-C: no kernel outlives the build."""
    while ENGINE:
        ENGINE.pop().interrupt()


def warm_up(app: Sphinx) -> None:
    """On a cold build (no execution cache yet), start kernels and import their frameworks while
    Sphinx is still loading; execution then finds them ready. Warm builds start no kernel here."""
    if state_dir(app).exists() or not _has_code(Path(app.srcdir)):
        return
    try:
        config = load_config(app.config)
    except BookError:
        return  # reported when the build plans its runs
    package_root(app).mkdir(parents=True, exist_ok=True)  # on the kernels' path from their start
    engine(app, config).warm(config.selected_frameworks, Path(app.srcdir))


def _has_code(srcdir: Path) -> bool:
    """Whether any Markdown source has a code cell (a book of prose needs no kernel)."""
    for path in srcdir.rglob("*.md"):
        if "_build" not in path.parts and "{code-cell}" in path.read_text(encoding="utf8", errors="replace"):
            return True
    return False


def copy_static(app: Sphinx, exception: Exception | None) -> None:
    """Our script and stylesheet, into ``_static`` (not via html_static_path: changing a config
    value at build time makes every rebuild see a changed configuration)."""
    if exception is None and app.builder.format == "html":
        for asset in STATIC.iterdir():
            copy_asset_file(asset, Path(app.outdir) / "_static")


def setup(app: Sphinx) -> dict:
    for name, (default, rebuild) in CONFIG_VALUES.items():
        app.add_config_value(name, default, rebuild)
    warm_up(app)  # before loading MyST-NB and the rest: that second is the head start
    app.setup_extension("sphinx.ext.mathjax")
    app.setup_extension("myst_nb")
    app.setup_extension("sphinx_design")
    app.add_source_parser(BookParser, override=True)
    app.add_directive("framework", FrameworkDirective)
    app.add_directive("d2l-api", ApiDirective)
    app.add_transform(FrameworkTabs)
    app.add_transform(FigureText)
    app.add_js_file("d2l.js")
    app.add_css_file("d2l.css")
    app.connect("build-finished", copy_static)
    app.connect("build-finished", close_engine)
    app.connect("env-get-outdated", on_env_get_outdated)
    app.connect("env-before-read-docs", on_env_before_read_docs)
    app.connect("env-check-consistency", check_section_numbers)
    app.add_search_language(site.ChineseSearch)
    app.connect("config-inited", site.use_local_mathjax)
    app.connect("builder-inited", site.check_mathjax_installed)
    app.connect("builder-inited", site.note_build_start)
    app.connect("doctree-resolved", site.link_notebooks)
    app.connect("build-finished", site.finish_site)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
