"""Rebuilds: only what an edit can change is executed again; failures never lose finished work."""

from __future__ import annotations

import json
import re
import signal
import time

from conftest import build, copy_book, kernels_of, start_build, write_book


def report(root) -> dict[str, str]:
    """(document [framework]) -> executed / cached / failed, from the build's JSON report."""
    data = json.loads((root / "_build" / "d2l-report.json").read_text())
    return {f"{run['document']} [{run['framework']}]": run["status"] for run in data["details"]}


def values(build_result, page: str) -> dict[str, str]:
    """Framework -> the printed line of that framework's tab (or the only output)."""
    soup = build_result.page(page)
    found = {}
    for label in soup.select("label[data-sync-group=framework]"):
        text = label.find_next_sibling("div").get_text(" ", strip=True)
        found[label["data-sync-id"]] = re.search(r"value \S+( token \S+)?", text).group(0)
    if not found:
        found["all"] = re.findall(r"value \S+", soup.get_text(" ", strip=True))[0]
    return found


def rebuild(root, *options):
    """A build that must succeed (a failed build leaves the previous HTML in place)."""
    result = build(root, *options)
    assert result.returncode == 0, result.output
    return result


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_rebuilds_execute_only_what_changed(tmp_path):
    root = copy_book("rebuild", tmp_path)
    cold = build(root, watch_kernels=True)
    assert cold.returncode == 0, cold.output
    assert set(report(root).values()) == {"executed"} and len(report(root)) == 6
    # The build stops its kernels itself: none is left when it ends, before the harness stops any.
    assert cold.kernels_seen, "the check below would not see this build's kernels"
    assert cold.kernels_left == [], "kernels left running"
    first_a, first_b = values(cold, "a"), values(cold, "b")
    assert first_a["torch"].endswith("token v1")

    noop = rebuild(root)
    assert "executing" not in noop.output
    assert report(root) == {}

    edit(root / "a.md", "Prose of A.", "Prose of A, edited.\n\nA new paragraph.")
    prose = rebuild(root)
    assert "executing" not in prose.output
    assert report(root) == {"a [numpy]": "cached", "a [torch]": "cached"}
    assert values(prose, "a") == first_a

    edit(root / "a.md", "print('value', random.random(), 'token'", "print('value', random.random(),  'token'")
    torch_edit = rebuild(root)
    assert report(root) == {"a [numpy]": "cached", "a [torch]": "executed"}
    assert "executing 1 run in a kernel of its own" in torch_edit.output
    after = values(torch_edit, "a")
    assert after["numpy"] == first_a["numpy"] and after["torch"] != first_a["torch"]

    edit(root / "lib.md", "return 'v1'", "return 'v2'")
    save_edit = rebuild(root)
    assert report(root) == {
        "lib [numpy]": "executed",
        "lib [torch]": "executed",
        "a [numpy]": "cached",  # its numpy cells do not import the package
        "a [torch]": "executed",
    }
    final = values(save_edit, "a")
    assert final["torch"].endswith("token v2") and final["numpy"] == first_a["numpy"]
    assert values(save_edit, "b") == first_b


FAILING = """# Chapter

```{code-cell} ipython3
print('shared ran')
```

```{code-cell} ipython3
:tags: [torch]
BROKEN
```
"""


def test_failure_keeps_other_runs_and_next_build_reruns_only_it(tmp_path):
    root = write_book(tmp_path, FAILING)
    failed = build(root)
    assert failed.returncode == 2
    assert "chapter.md:16 [torch] NameError: name 'BROKEN' is not defined" in failed.output
    assert report(root) == {"chapter [numpy]": "executed", "chapter [torch]": "failed"}

    edit(root / "chapter.md", "BROKEN", "print('fixed')")
    fixed = build(root)
    assert fixed.returncode == 0, fixed.output
    assert report(root) == {"chapter [numpy]": "cached", "chapter [torch]": "executed"}
    assert "fixed" in fixed.page("chapter").get_text()


def test_keep_going_shows_the_failure_in_the_page(tmp_path):
    root = write_book(tmp_path, FAILING)
    drafted = build(root, "-D", "d2l_keep_going=1")
    assert drafted.returncode == 0, drafted.output
    assert "WARNING: execution failed" in drafted.output and "[torch] NameError" in drafted.output
    page = drafted.page("chapter").get_text()
    assert "NameError" in page and "shared ran" in page
    assert report(root)["chapter [torch]"] == "failed"


