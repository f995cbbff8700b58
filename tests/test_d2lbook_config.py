"""Reading a d2l-book ``config.ini`` as real books write it: alias lists with their slips, library
sections without ``lib_name``, ``sphinx_configs``; and the book numbered as the published one."""

from __future__ import annotations

import ast
import re
import runpy
from pathlib import Path

import pytest
import sphinx.builders.latex
from conftest import REPO, formula_text, run_with_package
from sphinx.config import Config
from sphinx.util.tags import Tags
from test_d2lbook import build_project, d2lbook_project, tab_code

from d2lext import lib
from d2lext.sources import d2lbook
from d2lext.sources.d2lbook import apply_aliases, read_config

SEEDS = Path(__file__).parent / "seeds"
BOOK_CONF = REPO / "d2lext" / "d2lbook_conf"


def module_lines_compile(code: str) -> None:
    """Each line of a library's module code is one statement of its own (the saved module wraps
    each in ``try``), and together they compile."""
    for line in code.splitlines():
        (statement,) = ast.parse(line).body
        assert isinstance(statement, ast.Assign), line
    compile(code, "<aliases>", "exec")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.ini"
    path.write_text(text, encoding="utf8")
    return path


# ---------------------------------------------------------------- alias lists (issue 18, item 10)

#: As the English edition writes its lists: "exp(" in PyTorch's, and in MXNet's a line that ends
#: without its comma ("expand_dims" then "rand -> random.rand" on the next line).
REAL_LISTS = """\
[build]
tabs = pytorch, mxnet

[library-mxnet]
lib_file = d2l/mxnet.py
lib_name = np

# Map from d2l.xx to np.xx
simple_alias = ones_like, ones, zeros_like, zeros, arange, meshgrid, sin, sinh, cos, cosh, tanh,
               linspace, exp, log, tensor -> array, normal -> random.normal,
               randn -> random.randn, expand_dims
               rand -> random.rand, matmul -> dot, int32, int64, float32,
               concat -> concatenate, stack, abs, eye

fluent_alias = numpy -> asnumpy, reshape, to -> as_in_context, reduce_sum -> sum,
               argmax, astype, reduce_mean -> mean, swapaxes, repeat

[library-pytorch]
lib_file = d2l/torch.py
lib_name = torch

simple_alias = ones_like, ones, zeros_like, zeros, tensor, arange, meshgrid, sin, sinh, cos, cosh,
               tanh, linspace, exp(, log, normal, rand, randn, matmul, int32, int64, float32,
               concat -> cat, stack, abs, eye, sigmoid, batch_matmul -> bmm

fluent_alias = numpy -> detach().numpy, size -> numel, reshape, to,
               reduce_sum -> sum, argmax, astype -> type, transpose -> t,
               reduce_mean -> mean, expand_dims -> unsqueeze, swapaxes, repeat
alias =
       nn_Module = nn.Module
"""


def test_alias_lists_as_real_books_write_them_read_as_d2lbook_reads_them(tmp_path):
    project = read_config(write_config(tmp_path, REAL_LISTS))
    torch, mxnet = project.libraries["pytorch"], project.libraries["mxnet"]
    for library in (torch, mxnet):
        module_lines_compile(library.module_code())
    assert project.warnings == ()
    assert ("exp", "exp") in torch.simple and "exp = torch.exp" in torch.module_code().splitlines()
    assert apply_aliases("y = d2l.exp(-d2l.log(x))", torch) == "y = torch.exp(-torch.log(x))"
    # two names on consecutive lines, no comma between them: two entries, as in d2l-book
    assert ("expand_dims", "expand_dims") in mxnet.simple and ("rand", "random.rand") in mxnet.simple
    assert apply_aliases("z = d2l.rand(2, 3)", mxnet) == "z = np.random.rand(2, 3)"
    assert len(torch.simple) == 28 and len(mxnet.simple) == 27  # every entry


