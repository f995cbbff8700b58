"""Errors that stop a build with a message an author can act on."""

from __future__ import annotations

import functools

from sphinx.errors import SphinxError
from sphinx.util import logging

logger = logging.getLogger(__name__)


class BookError(SphinxError):
    """Bad input in the book: the message names the file, line and framework."""

    category = "Book error"


class ExecutionFailed(SphinxError):
    """One or more (document, framework) runs raised; the message lists each."""

    category = "Execution failed"


def stop_on_book_errors(handler):
    """Run a Sphinx event handler; a book error becomes one logged error and exit status 2.

    Sphinx prints a bug-report page (versions, traceback, "please report") for any exception an
    extension raises; an author's mistake deserves the message alone.
    """

    @functools.wraps(handler)
    def run(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (BookError, ExecutionFailed) as error:
            logger.error(f"{error.category}: {error}")
            raise SystemExit(2) from None

    return run