def test_hanging_cell_is_stopped_by_the_document_timeout(tmp_path):
    chapter = "# Chapter\n\n```{code-cell} ipython3\nimport time\ntime.sleep(60)\n```\n"
    root = write_book(tmp_path, chapter)
    edit(root / "chapter.md", "---\n\n", "d2l:\n  timeout: 2\n---\n\n")
    started = time.monotonic()
    result = build(root, "-D", "d2l_selected=numpy")
    assert result.returncode == 2
    assert time.monotonic() - started < 40
    assert (
        "chapter.md:12 [numpy] cell timed out after 2 s (the limit is d2l.timeout in the document's front matter)"
        in result.output
    )


def test_kernel_that_dies_is_reported_and_retried(tmp_path):
    chapter = "# Chapter\n\n```{code-cell} ipython3\nimport os\nos._exit(3)\n```\n"
    root = write_book(tmp_path, chapter)
    for _ in range(2):  # a dead kernel is never cached: the next build tries again
        result = build(root, "-D", "d2l_selected=numpy", timeout=120)
        assert result.returncode == 2
        assert "chapter.md:10 [numpy] the kernel died while running this cell" in result.output
        assert report(root) == {"chapter [numpy]": "failed"}


def test_interrupted_build_then_normal_build_gives_a_correct_site(tmp_path):
    slow = (
        "# Chapter\n\n```{code-cell} ipython3\nimport os, time\nopen(f'started-{os.getpid()}', 'w').close()\n"
        "time.sleep(4)\nprint('slept')\n```\n"
    )
    # Through a symbolic link, as a temporary folder often is: sphinx-build resolves it, and the
    # look-up for the kernels must still find them.
    root = tmp_path / "link"
    root.symlink_to(write_book(tmp_path / "book", slow), target_is_directory=True)
    # Fork servers of the build's own (not kept warm for the next build): they must end with it.
    process = start_build(root, "-D", "d2l_selected=numpy,torch", "-D", "d2l_keep_warm=0")
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("executing"):
            for _ in range(100):  # until both kernels are in the cell
                if len(list(root.glob("started-*"))) == 2:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            running = kernels_of(root)
            in_cells = {int(path.name.removeprefix("started-")) for path in root.glob("started-*")}
            process.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            break
    output = "".join(lines) + process.communicate(timeout=60)[0]
    assert process.returncode != 0 and "Interrupted" in output
    assert "Task was destroyed but it is pending" not in output
    status = json.loads((root / "_build" / "d2l-report.json").read_text())
    assert status["status"] == "interrupted"
    # The runs it stopped say so (not "the kernel died"), and no run starts after Ctrl-C.
    assert "the kernel died" not in output
    assert [run["status"] for run in status["details"]] == ["interrupted", "interrupted"]
    assert all(run["error"].endswith("stopped by Ctrl-C") for run in status["details"])
    assert "chapter.md:10 [numpy] stopped by Ctrl-C" in [run["error"] for run in status["details"]]
    assert "(interrupted)" in output
    assert time.monotonic() - interrupted < 15, "Ctrl-C took too long to stop the build"
    # The look-up found the two kernels in their cells, and the two fork servers they were forked
    # from (one per framework: they are processes of the build, which must not outlive it either).
    assert len(in_cells) == 2 and in_cells <= set(running), "the check below would not see this build's kernels"
    assert len(running) == 4, running
    assert kernels_of(root) == [], "kernels left running"

    normal = build(root)
    assert normal.returncode == 0, normal.output
    assert set(report(root).values()) == {"executed"}
    outputs = [output.get_text().strip() for output in normal.page("chapter").select(".cell_output")]
    assert outputs == ["slept"]  # one shared output, identical in both frameworks


POLLUTER = """# First

```{code-cell} ipython3
import warnings
from d2l import numpy as d2l
leaked = 1
d2l.marker = 'mutated'
d2l.plt.rcParams['figure.figsize'] = (9, 9)
d2l.plt.figure()
warnings.simplefilter('error')
print('first done')
```
"""

CHECKER = """# Second

```{code-cell} ipython3
import os, warnings
from d2l import numpy as d2l
print('leaked' in dir(), hasattr(d2l, 'marker'), tuple(d2l.plt.rcParams['figure.figsize']),
      d2l.plt.get_fignums(), warnings.filters[0][0] == 'error', os.path.basename(os.getcwd()))
```
"""


