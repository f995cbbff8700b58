"""Reading d2l-book Markdown: every construct of the format, converted to what our pipeline reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import BOOKS, REPO, Build, build_in_process, formula_text, run_with_package, with_tex

from d2lext.sources.d2lbook import Library, Settings, SourceError, apply_aliases, convert, is_d2lbook

SEEDS = Path(__file__).parent / "seeds"
PAGE_11_1 = "chapter_optimization/optimization-intro"
TORCH = Library(
    "torch",
    simple=(("cos", "cos"), ("arange", "arange"), ("concat", "cat"), ("float32", "float32")),
    fluent=(("numpy", "detach().numpy"), ("reduce_sum", "sum"), ("size", "numel")),
    alias=(("nn_Module", "nn.Module"),),
    reverse=((r"d2l\.nn_Module", "nn.Module"),),
)
MXNET = Library("np", simple=(("cos", "cos"), ("arange", "arange")), fluent=(("numpy", "asnumpy"),))
SETTINGS = Settings(
    tabs=("mxnet", "pytorch"), frameworks={"pytorch": "torch"}, libraries={"pytorch": TORCH, "mxnet": MXNET}
)


def cells(converted) -> list[tuple[list[str], str]]:
    """(tags, code) of each code cell of a converted text."""
    found = re.findall(r"```\{code-cell\} ipython3\n:tags: \[([^\]]*)\]\n(.*?)```", converted.text, re.S)
    return [([tag.strip() for tag in tags.split(",")], code.rstrip("\n")) for tags, code in found]


def test_code_cells_belong_to_the_frameworks_their_marker_names():
    text = (
        "# T\n\n"
        "```{.python .input}\nx = 1\n```\n\n"
        "```{.python .input  n=2}\n#@tab pytorch\ny = 2\n```\n\n"
        "```{.python .input #setup}\n#@tab all\nz = d2l.arange(3)\n```\n\n"
        "```{.python .input}\n%%tab mxnet,pytorch\nw = 4\n```\n\n"
        "```python\nnot_run = True\n```\n"
    )
    assert is_d2lbook(text)
    converted = convert(text, SETTINGS)
    assert converted.notebook and converted.text.startswith("---\nfile_format: mystnb\n")
    assert cells(converted) == [
        (["mxnet"], "x = 1"),
        (["torch"], "y = 2"),
        (["mxnet"], "z = np.arange(3)"),
        (["torch"], "z = torch.arange(3)"),
        (["mxnet"], "w = 4"),
        (["torch"], "w = 4"),
    ]
    assert "```python\nnot_run = True\n```" in converted.text  # shown, not run


def test_the_english_editions_forms_the_tab_selector_cell_dropped_and_branches_joined_by_or():
    # d2l-en's chapters open with the cell that loads d2l-book's tab selector (d2l-book drops it
    # from every tab), and select a branch for two tabs with `or`; each `if` is a choice of its own.
    text = (
        "```{.python .input}\n%load_ext d2lbook.tab\ntab.interact_select(['mxnet', 'pytorch'])\n```\n\n"
        "# T\n\n```{.python .input}\n%%tab all\ndef make(n):\n"
        "    if tab.selected('mxnet') or tab.selected('pytorch'):   \n        x = d2l.arange(n)\n"
        "    if tab.selected('pytorch'):\n        x = x + 1\n    return x\n```\n"
    )
    converted = convert(text, SETTINGS)
    assert "load_ext" not in converted.text and "interact_select" not in converted.text
    assert cells(converted) == [
        (["mxnet"], "def make(n):\n    x = np.arange(n)\n    return x"),
        (["torch"], "def make(n):\n    x = torch.arange(n)\n    x = x + 1\n    return x"),
    ]


def test_autodoc_blocks_become_api_entries():
    text = (
        "# API\n\n:begin_tab:`pytorch`\n```eval_rst\n.. currentmodule:: d2l.torch\n```\n:end_tab:\n\n"
        "```eval_rst\n\n.. autoclass:: Module\n   :members:\n\n.. autofunction:: plot\n```\n"
    )
    converted = convert(text, SETTINGS)
    assert "```{d2l-autoclass} Module\n:members:\n```" in converted.text
    assert "```{d2l-autofunction} plot\n```" in converted.text
    assert "eval-rst" not in converted.text and "currentmodule" not in converted.text
    lines = converted.text.splitlines()
    assert converted.source_line(lines.index("```{d2l-autofunction} plot") + 1) == 14  # the author's line


def test_the_selected_branch_is_kept_dedented_and_hide_markers_become_tags():
    text = (
        "```{.python .input}\n#@tab all\n#@hide_output\nimport math\n"
        "if tab.selected('mxnet'):\n    from mxnet import np\n    a = np.ones(2)\n"
        "elif tab.selected('pytorch', 'tensorflow'):\n    import torch\n\n    a = torch.ones(2)\n"
        "else:\n    a = None\nprint(a)\n```\n"
        "```{.python .input}\n#@tab pytorch\n#@hide_code\nsecret = 1\n```\n"
        "```{.python .input}\n#@hide\nhidden = 1\n```\n"
    )
    converted = convert(text, SETTINGS)
    assert cells(converted) == [
        (["mxnet", "remove-output"], "import math\nfrom mxnet import np\na = np.ones(2)\nprint(a)"),
        (["torch", "remove-output"], "import math\nimport torch\n\na = torch.ones(2)\nprint(a)"),
        (["torch", "remove-input"], "secret = 1"),
        (["mxnet", "remove-cell"], "hidden = 1"),
    ]


def test_aliases_rewrite_the_code_as_each_tab_shows_it():
    code = "y = d2l.numpy(d2l.reduce_sum(x + 1, axis=0))\nn = d2l.size(x)\nclass Net(d2l.nn_Module):\n    pass"
    assert apply_aliases(code, TORCH) == (
        "y = (x + 1).sum(axis=0).detach().numpy()\nn = x.numel()\nclass Net(nn.Module):\n    pass"
    )
    assert apply_aliases("x = d2l.cos(np.pi * d2l.arange(3))", MXNET) == "x = np.cos(np.pi * np.arange(3))"
    assert apply_aliases("d2l.plot(x)  # d2l.cos in a comment", TORCH) == "d2l.plot(x)  # d2l.cos in a comment"
    assert apply_aliases("def broken(:\n    d2l.cos(1)", TORCH) == "def broken(:\n    d2l.cos(1)"
    assert TORCH.module_code().splitlines()[:2] == ["cos = torch.cos", "arange = torch.arange"]
    assert "numpy = lambda x, *args, **kwargs: x.detach().numpy(*args, **kwargs)" in TORCH.module_code()


def test_prose_markup_becomes_myst():
    text = (
        "# Optimization\n:label:`chap_optimization`\n\n"
        "As :numref:`sec_intro` shows and :eqref:`eq_loss` says :cite:`Wigner.1958,Goodfellow.2016`; "
        ":citet:`Smith.2020` and :citep:`Lee.2021`, also :ref:`sec_intro`.\n\n"
        "$$L = \\sum_i l_i$$\n:eqlabel:`eq_loss`\n\n"
        "$$\n\\begin{aligned}a &= b\\end{aligned}\n$$\n:eqlabel:`eq_multi`\n\n"
        "![The loss surface](../img/loss.svg)\n:width:`400px`\n:label:`fig_loss`\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n:label:`tab_numbers`\n\n"
        ":Sizes of things\n\n| x | y |\n|---|---|\n| 3 | 4 |\n:label:`tab_sizes`\n\n"
        ":begin_tab:`mxnet, pytorch`\nShared tab prose.\n:end_tab:\n\n"
        ":begin_tab:`pytorch`\n:end_tab:\n\n"
        "Slides: [**kept**] and (**also kept**), [~~dropped~~](~~gone~~)done.\n\n"
        "```toc\n:maxdepth: 2\n:numbered:\n\nchapter_one/index\n```\n\n"
        "```eval_rst\n.. only:: html\n\n   Hello\n```\n\n"
        ":bibliography:`../d2l.bib`\n"
    )
    converted = convert(text, SETTINGS)
    out = converted.text
    assert not converted.notebook and not out.startswith("---")
    assert out.startswith("(chap_optimization)=\n# Optimization\n")
    assert "As {numref}`sec_intro` shows and {eq}`eq_loss` says {cite:p}`Wigner.1958,Goodfellow.2016`;" in out
    assert "{cite:t}`Smith.2020` and {cite:p}`Lee.2021`, also {ref}`sec_intro`." in out
    assert "$$L = \\sum_i l_i$$ (eq_loss)\n" in out
    assert "$$\n\\begin{aligned}a &= b\\end{aligned}\n$$ (eq_multi)\n" in out
    assert "```{figure} ../img/loss.svg\n:name: fig_loss\n:width: 400px\n\nThe loss surface\n```" in out
    assert "(tab_numbers)=\n| a | b |\n|---|---|\n| 1 | 2 |\n" in out
    assert "```{table} Sizes of things\n:name: tab_sizes\n\n| x | y |\n|---|---|\n| 3 | 4 |\n```" in out
    assert ":::{framework} mxnet, torch\nShared tab prose.\n:::" in out
    assert ":::{framework} torch\n:::" in out
    assert "Slides: kept and also kept, done." in out
    assert "```{toctree}\n:maxdepth: 2\n:numbered:\n\nchapter_one/index\n```" in out
    assert "```{eval-rst}\n.. only:: html\n\n   Hello\n```" in out
    assert "```{bibliography}\n```" in out
    assert not re.search(r":(label|numref|eqref|eqlabel|width|cite|citet|citep|begin_tab|end_tab|bibliography):`", out)


def test_converted_lines_map_back_to_the_source():
    text = "# T\n\nProse.\n\n```{.python .input}\n#@tab pytorch\nfirst = 1\nsecond = oops\n```\n"
    converted = convert(text, SETTINGS)
    lines = converted.text.splitlines()
    second = lines.index("second = oops") + 1
    assert converted.source_line(second) == 8
    assert converted.source_line(lines.index("# T") + 1) == 1


def test_myst_notebooks_are_not_d2lbook():
    assert not is_d2lbook("---\nfile_format: mystnb\n---\n\n# T\n\nSee :numref:`x`.\n")
    assert not is_d2lbook("# Plain\n\nText.\n")


# ---------------------------------------------------------------- building d2l-book projects

BOOK_CONF = REPO / "d2lext" / "d2lbook_conf"


def d2lbook_project(root: Path, name: str) -> Path:
    shutil.copytree(BOOKS / name, root, dirs_exist_ok=True)
    if name == "d2lbook-seed":  # the original source of 11.1 and the book's config.ini, unchanged
        shutil.copy(SEEDS / "d2l-zh.config.ini", root / "config.ini")
        shutil.copy(SEEDS / "optimization-intro.d2lbook.md", root / "chapter_optimization" / "optimization-intro.md")
    return root


def build_project(root: Path, *options: str, environments: Path = REPO / ".venvs") -> Build:
    """`make html BOOK=root`, in this process: the generated configuration, no conf.py; the
    frameworks' environments in ``environments`` (by default the repository's, as `make` has them)."""
    saved = {name: os.environ.get(name) for name in ("D2L_BOOK", "D2L_ENVIRONMENTS")}
    os.environ["D2L_BOOK"] = str(root)
    os.environ["D2L_ENVIRONMENTS"] = str(environments)
    try:
        return build_in_process(root, root, BOOK_CONF, options)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def constructs(tmp_path_factory) -> Build:
    result = build_project(d2lbook_project(tmp_path_factory.mktemp("d2lbook"), "d2lbook"), "-D", "d2l_selected=all")
    assert result.returncode == 0, result.output
    return result


def tab_code(page, framework: str) -> list[str]:
    """Every listing in the framework's tabs, in page order."""
    return [
        block.get_text()
        for label in page.select(f"div.d2l-tabs > label[data-sync-id={framework}]")
        for block in label.find_next_sibling("div").select(".cell_input pre")
    ]


