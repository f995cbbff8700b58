"""Faults and bad input, second pass: each case as the author meets it (message, exit status, time,
page, package, cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from conftest import build, start_build, write_book


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "ERROR" in line]


def numpy_only(root: Path, *options: str):
    return build(root, "-D", "d2l_selected=numpy", *options)


def cell(code: str, tags: str = "") -> str:
    return f"```{{code-cell}} ipython3\n{tags}{code}\n```\n"


def test_input_in_a_cell_fails_at_once_instead_of_waiting_for_the_timeout(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("name = input('name? ')"))
    started = time.monotonic()
    result = numpy_only(root)
    assert result.returncode == 2
    assert time.monotonic() - started < 60  # the book's timeout is 120 s
    (line,) = error_lines(result.output)
    assert "chapter.md:11 [numpy] StdinNotImplementedError" in line
    assert "timed out" not in result.output


def test_save_cell_with_broken_indentation_is_a_book_error(tmp_path):
    lib = "# Lib\n\n" + cell("def f():  #@save\n        x = 1\n    return x")
    result = numpy_only(write_book(tmp_path, "# Chapter\n", lib=lib))
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "lib.md:13: the cell holding a #@save block is not valid Python: unindent does not match" in line
    assert "Extension error" not in result.output and "Traceback" not in result.output


PLAIN = 'd2l_frameworks["plain"] = {"label": "Plain", "requires": []}'


def test_a_framework_removed_from_conf_leaves_the_package(tmp_path):
    lib = "# Lib\n\n" + cell("def f():  #@save\n    return 1")
    root = write_book(tmp_path, "# Chapter\n", lib=lib, conf_extra=PLAIN)
    first = numpy_only(root)
    assert first.returncode == 0, first.output
    modules = root / "_build" / "d2l" / "d2l"
    assert (modules / "plain.py").is_file()
    lib_command = [sys.executable, "-m", "d2lext.lib", "--conf", ".", "--source", ".", "--build", "_build"]
    assert subprocess.run(lib_command, cwd=root, capture_output=True).returncode == 0

    conf = root / "conf.py"
    conf.write_text(conf.read_text().replace(PLAIN, ""))
    second = numpy_only(root)
    assert second.returncode == 0, second.output
    assert sorted(path.name for path in modules.glob("*.py")) == ["__init__.py", "numpy.py", "torch.py"]
    (archive,) = (root / "_build" / "dist").glob("*.tar.gz")
    with tarfile.open(archive) as opened:
        assert not [name for name in opened.getnames() if name.endswith("plain.py")]
    made = subprocess.run(lib_command, cwd=root, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    (wheel,) = (root / "_build" / "dist").glob("*.whl")
    assert [name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("d2l/")] == [
        "d2l/__init__.py",
        "d2l/numpy.py",
        "d2l/torch.py",
    ]


def test_identical_output_split_differently_by_the_kernels_is_shown_once(tmp_path):
    loop = "import sys, time\nfor i in range(150):\n    print(i, end=' ', flush=True)\n    time.sleep(0.006)"
    root = write_book(tmp_path, "# Chapter\n\n" + cell(loop))
    result = build(root)
    assert result.returncode == 0, result.output
    page = result.page("chapter")
    assert not page.select(".d2l-outputs")
    (output,) = page.select(".cell_output")
    assert output.get_text().split() == [str(i) for i in range(150)]


SLOW = "# Chapter\n\n" + cell("import time\ntime.sleep(3)\nprint('VERSION')")


def start(root: Path) -> subprocess.Popen:
    return start_build(root, "-D", "d2l_selected=numpy")


def test_two_builds_at_once_take_turns_and_the_site_matches_the_final_source(tmp_path):
    root = write_book(tmp_path, SLOW.replace("VERSION", "first version"))
    first = start(root)
    lines = []
    for line in first.stdout:
        lines.append(line)
        if line.startswith("executing"):
            break
    (root / "chapter.md").write_text((root / "chapter.md").read_text().replace("first version", "second version"))
    second = start(root)
    first_output = "".join(lines) + first.communicate(timeout=120)[0]
    second_output = second.communicate(timeout=120)[0]
    assert first.returncode == 0, first_output
    assert second.returncode == 0, second_output
    assert "waiting for another build of this book" in second_output
    page = (root / "_build" / "html" / "chapter.html").read_text()
    assert "second version" in page and "first version" not in page


def test_a_dead_kernel_says_why(tmp_path):
    chapter = "# Chapter\n\n" + cell("import os\nos._exit(3)")
    result = numpy_only(write_book(tmp_path / "exit", chapter))
    assert result.returncode == 2
    assert "chapter.md:10 [numpy] the kernel died while running this cell (exit status 3)" in result.output

    # What a native library prints before it crashes reaches the kernel's stderr, not the cell's.
    crash = "import ctypes, os\nos.write(2, b'about to crash\\n')\nctypes.string_at(0)"
    result = numpy_only(write_book(tmp_path / "segfault", "# Chapter\n\n" + cell(crash)))
    assert result.returncode == 2
    assert "[numpy] the kernel died while running this cell (killed by SIGSEGV)" in result.output
    assert "about to crash" in result.output  # the end of the kernel's stderr follows

    # What Python code wrote to sys.stderr before the kernel died reaches the cell: it follows too.
    # (Output still in the kernel when it dies is lost, as in Jupyter: the crash comes a moment later.)
    told = (
        "import os, sys, time\nprint('cannot go on: bad state', file=sys.stderr)\nsys.stderr.flush()\n"
        "time.sleep(0.5)\nos._exit(3)"
    )
    result = numpy_only(write_book(tmp_path / "told", "# Chapter\n\n" + cell(told)))
    assert result.returncode == 2
    lines = result.output.splitlines()
    (head,) = [n for n, line in enumerate(lines) if "the kernel died while running this cell" in line]
    assert lines[head + 1].strip() == "cannot go on: bad state"


def test_keep_going_marks_a_timeout_in_the_page_with_the_output_before_it(tmp_path):
    chapter = "# Chapter\n\n" + cell("print('before the wait', flush=True)\nimport time\ntime.sleep(30)")
    root = write_book(tmp_path, chapter)
    (root / "chapter.md").write_text(
        (root / "chapter.md").read_text().replace("---\n\n", "d2l:\n  timeout: 2\n---\n\n")
    )
    result = numpy_only(root, "-D", "d2l_keep_going=1")
    assert result.returncode == 0, result.output
    text = result.page("chapter").select_one(".cell_output").get_text()
    assert "before the wait" in text and "timed out after 2 s" in text


def test_a_chapter_without_front_matter_holding_code_cells_is_a_book_error(tmp_path):
    root = write_book(tmp_path, "# Chapter\n")
    (root / "chapter.md").write_text("# Chapter\n\nText.\n\n" + cell("print(1)"))
    for _ in range(2):  # and again on the next build: nothing was silently dropped
        result = numpy_only(root)
        assert result.returncode == 2
        (line,) = error_lines(result.output)
        assert "chapter.md:5: a {code-cell} in a file without MyST-NB front matter" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a read-only folder")
def test_a_read_only_cache_folder_is_one_line_naming_it(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("print(1)"))
    assert numpy_only(root).returncode == 0
    cache = root / "_build" / ".d2l-cache"
    (root / "chapter.md").write_text((root / "chapter.md").read_text().replace("print(1)", "print(2)"))
    subprocess.run(["mount", "--bind", "-o", "ro", str(cache), str(cache)], check=True)
    try:
        result = numpy_only(root)
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert f"cannot write to {cache}" in line and "Read-only file system" in line
    assert "Traceback" not in result.output and "Extension error" not in result.output


def read_only(folder: Path) -> bool:
    """Make ``folder`` read-only, as root too (immutable: root ignores permissions); whether it worked."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_build_folder_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("print(1)"))
    folder = root / "_build"
    folder.mkdir()
    if not read_only(folder):
        pytest.skip("cannot make a folder read-only here (root without chattr)")
    try:
        result = numpy_only(root)
    finally:
        writable(folder)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    reason = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
    assert line == f"ERROR: Book error: cannot write to {folder}: {reason}"
    assert "Traceback" not in result.output and "Extension error" not in result.output


