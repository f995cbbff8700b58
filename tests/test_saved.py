"""Which blocks `#@save` takes, and the module written from them."""

from __future__ import annotations

import inspect

import pytest

from d2lext.config import BookConfig, Framework
from d2lext.errors import BookError
from d2lext.package.check import package_report
from d2lext.package.write import module_source, with_provenance
from d2lext.sources.saved import Place, SavedBlock, marker_lines, saved_ranges, strip_markers


def where(line: int) -> str:
    return f"book.md:{100 + line}"


def test_marker_at_end_of_def_saves_the_definition_with_decorators():
    source = "x = 1\n\n@decorate\ndef f(a):  #@save\n    return a\n\ny = 2\n"
    assert saved_ranges(source, where) == [(3, 5, False)]


def test_marker_alone_saves_following_statements_up_to_a_blank_line():
    source = "%matplotlib inline\n#@save\nimport numpy as np\nimport torch\n\nfrom d2l import torch as d2l\n"
    assert saved_ranges(source, where) == [(3, 4, True)]


def test_marker_alone_keeps_blank_lines_inside_a_definition():
    source = "#@save\nclass A:\n    x = 1\n\n    def f(self):\n        pass\n\nprint(A)\n"
    assert saved_ranges(source, where) == [(2, 6, False)]


def test_marker_inside_a_string_or_another_comment_is_not_a_marker():
    source = "text = '#@save'\n# note: see #@save\ndef f():\n    return text\n"
    assert marker_lines(source) == []
    assert saved_ranges(source, where) == []


def test_marker_at_end_of_another_statement_saves_that_statement_over_all_its_lines():
    # As d2l-book reads it (the Chinese edition's Kaggle chapter): the marked line and the lines
    # that continue its statement, not the statement after it.
    source = "DATA_HUB['train'] = (  #@save\n    URL + 'train.csv',\n    'sha')\n\nDATA_HUB['test'] = (  #@save\n"
    source += "    URL + 'test.csv',\n    'sha')\nprint(DATA_HUB)\n"
    assert saved_ranges(source, where) == [(1, 3, False), (5, 7, False)]
    assert saved_ranges("x = 1  #@save\ny = 2\n", where) == [(1, 1, False)]


def test_marker_on_a_nested_definition():
    with pytest.raises(BookError, match=r"book.md:102: #@save at the end of a line must mark a top-level statement"):
        saved_ranges("class A:\n    def f(self):  #@save\n        pass\n", where)


def test_marker_with_nothing_after_it():
    with pytest.raises(BookError, match=r"book.md:102: #@save on its own line but no code follows"):
        saved_ranges("x = 1\n#@save\n", where)


def test_invalid_python_names_the_line():
    with pytest.raises(BookError, match=r"book.md:102: the cell holding a #@save block is not valid Python"):
        saved_ranges("#@save\ndef f(:\n    pass\n", where)


def test_strip_markers_for_display():
    source = "%matplotlib inline\n#@save\nimport numpy as np\ndef f():  #@save\n    return '#@save'\n"
    assert strip_markers(source) == "%matplotlib inline\nimport numpy as np\ndef f():\n    return '#@save'"


def block(code, frameworks=None, imports_only=False, origin="a.md:1"):
    return SavedBlock(code, frameworks, "a", origin, origin, int(origin.split(":")[1]), imports_only)


def test_module_has_header_imports_self_reference_and_blocks_in_order():
    blocks = [
        block("import numpy as np", imports_only=True),
        block("import torch", frameworks=("torch",), imports_only=True),
        block("def plot():\n    return d2l.plt", origin="a.md:5"),
        block("def ones(n):\n    return torch.ones(n)", frameworks=("torch",), origin="b.md:9"),
        block("import numpy as np", imports_only=True),
    ]
    places = {b: Place("1.2", "Section", f"{b.origin[0]}.html#section") for b in blocks}
    torch_module = module_source("torch", "PyTorch", blocks, "Book", places)
    numpy_module = module_source("numpy", "NumPy", blocks, "Book", places)
    assert torch_module.count("import numpy as np") == 1
    assert "import torch" in torch_module and "import torch" not in numpy_module
    assert torch_module.index("import torch") < torch_module.index("d2l = sys.modules[__name__]")
    assert torch_module.index("def plot") < torch_module.index("def ones")
    assert "# Defined in b.md:9 (1.2 Section)\ndef ones(n):" in torch_module
    assert "def ones" not in numpy_module
    namespace: dict = {}
    exec(compile(numpy_module, "numpy.py", "exec"), namespace)
    assert callable(namespace["plot"])
    assert namespace["plot"].__doc__ == "Defined in section 1.2 Section of the book"


def test_a_place_gives_an_address_only_when_the_sites_is_known():
    assert (
        str(Place("1.1.1", "图的格式与大小", "chapter/plotting.html#x")) == "section 1.1.1 图的格式与大小 of the book"
    )
    assert str(Place("1.1.1", "图", "https://zh.d2l.ai/p.html#x")) == "1.1.1 图 (https://zh.d2l.ai/p.html#x)"


def test_without_places_the_module_is_code_only():
    blocks = [block("def plot():\n    return 1", origin="a.md:5")]
    assert "Defined in" not in module_source("numpy", "NumPy", blocks, "Book")