def test_code_runs_per_tab_with_the_tabs_aliases_and_branches(constructs):
    page = constructs.page("chapter_basics/tensors")
    torch, numpy = "\n".join(tab_code(page, "torch")), "\n".join(tab_code(page, "numpy"))
    assert "x = torch.arange(6, dtype=torch.float32)" in torch and "return float(x.sum())" in torch
    assert "x = np.arange(6, dtype=np.float32)" in numpy and "import torch" not in numpy
    assert "which = 'other branch'" in torch and "which = 'numpy branch'" in numpy
    for code in (torch, numpy):
        assert "tab.selected" not in code and "#@tab" not in code and "%%tab" not in code and "d2l.arange" not in code
    text = page.get_text(" ", strip=True)
    assert "total 15.0 torch" in text and "total 15.0 numpy" in text
    assert text.count("1,2,3") == 2  # ../data/numbers.csv, read relative to the chapter, as d2l-book does
    assert "only the output shows" in text and "print('only the output shows')" not in torch  # #@hide_code
    outputs = " ".join(output.get_text() for output in page.select(".cell_output"))
    assert "print('only the code shows')" in torch and "only the code shows" not in outputs  # #@hide_output
    shown = [block.get_text() for block in page.select("pre")]
    assert 'print("shown, not run")\n' in shown and text.count("shown, not run") == 1  # shown, not run
    assert not (constructs.html / "README.html").exists()  # excluded in config.ini


