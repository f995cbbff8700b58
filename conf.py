"""Configuration of the book: 动手学深度学习 (section 11.1 and the preliminaries it needs)."""

import dataclasses

import pybtex.plugin
import sphinxcontrib.bibtex.plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

project = "动手学深度学习"
author = "Aston Zhang, Zachary C. Lipton, Mu Li, Alexander J. Smola"
# The published book's licences: CC BY-SA 4.0 for the text, MIT-0 for the code.
copyright = f"2026, {author}。文字采用 CC BY-SA 4.0 许可协议,代码采用 MIT-0 许可协议"
release = "2.0.0"
language = "zh_CN"

extensions = ["d2lext", "sphinxcontrib.bibtex", "sphinx_copybutton"]

root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

bibtex_bibfiles = ["source/references.bib"]


@dataclasses.dataclass
class RoundAuthorYear(AuthorYearReferenceStyle):
    """Citations as the published book prints them: (Wigner, 1958)."""

    bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=lambda: BracketStyle(left="(", right=")"))


sphinxcontrib.bibtex.plugin.register_plugin(
    "sphinxcontrib.bibtex.style.referencing", "author_year_round", RoundAuthorYear
)
bibtex_reference_style = "author_year_round"


class AuthorYearLabels(BaseLabelStyle):
    """The references page labels entries as the text cites them: "Wigner, 1958", not "Wig58"."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [" ".join(person.last_names) for person in people] or [entry.fields.get("title", entry.key)]
            who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
            yield f"{who}, {entry.fields.get('year', '')}"


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels


pybtex.plugin.register_plugin("pybtex.style.formatting", "author_year_labels", AuthorYearStyle)
bibtex_default_style = "author_year_labels"

# Frameworks, in the order their tabs appear: the published book's (MXNet, PyTorch, TensorFlow,
# Paddle), then NumPy and JAX. `requires`: modules the kernel must import. A framework with an
# `environment` runs in its own Python environment, which the build makes in .venvs/<name> the
# first time the framework is selected (MXNet needs numpy 1.23, the book numpy 2).
d2l_frameworks = {
    "mxnet": {"label": "MXNet", "requires": ["mxnet", "matplotlib"], "environment": "d2lext/environments/mxnet.txt"},
    "torch": {"label": "PyTorch", "requires": ["torch", "matplotlib"]},
    "tensorflow": {
        "label": "TensorFlow",
        "requires": ["tensorflow", "matplotlib"],
        "environment": "d2lext/environments/tensorflow.txt",
    },
    "paddle": {
        "label": "Paddle",
        "requires": ["paddle", "matplotlib"],
        "environment": "d2lext/environments/paddle.txt",
    },
    "numpy": {"label": "NumPy", "requires": ["numpy", "matplotlib"]},
    "jax": {"label": "JAX", "requires": ["jax", "matplotlib"], "environment": "d2lext/environments/jax.txt"},
}
# What `make html` executes and shows: the two frameworks of the book's own environment.
# `make html FRAMEWORKS="torch"` overrides it; FRAMEWORKS=all selects every framework.
d2l_selected = ["numpy", "torch"]
# Seconds one cell may run.
d2l_timeout = 600
# The book's short name, for its downloads: d2l-zh-pytorch-notebooks.zip.
d2l_book_name = "d2l-zh"

html_title = "动手学深度学习"
html_theme = "sphinx_book_theme"
html_favicon = "source/_static/favicon.svg"
# The API page's contents name each entry with its module: d2l.torch.plot, d2l.numpy.plot.
toc_object_entries_show_parents = "all"
# A fresh browser profile has no stored colour mode: the theme's default, instead of an error.
html_context = {"default_mode": "auto"}
# Section numbers read "2.1 优化和深度学习", as the printed book has them.
html_secnumber_suffix = " "
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
# Copy buttons on code listings only: not on outputs (MyST-NB marks them `.output`).
copybutton_selector = "div:not(.output) > div.highlight pre"
