"""Live preview benchmark: the time from saving a file to the refreshed page in the browser.

`make livehtml`'s command (sphinx-autobuild, `-M html`, the same ignore rules) runs on a copy of
this repository's book (NumPy and PyTorch). Debian's chromium, driven by Playwright, keeps
section 11.1 open. Each repetition saves, in turn:

- a prose edit (a sentence of 11.1), and waits until the page shows it;
- a code edit (the label of a PyTorch figure of 11.1), and waits until the page's figure has it
  (its text alternative is made of the figure's labels).

Beside them, a no-op `sphinx-build` of the same book (what a prose edit costs at least) is timed
in the same run, while the server is idle. Medians are printed (BENCHMARKS.md quotes them).
``--keep-warm 0`` measures rebuilds whose fork servers end with each of them (before they were
kept warm); the default is the Makefile's ``KEEP_WARM``.

    PYTHONPATH=. .venv/bin/python benchmarks/livehtml.py --repeat 5 [--keep-warm 0]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PAGE = "chapter_optimization/optimization-intro"
SOURCE = f"source/{PAGE}.md"
PROSE = "本节将讨论优化与深度学习之间的关系"
#: The PyTorch listing of the saddle point's figure.
CODE = "x = torch.arange(-2.0, 2.0, 0.01)\nd2l.plot(x, [x**3], 'x', 'f(x)')\nannotate('saddle point'"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def ignore_rule() -> str:
    """The --re-ignore rule of the Makefile's livehtml target."""
    text = (REPO / "Makefile").read_text()
    found = re.search(r"--re-ignore '([^']*)'", text)
    return found.group(1).replace("$$", "$")


def keep_warm_default() -> str:
    """The Makefile's KEEP_WARM: how long make livehtml keeps the fork servers warm."""
    return re.search(r"^KEEP_WARM \?= (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(log: Path, pattern: str, after: int = 0, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log.read_text(errors="replace")[after:]):
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {pattern!r}; see {log}")


def no_op(root: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "sphinx-build"), "-M", "html", "source", "_build", "-c", ".", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"the no-op build failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--keep-warm",
        default=keep_warm_default(),
        help="seconds the fork servers stay warm between rebuilds (d2l_keep_warm; default: the Makefile's, "
        "0: each rebuild starts its own, as before they were kept)",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="d2l-livehtml-"))
    root = work / "book"
    shutil.copytree(REPO / "source", root / "source")
    shutil.copytree(REPO / "d2lext" / "environments", root / "d2lext" / "environments")
    shutil.copy(REPO / "conf.py", root / "conf.py")
    log = work / "livehtml.log"
    port = free_port()
    command = [str(BIN / "sphinx-autobuild"), "-M", "html", "source", "_build", "-c", ".", "--port", str(port)]
    command += ["-D", f"d2l_keep_warm={args.keep_warm}"]
    command += ["--re-ignore", ignore_rule(), "--watch", "conf.py"]
    servers = work / "servers"  # the fork servers kept warm, stopped at the end
    # This repository's d2lext first: the book's copy has a d2lext/ folder of its own (the
    # environments' requirements), which `python -m sphinx` would otherwise find in its folder.
    env = {**os.environ, "D2L_SERVERS": str(servers), "PYTHONPATH": str(REPO)}
    with open(log, "w") as stream:
        server = subprocess.Popen(command, cwd=root, stdout=stream, stderr=subprocess.STDOUT, env=env)
    prose, code, noop = [], [], []
    try:
        wait_for(log, r"Serving on")
        source = root / SOURCE
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/{PAGE}.html")
            for round in range(1, args.repeat + 1):
                text = source.read_text()
                mark = f"（第{round}次修改）"
                position = len(log.read_text(errors="replace"))
                started = time.perf_counter()
                source.write_text(text.replace(PROSE, PROSE + mark, 1))
                page.wait_for_function(
                    f"() => !!document.body && document.body.textContent.includes('{mark}')", timeout=600_000
                )
                prose.append(time.perf_counter() - started)
                wait_for(log, r"Serving on", position)

                text = source.read_text()
                label = f"saddle point {round}"
                position = len(log.read_text(errors="replace"))
                started = time.perf_counter()
                source.write_text(text.replace(CODE, CODE.replace("saddle point", label), 1))
                page.wait_for_function(f"() => !!document.querySelector('img[alt*=\"{label}\"]')", timeout=600_000)
                code.append(time.perf_counter() - started)
                wait_for(log, r"Serving on", position)

                position = len(log.read_text(errors="replace"))
                source.write_text(text)  # back, for the next round (cached: undo runs nothing)
                wait_for(log, r"Serving on", position)
                time.sleep(1)
                noop.append(no_op(root, env))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
        for command_line in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(servers).encode() in command_line.read_bytes():
                    os.kill(int(command_line.parent.name), signal.SIGTERM)
            except OSError:
                pass
    console = log.read_text(errors="replace")
    kernels = len(re.findall(r"executing 1 run\b", console))
    walls = [
        float(wall)
        for wall in re.findall(
            r"execution: 1 executed, \d+ cached, 0 failed; [\d.]+ s in kernels, ([\d.]+) s wall", console
        )
    ]
    warm = console.count("kept warm (")
    print(f"rounds: {args.repeat}; keep warm: {args.keep_warm} s; code edits that executed one run: {kernels}")
    print(f"builds whose kernels came from servers kept warm: {warm}")
    if walls:
        print(
            f"code edit, its run (fork server, kernel, cells): median {statistics.median(walls):.2f} s ({_list(walls)})"
        )
    print(f"save to refreshed page, prose edit: median {statistics.median(prose):.2f} s ({_list(prose)})")
    print(f"save to refreshed page, code edit:  median {statistics.median(code):.2f} s ({_list(code)})")
    print(f"no-op sphinx-build of the same book: median {statistics.median(noop):.2f} s ({_list(noop)})")
    shutil.rmtree(work, ignore_errors=True)


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    main()