def test_prose_markup_renders_as_the_book_means_it(constructs):
    page = constructs.page("chapter_basics/tensors")
    text = page.get_text(" ", strip=True)
    assert "本节用到 1节 的约定" in text  # :numref: to a chapter
    # numbered per section, as d2l-book numbers the published book: section 1.1's first equation is (1.1.1)
    assert "公式 (1.1.1) 给出求和" in text and "由 (1.1.2) 与 张量 可知一切" in text  # :eqref:, :ref:
    assert "如 图1.1.1 所示" in text and "表1.1.1 列出大小" in text  # figure and table numbers
    assert page.select_one("img[src$='square.svg']")["style"] == "width: 40px;"
    assert "Wigner, 1958" in text and "Goodfellow" in text
    assert "幻灯片保留的文字和这一句。" in text and "只在幻灯片里" not in text
    assert "来自 reStructuredText 的注释" in text
    (torch_only,) = page.select("div.d2l-framework-only.d2l-framework-torch")
    assert "PyTorch 读者看这里" in torch_only.get_text() and "d2l-framework-numpy" not in torch_only["class"]
    (empty,) = page.select("div.d2l-framework-only.d2l-framework-numpy")  # an empty :begin_tab: block
    assert empty.get_text(strip=True) == "NumPy"
    references = constructs.page("references").get_text(" ", strip=True)
    assert "On the distribution of the roots of certain symmetric matrices" in references
    for raw in (":numref:", ":eqref:", ":cite", ":label:", "{numref}", ":begin_tab:", "[**", "(**"):
        assert raw not in text, raw


