"""The book itself: section 11.1 as the seed has it, built for NumPy and PyTorch, and for PyTorch alone."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conftest import EVERY_FRAMEWORK, EVERY_LABEL, PAGE, REPO, Build, book_build, formula_text, run_with_package

SEED = Path(__file__).parent / "seeds" / "optimization-intro.zh.txt"  # the published page, as text
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def book(real_book) -> Build:
    return real_book


def prose_fragments() -> list[str]:
    """Every piece of Chinese prose in the seed, cut at inline math (rendered separately)."""
    fragments = []
    for line in SEED.read_text(encoding="utf8").splitlines():
        if not CJK.search(line) or line.startswith("11.1. 优化和深度学习"):
            continue
        line = line.replace("¶", "")
        for piece in re.split(r"\\\(.*?\\\)", line):
            piece = re.sub(r"^11\.1\.[\d.]*\s*", "", piece.strip())  # section numbers differ here
            if CJK.search(piece):
                fragments.append(piece.strip())
    return fragments


def normalise(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_piece_of_the_seeds_prose_is_on_the_page(book):
    text = normalise(book.page(PAGE).get_text())
    fragments = prose_fragments()
    assert len(fragments) > 60
    missing = [fragment for fragment in fragments if normalise(fragment) not in text]
    assert missing == []


def test_headings_math_and_citation(book):
    page = book.page(PAGE)
    headings = [
        h.get_text(" ", strip=True).rstrip("#").strip()
        for h in page.select("article section h1, article section h2, article section h3")
    ]
    titles = ["优化和深度学习", "优化的目标", "深度学习中的优化挑战", "局部最小值", "鞍点", "梯度消失", "小结", "练习"]
    assert [re.sub(r"^[\d.]+\s*", "", h).rstrip("¶").strip() for h in headings] == titles
    assert headings[0] == "2.1 优化和深度学习" and headings[3] == "2.1.2.1 局部最小值"  # numbered sections
    math = " ".join(formula_text(m) for m in page.select(".math"))
    for formula in (r"f(x) = x^3", r"f(x, y) = x^2 - y^2", r"\tanh", r"-1.0 \leq x \leq 2.0", r"P(\lambda > 0) = 0.5"):
        assert formula in math
    citation = page.find("a", href=re.compile(r"references.html#"))
    assert citation is not None and citation.get_text() == "Wigner, 1958"


def test_every_listing_is_a_pytorch_numpy_tab_group_with_five_figures_each(book):
    page = book.page(PAGE)
    groups = page.select("div.sd-tab-set.d2l-tabs")
    assert len(groups) == 7
    figures = {"torch": 0, "numpy": 0}
    for group in groups:
        labels = group.find_all("label", recursive=False)
        assert [(label["data-sync-id"], label.get_text(strip=True)) for label in labels] == [
            ("torch", "PyTorch"),
            ("numpy", "NumPy"),
        ]
        for label in labels:
            figures[label["data-sync-id"]] += len(label.find_next_sibling("div").select("img[src$='.svg']"))
    assert figures == {"torch": 5, "numpy": 5}
    assert not page.select(".output.stderr")  # no warnings in the page (remove-stderr on the torch meshgrid)
    assert "mxnet" not in page.get_text() and "tensorflow" not in page.get_text()


def test_written_package_has_plot_and_annotate_for_both_frameworks(book):
    code = (
        "import matplotlib; matplotlib.use('Agg')\n"
        "from d2l import torch, numpy\n"
        "for m in (torch, numpy):\n"
        "    m.plot([0, 1, 2], [[0, 1, 0]], 'x', 'y'); m.annotate('here', (1, 1), (0.5, 0.5))\n"
        "    print(m.__name__, len(m.plt.gca().lines), len(m.plt.gca().texts))\n"
    )
    done = run_with_package(code, book.root / "_build" / "d2l", cwd=book.root)
    assert done.stdout.split("\n")[:2] == ["d2l.torch 1 1", "d2l.numpy 1 1"]  # plot() clears the axes first


def test_api_page_lists_the_plotting_functions_for_both_frameworks(book):
    page = book.page("api")
    expected = ["use_svg_display", "set_figsize", "set_axes", "plot", "annotate"]
    for framework in ("torch", "numpy"):
        listed = [dt["id"] for dt in page.select(f"dt[id^='d2l.{framework}.']")]
        assert listed == [f"d2l.{framework}.{name}" for name in expected]
    # annotate is saved in 11.1 (2.1 here), under its first subsection.
    annotate = page.find("dt", id="d2l.numpy.annotate").find_next_sibling("dd")
    link = annotate.find("a", href=re.compile(r"optimization-intro\.html#"))
    assert link.get_text(strip=True) == "2.1.1 优化的目标"
    assert "numbers its sections" not in book.output


def test_pytorch_alone_gives_plain_listings(tmp_path):
    torch_only = book_build(tmp_path, "-D", "d2l_selected=torch")
    page = torch_only.page(PAGE)
    assert not page.select(".sd-tab-set")
    assert len(page.select(".cell_output img[src$='.svg']")) == 5
    assert "torch.arange" in page.get_text() and "np.arange(0.5" not in page.get_text()


def test_every_framework_gets_its_tab_with_its_five_figures(every_framework_book):
    page = every_framework_book.page(PAGE)
    groups = page.select("div.sd-tab-set.d2l-tabs")
    assert len(groups) == 7
    figures = dict.fromkeys(EVERY_FRAMEWORK, 0)
    for group in groups:
        labels = group.find_all("label", recursive=False)
        assert [label["data-sync-id"] for label in labels] == EVERY_FRAMEWORK
        assert [label.get_text(strip=True) for label in labels] == EVERY_LABEL
        for label in labels:
            tab = label.find_next_sibling("div")
            figures[label["data-sync-id"]] += len(tab.select("img[src$='.svg']"))
    assert figures == dict.fromkeys(EVERY_FRAMEWORK, 5)
    assert not page.select(".output.stderr")


def seed_lines() -> list[str]:
    return [line.strip() for line in SEED.read_text(encoding="utf8").splitlines()]


def listing_lines(tab) -> list[str]:
    """A tab's code as the seed's text has it: one line per code line, stripped."""
    code = "\n".join(block.get_text() for block in tab.select(".cell_input pre"))
    return [re.sub(r"\s+", " ", line.strip()) for line in code.splitlines() if line.strip()]


@pytest.mark.parametrize("framework", ["mxnet", "tensorflow", "paddle"])
def test_the_seeds_other_frameworks_listings_are_shown_as_the_seed_shows_them(every_framework_book, framework):
    seed = [re.sub(r"\s+", " ", line) for line in seed_lines()]  # as the seed's text has them
    page = every_framework_book.page(PAGE)
    checked = 0
    for label in page.select(f"div.d2l-tabs > label[data-sync-id={framework}]"):
        lines = listing_lines(label.find_next_sibling("div"))
        assert lines, label
        starts = [i for i, line in enumerate(seed) if line == lines[0]]
        assert any(seed[i : i + len(lines)] == lines for i in starts), lines
        checked += 1
    assert checked == 7
    if framework == "mxnet":
        text = page.get_text()
        assert "from mxnet import np, npx" in text and "npx.set_np()" in text and ".asnumpy()" in text


def test_the_package_imports_in_every_frameworks_environment(every_framework_book):
    code = (
        "import sys, matplotlib; matplotlib.use('Agg')\n"
        "import importlib; d2l = importlib.import_module('d2l.' + sys.argv[1])\n"
        "for name in ('use_svg_display', 'set_figsize', 'set_axes', 'plot', 'annotate'):\n"
        "    assert callable(getattr(d2l, name)), name\n"
        "d2l.plot([0.0, 1.0, 2.0], [[0.0, 1.0, 0.0]], 'x', 'y'); d2l.annotate('here', (1, 1), (0.5, 0.5))\n"
        "print(sys.argv[1], len(d2l.plt.gca().lines))\n"
    )
    for framework in EVERY_FRAMEWORK:
        own = REPO / ".venvs" / framework / "bin" / "python"
        python = own if own.exists() else Path(sys.executable)
        done = run_with_package(
            code, every_framework_book.package, framework, python=str(python), cwd=every_framework_book.root
        )
        assert done.stdout.split() == [framework, "1"]


def test_notebooks_and_the_api_page_cover_every_framework(every_framework_book):
    page = every_framework_book.page(PAGE)
    assert [a.get_text() for a in page.select("a.d2l-notebook")] == EVERY_LABEL
    api = every_framework_book.page("api")
    for framework in EVERY_FRAMEWORK:
        assert api.find("dt", id=f"d2l.{framework}.annotate") is not None, framework
