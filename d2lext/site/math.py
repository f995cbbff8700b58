"""Math typeset when the site is built: MathJax's CommonHTML output, made by MathJax itself in Node.

A page that typesets its math in the reader's browser loads MathJax (1.1 MB) before any formula
shows. Here the same MathJax (the pinned release the site serves, ``vendor.py``), with the same
output (CommonHTML), typesets every formula once, when the page is written; the page then loads
no math script, only the stylesheet of its own formulas (inline) and the MathJax fonts its
characters use. Each formula keeps MathJax's hidden MathML copy (``mjx-assistive-mml``), which
screen readers read and search indexes as text.

One Node process per build process typesets every page it writes (``typeset.js``, a JSON line
in and out per page); it needs ``node`` on the ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import vendor

SCRIPT = Path(__file__).with_name("typeset.js")
#: Where the CommonHTML fonts are, under the MathJax folder (and under ``_static/mathjax``).
FONTS = "output/chtml/fonts/woff-v2"
#: What the stylesheet names the fonts' folder before each page's address of it replaces it.
FONTS_MARK = "@FONTS@"


def node() -> str | None:
    """The Node.js executable, if there is one."""
    return shutil.which("node") or shutil.which("nodejs")


def available() -> bool:
    return node() is not None and vendor.installed()


@dataclass
class Typeset:
    """A page's formulas as MathJax's markup, and the stylesheet they need."""

    html: list[str]
    css: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    """``(tex, message)`` of each formula MathJax could not read (shown as MathJax shows it)."""


class Typesetter:
    """A Node process running MathJax, started on first use, one per process (a parallel writer
    forked from the main process starts its own)."""

    def __init__(self, tex_options: dict | None = None):
        self.tex_options = tex_options or {}
        self._process: subprocess.Popen | None = None
        self._pid = 0
        self._errors = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._pid != os.getpid() or self._process.poll() is not None:
            executable = node()
            if executable is None:
                raise RuntimeError("node is not installed")
            # What MathJax writes to stderr goes to a file: a pipe nobody reads while it typesets
            # could fill up and stop it. It is read when the process stops.
            self._errors = tempfile.TemporaryFile(mode="w+", encoding="utf8")
            self._process = subprocess.Popen(
                [executable, str(SCRIPT), str(vendor.static_dir() / "mathjax"), json.dumps(self.tex_options)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                text=True,
                encoding="utf8",
            )
            self._pid = os.getpid()
        return self._process

    def start(self) -> None:
        """Start the Node process now, so that MathJax loads while Sphinx still reads the book."""
        with self._lock:
            self._start()

    def typeset(self, formulas: list[tuple[str, bool]]) -> Typeset:
        """Each ``(tex, display)`` as CommonHTML markup; raises ``RuntimeError`` if MathJax fails."""
        with self._lock:
            process = self._start()
            try:
                process.stdin.write(json.dumps({"formulas": formulas}) + "\n")
                process.stdin.flush()
                answer = process.stdout.readline()
            except OSError as error:
                raise RuntimeError(f"MathJax in node stopped: {error}") from None
            if not answer:
                process.wait()
                self._errors.seek(0)
                message = self._errors.read().strip().splitlines()
                raise RuntimeError(f"MathJax in node stopped: {message[-1] if message else process.returncode}")
            found = json.loads(answer)
            if "error" in found:
                raise RuntimeError(f"MathJax failed: {found['error']}")
            return Typeset(found["html"], found["css"], [tuple(error) for error in found["errors"]])

    def close(self) -> None:
        if self._process is not None and self._pid == os.getpid():
            self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._errors.close()
        self._process = None
