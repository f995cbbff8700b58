"""Errors that stop a build with a message an author can act on (no Sphinx needed)."""

from __future__ import annotations


class BookError(Exception):
    """Bad input in the book: the message names the file, line and framework."""

    category = "Book error"


class ExecutionFailed(BookError):
    """One or more (document, framework) runs raised; the message lists each."""

    category = "Execution failed"
