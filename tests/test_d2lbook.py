"""Reading d2l-book Markdown: every construct of the format, converted to what our pipeline reads."""

from __future__ import annotations

import re

from d2lext.d2lbook import Library, Settings, apply_aliases, convert, is_d2lbook

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
