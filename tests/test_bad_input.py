"""Bad input: each stops the build with one clear line naming the file, line and framework."""

from __future__ import annotations

import re

import pytest
from conftest import build, install_kernel, write_book

RAISES = """
# Chapter

```{code-cell} ipython3
x = 1
```

```{code-cell} ipython3
:tags: [torch]
y = 2
z = y / 0
```
"""


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "ERROR" in line]


def test_unknown_framework_tag_names_the_cell_and_the_known_frameworks(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n```{code-cell} ipython3\n:tags: [pytroch]\nprint(1)\n```\n")
    result = build(root)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "chapter.md:10: unknown framework 'pytroch'" in line
    assert "known frameworks: numpy, torch" in line
    assert "executing" not in result.output  # stopped before any cell executed


def test_failing_cell_names_document_line_framework_and_exception(tmp_path):
    result = build(write_book(tmp_path, RAISES))
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "chapter.md:18 [torch] ZeroDivisionError: division by zero" in line
    assert "z = y / 0" in result.output  # the traceback follows
    assert "\x1b[" not in result.output.split("ERROR", 1)[1]  # no terminal colours
    assert "chapter [numpy]" in result.output and "(executed)" in result.output  # the other run completed


def test_invalid_python_in_a_saved_block_is_reported_before_executing(tmp_path):
    lib = "# Lib\n\n```{code-cell} ipython3\ndef broken(:  #@save\n    pass\n```\n"
    root = write_book(tmp_path, "# Chapter\n\n```{code-cell} ipython3\nprint(1)\n```\n", lib=lib)
    result = build(root)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert re.search(r"lib\.md:11: the cell holding a #@save block is not valid Python", line)
    assert "executing" not in result.output


def test_save_marker_that_marks_nothing(tmp_path):
    lib = "# Lib\n\n```{code-cell} ipython3\ndef f():\n    x = 1  #@save\n    return x\n```\n"
    result = build(write_book(tmp_path, "# Chapter\n", lib=lib))
    assert result.returncode == 2
    assert "lib.md:12: #@save at the end of a line must mark a top-level statement" in result.output


def test_unknown_framework_in_prose_directive(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\n:::{framework} jax\nText.\n:::\n")
    result = build(root)
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "chapter.md:10: unknown framework 'jax' in the framework directive" in line


def test_selecting_an_unconfigured_framework(tmp_path):
    result = build(write_book(tmp_path, "# Chapter\n"), "-D", "d2l_selected=numpy,jax")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "unknown framework 'jax' in FRAMEWORKS / d2l_selected" in line
    assert "configured in conf.py d2l_frameworks: numpy, torch" in line


def test_selecting_a_framework_whose_packages_are_missing(tmp_path):
    conf = 'd2l_frameworks["mxnet"] = {"label": "MXNet", "requires": ["mxnet_is_not_installed"]}'
    chapter = "# Chapter\n\n```{code-cell} ipython3\nprint(1)\n```\n"
    result = build(write_book(tmp_path, chapter, conf_extra=conf), "-D", "d2l_selected=mxnet")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "framework 'mxnet' needs mxnet_is_not_installed" in line
    assert "pip install mxnet_is_not_installed" in line


def parallel_book(tmp_path, chapter: str):
    """A book with enough pages for Sphinx to read them in parallel (it does so above five)."""
    root = write_book(tmp_path, chapter)
    others = [f"page{n}" for n in range(6)]
    for name in others:
        (root / f"{name}.md").write_text(f"# Page {name}\n\nProse.\n")
    (root / "index.md").write_text("# Book\n\n```{toctree}\nchapter\n" + "\n".join(others) + "\n```\n")
    return root


@pytest.mark.parametrize(
    ("chapter", "message"),
    [
        (
            "# Chapter\n\n:::{framework} pytroch\nText.\n:::\n",
            "chapter.md:10: unknown framework 'pytroch' in the framework directive; known frameworks: numpy, torch",
        ),
        (
            "# Chapter\n\n```{code-cell} ipython3\n:tags: [pytroch]\nprint(1)\n```\n",
            "chapter.md:10: unknown framework 'pytroch' in the cell's tags; known frameworks: numpy, torch",
        ),
    ],
    ids=["directive", "cell-tag"],
)
def test_book_errors_read_in_parallel_are_reported_as_in_a_serial_build(tmp_path, chapter, message):
    outcomes = []
    for options in ((), ("-j", "2")):
        result = build(parallel_book(tmp_path / ("parallel" if options else "serial"), chapter), *options, process=True)
        assert result.returncode == 2, result.output
        (line,) = error_lines(result.output)
        assert f"ERROR: Book error: {message}" in line
        assert "SphinxParallelError" not in result.output and "Traceback" not in result.output
        outcomes.append((result.returncode, line))
        if options and "directive" in message:  # found while reading: the chunks were read in parallel
            assert re.search(r"reading sources\.\.\. \[.*\] \S+ \.\. \S+", result.output), result.output
    assert outcomes[0] == outcomes[1]


def test_a_failure_names_the_line_of_the_failing_cell_not_of_the_function_it_called(tmp_path):
    chapter = (
        "# Chapter\n\n"
        "```{code-cell} ipython3\n:tags: [numpy]\n\ndef boom():\n    return 1 / 0\n```\n\n"  # fence at line 10
        "```{code-cell} ipython3\n:tags: [numpy]\n\nx = 1\nboom()\n```\n"  # fence at 17, boom() at 21
    )
    result = build(write_book(tmp_path, chapter), "-D", "d2l_selected=numpy")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "chapter.md:21 [numpy] ZeroDivisionError: division by zero" in line  # not 14 (in boom), not 20


def test_a_chapter_not_saved_as_utf8_names_the_file_and_the_line(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\nPlain text.\n\n第二段，中文。\n")  # line 12 is Chinese
    chapter = root / "chapter.md"
    chapter.write_bytes(chapter.read_text(encoding="utf8").encode("gbk"))
    result = build(root, "-D", "d2l_selected=numpy")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert line.endswith(
        "ERROR: Book error: chapter.md:12: is not UTF-8 text (undecodable byte 0xb5 in column 1); save it as UTF-8"
    )
    assert "Traceback" not in result.output and "Extension error" not in result.output


def dying_kernel(folder, monkeypatch) -> str:
    """A Jupyter kernel ``dying`` that says why on its stderr and exits as it starts (installed
    for this test's processes); the ``d2l_frameworks`` entry of a framework that uses it."""
    install_kernel(
        folder, monkeypatch, "dying", "import sys; sys.stderr.write('licence server unreachable\\n'); sys.exit(3)"
    )
    return '{"label": "Dying", "kernel": "dying", "requires": []}'


def test_a_kernel_that_dies_as_it_starts_is_one_line_with_what_it_printed(tmp_path, monkeypatch):
    conf = f"d2l_frameworks = {{'dying': {dying_kernel(tmp_path, monkeypatch)}}}"
    root = write_book(tmp_path / "book", "# Chapter\n\n```{code-cell} ipython3\nprint(1)\n```\n", conf_extra=conf)
    result = build(root, "-D", "d2l_selected=dying")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "chapter.md:1 [dying] could not run the kernel 'dying': RuntimeError: Kernel died" in line
    assert "    licence server unreachable" in result.output  # why, from the kernel's own stderr
