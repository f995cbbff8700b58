"""How the extension speaks through Sphinx.

- A book error stops the build with its message alone, exit status 2, not Sphinx's bug-report page.
- Book errors found while reading a document (possibly in a parallel reading process) are kept on
  the environment, merged into the main process and reported there once, so ``-j N`` prints the
  same lines and exits with the same status as a serial build.
- Warnings carry ``location=`` (editors and ``-W`` point at the source) and ``type="d2l"`` with a
  subtype per kind, so ``suppress_warnings = ["d2l.package"]`` silences one kind.
"""

from __future__ import annotations

import contextlib
import functools

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

from .errors import BEFORE_EXIT, BookError

logger = logging.getLogger("d2lext")

WARNING_TYPE = "d2l"
#: Environment attribute: docname -> book errors found while reading it.
READING_ERRORS = "d2l_reading_errors"


def stop_on_book_errors(handler):
    """Run a Sphinx event handler; a book error becomes one logged error and exit status 2."""

    @functools.wraps(handler)
    def run(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except BookError as error:
            with logging.prefixed_warnings(""):  # the line alone, not "while setting up extension d2lext: ..."
                logger.error(f"{error.category}: {error}")
            for close in reversed(list(BEFORE_EXIT)):
                with contextlib.suppress(Exception):  # stopping anyway: the error above is the news
                    close()
            raise SystemExit(2) from None

    return run


class SphinxLog:
    """The build's ``Log`` through Sphinx's logger."""

    def info(self, message: str) -> None:
        logger.info(message)

    def warning(self, message: str, *, subtype: str, docname: str | None = None, line: int | None = None) -> None:
        location = (docname, line) if docname else None
        logger.warning(message, location=location, type=WARNING_TYPE, subtype=subtype)


def note_reading_error(env: BuildEnvironment, message: str) -> None:
    """Keep a book error of the document being read; the build stops once reading is done."""
    errors = getattr(env, READING_ERRORS, None)
    if errors is None:
        errors = {}
        setattr(env, READING_ERRORS, errors)
    errors.setdefault(env.docname, []).append(message)


def _merge(app: Sphinx, env: BuildEnvironment, docnames, other: BuildEnvironment) -> None:
    for docname, found in getattr(other, READING_ERRORS, {}).items():
        if docname in docnames:
            getattr(env, READING_ERRORS).setdefault(docname, []).extend(found)


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, READING_ERRORS, {}).pop(docname, None)


def _stop_on_reading_errors(app: Sphinx, env: BuildEnvironment) -> None:
    """After reading, one line per error, then exit status 2. The environment is not saved, so
    these documents are read (and their errors reported) again by the next build."""
    errors = getattr(env, READING_ERRORS, {})
    found = [message for docname in sorted(errors) for message in errors[docname]]
    errors.clear()
    for message in found:
        logger.error(f"{BookError.category}: {message}")
    if found:
        raise SystemExit(2)


def _prepare(app: Sphinx) -> None:
    if not isinstance(getattr(app.env, READING_ERRORS, None), dict):
        setattr(app.env, READING_ERRORS, {})


def setup_messages(app: Sphinx) -> None:
    app.connect("builder-inited", _prepare)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-updated", _stop_on_reading_errors)