def test_a_chapter_finds_nothing_an_earlier_chapter_left(tmp_path):
    lib = "# Lib\n\n```{code-cell} ipython3\n#@save\nfrom matplotlib import pyplot as plt\n```\n"
    root = write_book(tmp_path, POLLUTER, lib=lib)
    (root / "sub").mkdir()
    (root / "sub" / "second.md").write_text((root / "lib.md").read_text().split("# Lib")[0] + CHECKER)
    (root / "index.md").write_text("# Book\n\n```{toctree}\nlib\nchapter\nsub/second\n```\n")
    fresh = rebuild(root, "-D", "d2l_selected=numpy", "-D", "d2l_jobs=1")
    kernels = json.loads((root / "_build" / "d2l-report.json").read_text())["details"]
    # Each run had a kernel of its own, started ahead: during the cold build's warm-up for the
    # first, while the one before it ran for the others.
    assert [run["kernel"] for run in kernels] == ["warm", "warm", "warm"]
    text = fresh.page("sub/second").select_one(".cell_output").get_text().strip()
    assert text == "False False (6.4, 4.8) [] False sub"


def test_undoing_an_edit_reruns_nothing_and_removed_chapters_leave_the_cache(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n```{code-cell} ipython3\nprint('version one')\n```\n")
    rebuild(root, "-D", "d2l_selected=numpy")
    edit(root / "chapter.md", "version one", "version two")
    assert "version two" in rebuild(root, "-D", "d2l_selected=numpy").page("chapter").get_text()
    assert report(root) == {"chapter [numpy]": "executed"}
    edit(root / "chapter.md", "version two", "version one")  # the undo
    undone = rebuild(root, "-D", "d2l_selected=numpy")
    assert report(root) == {"chapter [numpy]": "cached"}
    assert "version one" in undone.page("chapter").get_text()

    entries = root / "_build" / ".d2l-cache" / "chapter" / "numpy"
    assert len(list(entries.glob("*.json"))) == 2
    (root / "chapter.md").unlink()
    (root / "index.md").write_text("# Book\n\nNo chapters.\n")
    rebuild(root, "-D", "d2l_selected=numpy")
    assert not list(entries.glob("*.json"))


WRITER = "# Writer\n\n```{code-cell} ipython3\nimport time\ntime.sleep(1)\nopen('shared.txt', 'w').write('WORD')\n```\n"
READER = "# Reader\n\n```{code-cell} ipython3\nprint('read', open('shared.txt').read())\n```\n"


def test_a_chapter_that_depends_on_another_runs_after_it_and_again_when_it_changes(tmp_path):
    root = write_book(tmp_path, READER, lib=WRITER)
    edit(root / "chapter.md", "---\n\n", "d2l:\n  depends: [lib]\n---\n\n")
    first = rebuild(root, "-D", "d2l_selected=numpy", "-D", "d2l_jobs=2")
    assert "read WORD" in first.page("chapter").get_text()  # waited for the writer, on two kernels
    edit(root / "lib.md", "'WORD'", "'OTHER'")
    second = rebuild(root, "-D", "d2l_selected=numpy", "-D", "d2l_jobs=2")
    assert report(root) == {"lib [numpy]": "executed", "chapter [numpy]": "executed"}
    assert "read OTHER" in second.page("chapter").get_text()


def test_an_unknown_dependency_names_the_chapter(tmp_path):
    root = write_book(tmp_path, READER)
    edit(root / "chapter.md", "---\n\n", "d2l:\n  depends: [wirter]\n---\n\n")
    result = build(root, "-D", "d2l_selected=numpy")
    assert result.returncode == 2
    assert "chapter.md:1: d2l.depends names 'wirter', which is not a chapter of the book" in result.output


def notebook_text(root, docname: str, framework: str) -> str:
    """What the downloaded notebook of a page shows: its outputs, as text."""
    notebook = json.loads((root / "_build" / "html" / "notebooks" / framework / f"{docname}.ipynb").read_text())
    return " ".join(
        "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


DOUBLE = "# Lib\n\n```{code-cell} ipython3\ndef double(x):  #@save\n    return x * 2\n```\n"
USES_DOUBLE = (
    "# Chapter\n\n```{code-cell} ipython3\nfrom d2l import numpy as d2l\nprint('double is', d2l.double(5))\n```\n"
)


def test_undoing_a_save_edit_brings_back_the_page_that_uses_it(tmp_path):
    root = write_book(tmp_path, USES_DOUBLE, lib=DOUBLE)
    assert "double is 10" in rebuild(root, "-D", "d2l_selected=numpy").page("chapter").get_text()
    edit(root / "lib.md", "x * 2", "x * 3")
    assert "double is 15" in rebuild(root, "-D", "d2l_selected=numpy").page("chapter").get_text()
    edit(root / "lib.md", "x * 3", "x * 2")  # the undo: both runs come from the cache
    undone = rebuild(root, "-D", "d2l_selected=numpy")
    assert report(root) == {"lib [numpy]": "cached", "chapter [numpy]": "cached"}
    assert "double is 10" in undone.page("chapter").get_text()
    assert "double is 10" in notebook_text(root, "chapter", "numpy")
    assert "return x * 2" in (root / "_build" / "d2l" / "d2l" / "numpy.py").read_text()
    again = rebuild(root, "-D", "d2l_selected=numpy")
    assert "no targets are out of date" in again.output  # and it stays so


def test_undoing_an_edit_of_a_chapter_another_depends_on_brings_back_both_pages(tmp_path):
    writer = WRITER.replace("open('shared.txt'", "print('wrote WORD')\nopen('shared.txt'")
    root = write_book(tmp_path, READER, lib=writer)
    edit(root / "chapter.md", "---\n\n", "d2l:\n  depends: [lib]\n---\n\n")
    rebuild(root, "-D", "d2l_selected=numpy")
    edit(root / "lib.md", "WORD", "OTHER")
    assert "read OTHER" in rebuild(root, "-D", "d2l_selected=numpy").page("chapter").get_text()
    edit(root / "lib.md", "OTHER", "WORD")
    undone = rebuild(root, "-D", "d2l_selected=numpy")
    assert "read WORD" in undone.page("chapter").get_text()
    assert "wrote WORD" in undone.page("lib").get_text()
    assert "read WORD" in notebook_text(root, "chapter", "numpy")


def test_a_chapter_that_reads_another_chapters_file_gets_it_when_the_writer_is_cached(tmp_path):
    root = write_book(tmp_path, READER, lib=WRITER)
    edit(root / "chapter.md", "---\n\n", "d2l:\n  depends: [lib]\n---\n\n")
    rebuild(root, "-D", "d2l_selected=numpy")
    # An edit and its undo leave the writer's file as the edit wrote it; the cache has the run.
    edit(root / "lib.md", "'WORD'", "'OTHER'")
    rebuild(root, "-D", "d2l_selected=numpy")
    edit(root / "lib.md", "'OTHER'", "'WORD'")
    rebuild(root, "-D", "d2l_selected=numpy")
    assert (root / "shared.txt").read_text() == "OTHER"
    # The reader changes: it runs again, after the writer has run again (it was cached).
    edit(root / "chapter.md", "print('read'", "print('read now'")
    changed = rebuild(root, "-D", "d2l_selected=numpy")
    assert report(root) == {"lib [numpy]": "executed", "chapter [numpy]": "executed"}
    assert "read now WORD" in changed.page("chapter").get_text()

    # The file is deleted (git clean, a CI runner with a restored cache): the same.
    (root / "shared.txt").unlink()
    edit(root / "chapter.md", "print('read now'", "print('read again'")
    again = rebuild(root, "-D", "d2l_selected=numpy")
    assert "read again WORD" in again.page("chapter").get_text()
    assert "FileNotFoundError" not in again.output


def test_a_failure_is_remembered_until_its_code_changes_or_a_retry_is_asked(tmp_path):
    root = write_book(tmp_path, FAILING)
    first = build(root, "-D", "d2l_keep_going=1")
    assert first.returncode == 0, first.output
    assert report(root) == {"chapter [numpy]": "executed", "chapter [torch]": "failed"}

    # Nothing changed: nothing runs, nothing is read, the page still shows the failure.
    again = build(root, "-D", "d2l_keep_going=1")
    assert again.returncode == 0, again.output
    assert "executing" not in again.output and "no targets are out of date" in again.output
    assert "NameError" in again.page("chapter").get_text()

    # Without KEEP_GOING the build fails at once with the same message, saying it was remembered.
    strict = build(root)
    assert strict.returncode == 2
    assert "executing" not in strict.output
    assert "chapter.md:16 [torch] NameError: name 'BROKEN' is not defined" in strict.output
    assert "failed in an earlier build with the same code and inputs" in strict.output
    assert "RETRY=1" in strict.output
    assert "1 failed (1 in an earlier build, not run again: RETRY=1 runs them)" in strict.output
    data = json.loads((root / "_build" / "d2l-report.json").read_text())
    assert (data["failed"], data["failed_earlier"], data["executed"]) == (1, 1, 0)

    retried = build(root, "-D", "d2l_retry_failed=1", "-D", "d2l_keep_going=1")
    assert retried.returncode == 0, retried.output
    assert report(root) == {"chapter [numpy]": "cached", "chapter [torch]": "failed"}
    assert "executing 1 run in a kernel of its own" in retried.output

    edit(root / "chapter.md", "BROKEN", "print('fixed')")
    fixed = rebuild(root)
    assert report(root) == {"chapter [numpy]": "cached", "chapter [torch]": "executed"}
    assert "fixed" in fixed.page("chapter").get_text()