def test_a_reference_to_a_section_not_in_the_book_is_text_and_one_warning(constructs):
    page = constructs.page("chapter_basics/tensors")
    assert "也引用一个书里没有的节 not in this book" in page.get_text(" ", strip=True)
    warnings = [line for line in constructs.output.splitlines() if "sec_not_in_this_book" in line]
    assert len(warnings) == 1
    assert re.search(r"chapter_basics/tensors\.md:4: WARNING: no section, figure, table or equation", warnings[0])
    assert warnings[0].endswith("[d2l.reference]")


def test_the_package_has_the_saved_code_and_the_config_ini_aliases(constructs):
    module = (constructs.package / "d2l" / "torch.py").read_text()
    assert "def total(x):" in module and "return float(x.sum())" in module
    code = (
        "from d2l import torch as d2l\n"
        "print(d2l.total(d2l.ones(3)), d2l.numpy(d2l.arange(2)).tolist(), d2l.concat([d2l.ones(1)] * 2).shape[0])\n"
    )
    done = run_with_package(code, constructs.package)
    assert done.stdout.split() == ["3.0", "[0,", "1]", "2"]
    notebook = nbformat.read(constructs.html / "notebooks" / "torch" / "chapter_basics" / "tensors.ipynb", 4)
    assert "x = torch.arange(6, dtype=torch.float32)" in "\n".join(c.source for c in notebook.cells)


def seed_lines() -> list[str]:
    return [line.strip() for line in (SEEDS / "optimization-intro.zh.txt").read_text(encoding="utf8").splitlines()]


def listings_match_the_seed(page, framework: str) -> int:
    """Each of the framework's listings, line by line, is one of the seed's listings; how many."""
    seed = [re.sub(r"\s+", " ", line) for line in seed_lines()]  # markers and all, as the seed shows them
    count = 0
    listings = (
        tab_code(page, framework)
        if page.select(".d2l-tabs")
        else [b.get_text() for b in page.select(".cell_input pre")]
    )
    for code in listings:
        lines = [re.sub(r"\s+", " ", line.strip()) for line in code.splitlines() if line.strip()]
        starts = [i for i, line in enumerate(seed) if line == lines[0]]
        assert any(seed[i : i + len(lines)] == lines for i in starts), "\n".join(lines)
        count += 1
    return count


