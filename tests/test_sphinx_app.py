"""In-process Sphinx builds (sphinx.testing): the doctrees our transform and directive produce,
two books built in one process, and how warnings are located and typed."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from conftest import copy_book, write_book
from docutils import nodes
from sphinx.testing.util import SphinxTestApp


def make_app(root, **overrides) -> SphinxTestApp:
    return SphinxTestApp("html", srcdir=root, builddir=root / "_build", confoverrides=overrides, warning=StringIO())


@pytest.fixture
def apps():
    """Makes apps for book folders; cleans them all up after the test."""
    made: list[SphinxTestApp] = []

    def make(root, **overrides) -> SphinxTestApp:
        made.append(make_app(root, **overrides))
        return made[-1]

    yield make
    for app in made:
        app.cleanup()


def warnings_of(app: SphinxTestApp) -> list[str]:
    """The warning lines an author reads (without terminal colours)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", app.warning.getvalue()).splitlines()


def components(doctree, name: str) -> list[nodes.container]:
    return [node for node in doctree.findall(nodes.container) if node.get("design_component") == name]


def tab_ids(tab_set: nodes.container) -> list[str]:
    """The framework sync ids of a tab set's items, in order."""
    return [label["sync_id"] for item in tab_set.children for label in item.findall(nodes.rubric)][: len(tab_set)]


def test_two_books_in_one_process_keep_their_own_frameworks(tmp_path, apps):
    """Both apps exist before either builds: nothing of one build leaks into the other."""
    both = apps(copy_book("basic", tmp_path / "both"))
    torch_only = apps(copy_book("basic", tmp_path / "torch"), d2l_selected="torch")
    torch_only.build()
    both.build()

    tabbed = both.env.get_doctree("chapter")
    tab_sets = [node for node in components(tabbed, "tab-set") if "d2l-tabs" in node["classes"]]
    assert [tab_ids(tab_set) for tab_set in tab_sets] == [["numpy", "torch"], ["numpy", "torch"]]
    (outputs,) = [node for node in components(tabbed, "tab-set") if "d2l-outputs" in node["classes"]]
    assert tab_ids(outputs) == ["numpy", "torch"]

    plain = torch_only.env.get_doctree("chapter")
    assert components(plain, "tab-set") == []
    assert "sum from torch 4.0" in plain.astext() and "sum from numpy" not in plain.astext()
    assert (torch_only.outdir / "chapter.html").is_file() and (both.outdir / "chapter.html").is_file()


PROSE = """# Chapter

:::{framework} torch
Only for PyTorch.
:::

:::{framework} numpy, torch
For both.
:::

:::{framework} numpy
Only for NumPy.
:::
"""


def framework_blocks(doctree) -> list[tuple[list[str], str]]:
    return [
        ([c for c in node["classes"] if c.startswith("d2l-framework-") and c != "d2l-framework-only"], node.astext())
        for node in doctree.findall(nodes.container)
        if "d2l-framework-only" in node["classes"]
    ]


def test_framework_directive_doctree_for_each_selection(tmp_path, apps):
    several = apps(write_book(tmp_path / "several", PROSE))
    one = apps(write_book(tmp_path / "one", PROSE), d2l_selected="torch")
    several.build()
    one.build()

    blocks = framework_blocks(several.env.get_doctree("chapter"))
    assert [classes for classes, _ in blocks] == [
        ["d2l-framework-torch"],
        ["d2l-framework-numpy", "d2l-framework-torch"],
        ["d2l-framework-numpy"],
    ]
    assert [text.split() for _, text in blocks] == [
        ["PyTorch", "Only", "for", "PyTorch."],
        ["NumPy", "/", "PyTorch", "For", "both."],
        ["NumPy", "Only", "for", "NumPy."],
    ]

    single = one.env.get_doctree("chapter")
    assert framework_blocks(single) == []  # one framework: plain prose, no label
    text = single.astext()
    assert "Only for PyTorch." in text and "For both." in text and "Only for NumPy." not in text


SAVED_TWICE = """# Lib

```{code-cell} ipython3
def f():  #@save
    return 1
```

```{code-cell} ipython3
def f():  #@save
    return 2
```
"""


def test_package_warning_points_at_the_block_and_can_be_suppressed(tmp_path, apps):
    root = write_book(tmp_path / "warned", "# Chapter\n", lib=SAVED_TWICE)
    warned = apps(root, d2l_selected="numpy")
    warned.build()
    (line,) = [line for line in warnings_of(warned) if "saved package" in line]
    assert line.startswith(f"{root / 'lib.md'}:16: WARNING: saved package: `f` [numpy, torch] is saved again")
    assert line.endswith("[d2l.package]")

    quiet = apps(
        write_book(tmp_path / "quiet", "# Chapter\n", lib=SAVED_TWICE),
        d2l_selected="numpy",
        suppress_warnings=["d2l.package"],
    )
    quiet.build()
    assert not [line for line in warnings_of(quiet) if "saved package" in line]
    assert (quiet.outdir / "lib.html").is_file()
