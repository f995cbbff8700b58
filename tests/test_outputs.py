"""Outputs as a reader sees them: progress bars, escape sequences and the build machine's paths,
in pages, downloaded notebooks, notebook archives and the report."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import nbformat
from conftest import build, write_book

from d2lext.execute.merge import comparable
from d2lext.execute.outputs import (
    Paths,
    book_paths,
    plain_escapes,
    python_places,
    readable_failure,
    readable_outputs,
    terminal_text,
)
from d2lext.execute.runs import Failure

# ---------------------------------------------------------------------------------------- units


def stream(text: str, name: str = "stdout") -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_carriage_returns_leave_the_final_state_of_each_line():
    assert terminal_text("\r0%\r10%\r100%\n") == "100%\n"
    assert terminal_text("abc\rX") == "Xbc"  # overwritten from the start, as a terminal does
    assert terminal_text("a\r\nb\r\n") == "a\nb\n"
    assert terminal_text("50%\r") == "50%"
    assert terminal_text("ab\bc") == "ac"
    assert terminal_text("a long line\r\x1b[2Kshort") == "short"  # erased, then written
    assert terminal_text("a long line\rshort\x1b[K") == "short"
    assert terminal_text("first\nsecond\r2nd   \n") == "first\n2nd   \n"


def test_colours_survive_overwriting():
    bar = "\x1b[1mepoch\x1b[0m 10%\r\x1b[1mepoch\x1b[0m 100%\n"
    assert terminal_text(bar) == "\x1b[1mepoch\x1b[0m 100%\n"
    assert terminal_text("\x1b[31mred\rX") == "\x1b[31mXed"  # X is written in red
    assert terminal_text("\x1b[31mred\x1b[0m\rb") == "b\x1b[31med\x1b[0m"  # b in the colour after the reset
    assert terminal_text("\x1b[1;31mab\x1b[22mc\rX") == "\x1b[31mX\x1b[0m\x1b[1;31mb\x1b[0m\x1b[31mc"
    redrawn = "".join(f"\r\x1b[32m{i}\x1b[39m" for i in range(1000))  # colours set and unset, never reset
    assert terminal_text(redrawn) == "\x1b[32m999\x1b[0m"


def test_escape_sequences_other_than_colours_are_removed():
    link = "\x1b]8;;http://example.com\x1b\\text\x1b]8;;\x1b\\"
    assert plain_escapes(link) == "text"
    assert plain_escapes("\x1b]0;title\x07x") == "x"  # a window title, ended by BEL
    assert plain_escapes("a\x1b[Ab\x1b[2Kc\x1b[?25ld\x1b(Be\x07") == "abcde"
    assert plain_escapes("\x1b[31mred\x1b[0m") == "\x1b[31mred\x1b[0m"
    assert plain_escapes("\x1b[31mred\x1b[0m", colours=False) == "red"
    assert terminal_text(f"{link} is \x1b[31mred\x1b[0m\x1b[K\n") == "text is \x1b[31mred\x1b[0m\n"


def test_cleaning_twice_changes_nothing():
    for text in [
        "\r0%\r100%\n",
        "\x1b[1ma\x1b[0m 1\r\x1b[1ma\x1b[0m 2",
        "\x1b]8;;u\x1b\\t\x1b]8;;\x1b\\",
        "a\rb\x1b[K",
    ]:
        once = terminal_text(text)
        assert terminal_text(once) == once


def test_paths_are_named_longest_first_and_as_whole_folders(tmp_path):
    venv = tmp_path / "book" / ".venv"
    paths = Paths(
        [
            (tmp_path / "book", "<book>"),
            (tmp_path / "book" / "_build", "<build>"),
            (venv / "lib" / "python3.11" / "site-packages", "<venv>/site-packages"),
            (venv, "<venv>"),
        ]
    )
    assert paths(f"File {venv}/lib/python3.11/site-packages/numpy/x.py:3") == "File <venv>/site-packages/numpy/x.py:3"
    assert paths(f"{venv}/bin/python") == "<venv>/bin/python"
    assert paths(f"{tmp_path}/book/_build/d2l/d2l/numpy.py") == "<build>/d2l/d2l/numpy.py"
    assert paths(f"'{tmp_path}/book/helper.py'") == "'<book>/helper.py'"
    assert paths(f"{tmp_path}/book") == "<book>"
    assert paths(f"{tmp_path}/book2/x.py") == f"{tmp_path}/book2/x.py"  # another folder
    assert paths(f"/elsewhere{tmp_path}/book/x.py") == f"/elsewhere{tmp_path}/book/x.py"
    coloured = f"\x1b[32m{tmp_path}/book/helper.py:3\x1b[39m"  # as IPython colours a traceback's frames
    assert paths(coloured) == "\x1b[32m<book>/helper.py:3\x1b[39m"
    assert paths(paths(coloured)) == paths(coloured)


def test_the_temporary_file_of_a_cell_is_named_as_the_cell():
    warning = "/tmp/ipykernel_8123/3512775468.py:2: FutureWarning: the default will change\n"
    assert Paths([])(warning) == "<cell>:2: FutureWarning: the default will change\n"
    assert Paths([])("/var/tmp/x/ipykernel_12/1.py") == "<cell>"
    assert Paths([])("/tmp/ipykernel_12/helper.py") == "/tmp/ipykernel_12/helper.py"  # not a cell


def test_a_virtual_environment_and_the_python_it_was_made_from(tmp_path):
    base = tmp_path / "python"
    (base / "lib" / "python3.11").mkdir(parents=True)
    venv = tmp_path / "env"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\nversion = 3.11.7\n")
    paths = Paths(python_places(venv))
    assert paths(f"{venv}/lib/python3.11/site-packages/torch/nn.py") == "<venv>/site-packages/torch/nn.py"
    assert paths(f"{venv}/bin/python") == "<venv>/bin/python"
    assert paths(f"{base}/lib/python3.11/json/decoder.py") == "<python>/lib/python3.11/json/decoder.py"
    assert paths(f"{base}/bin/python3") == f"{base}/bin/python3"  # only its standard library is named
    plain = Paths(python_places(base))  # a Python that is no virtual environment
    assert plain(f"{base}/lib/python3.11/site-packages/a.py") == "<python>/site-packages/a.py"


def test_the_build_names_its_own_environment_and_the_kernels(tmp_path):
    paths = book_paths([sys.executable], tmp_path / "book", tmp_path / "book" / "_build")
    numpy_file = Path(sys.prefix) / "lib" / f"python3.{sys.version_info[1]}" / "site-packages" / "numpy" / "x.py"
    assert paths(str(numpy_file)).endswith("site-packages/numpy/x.py")
    assert not paths(str(numpy_file)).startswith("/")


def test_pieces_of_one_stream_are_joined_but_not_across_other_outputs():
    figure = nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>"})
    outputs = [stream("\r0%"), stream("\r50%"), stream("\r100%\n"), stream("warn\n", "stderr"), figure, stream("x\n")]
    cleaned = readable_outputs(outputs, Paths([]))
    assert [(o.output_type, o.get("name"), o.get("text")) for o in cleaned] == [
        ("stream", "stdout", "100%\n"),
        ("stream", "stderr", "warn\n"),
        ("display_data", None, None),
        ("stream", "stdout", "x\n"),
    ]
    assert readable_outputs(cleaned, Paths([])) == cleaned
    assert readable_outputs([stream("\x1b[?25l")], Paths([])) == []  # nothing a reader sees


def test_outputs_that_read_the_same_stay_identical_across_frameworks(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"  # two frameworks' environments
    for venv in (one, two):
        (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
        (venv / "pyvenv.cfg").write_text("version = 3.11.7\n")
    paths = Paths(python_places(one) + python_places(two))
    warning = "{}/lib/python3.11/site-packages/numpy/core.py:7: RuntimeWarning: overflow\n"
    first = [stream("\r10%"), stream("\r100%\n"), stream(warning.format(one), "stderr")]
    second = [stream("\r10%\r100%"), stream("\n"), stream(warning.format(two), "stderr")]
    assert comparable(first) != comparable(second)
    assert comparable(readable_outputs(first, paths)) == comparable(readable_outputs(second, paths))


def test_error_outputs_and_failures_are_cleaned(tmp_path):
    paths = Paths([(tmp_path, "<book>")])
    link = "\x1b]8;;file:///x\x1b\\x.py\x1b]8;;\x1b\\"
    error = nbformat.v4.new_output(
        "error", ename="E", evalue=f"bad {tmp_path}/a", traceback=[f"\x1b[32m{tmp_path}/helper.py\x1b[39m {link}"]
    )
    (cleaned,) = readable_outputs([error], paths)
    assert cleaned.traceback == ["\x1b[32m<book>/helper.py\x1b[39m x.py"]
    assert cleaned.evalue == "bad <book>/a"
    failure = Failure("chapter.md:3", "numpy", f"E: bad {tmp_path}/a", f"File \x1b[32m{tmp_path}/h.py\x1b[39m {link}")
    shown = readable_failure(failure, paths)
    assert (shown.summary, shown.traceback) == ("E: bad <book>/a", "File <book>/h.py x.py")
    assert readable_failure(shown, paths) == shown


# ---------------------------------------------------------------------------------------- builds


def cell(code: str, tags: str = "") -> str:
    return f"```{{code-cell}} ipython3\n{tags}{code}\n```\n"


def numpy_only(root: Path, *options: str):
    return build(root, "-D", "d2l_selected=numpy", *options)


def outputs_of(result, page: str = "chapter") -> list[list[str]]:
    """The text of each output block of each cell, as the page shows them."""
    return [
        [block.get_text().strip("\n") for block in cell.select(".output")]
        for cell in result.page(page).select(".cell_output")
    ]


def notebook_of(root: Path) -> nbformat.NotebookNode:
    """The NumPy notebook readers download from the page (``notebook_links.py``)."""
    return nbformat.read(root / "_build" / "html" / "notebooks" / "numpy" / "chapter.ipynb", as_version=4)


def notebook_outputs(notebook: nbformat.NotebookNode) -> list[list[tuple]]:
    return [
        [(o.output_type, o.get("name"), o.get("text")) for o in c.outputs] for c in notebook.cells if c.get("outputs")
    ]


#: A progress bar, one stream message per update; on stderr, erasing the line first, as tqdm does.
PROGRESS = (
    "import time\nfor i in range(0, 101, 5):\n    print(f'\\r{i}%', end='', flush=True)\n    time.sleep(0.005)\nprint()"
)
ERASING = (
    "import sys, time\n"
    "for i in range(0, 101, 25):\n"
    "    sys.stderr.write(f'\\r\\x1b[2Kloading {i}/100')\n"
    "    sys.stderr.flush()\n"
    "    time.sleep(0.005)\n"
    "sys.stderr.write('\\n');"
)


def test_a_progress_bar_shows_its_last_state_in_the_page_and_the_notebook(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n" + cell(PROGRESS) + "\n" + cell(ERASING))
    result = numpy_only(root)
    assert result.returncode == 0, result.output
    assert outputs_of(result) == [["100%"], ["loading 100/100"]]
    assert notebook_outputs(notebook_of(root)) == [
        [("stream", "stdout", "100%\n")],
        [("stream", "stderr", "loading 100/100\n")],
    ]


HYPERLINK = r"\x1b]8;;http://example.com\x1b\\the docs\x1b]8;;\x1b\\"


def test_escape_sequences_other_than_colours_are_removed_from_streams_and_tracebacks(tmp_path):
    printed = cell(f'print("see {HYPERLINK}, in \\x1b[31mred\\x1b[0m\\x1b[K\\x1b[A")')
    raised = cell(f'raise ValueError("see {HYPERLINK}")', ":tags: [raises-exception]\n")
    root = write_book(tmp_path, "# Chapter\n\n" + printed + "\n" + raised)
    result = numpy_only(root)
    assert result.returncode == 0, result.output
    shown, error = outputs_of(result)
    assert shown == ["see the docs, in red"]
    assert error[0].endswith("ValueError: see the docs")
    assert result.page("chapter").select_one(".cell_output .-Color-Red").get_text() == "red"  # colours stay
    assert "highlighting_failure" not in result.output  # nothing the page's lexer stumbles on
    printed_out, error_out = (c.outputs for c in notebook_of(root).cells if c.get("outputs"))
    assert printed_out[0].text == "see the docs, in \x1b[31mred\x1b[0m\n"
    assert "\x1b]" not in "".join(error_out[0].traceback)  # the cell's source shows "\\x1b]8;;" as written
    assert plain_escapes(error_out[0].traceback[-1], colours=False) == "ValueError: see the docs"


#: A module of the book: a warning and an error from library code, raised through it.
HELPER = """import warnings

