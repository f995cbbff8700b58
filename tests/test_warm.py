"""Fork servers kept warm (``d2l_keep_warm``): builds one after another, of the same book or of
others, fork their kernels from the servers an earlier build started (each framework imported
once), and a kernel still gets its own build's package, folder and environment. The suite itself
runs with servers kept warm (``conftest.py``); these tests check what that must not change.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

from conftest import NOTEBOOK_HEADER, build, kept_servers, kernels_of, start_build, write_book

KEPT = "kernels forked from fork servers an earlier build kept warm (numpy)"

#: The book's saved package says which book it is; the chapter prints it, and where it runs.
LIB = "# Lib\n\n```{{code-cell}} ipython3\ndef which_book():  #@save\n    return {name!r}\n```\n"
CHAPTER = """# Chapter

```{code-cell} ipython3
import os
from d2l import numpy as d2l
settings = os.environ["MATPLOTLIBRC"].split("/_build/")[0]
print(d2l.which_book(), os.path.basename(os.getcwd()), os.path.basename(settings))
```
"""


def book(root: Path, name: str) -> Path:
    return write_book(root, CHAPTER, lib=LIB.format(name=name), conf_extra='d2l_selected = ["numpy"]')


def printed(result) -> list[str]:
    return [output.get_text(" ", strip=True) for output in result.page("chapter").select(".cell_output")]


def servers() -> dict[int, str]:
    """The fork servers the suite keeps warm, by process number: the modules each imports."""
    return {pid: command.split(b"\0")[-3].decode() for pid, (command, _) in kept_servers().items()}


def test_books_built_one_after_another_share_a_server_and_each_imports_its_own_package(tmp_path):
    first = build(book(tmp_path / "first", "first book"))
    assert first.returncode == 0, first.output
    assert printed(first) == ["first book first first"]  # its package, its folder, its settings
    before = servers()
    assert [pid for pid, modules in before.items() if '"numpy"' in modules], "no NumPy server kept warm"

    # Another book, with another package on the path, in another folder, with its own settings
    # file: the same server forks its kernels, each with what its build gave it.
    second = build(book(tmp_path / "second", "second book"), watch_kernels=True)
    assert second.returncode == 0, second.output
    assert KEPT in second.output
    assert printed(second) == ["second book second second"]
    after = servers()
    assert set(after) <= set(before)  # no server started
    assert all(pid in after for pid, modules in before.items() if '"numpy"' in modules)  # none of NumPy's ended
    assert second.kernels_seen, "the check below would not see this build's kernels"
    assert second.kernels_left == [], "kernels left running"


def test_a_build_whose_environment_differs_does_not_use_another_builds_server(tmp_path, monkeypatch):
    # A variable an import could read: a server started without it may not serve this build.
    monkeypatch.setenv("D2L_TEST_SETTING", uuid.uuid4().hex)
    root = book(tmp_path / "book", "a book")
    cold = build(root)
    assert cold.returncode == 0, cold.output
    assert KEPT not in cold.output
    # Executed again (a new run key) in the same environment: now it is kept warm for it.
    (root / "chapter.md").write_text((root / "chapter.md").read_text() + "\n```{code-cell} ipython3\n1\n```\n")
    again = build(root)
    assert again.returncode == 0, again.output
    assert KEPT in again.output


def test_ctrl_c_stops_the_kernels_of_a_warm_server_which_serves_the_next_build(tmp_path):
    flag = tmp_path / "started"
    cell = f"import time\nopen({str(flag)!r}, 'w').close()\ntime.sleep(30)"
    sleeper = f"# Chapter\n\n```{{code-cell}} ipython3\n{cell}\n```\n"
    root = write_book(tmp_path / "book", sleeper, conf_extra='d2l_selected = ["numpy"]')
    process = start_build(root)
    for line in process.stdout:
        if line.startswith("executing"):
            for _ in range(300):
                if flag.exists():
                    break
                time.sleep(0.1)
            running = kernels_of(root)
            warm = servers()
            process.send_signal(signal.SIGINT)
            break
    process.communicate(timeout=60)
    assert process.returncode != 0
    assert running, "the check below would not see this build's kernels"
    assert kernels_of(root) == [], "kernels left running"
    after = servers()
    assert set(after) <= set(warm)  # no server started
    assert all(pid in after for pid, modules in warm.items() if '"numpy"' in modules)  # they stay, for the next build

    (root / "chapter.md").write_text(NOTEBOOK_HEADER + sleeper.replace("time.sleep(30)", "print('awake')"))
    after = build(root)
    assert after.returncode == 0, after.output
    assert KEPT in after.output
    assert printed(after) == ["awake"]
    report = json.loads((root / "_build" / "d2l-report.json").read_text())
    assert [run["status"] for run in report["details"]] == ["executed"]
