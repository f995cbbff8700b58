"""`make livehtml`: a d2l-book project previewed live in Debian's chromium while its author edits it.

sphinx-autobuild serves the site and reloads the open page after each rebuild. A prose edit
executes nothing (no kernel is seen during its rebuild); a code edit runs its chapter in its
framework only; a cell that fails leaves the last good page served and says why in the terminal.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, KernelWatch, kernels_of
from test_browser import CHROMIUM, FLAGS
from test_d2lbook import d2lbook_project

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="*** BROWSER TESTS SKIPPED: Debian's chromium is not installed (`make test` installs it as root) ***",
)
PAGE = "chapter_basics/tensors"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Live:
    """`make livehtml BOOK=root` running, its console in a file."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.console = root.parent / "livehtml.log"
        # As an author starts it: how long servers stay warm is the Makefile's, not the suite's.
        env = {name: value for name, value in os.environ.items() if name != "D2L_KEEP_WARM"}
        with open(self.console, "w") as stream:
            self.process = subprocess.Popen(
                ["make", "-C", str(REPO), "livehtml", f"BOOK={root}", f"PORT={port}"],
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped with everything it started
                env=env,
            )

    def text(self) -> str:
        return re.sub(r"\x1b\[[0-9;]*m", "", self.console.read_text(errors="replace"))

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 300) -> str:
        """The console from ``after`` on, once it holds ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.text()[after:]
            if re.search(pattern, found):
                return found
            assert self.process.poll() is None, self.text()
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in:\n{self.text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as the author stops it
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.slow  # through Live, which the rule does not follow
def test_livehtml_refreshes_the_page_on_prose_and_code_edits(tmp_path):
    from playwright.sync_api import sync_playwright

    root = d2lbook_project(tmp_path / "book", "d2lbook")
    source = root / "chapter_basics" / "tensors.md"
    live = Live(root, free_port())
    try:
        live.wait_for(r"Serving on http://127\.0\.0\.1")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone beside the editor
            page.goto(f"http://127.0.0.1:{live.port}/{PAGE}.html")
            body = page.locator("article")
            assert "本节用到" in body.inner_text()
            assert "total 15.0 torch" in body.inner_text()

            # Prose: the page changes, and no kernel starts.
            mark = len(live.text())
            with KernelWatch(root) as prose_kernels:
                edit(source, "本节用到", "本节（改过）用到")
                page.wait_for_function(
                    "() => !!document.body && document.body.innerText.includes('本节（改过）用到')", timeout=120_000
                )
            console = live.wait_for(r"Serving on", mark)
            assert prose_kernels.seen == []
            assert "executing" not in console and "(cached)" in console

            # Code: the page shows the new output; only that chapter runs, in its framework.
            mark = len(live.text())
            with KernelWatch(root) as code_kernels:
                edit(
                    source,
                    "%%tab pytorch\nfrom d2l import torch as d2l\n",
                    # (a second's sleep: a kernel forked from a warm server lives long enough to be seen)
                    "%%tab pytorch\nfrom d2l import torch as d2l\nimport time\ntime.sleep(1)\nprint('PyTorch ready')\n",
                )
                page.wait_for_function(
                    "() => !!document.body && document.body.innerText.includes('PyTorch ready')", timeout=120_000
                )
            console = live.wait_for(r"Serving on", mark)
            assert code_kernels.seen != []
            assert re.search(r"executing 1 run\b", console)  # "executing 1 run in a kernel of its own"
            # Its kernel was forked from the PyTorch server the first build started: PyTorch stays
            # imported between rebuilds (d2l_keep_warm, set by make livehtml).
            assert "kernels forked from fork servers an earlier build kept warm (torch)" in console
            assert re.findall(r"\] (\S+ \[\w+\]) [\d.]+ s \(executed\)", console) == ["chapter_basics/tensors [torch]"]

            # A failing cell: the terminal says where, and the last good page stays served.
            mark = len(live.text())
            edit(source, "print('PyTorch ready')", "print('PyTorch ready', y)")
            console = live.wait_for(r"Serving on", mark)
            assert "chapter_basics/tensors.md:" in console and "[torch] NameError: name 'y' is not defined" in console
            fresh = browser.new_page()  # the open page is reloading itself (sphinx-autobuild's script)
            fresh.goto(f"http://127.0.0.1:{live.port}/{PAGE}.html")
            assert "PyTorch ready" in fresh.locator("article").inner_text()
            browser.close()
    finally:
        live.stop()
    assert kernels_of(root) == []
