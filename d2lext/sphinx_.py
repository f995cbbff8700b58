"""The thin Sphinx adapter: wires the pipeline stages into Sphinx events.

builder-inited        validate the configuration, check the selected frameworks can run
env-before-read-docs  read every chapter, write the saved package, execute the chapters Sphinx
                      is about to read (all (chapter, framework) runs at once), merge their outputs
parse (BookParser)    hand MyST-NB the merged, executed notebook of the chapter
transform             regroup cells into framework tabs
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from myst_nb.sphinx_ import Parser as MystNbParser
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

from . import saved
from .cells import Chapter, read_chapter
from .config import CONFIG_VALUES, BookConfig
from .config import load as load_config
from .errors import BookError, ExecutionFailed, stop_on_book_errors
from .execute import Result, Run, execute, kernel_env, missing_requirement
from .merge import merge
from .prose import FrameworkDirective
from .tabs import FrameworkTabs
from .toc import toc_order

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

#: Executed, merged notebooks of this build, by source path. Parsers get no handle on the app,
#: so this lives at module level; it is refilled before each build reads its documents (and is
#: inherited by Sphinx's parallel reading processes).
PREPARED: dict[str, nbformat.NotebookNode] = {}
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


def package_root(app: Sphinx) -> Path:
    """Folder holding the installable package (``pyproject.toml`` and ``d2l/``)."""
    return Path(app.doctreedir).parent / app.config.d2l_package_name


@stop_on_book_errors
def on_builder_inited(app: Sphinx) -> None:
    config = load_config(app.config)
    for framework in config.selected_frameworks:
        problem = missing_requirement(framework)
        if problem:
            raise BookError(problem)
    app.config.html_static_path = [*app.config.html_static_path, str(STATIC)]


def read_chapters(env: BuildEnvironment, config: BookConfig) -> list[Chapter]:
    """Every text notebook of the book, in table-of-contents order."""
    texts: dict[str, str | None] = {}

    def text_of(docname: str) -> str | None:
        if docname not in texts:
            path = Path(env.doc2path(docname))
            texts[docname] = path.read_text(encoding="utf8") if path.suffix == ".md" else None
        return texts[docname]

    order = toc_order(env.config.root_doc, set(env.found_docs), text_of, env.myst_config)
    chapters = []
    for docname in order:
        if text_of(docname) is not None:
            chapter = read_chapter(Path(env.doc2path(docname)), docname, config, env.myst_config, texts[docname])
            if chapter is not None:
                chapters.append(chapter)
    return chapters


@stop_on_book_errors
def on_env_before_read_docs(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    config = load_config(app.config)
    chapters = read_chapters(env, config)

    blocks = saved.collect(chapters)
    root = package_root(app)
    saved.write_package(root, config, blocks, app.config.project, app.config.release)

    due = set(docnames)
    runs = [
        Run(chapter, framework)
        for chapter in chapters
        if chapter.docname in due
        for framework in config.selected_frameworks
        if chapter.cells_for(framework.name)
    ]
    state = Path(app.doctreedir) / "d2l"
    if runs:
        logger.info(f"executing {len(runs)} runs on {min(config.jobs, len(runs))} kernels at once")
    results = execute(
        runs,
        jobs=config.jobs,
        timeout=config.timeout,
        env=kernel_env(root, state),
        log_dir=state / "logs",
        report=_report,
    )
    failures = [result.failure for result in results if result.failure]
    if failures:
        raise ExecutionFailed("\n".join(failure.message() for failure in failures))

    by_chapter: dict[str, dict[str, Result]] = {}
    for result in results:
        by_chapter.setdefault(result.run.chapter.docname, {})[result.run.framework.name] = result
    PREPARED.clear()
    for chapter in chapters:
        if chapter.docname in by_chapter:
            PREPARED[str(chapter.path)] = merge(chapter, config, by_chapter[chapter.docname])


def _report(result: Result, done: int, total: int) -> None:
    status = "failed" if result.failure else "executed"
    logger.info(f"[{done}/{total}] {result.run.name} {result.seconds:.1f} s ({status})")


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")
    app.setup_extension("sphinx_design")
    for name, (default, rebuild) in CONFIG_VALUES.items():
        app.add_config_value(name, default, rebuild)
    app.add_source_parser(BookParser, override=True)
    app.add_directive("framework", FrameworkDirective)
    app.add_transform(FrameworkTabs)
    app.add_js_file("d2l.js")
    app.add_css_file("d2l.css")
    app.connect("builder-inited", on_builder_inited)
    app.connect("env-before-read-docs", on_env_before_read_docs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