def test_the_d2l_zh_library_sections_give_valid_module_code_and_map_as_d2lbook_does():
    """The Chinese edition's config.ini, unchanged: every entry of its [library-*] sections."""
    project = read_config(SEEDS / "d2l-zh.config.ini")
    assert list(project.libraries) == ["mxnet", "pytorch", "tensorflow", "paddle"]
    for library in project.libraries.values():
        module_lines_compile(library.module_code())
    module = {tab: library.module_code().splitlines() for tab, library in project.libraries.items()}
    assert "exp = np.exp" in module["mxnet"] and "exp = torch.exp" in module["pytorch"]
    assert "exp = tf.exp" in module["tensorflow"] and "exp = paddle.exp" in module["paddle"]
    assert "log = tf.math.log" in module["tensorflow"] and "normal = np.random.normal" in module["mxnet"]
    assert "size = lambda a: tf.size(a).numpy()" in module["tensorflow"]
    # "fluent_alias = numpy," (a trailing comma): one entry
    assert project.libraries["tensorflow"].fluent == (("numpy", "numpy"),)
    assert len(project.libraries["pytorch"].simple) == 23 and len(project.libraries["pytorch"].fluent) == 9
    torch = project.libraries["pytorch"]
    assert apply_aliases("d2l.numpy(d2l.exp(x))", torch) == "torch.exp(x).detach().numpy()"
    assert apply_aliases("class Net(d2l.nn_Module):\n    pass", torch) == "class Net(nn.Module):\n    pass"
    assert project.warnings == ()  # every entry read


LIBRARY = "[build]\ntabs = pytorch\n\n[library-pytorch]\nlib_name = torch\n"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "simple_alias = ones, zeros,\n               abs eye, exp(\n",
            "config.ini:7: [library-pytorch] simple_alias: cannot read 'abs eye': an entry is a name or "
            "'name -> target', and entries are separated by commas",
        ),
        (
            "simple_alias = ones, concat -> cat -> concatenate\n",
            "config.ini:6: [library-pytorch] simple_alias: cannot read 'concat -> cat -> concatenate': an entry "
            "is a name or 'name -> target', and entries are separated by commas",
        ),
        (
            "fluent_alias = numpy -> detach().numpy, size(\n",
            "config.ini:6: [library-pytorch] fluent_alias: cannot read 'size(': an entry is a name or "
            "'name -> target', and entries are separated by commas",
        ),
        (
            "alias =\n       nn_Module = nn.Module\n       half = lambda a: a /\n",
            "config.ini:8: [library-pytorch] alias: cannot read 'half = lambda a: a /': each line is "
            "'name = expression', in Python",
        ),
        (
            "alias =\n       import os\n",
            "config.ini:7: [library-pytorch] alias: cannot read 'import os': each line is 'name = expression', "
            "in Python",
        ),
        (
            "reverse_alias =\n       d2l.nn_Module -> nn.Module\n       d2l.size\\(( -> size\n",
            "config.ini:8: [library-pytorch] reverse_alias: cannot read 'd2l.size\\(( -> size': the pattern is "
            "not a regular expression (missing ), unterminated subpattern at position 10)",
        ),
        (
            "reverse_alias =\n       d2l.size\\((\\w+)\\) -> \\2.numel()\n",
            "config.ini:7: [library-pytorch] reverse_alias: cannot read 'd2l.size\\((\\w+)\\) -> \\2.numel()': "
            "the replacement does not fit the pattern (invalid group reference 2 at position 1)",
        ),
        (
            "reverse_alias =\n       d2l.nn_Module nn.Module\n",
            "config.ini:7: [library-pytorch] reverse_alias: cannot read 'd2l.nn_Module nn.Module': each line is "
            "'pattern -> replacement'",
        ),
        (
            "args_alias = randn(size, device=None) -> np.random.randn(size=size, ctx=device)\n",
            "config.ini:6: [library-pytorch] args_alias is not applied: this tool reads simple_alias, fluent_alias, "
            "alias and reverse_alias (the calls it names are left as written)",
        ),
    ],
    ids=["missing-comma", "two-arrows", "fluent-call", "alias", "alias-statement", "regex", "group", "arrow", "args"],
)
def test_an_alias_entry_that_cannot_be_read_is_one_warning_at_its_line(tmp_path, monkeypatch, section, message):
    monkeypatch.chdir(tmp_path)  # a build names config.ini relative to where it was started
    project = read_config(write_config(tmp_path, LIBRARY + section))
    assert [str(warning) for warning in project.warnings] == [message]
    module_lines_compile(project.libraries["pytorch"].module_code())