PLACE = Place("2.1.1", "优化的目标", "https://zh.d2l.ai/chapter/intro.html#优化的目标")


def defined(code: str) -> dict:
    namespace: dict = {}
    exec(compile(with_provenance(code, PLACE), "m.py", "exec"), namespace)
    return namespace


def test_provenance_joins_an_existing_docstring():
    f = defined('def f(x):\n    """Add one.\n\n    Works on "quoted" \\\\ text.\n    """\n    return x + 1\n')["f"]
    note = "Defined in 2.1.1 优化的目标 (https://zh.d2l.ai/chapter/intro.html#优化的目标)"
    assert inspect.getdoc(f) == f'Add one.\n\nWorks on "quoted" \\ text.\n\n{note}'
    assert f(1) == 2


def test_provenance_is_added_to_definitions_without_docstring():
    code = (
        "class A(object):\n    # a comment first\n    @staticmethod\n    def g():\n        return 3\n\n"
        "def h():\n    return A.g()\n"
    )
    namespace = defined(code)
    assert namespace["A"].__doc__.startswith("Defined in 2.1.1 优化的目标")
    assert namespace["h"].__doc__.startswith("Defined in 2.1.1")
    assert namespace["h"]() == 3


def test_provenance_leaves_one_line_definitions_and_other_statements():
    namespace = defined("def f(): return 1\nx = 2\n")
    assert namespace["f"].__doc__ is None and namespace["x"] == 2


def test_place_without_number_or_heading():
    assert str(Place("", "Intro", "a.html#intro")) == "section Intro of the book"
    assert str(Place("", "", "a.html")) == "the book's page a.html"
    assert str(Place("", "Intro", "https://b.org/a.html#intro")) == "Intro (https://b.org/a.html#intro)"
    assert str(Place("", "", "https://b.org/a.html")) == "https://b.org/a.html"


REPORT_CONFIG = BookConfig(frameworks={n: Framework(n, n) for n in ("torch", "numpy")}, selected=("torch", "numpy"))


def report_for(*blocks):
    return [str(problem) for problem in package_report(REPORT_CONFIG, list(blocks))]


def test_report_is_empty_for_a_consistent_package():
    blocks = [
        block("import numpy as np\nfrom matplotlib import pyplot as plt", imports_only=True),
        block("def plot(x):\n    return d2l.plt.plot(np.asarray(x))", origin="a.md:5"),
    ]
    assert report_for(*blocks) == []


def test_methods_added_to_a_class_are_not_names_saved_again():
    # d2l-en defines a class over several cells: `@d2l.add_to_class(Model)  #@save` on each method.
    helper = block("def add_to_class(Class):\n    return lambda method: setattr(Class, method.__name__, method)")
    classes = block("class Model:\n    pass\n\n\nclass Other:\n    pass", origin="a.md:2")
    first = block("@d2l.add_to_class(Model)\ndef forward(self, X):\n    return X", origin="a.md:3")
    second = block("@add_to_class(Other)\ndef forward(self, X):\n    return -X", origin="b.md:9")
    assert report_for(helper, classes, first, second) == []


def test_report_names_a_redefinition_with_both_places():
    first = block("def f():\n    return 1", frameworks=("torch",), origin="a.md:3")
    second = block("def f():\n    return 2", frameworks=("torch",), origin="b.md:9")
    numpy_f = block("def f():\n    return 0", frameworks=("numpy",), origin="a.md:7")
    (problem,) = report_for(first, second, numpy_f)
    assert problem == "b.md:9: `f` [torch] is saved again (first at a.md:3); the later one is kept"


def test_report_names_what_saved_code_uses_but_nothing_provides():
    problems = report_for(block("def show(x):\n    return np.cos(x), d2l.plt", origin="a.md:4"))
    assert len(problems) == 2  # one line each, naming both frameworks of the shared block
    assert "a.md:4: `show` [torch, numpy] uses `np`, which no saved import or definition provides" in problems[0]
    assert "a.md:4: `show` [torch, numpy] uses `d2l.plt`" in problems[1]


def test_a_name_used_several_times_names_each_framework_once():
    code = "def show(x):\n    d2l.plt.figure()\n    d2l.plt.plot(x)\n    return d2l.plt.gca()"
    (problem,) = report_for(block(code, origin="a.md:4"))
    assert problem.startswith("a.md:4: `show` [torch, numpy] uses `d2l.plt`, which"), problem


def test_a_block_of_imports_that_also_calls_something_is_imports():
    imports = "import warnings\nwarnings.filterwarnings('ignore')\nimport numpy as np"
    (saved,) = saved_ranges(f"#@save\n{imports}\n\nx = 1\n", lambda line: f"a.md:{line}")
    assert saved == (2, 4, True)
    (saved,) = saved_ranges("#@save\nimport numpy as np\nx = np.ones(2)\n", lambda line: f"a.md:{line}")
    assert saved == (2, 3, False)  # an assignment: saved code, not imports


def test_report_names_public_names_missing_for_a_framework():
    only_torch = block("def ones(n):\n    return [1] * n", frameworks=("torch",), origin="a.md:8")
    private = block("def _helper():\n    return 1", frameworks=("torch",), origin="a.md:12")
    assert report_for(only_torch, private) == ["a.md:8: `ones` is saved for torch but not for numpy"]
