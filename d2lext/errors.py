"""Errors that stop a build with a message an author can act on (no Sphinx needed)."""

from __future__ import annotations

from collections.abc import Callable

#: Called (last added first) before a book error ends the process: what must stop while the
#: interpreter still runs threads, such as a Dask cluster being closed in the background (at
#: exit, distributed's own handler would close it again, and print a traceback). A build adds its
#: ``close`` and removes it when closed.
BEFORE_EXIT: list[Callable[[], None]] = []


class BookError(Exception):
    """Bad input in the book: the message names the file, line and framework."""

    category = "Book error"


class ExecutionFailed(BookError):
    """One or more (document, framework) runs raised; the message lists each."""

    category = "Execution failed"
