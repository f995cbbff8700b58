"""Which cells run in which framework."""

from __future__ import annotations

import pytest

from d2lext.config import BookConfig, Framework
from d2lext.errors import BookError
from d2lext.sources.cells import cell_frameworks, read_chapter

CONFIG = BookConfig(
    frameworks={name: Framework(name, name.title()) for name in ("torch", "numpy", "mxnet")},
    selected=("torch", "numpy"),
    extra_tags=frozenset({"slow"}),
)


def test_untagged_cell_is_shared():
    assert cell_frameworks([], CONFIG, "x.md:1") is None
    assert cell_frameworks(["hide-input", "slow"], CONFIG, "x.md:1") is None


def test_framework_tags_name_the_frameworks():
    assert cell_frameworks(["torch"], CONFIG, "x.md:1") == ("torch",)
    assert cell_frameworks(["numpy", "remove-stderr", "torch"], CONFIG, "x.md:1") == ("numpy", "torch")
    assert cell_frameworks(["mxnet"], CONFIG, "x.md:1") == ("mxnet",)  # configured, even if not selected


def test_unknown_tag_is_an_error_naming_place_and_known_frameworks():
    expected = r"x.md:7: unknown framework 'tensorflow'.*known frameworks: torch, numpy, mxnet"
    with pytest.raises(BookError, match=expected):
        cell_frameworks(["tensorflow"], CONFIG, "x.md:7")


def test_read_chapter_gives_lines_and_frameworks(tmp_path):
    path = tmp_path / "c.md"
    path.write_text(
        "---\nfile_format: mystnb\n---\n\n# T\n\n"
        "```{code-cell} ipython3\nshared = 1\n```\n\n"
        "```{code-cell} ipython3\n:tags: [torch]\nimport torch\n```\n\n"
        "```{code-cell} ipython3\n:tags: [mxnet]\nfrom mxnet import np\n```\n"
    )
    chapter = read_chapter(path, "c", CONFIG)
    assert [(c.line, c.frameworks) for c in chapter.cells] == [(7, None), (11, ("torch",)), (16, ("mxnet",))]
    assert [c.source for c in chapter.cells_for("torch")] == ["shared = 1", "import torch"]
    assert [c.source for c in chapter.cells_for("numpy")] == ["shared = 1"]
    assert chapter.cells[1].body_line == 12  # cell line 1 is file line 13


def test_plain_markdown_is_not_a_chapter(tmp_path):
    path = tmp_path / "p.md"
    path.write_text("# Just prose\n")
    assert read_chapter(path, "p", CONFIG) is None