import numpy as np


def warn():
    warnings.warn('careful')


def invert():
    return np.linalg.inv(np.zeros((2, 2)))
"""


def machine_paths(root: Path) -> list[str]:
    """This machine's folders that outputs could name: the book's and the build's Python."""
    return [str(root), str(root.resolve()), sys.prefix, str(Path(sys.prefix).resolve()), sys.base_prefix]


def test_machine_paths_are_named_after_the_environment_or_the_book(tmp_path):
    chapter = "# Chapter\n\n" + "\n".join(
        [
            cell("import helper\nhelper.warn()"),
            cell("import os\nprint(os.environ['MATPLOTLIBRC'])"),
            cell("import numpy as np\nnp.linalg.inv(np.zeros((2, 2)))", ":tags: [raises-exception]\n"),
        ]
    )
    root = write_book(tmp_path / "book", chapter)
    (root / "helper.py").write_text(HELPER)
    result = numpy_only(root)
    assert result.returncode == 0, result.output

    warned, printed, raised = outputs_of(result)
    assert warned == ["<book>/helper.py:7: UserWarning: careful\n  warnings.warn('careful')"]
    assert printed == ["<build>/.d2l-cache/matplotlibrc"]
    assert "File <venv>/site-packages/numpy/linalg/" in raised[0]
    shown = "\n".join(text for blocks in outputs_of(result) for text in blocks)

    notebook = nbformat.writes(notebook_of(root))
    assert "<book>/helper.py:7: UserWarning" in notebook and "<venv>/site-packages/numpy/linalg/" in notebook
    with zipfile.ZipFile(root / "_build" / "html" / "notebooks" / "fixture-book-numpy-notebooks.zip") as archive:
        packed = archive.read("fixture-book-numpy-notebooks/chapter.ipynb").decode()
    assert packed == notebook
    for place in machine_paths(root):
        assert place not in shown and place not in notebook