@pytest.mark.parametrize("blocked", ["_build", "_build/.d2l.lock"])
def test_a_build_folder_blocked_by_a_file_or_a_folder_is_one_line_naming_it(tmp_path, blocked):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("print(1)"))
    if blocked == "_build":  # a file where the build folder should be
        (root / "_build").write_text("not a folder")
        expected = f"cannot write to {root / '_build'}: it is a file, not a folder"
    else:  # a folder where the build's lock file should be
        (root / blocked).mkdir(parents=True)
        expected = f"cannot write to {root / blocked}: it is a folder, not a file"
    result = numpy_only(root)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert line == f"ERROR: Book error: {expected}"
    assert "Traceback" not in result.output and "Extension error" not in result.output


def report_of(root: Path) -> dict:
    return json.loads((root / "_build" / "d2l-report.json").read_text())


def test_the_report_says_what_happened_when_the_build_stops_before_executing(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("print(1)"))
    assert numpy_only(root).returncode == 0
    assert report_of(root)["status"] == "finished"
    (root / "chapter.md").write_text(
        (root / "chapter.md").read_text().replace("print(1)", ":tags: [pytroch]\nprint(1)")
    )
    assert numpy_only(root).returncode == 2
    report = report_of(root)
    assert report["status"] == "failed" and report["details"] == []
    assert "unknown framework 'pytroch'" in report["error"]


def test_a_timeout_may_be_a_fraction_of_a_second(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("import time\ntime.sleep(30)"))
    result = numpy_only(root, "-D", "d2l_timeout=1.5")
    assert result.returncode == 2
    assert "cell timed out after 1.5 s (the limit is d2l_timeout in conf.py)" in result.output


def test_figure_alt_text_is_escaped_once(tmp_path):
    plot = "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.title('<script> & co');"
    result = numpy_only(write_book(tmp_path, "# Chapter\n\n" + cell(plot)))
    assert result.returncode == 0, result.output
    (image,) = result.page("chapter").select(".cell_output img")
    assert "<script> & co" in image["alt"]
    assert "&lt;" not in image["alt"] and "&amp;" not in image["alt"]


def test_bytes_written_to_file_descriptor_1_stay_out_of_the_console(tmp_path):
    code = "import os\nos.write(1, b'RAW-FD-BYTES\\n')\nprint('printed')"
    result = numpy_only(write_book(tmp_path, "# Chapter\n\n" + cell(code)))
    assert result.returncode == 0, result.output
    assert "RAW-FD-BYTES" not in result.output
    assert "printed" in result.page("chapter").get_text()


@pytest.mark.parametrize("selection", [",", " "])
def test_an_empty_selection_is_an_error(tmp_path, selection):
    root = write_book(tmp_path, "# Chapter\n\n" + cell("print(1)"))  # code a fallback selection would run
    result = build(root, "-D", f"d2l_selected={selection}", watch_kernels=True)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "the selection of frameworks (FRAMEWORKS / d2l_selected) is empty" in line
    # No kernel started, looked up while the build ran (the look-up test_rebuild shows finding a
    # build's kernels) and when it ended, before the harness stops any.
    assert result.kernels_seen == [] and result.kernels_left == []