def test_the_original_source_of_11_1_gives_the_seeds_pytorch_listings(tmp_path):
    root = d2lbook_project(tmp_path / "book", "d2lbook-seed")
    done = subprocess.run(
        ["make", "-C", str(REPO), "html", f"BOOK={root}"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    page = BeautifulSoup((root / "_build" / "html" / f"{PAGE_11_1}.html").read_text(), "html.parser")
    assert listings_match_the_seed(page, "torch") == 7
    assert len(page.select(".cell_output img[src$='.svg']")) == 5
    assert not page.select(".sd-tab-set")  # one framework: plain listings
    text = page.get_text(" ", strip=True)
    code = "\n".join(block.get_text() for block in page.select(".cell_input pre"))
    assert "return x * torch.cos(np.pi * x)" in code and "d2l.cos" not in code and "d2l.arange" not in code
    for raw in (":numref:", "{numref}", ":cite:", ":label:", ":begin_tab:", ":end_tab:"):
        assert raw not in text, raw
    for label in (
        "sec_model_selection",
        "subsec_empirical-risk-and-risk",
        "sec_linear_regression",
        "subsec_activation_functions",
    ):
        assert len([line for line in done.stderr.splitlines() if f"'{label}'" in line]) == 1, label
    assert "model selection" in text and "activation functions" in text
    assert "Wigner, 1958" in text


def test_the_original_source_of_11_1_gives_every_tab_of_the_seed(tmp_path):
    root = d2lbook_project(tmp_path / "book", "d2lbook-seed")
    result = build_project(root, "-D", "d2l_selected=all")
    assert result.returncode == 0, result.output
    page = result.page(PAGE_11_1)
    for framework in ("mxnet", "torch", "tensorflow", "paddle"):
        assert listings_match_the_seed(page, framework) == 7, framework
        tabs = page.select(f"div.d2l-tabs > label[data-sync-id={framework}]")
        assert sum(len(label.find_next_sibling("div").select("img[src$='.svg']")) for label in tabs) == 5
    # The Chinese edition's [colab] and [sagemaker] repositories link the page's notebook, per tab;
    # its [project] name names the archives.
    hrefs = [a["href"] for a in page.select("p.d2l-launch a.d2l-launch-link")]
    path = f"blob/master/{PAGE_11_1}.ipynb"
    assert f"https://colab.research.google.com/github/d2l-ai/d2l-zh-pytorch-colab/{path}" in hrefs
    assert f"https://studiolab.sagemaker.aws/import/github/d2l-ai/d2l-zh-sagemaker/{path}" in hrefs  # MXNet's
    assert len(hrefs) == 8
    archives = [a["download"] for a in page.select("a.d2l-notebooks-archive")]
    assert archives == [f"d2l-zh-{tab}-notebooks.zip" for tab in ("mxnet", "pytorch", "tensorflow", "paddle")]


def test_the_notebooks_prose_links_references_to_the_site(constructs):
    notebook = nbformat.read(constructs.html / "notebooks" / "torch" / "chapter_basics" / "tensors.ipynb", 4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "本节用到 [1 基础](../../../chapter_basics/index.html#chap-basics) 的约定" in prose  # from notebooks/torch/
    assert "[(1.1.1)](" in prose and "#equation-eq-sum)" in prose
    assert "(Wigner, 1958)" in prose and "Goodfellow et al. (2016)" in prose
    assert "也引用一个书里没有的节 not in this book。" in prose
    assert "如 [图1.1.1](../../../chapter_basics/tensors.html#fig-square) 所示" in prose
    assert "$$s = \\sum_{i=1}^n x_i$$\n" in prose and "(eq_sum)" not in prose
    assert "![一个方块](../img/square.svg)" in prose
    assert "{numref}" not in prose and "{eq}" not in prose and "{cite" not in prose


# ---------------------------------------------------------------- bad input in d2l-book projects

TINY_CONFIG = "[project]\ntitle = Tiny\n\n[build]\ntabs = pytorch, numpy\n"


def tiny_project(root: Path, chapter: bytes | str, config: str = TINY_CONFIG) -> Path:
    """A d2l-book project: its config.ini, an index listing one chapter, and the chapter."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.ini").write_text(config, encoding="utf8")
    (root / "index.md").write_text("# Book\n\n```toc\nchapter\n```\n", encoding="utf8")
    (root / "chapter.md").write_bytes(chapter.encode("utf8") if isinstance(chapter, str) else chapter)
    return root


def the_error(result: Build) -> str:
    """The one error line of a build that stopped on bad input (and nothing else went wrong)."""
    assert result.returncode == 2, result.output
    for crash in ("Traceback", "Extension error", "Configuration error", "Exception occurred"):
        assert crash not in result.output, result.output
    (line,) = [line for line in result.output.splitlines() if "ERROR" in line]
    return line[line.index("ERROR: ") :]  # after a status line Sphinx had not ended


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "[project]\ntitle = Tiny\n\n[build]\ntabs pytorch, numpy\n",
            "config.ini:5: cannot read 'tabs pytorch, numpy': a line of config.ini is a [section], "
            "a 'key = value' or an indented continuation of the value above",
        ),
        (
            "title = Tiny\n\n[build]\ntabs = pytorch, numpy\n",
            "config.ini:1: 'title = Tiny' comes before any [section]; config.ini starts with one, such as [project]",
        ),
        (
            "[project]\ntitle = Tiny\n\n[build]\ntabs = pytorch, numpy\ntabs = numpy\n",
            "config.ini:6: [build] sets 'tabs' a second time; keep one of them",
        ),
        (
            "[build]\ntabs = pytorch, numpy\n\n[build]\nexclusions = README.md\n",
            "config.ini:4: a second [build] section; merge it into the first",
        ),
    ],
    ids=["no-equals", "no-section", "duplicate-key", "duplicate-section"],
)
def test_a_config_ini_that_cannot_be_read_is_one_line_naming_its_line(tmp_path, config, message):
    root = tiny_project(tmp_path / "book", "# Chapter\n\nText.\n", config)
    assert the_error(build_project(root)) == f"ERROR: Book error: {message}"


def test_a_d2lbook_chapter_not_saved_as_utf8_names_the_file_and_the_line(tmp_path):
    chapter = "# Tensors\n:label:`sec_tensors`\n\n第一段。\n\n```{.python .input}\nx = 1\n```\n"
    root = tiny_project(tmp_path / "book", chapter.encode("gbk"))
    assert the_error(build_project(root, "-D", "d2l_selected=numpy")) == (
        "ERROR: Book error: chapter.md:4: is not UTF-8 text (undecodable byte 0xb5 in column 1); save it as UTF-8"
    )


@pytest.mark.parametrize(
    ("chapter", "message"),
    [
        (
            "# Chapter\n\n```{.python .input}\n#@tab pytorchh\nx = 1\n```\n",
            "chapter.md:4: unknown tab 'pytorchh' in #@tab; the book's tabs (config.ini [build] tabs): pytorch, numpy",
        ),
        (
            "# Chapter\n\n```{.python .input}\n%%tab numpy, jax\nx = 1\n```\n",
            "chapter.md:4: unknown tab 'jax' in %%tab; the book's tabs (config.ini [build] tabs): pytorch, numpy",
        ),
        (
            "# Chapter\n\n:begin_tab:`pytorchh`\nText.\n:end_tab:\n",
            "chapter.md:3: unknown tab 'pytorchh' in :begin_tab:; the book's tabs (config.ini [build] tabs): "
            "pytorch, numpy",
        ),
        (
            "# Chapter\n\n```{.python .input}\nx = 1\n```\n\nProse.\n\n```python\nshown = 1\n\nMore prose.\n",
            "chapter.md:9: this code block is never closed (no closing ```)",
        ),
        (
            "# Chapter\n\n```{.python .input}\nx = 1\n\nMore prose.\n",
            "chapter.md:3: this code block is never closed (no closing ```)",
        ),
        (
            "# Chapter\n\n````eval_rst\n.. note::\n\n   ```\n   Text.\n   ```\n",
            "chapter.md:3: this code block is never closed (no closing ````)",
        ),
    ],
    ids=["tab", "percent-tab", "begin-tab", "fence", "cell", "eval-rst"],
)
def test_bad_markup_in_a_d2lbook_chapter_names_its_line(tmp_path, chapter, message):
    root = tiny_project(tmp_path / "book", chapter)
    assert the_error(build_project(root, "-D", "d2l_selected=numpy")) == f"ERROR: Book error: {message}"


def test_closed_fences_of_every_kind_convert_and_an_open_one_does_not():
    text = (
        "# T\n\n"
        "````markdown\n```python\nnested = 1\n```\n````\n\n"
        "```toc\n:maxdepth: 1\n\nchapter\n```\n\n"
        "```eval_rst\n.. note:: Hello\n```\n\n"
        "~~~\ntilde = 1\n~~~\n\n"
        "```{.python .input}\nx = 1\n````\n\n"  # a longer fence closes a shorter one
        "Last words.\n"
    )
    converted = convert(text, SETTINGS)
    assert "````markdown\n```python\nnested = 1\n```\n````" in converted.text
    assert "```{toctree}\n:maxdepth: 1\n\nchapter\n```" in converted.text
    assert "```{eval-rst}\n.. note:: Hello\n```" in converted.text
    assert converted.text.endswith("Last words.\n")
    with pytest.raises(SourceError, match="never closed") as raised:
        convert("# T\n\n````markdown\n```python\nx = 1\n```\n\nProse.\n", SETTINGS)
    assert raised.value.line == 3


def test_a_build_reads_and_converts_each_chapter_once_and_makes_each_module_once(tmp_path):
    """Counted in a real build: planning reads the book once, converts each d2l-book source once,
    and makes each framework's module code once (for the keys and the dependencies) and its
    written text once; the parser and the messages use what planning made."""
    from collections import Counter
    from unittest import mock

    import d2lext.package.write
    import d2lext.plan.keys
    import d2lext.sources.book
    import d2lext.sources.d2lbook

    root = d2lbook_project(tmp_path, "d2lbook")
    reads, conversions, code, written = Counter(), Counter(), Counter(), Counter()

    def counting(counter, function, name):
        def wrapper(*args, **kwargs):
            counter[name(*args, **kwargs)] += 1
            return function(*args, **kwargs)

        return wrapper

    read, convert = d2lext.sources.book.read_text, d2lext.sources.d2lbook.convert
    module, source = d2lext.plan.keys.module_source, d2lext.package.write.module_source
    with (
        mock.patch("d2lext.sources.book.read_text", counting(reads, read, lambda path: Path(path).resolve())),
        mock.patch("d2lext.sources.d2lbook.convert", counting(conversions, convert, lambda text, settings: text)),
        mock.patch("d2lext.plan.keys.module_source", counting(code, module, lambda framework, *a, **k: framework)),
        mock.patch(
            "d2lext.package.write.module_source", counting(written, source, lambda framework, *a, **k: framework)
        ),
    ):
        result = build_project(root, "-D", "d2l_selected=numpy")
    assert result.returncode == 0, result.output
    documents = {path.resolve() for path in root.rglob("*.md") if "_build" not in path.parts}
    documents.discard((root / "README.md").resolve())  # not in the book's table of contents
    assert set(reads) == documents and set(reads.values()) == {1}, reads
    assert conversions and set(conversions.values()) == {1}
    frameworks = {"torch", "numpy"}
    assert code == Counter(dict.fromkeys(frameworks, 1))
    assert written == Counter(dict.fromkeys(frameworks, 1))


# ---------------------------------------------------------------- a real book's constructs, as published
# tests/books/d2lbook-published holds the forms a real d2l-book chapter is written in (each seen in
# the Chinese edition) that once broke its page silently.

PUBLISHED = "chapter_math/algebra"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Build:
    root = d2lbook_project(tmp_path_factory.mktemp("published"), "d2lbook-published")
    result = build_project(root, "-D", "d2l_selected=torch")
    assert result.returncode == 0, result.output
    return result


def article_text(build: Build, name: str) -> str:
    return with_tex(build.page(name).select_one("article")).get_text(" ", strip=True)


def warnings_of(build: Build, path: str) -> list[tuple[int, str]]:
    """(line, message) of each warning naming the source file ``path``."""
    found = re.findall(rf"{re.escape(path)}:(\d+): WARNING: (.*)", build.output)
    return [(int(line), message) for line, message in found]


def test_display_math_after_a_prose_line_is_one_equation_and_the_rest_of_the_page_follows(published):
    page = published.page(PUBLISHED)
    headings = [h.get_text(" ", strip=True).rstrip(" #") for h in page.select("article h1, article h2")]
    assert [h.split(" ", 1)[1] for h in headings] == ["线性代数", "矩阵", "导数", "熵", "小结"]
    equations = page.select("article div.math")
    assert len(equations) == 5  # three blocks, two inside their paragraphs (shown as display math)
    assert "\\mathbf{A}=\\begin{bmatrix}" in formula_text(equations[0]) and "code-cell" not in formula_text(
        equations[0]
    )
    text = article_text(published, PUBLISHED)
    assert "矩阵 torch.Size([2, 2])" in text and "平方 9" in text  # the cells after the matrix ran and show
    assert "采样 4" in text  # and the one after display math that ends inside its line
    assert any("H(X) = - \\sum_i p_i" in formula_text(eq) for eq in equations)
    assert "它有两行两列。" in text
    for raw in ("$$", "```", "{code-cell}", "(chap_math)=", ":eqlabel:"):
        assert raw not in text, raw


def test_a_label_after_a_headings_blank_line_labels_the_heading(published):
    text = article_text(published, PUBLISHED)
    section = re.search(r"(\d+(?:\.\d+)*) 线性代数", text).group(1)
    assert f"见 {section}.1节 与 {section}节" in text
    assert not [message for _, message in warnings_of(published, "algebra.md") if "sec_algebra" in message]
    assert not [message for _, message in warnings_of(published, "algebra.md") if "subsec_matrix" in message]


def test_an_equation_inside_slide_marks_keeps_its_label(published):
    page = published.page(PUBLISHED)
    square = next(eq for eq in page.select("article div.math") if "f(x) = x^2" in formula_text(eq))
    number = square.select_one("span.eqno").get_text(strip=True).rstrip("#").strip()
    assert re.fullmatch(r"\(\d+(\.\d+)*\)", number)
    assert f"由 {number} ，导数是" in article_text(published, PUBLISHED)


def test_slide_marks_across_lines_math_and_code_blocks_leave_no_trace(published):
    page = published.page(PUBLISHED)
    text = article_text(published, PUBLISHED)
    for mark in ("(**", "**)", "[**", "**]"):
        assert mark not in text, mark
    assert "导数是 \\(2x\\) ，在每一点都存在。" in text  # a mark over two lines of a paragraph
    assert any("g(x) = \\sum_{i=1}^n x_i." in formula_text(eq) for eq in page.select("article div.math"))
    assert "pip install d2l" in [pre.get_text().strip() for pre in page.select("article pre")]  # a code block


def test_warnings_name_the_line_that_holds_what_they_name(published):
    source = (published.root / "chapter_math" / "algebra.md").read_text(encoding="utf8").splitlines()
    found = warnings_of(published, "chapter_math/algebra.md")
    expected = {
        "saved again": "def square",
        "sec_nowhere": ":numref:`sec_nowhere`",
        "Nobody.2020": ":cite:`Nobody.2020`",
    }
    for what, construct in expected.items():
        lines = [line for line, message in found if what in message]
        assert lines, (what, published.output)
        for line in lines:
            assert construct in source[line - 1], (what, line, source[line - 1])


def test_a_saved_import_block_that_also_calls_something_counts_as_imports(published):
    assert "is saved for" not in published.output
    module = (published.package / "d2l" / "numpy.py").read_text()
    assert module.index("import warnings") < module.index('warnings.filterwarnings("ignore")')
    run_with_package("from d2l import numpy as d2l; print(d2l.square(3))", published.package)


def test_a_marker_at_the_end_of_an_assignments_first_line_saves_the_whole_assignment(published):
    assert "文件 2" in article_text(published, PUBLISHED)  # the cell ran, the markers did not stop the build
    code = "from d2l import torch as d2l; print(sorted(d2l.DATA_FILES), d2l.DATA_FILES['test'][0])"
    done = run_with_package(code, published.package)
    assert done.stdout.split() == ["['test',", "'train']", "https://example.org/data/test.csv"]
    module = (published.package / "d2l" / "torch.py").read_text()
    assert "print('文件'" not in module  # the statement after the marked one is not saved
    # An item set in a saved dict defines no name: not "saved again"
    assert not [message for _, message in warnings_of(published, "algebra.md") if "DATA_FILES" in message]


def test_files_that_no_notebooks_pattern_matches_are_not_part_of_the_book(published):
    # contrib/drafts/draft.md is two folders deep, where `notebooks = *.md */*.md` does not reach
    # (d2l-zh's contrib/<folder>/ drafts): not read, not run, no warnings, no page. Nor is
    # .github/PULL_REQUEST_TEMPLATE.md (d2l-en has one): glob's patterns match no hidden name.
    assert "draft" not in published.output and "PULL_REQUEST" not in published.output
    assert "isn't included in any toctree" not in published.output
    assert not (published.html / "contrib" / "drafts" / "draft.html").exists()
    report = json.loads((published.root / "_build" / "d2l-report.json").read_text())
    assert {run["document"] for run in report["details"]} == {PUBLISHED}


def test_autodoc_directives_show_the_saved_code(published):
    # The books' API appendix documents the package with Sphinx autodoc in eval_rst blocks.
    assert "Unknown directive" not in published.output
    page = published.page("chapter_math/reference")
    article = page.select_one("article")
    counter = article.select_one("dl.py.class")
    assert counter.select_one("dt")["id"] == "d2l.torch.Counter"
    assert "数数的类。" in counter.get_text()
    methods = {dt["id"]: dt.parent.get_text(" ", strip=True) for dt in counter.select("dl.py.method > dt")}
    assert set(methods) == {"d2l.torch.Counter.add", "d2l.torch.Counter.reset"}  # reset: add_to_class
    assert "归零。" in methods["d2l.torch.Counter.reset"]
    (square,) = article.select("dl.py.function > dt")
    assert square["id"] == "d2l.torch.square"
    link = square.parent.select_one("a[href*='algebra.html']")
    assert link is not None and "导数" in link.get_text()  # the section that saves it
    found = warnings_of(published, "chapter_math/reference.md")
    assert found == [
        (
            19,
            "autofunction:: nowhere: no selected framework saves a function of that name (shown as "
            "nothing) [d2l.package]",
        )
    ]


def test_citations_resolve_when_the_book_has_no_references_page(published):
    text = article_text(published, PUBLISHED)
    assert "记号来自 [ Goodfellow et al. , 2016 ]" in text and "矩阵的谱见 [ Wigner, 1958 ]" in text
    unknown = [message for _, message in warnings_of(published, "algebra.md") if "bibtex key" in message]
    assert unknown == ['could not find bibtex key "Nobody.2020" [bibtex.key_not_found]']
    front = article_text(published, "index")
    assert "参考文献" in front and "On the distribution of the roots of certain symmetric matrices" in front