def test_the_report_names_paths_in_a_failure_after_the_environment_or_the_book(tmp_path):
    root = write_book(tmp_path / "book", "# Chapter\n\n" + cell("import helper\nhelper.invert()"))
    (root / "helper.py").write_text(HELPER)
    result = numpy_only(root, "-D", "d2l_keep_going=1")
    assert result.returncode == 0, result.output
    (run,) = json.loads((root / "_build" / "d2l-report.json").read_text())["details"]
    assert run["status"] == "failed"
    error = run["error"]
    assert error.startswith("chapter.md:12 [numpy] LinAlgError: Singular matrix")
    assert "File <book>/helper.py:11, in invert()" in error
    assert "File <venv>/site-packages/numpy/linalg/" in error
    assert "\x1b" not in error
    for place in machine_paths(root):
        assert place not in error
        assert place not in "\n".join(text for blocks in outputs_of(result) for text in blocks)


def test_a_cache_entry_stored_before_is_shown_cleaned_without_running_again(tmp_path):
    root = write_book(tmp_path / "book", "# Chapter\n\n" + cell("print('done')"))
    assert numpy_only(root).returncode == 0
    (entry,) = (root / "_build" / ".d2l-cache" / "chapter" / "numpy").glob("*.json")
    stored = json.loads(entry.read_text())
    # As builds before this cleaning stored a progress bar and a warning: one output per update.
    raw = [stream(f"\r{i}%") for i in range(0, 101, 50)] + [
        stream(f"{root}/helper.py:7: UserWarning: careful\n", "stderr")
    ]
    stored["cells"][0][1] = raw
    entry.write_text(json.dumps(stored))
    (root / "chapter.md").touch()  # read the page again

    result = numpy_only(root)
    assert result.returncode == 0, result.output
    assert json.loads((root / "_build" / "d2l-report.json").read_text())["details"][0]["status"] == "cached"
    assert outputs_of(result) == [["100%", "<book>/helper.py:7: UserWarning: careful"]]
    assert notebook_outputs(notebook_of(root)) == [
        [("stream", "stdout", "100%"), ("stream", "stderr", "<book>/helper.py:7: UserWarning: careful\n")]
    ]
