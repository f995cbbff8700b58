"""The authors' tools inside Sphinx: parity warnings (``d2l_require_parity``) once the book is
planned, and the authors' report (``authoring/report.py``) at the end of every build."""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from ..authoring.parity import parity_message
from ..authoring.report import (
    Memo,
    build_report,
    collect_missing,
    relative_page,
    run_facts,
    summary_line,
    write_report,
)
from ..files import display_path
from ..messages import SphinxLog, logger
from ..state import book_build


def warn_parity(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    """With ``d2l_require_parity``, each listing a selected framework lacks is a warning at its
    ``path:line`` (so ``-W`` fails the build); the report lists them either way."""
    build = book_build(env)
    if build is None or build.plan is None or not build.config.require_parity:
        return []
    labels = {name: framework.label for name, framework in build.config.frameworks.items()}
    for items in collect_missing(build.plan).values():
        for item in items:
            SphinxLog().warning(parity_message(item, labels), subtype="parity", docname=item.docname, line=item.line)
    return []


def write_authors_report(app: Sphinx, status: str = "finished") -> None:
    """Write ``d2l-book-report.json`` and ``.html`` and say so in one line (once the book is planned)."""
    build = book_build(app.env)
    if build is None or build.plan is None:
        return
    plan = build.plan

    def load(run, key):
        return build.readable(build.cache.load(run, key, failures=True))

    try:
        facts = run_facts(plan, build.finished_runs, load, Memo(build.state_dir / "authors.json"))
        outdir = Path(app.outdir) if app.builder.format == "html" else None
        page_of = relative_page(build.root, outdir, app.config.html_file_suffix or ".html")
        report = build_report(plan, facts, collect_missing(plan), page_of=page_of, status=status)
        _, html_path = write_report(build.root, report)
    except OSError as error:  # the build folder cannot be written: the build says so already
        logger.info(f"authors' report not written: {error}")
        return
    logger.info(summary_line(report, display_path(html_path)))


def report_at_end(app: Sphinx, exception: Exception | None) -> None:
    write_authors_report(app, "finished" if exception is None else "failed")


def setup_authoring(app: Sphinx) -> None:
    app.connect("env-get-outdated", warn_parity, priority=600)  # after planning (priority 500)
    app.connect("build-finished", report_at_end, priority=900)  # after the kernels stop, before release
