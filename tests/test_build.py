"""End to end: build the fixture book with NumPy and PyTorch and check what readers get."""

from __future__ import annotations

import re
import subprocess
import sys

from bs4 import BeautifulSoup


def tab_sets(page: BeautifulSoup, kind: str) -> list:
    return page.select(f"div.sd-tab-set.d2l-{kind}")


def tabs_of(tab_set) -> dict[str, object]:
    """Framework sync id -> that tab's content element."""
    tabs = {}
    for label in tab_set.find_all("label", recursive=False):
        assert label["data-sync-group"] == "framework"
        tabs[label["data-sync-id"]] = (label.get_text(strip=True), label.find_next_sibling("div"))
    return tabs


def test_framework_cells_become_synced_tab_groups(basic_build):
    page = basic_build.page("chapter")
    groups = tab_sets(page, "tabs")
    assert len(groups) == 2  # the imports and the plots
    for group in groups:
        tabs = tabs_of(group)
        assert list(tabs) == ["numpy", "torch"]  # configured order
        assert [label for label, _ in tabs.values()] == ["NumPy", "PyTorch"]


def test_each_tab_holds_its_frameworks_code_output_and_figure(basic_build):
    plots = tabs_of(tab_sets(basic_build.page("chapter"), "tabs")[1])
    numpy_tab, torch_tab = plots["numpy"][1], plots["torch"][1]
    assert "np.arange" in numpy_tab.get_text() and "torch" not in numpy_tab.select_one(".cell_input").get_text()
    assert "torch.arange" in torch_tab.get_text()
    assert "sum from numpy 3.0" in numpy_tab.get_text()
    assert "sum from torch 4.0" in torch_tab.get_text()
    numpy_figures = [img["src"] for img in numpy_tab.find_all("img")]
    torch_figures = [img["src"] for img in torch_tab.find_all("img")]
    assert len(numpy_figures) == 1 and len(torch_figures) == 1
    assert numpy_figures != torch_figures
    for src in numpy_figures + torch_figures:
        figure = (basic_build.html / src).resolve()
        assert figure.suffix == ".svg" and figure.read_text().lstrip().startswith("<?xml")


def test_shared_cell_shows_code_once_and_identical_output_once(basic_build):
    text = basic_build.page("chapter").get_text()
    assert text.count("print('shared', 6 * 7)") == 1
    assert text.count("shared 42") == 1


def test_shared_cell_with_different_outputs_gets_output_tabs(basic_build):
    page = basic_build.page("chapter")
    assert page.get_text().count("print('saved into', d2l.framework_name())") == 1
    (outputs,) = tab_sets(page, "outputs")
    tabs = tabs_of(outputs)
    assert "saved into numpy" in tabs["numpy"][1].get_text()
    assert "saved into torch" in tabs["torch"][1].get_text()


def test_framework_prose_is_marked_for_its_framework_only(basic_build):
    page = basic_build.page("chapter")
    (block,) = page.select("div.d2l-framework-only")
    assert "d2l-framework-torch" in block["class"] and "d2l-framework-numpy" not in block["class"]
    assert "Only PyTorch readers see this sentence." in block.get_text()
    assert page.find("script", src=lambda src: src and "d2l.js" in src)


def test_save_marker_is_shown_as_the_published_book_shows_it(basic_build):
    listings = [block.get_text() for block in basic_build.page("lib").select(".cell_input pre")]
    assert any(re.search(r"^def framework_name\(\):\s+#@save$", code, re.M) for code in listings)
    assert 'name="d2l-api" content="api.html"' in (basic_build.html / "lib.html").read_text()


def test_html_in_plain_text_output_stays_text(basic_build):
    page = basic_build.page("chapter")
    assert not page.find("script", string=lambda s: s and "alert" in s)
    assert not page.find("b", string="bold")
    assert '<script>alert("x")</script><b>bold</b>' in page.get_text()


def test_raises_exception_cell_shows_its_traceback(basic_build):
    text = basic_build.page("chapter").get_text()
    assert "ZeroDivisionError" in text and "division by zero" in text


def test_progress_names_each_run(basic_build):
    for run in ("lib [numpy]", "lib [torch]", "chapter [numpy]", "chapter [torch]"):
        assert f"{run} " in basic_build.output


def test_written_package_imports_in_a_fresh_interpreter(basic_build):
    code = (
        "from d2l import torch as d2l\n"
        "print(type(d2l.ones(2)).__module__, d2l.framework_name(), d2l.d2l is d2l, d2l.plt.__name__)\n"
        "from d2l import numpy as d2l\n"
        "print(type(d2l.ones(2)).__module__, d2l.framework_name())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=basic_build.package.parent,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(basic_build.package), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["torch torch True matplotlib.pyplot", "numpy numpy"]


def test_written_package_is_pip_installable(basic_build, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(basic_build.package),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    done = subprocess.run(
        [sys.executable, "-c", "import d2l; from d2l import numpy as m; print(d2l.__version__, m.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target)},
    )
    assert done.returncode == 0, done.stderr
    version, module = done.stdout.split()
    assert version == "1.2.3" and module.startswith(str(target))


def test_package_records_where_each_block_was_defined(basic_build):
    torch_module = (basic_build.package / "d2l" / "torch.py").read_text()
    assert "import torch\n" in torch_module and "import numpy" not in torch_module
    assert "d2l = sys.modules[__name__]" in torch_module
    assert "# Defined in lib.md:31 (1.1 Helpers)\ndef framework_name():" in torch_module
    assert torch_module.index("def framework_name") < torch_module.index("def ones")
    assert not re.search(r"#@save\s*$", torch_module, re.MULTILINE)  # no marker left on code


def test_one_framework_gives_plain_listings(torch_only_build):
    page = torch_only_build.page("chapter")
    assert not page.select(".sd-tab-set")
    text = page.get_text()
    assert "torch.arange" in text and "np.arange" not in text
    assert "Only PyTorch readers see this sentence." in text
    assert not page.select("div.d2l-framework-only")
    assert "saved into torch" in text and "saved into numpy" not in text
    assert len(page.select(".cell_output img")) == 1