def test_a_library_section_without_lib_name_keeps_alias_and_reverse_alias_as_d2lbook_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_config(
        tmp_path,
        "[build]\ntabs = pytorch, numpy\n\n[library-pytorch]\nlib_file = d2l/torch.py\n"
        "simple_alias = ones, exp(\nfluent_alias = numpy -> detach().numpy\n"
        "alias =\n       nn_Module = nn.Module\nreverse_alias =\n       d2l.nn_Module -> nn.Module\n\n"
        "[library-numpy]\nlib_name = numpy as np\nsimple_alias = ones\n",
    )
    project = read_config(path)
    assert [str(warning) for warning in project.warnings] == [
        "config.ini:4: [library-pytorch] has no lib_name, so its simple_alias and fluent_alias are not applied "
        "(as in d2l-book); lib_name names the module d2l.<name> stands for, such as torch or np",
        "config.ini:14: [library-numpy] lib_name 'numpy as np' is not a module's name (such as torch or np): "
        "its simple_alias and fluent_alias are not applied",
    ]
    torch = project.libraries["pytorch"]
    assert torch.module_code() == "nn_Module = nn.Module"
    assert apply_aliases("d2l.exp(d2l.numpy(x))\nclass A(d2l.nn_Module): pass", torch) == (
        "d2l.exp(d2l.numpy(x))\nclass A(nn.Module): pass"
    )
    assert project.libraries["numpy"].module_code() == ""


# ---------------------------------------------------------------- sphinx_configs (issue 18, item 8)


def test_sphinx_configs_applies_its_plain_settings_and_names_the_rest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_config(
        tmp_path,
        "[build]\ntabs = pytorch\n"
        "sphinx_configs = numfig_format = {'figure': 'Fig. %%s', 'table': 'Tab. %%s'}\n"
        "    numfig_secnum_depth = 1\n"
        "    # a comment line, left out as d2l-book's configparser leaves it out\n"
        "    html_theme = 'alabaster'\n"
        "    import os\n"
        "    math_eqref_format = 'Eq. ' + '{number}'\n"
        "    math_number_all = 'yes'\n"
        "    numfig_format = {'figure': 'Figure'}\n"
        "    latex_elements = {\n"
        "    'pointsize': '10pt',\n"
        "    }\n",
    )
    project = read_config(path)
    assert project.sphinx_configs == {
        "numfig_format": {"figure": "Fig. %s", "table": "Tab. %s"},
        "numfig_secnum_depth": 1,
        "latex_elements": {"pointsize": "10pt"},
    }
    settings = ", ".join(d2lbook.SPHINX_CONFIGS)
    assert [str(warning) for warning in project.warnings] == [
        f"config.ini:6: [build] sphinx_configs: html_theme is not applied: the settings read from config.ini "
        f"are {settings}",
        "config.ini:7: [build] sphinx_configs: 'import os' is not applied: it reads 'name = value' settings",
        "config.ini:8: [build] sphinx_configs: math_eqref_format is not applied: its value is not a plain "
        "Python literal (no code of config.ini is run)",
        "config.ini:9: [build] sphinx_configs: math_number_all is not applied: it is a bool in Sphinx, not a str",
        "config.ini:10: [build] sphinx_configs: numfig_format is not applied: 'figure': 'Figure' is not a "
        "format with one %s",
    ]


def test_sphinx_configs_that_is_not_python_is_one_warning_at_the_line_of_the_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_config(
        tmp_path, "[build]\ntabs = pytorch\nsphinx_configs = numfig = True\n    math_numfig = (True\n\n[html]\n"
    )
    project = read_config(path)
    assert project.sphinx_configs == {}
    (warning,) = project.warnings
    assert str(warning) == (
        "config.ini:4: [build] sphinx_configs is not Python ('(' was never closed): none of it is applied"
    )


def test_every_setting_sphinx_configs_may_set_is_sphinxs_own_with_its_type():
    """Sphinx's core settings, or its LaTeX builder's (registered when that builder is set up)."""

    class Registry:
        def __init__(self):
            self.defaults = {name: option.default for name, option in Config.config_values.items()}

        def add_config_value(self, name, default, *args, **kwargs):
            self.defaults[name] = default

        def __getattr__(self, name):  # the builder's other registrations
            return lambda *args, **kwargs: None

    registry = Registry()
    sphinx.builders.latex.setup(registry)
    for name, kind in d2lbook.SPHINX_CONFIGS.items():
        assert name in registry.defaults, name
        default = registry.defaults[name]
        assert isinstance(default, kind) or default is None, name


def test_the_generated_configuration_applies_d2l_zh_sphinx_configs_after_its_defaults(tmp_path, monkeypatch):
    """conf.py as Sphinx reads it, for a project with the Chinese edition's config.ini."""
    (tmp_path / "config.ini").write_text((SEEDS / "d2l-zh.config.ini").read_text(encoding="utf8"), encoding="utf8")
    monkeypatch.setenv("D2L_BOOK", str(tmp_path))
    config = Config.read(BOOK_CONF, overrides={}, tags=Tags())
    config.add("latex_elements", {}, "", ())
    assert config.numfig_format == {"figure": "图%s", "table": "表%s", "code-block": "列表%s", "section": "%s节"}
    assert (config.numfig, config.numfig_secnum_depth, config.math_numfig, config.math_number_all) == (
        True,
        2,
        True,
        True,
    )
    assert "\\usepackage{ctex}" in config.latex_elements["preamble"] and config.latex_elements["pointsize"] == "10pt"


def test_the_generated_configuration_reads_the_books_name_site_and_notebook_repositories(tmp_path, monkeypatch):
    """[project] name names the downloads; [colab] and [sagemaker] give each tab's repository of
    notebooks; [deploy] s3_bucket, a domain, is the site's address (help() and notebooks link there)."""
    text = (SEEDS / "d2l-zh.config.ini").read_text(encoding="utf8")
    (tmp_path / "config.ini").write_text(text.replace("[deploy]\n", "[deploy]\ns3_bucket = s3://zh-v2.d2l.ai\n"))
    monkeypatch.setenv("D2L_BOOK", str(tmp_path))
    config = runpy.run_path(str(BOOK_CONF / "conf.py"))  # the settings as conf.py makes them
    assert config["d2l_book_name"] == "d2l-zh"
    assert config["html_baseurl"] == "https://zh-v2.d2l.ai/"
    colab, sagemaker = config["d2l_launch"]["Colab"], config["d2l_launch"]["SageMaker Studio Lab"]
    assert colab["repos"] == {
        "mxnet": "d2l-ai/d2l-zh-colab",
        "torch": "d2l-ai/d2l-zh-pytorch-colab",  # the tab pytorch is the framework torch
        "tensorflow": "d2l-ai/d2l-zh-tensorflow-colab",
        "paddle": "d2l-ai/d2l-zh-paddle-colab",
    }
    assert colab["url"].format(repo="d2l-ai/d2l-zh-pytorch-colab", path="chapter_optimization/gd.ipynb") == (
        "https://colab.research.google.com/github/d2l-ai/d2l-zh-pytorch-colab/blob/master/chapter_optimization/gd.ipynb"
    )
    assert sagemaker["repos"]["torch"] == "d2l-ai/d2l-zh-pytorch-sagemaker"
    assert sagemaker["url"].startswith("https://studiolab.sagemaker.aws/import/github/{repo}/")


def test_a_notebook_repository_line_that_cannot_be_read_is_one_warning(tmp_path):
    path = write_config(
        tmp_path,
        "[project]\nname = b\n\n[build]\ntabs = mxnet, pytorch\n\n"
        "[colab]\ngithub_repo = mxnet, d2l-ai/d2l-zh-colab\n    pytorch d2l-ai/no-comma\n",
    )
    project = read_config(path)
    assert project.launch == {"colab": {"mxnet": "d2l-ai/d2l-zh-colab"}}
    assert [(w.line, w.message) for w in project.warnings] == [
        (9, "[colab] github_repo: cannot read 'pytorch d2l-ai/no-comma': a line is '<tab>, <owner>/<repository>'")
    ]
    assert project.site == ""  # no [deploy] s3_bucket: addresses stay relative, help() names the section


# ---------------------------------------------------------------- builds


def test_alias_lists_as_real_books_write_them_build_and_each_slip_is_one_warning(tmp_path):
    root = d2lbook_project(tmp_path / "book", "d2lbook-aliases")
    result = build_project(root, "-D", "d2l_selected=numpy")
    assert result.returncode == 0, result.output
    for crash in ("Traceback", "Extension error", "Exception occurred", "ERROR"):
        assert crash not in result.output, result.output
    config_warnings = [line for line in result.output.splitlines() if "[d2l.config]" in line]
    assert config_warnings == [
        "config.ini:20: WARNING: [library-numpy] simple_alias: cannot read 'abs eye': an entry is a name or "
        "'name -> target', and entries are separated by commas [d2l.config]",
        "config.ini:27: WARNING: [library-numpy] alias: cannot read 'half = lambda a: a /': each line is "
        "'name = expression', in Python [d2l.config]",
        "config.ini:31: WARNING: [library-numpy] reverse_alias: cannot read 'd2l.size\\(( -> size': the pattern "
        "is not a regular expression (missing ), unterminated subpattern at position 10) [d2l.config]",
        "config.ini:33: WARNING: [library-pytorch] has no lib_name, so its simple_alias and fluent_alias are not "
        "applied (as in d2l-book); lib_name names the module d2l.<name> stands for, such as torch or np "
        "[d2l.config]",
    ]
    page = result.page("chapter_aliases/exp")
    code = "\n".join(block.get_text() for block in page.select(".cell_input pre"))
    assert "return np.log(1 + np.exp(x))" in code  # exp( read as exp
    assert "x = np.expand_dims(np.stack([np.zeros(2), np.ones(2)]), 0)" in code  # the line without its comma
    assert "d2l.exp" not in code and "d2l.stack" not in code
    outputs = " ".join(output.get_text() for output in page.select(".cell_output"))
    assert "shape (1, 2, 2) sum 7.43656" in outputs and "transposed (3, 2)" in outputs
    numpy_module = (result.package / "d2l" / "numpy.py").read_text()
    torch_module = (result.package / "d2l" / "torch.py").read_text()
    for module in (numpy_module, torch_module):
        compile(module, "d2l", "exec")
    assert "exp = np.exp" in numpy_module and "abs eye" not in numpy_module and "half" not in numpy_module
    assert "nn_Module = nn.Module" in torch_module and "exp = " not in torch_module  # no lib_name
    done = run_with_package(
        "from d2l import numpy as d2l\n"
        "print(d2l.exp(0.0), round(float(d2l.softplus(0.0)), 4), d2l.transpose(d2l.ones((2, 3))).shape)\n",
        result.package,
    )
    assert done.stdout.split() == ["1.0", "0.6931", "(3,", "2)"]
    assert tab_code(page, "numpy") == []  # one framework shown: plain listings, no tabs


@pytest.mark.slow  # planning asks the kernels' environment for its packages
def test_make_lib_reports_each_slip_of_config_ini_once(tmp_path, monkeypatch, capsys):
    root = d2lbook_project(tmp_path / "book", "d2lbook-aliases")
    monkeypatch.setenv("D2L_BOOK", str(root))
    monkeypatch.setenv("D2L_ENVIRONMENTS", str(REPO / ".venvs"))
    monkeypatch.chdir(root)
    package = lib.write(BOOK_CONF, root, root / "_build")
    stderr = capsys.readouterr().err
    config_warnings = [line for line in stderr.splitlines() if "config.ini:" in line]
    assert len(config_warnings) == 4 and config_warnings[0] == (
        "warning: config.ini:20: [library-numpy] simple_alias: cannot read 'abs eye': an entry is a name or "
        "'name -> target', and entries are separated by commas"
    )
    for module in ("numpy", "torch"):
        compile((package / "d2l" / f"{module}.py").read_text(), module, "exec")


# ---------------------------------------------------------------- numbering (issue 18, item 8)


def equation_numbers(page) -> list[str]:
    return [span.get_text(strip=True).rstrip("#").strip() for span in page.select("div.math span.eqno")]


def test_figures_tables_and_every_equation_are_numbered_per_section_as_the_published_book(tmp_path):
    root = d2lbook_project(tmp_path / "book", "d2lbook-numbers")
    result = build_project(root)
    assert result.returncode == 0, result.output
    assert equation_numbers(result.page("chapter_preliminaries/calculus")) == ["(1.1.1)"]
    convexity = result.page("chapter_optimization/convexity")
    assert equation_numbers(convexity) == ["(2.1.1)"]
    assert "Figure 2.1.1 A convex set." in convexity.select_one("figcaption").get_text(" ", strip=True)
    gd = result.page("chapter_optimization/gd")
    assert equation_numbers(gd) == ["(2.2.1)", "(2.2.2)", "(2.2.3)", "(2.2.4)", "(2.2.5)"]
    prose = [div for div in gd.select("div.math") if not div.find_parent(class_="cell_output")]
    assert len(prose) == 5 and all(div.select("span.eqno") for div in prose)  # every display equation
    (printed,) = gd.select(".cell_output div.math")  # what a cell prints is an output, not numbered
    assert "\\eta = 0.2" in formula_text(printed) and not printed.select("span.eqno")
    text = gd.get_text(" ", strip=True)
    assert "From (2.2.1) follows (2.2.4) ; Table 2.2.1 lists learning rates" in text
    assert "and Figure 2.1.1 shows a convex set." in text
    assert "Table 2.2.1 Learning rates" in gd.select_one("table caption").get_text(" ", strip=True)
    # the settings of sphinx_configs that cannot be applied: one warning each, at its line
    config_warnings = [line for line in result.output.splitlines() if "[d2l.config]" in line]
    assert [re.sub(r": WARNING: .*?sphinx_configs: (\S+) .*", r" \1", line) for line in config_warnings] == [
        "config.ini:18 html_theme",
        "config.ini:19 html_last_updated_fmt",
    ]
    assert gd.select("link[href*='sphinx-book-theme.css']") and not gd.select("link[href*='alabaster']")
