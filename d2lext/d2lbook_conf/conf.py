"""Sphinx configuration for a d2l-book project, generated from its config.ini (`make html BOOK=...`).

The book's folder is the environment variable D2L_BOOK; the frameworks' environments are shared
with this repository's book (D2L_ENVIRONMENTS, default: `.venvs` beside the current folder).
The author writes no conf.py: what config.ini says, with this tool's defaults, and the book's
own requirements (requirements.txt, requirements-<tab>.txt) when it has them.
"""

import os
import re
from pathlib import Path

from sphinx.util import texescape

import d2lext
from d2lext.errors import BookError
from d2lext.sources.d2lbook import FRAMEWORK_NAMES, LABELS, MODULES, Project, read_config, unlisted

BOOK = Path(os.environ.get("D2L_BOOK", ".")).resolve()
CONFIG = BOOK / "config.ini"
if not CONFIG.is_file():
    raise SystemExit(f"{BOOK} has no config.ini: `make html BOOK=...` builds a d2l-book project folder")
try:
    _project = read_config(CONFIG)
except BookError:  # reported, as one line, when the extension reads d2l_d2lbook (Sphinx would print a traceback)
    _project = Project()
_environments = Path(d2lext.__file__).parent / "environments"

project = _project.title or BOOK.name
author = _project.author
copyright = _project.copyright
release = _project.release or "0"
language = {"zh": "zh_CN"}.get(_project.lang, _project.lang or "en")

extensions = ["d2lext", "sphinxcontrib.bibtex", "sphinx_copybutton"]
root_doc = "index"
# What d2l-book builds: [build] notebooks and rsts, less [build] exclusions.
exclude_patterns = ["_build", ".venvs", *_project.exclusions, *unlisted(BOOK, _project)]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
# $$...$$ inside a paragraph is display math, as pandoc (and so d2l-book) reads it.
myst_dmath_double_inline = True
myst_heading_anchors = 3
# Numbered as d2l-book's generated conf.py numbers the published book: figures, tables and
# equations per section ("图11.3.1", "(11.3.2)"), and every display equation.
numfig = True
numfig_secnum_depth = 2
math_numfig = True
math_number_all = True
if language.startswith("zh"):
    numfig_format = {"figure": "图%s", "table": "表%s", "code-block": "列表%s", "section": "%s节"}
# Then [build] sphinx_configs, as d2l-book pastes it after its own settings: the settings that
# are plain data (d2lext.sources.d2lbook.SPHINX_CONFIGS), read, never run; the rest is reported.
globals().update(_project.sphinx_configs)

_bibfiles = sorted({str(path) for path in BOOK.rglob("*.bib") if "_build" not in path.parts})
bibtex_bibfiles = _bibfiles
bibtex_reference_style = "author_year"
suppress_warnings = ["bibtex.bibfile_data_error"] if not _bibfiles else []

# One framework per config.ini tab, in its order; MXNet, TensorFlow, Paddle and JAX run in
# environments of their own, made on first use. The book's own requirements, in its root:
# requirements-<tab>.txt for one tab, requirements.txt for every tab; when one exists, the tab
# runs in an environment made from the framework's requirements and the book's.
d2l_frameworks = {}
for _tab in _project.tabs:
    _spec = {"label": LABELS.get(_tab, _tab), "requires": [MODULES.get(_tab, _tab), "matplotlib"]}
    if (_environments / f"{_tab}.txt").is_file():
        _spec["environment"] = str(_environments / f"{_tab}.txt")
    _spec["requirements"] = [str(BOOK / f"requirements-{_tab}.txt"), str(BOOK / "requirements.txt")]
    d2l_frameworks[FRAMEWORK_NAMES.get(_tab, _tab)] = _spec
# By default, the frameworks without an environment of their own in this tool (PyTorch: a quick
# first build); FRAMEWORKS=all selects every tab.
d2l_selected = [name for name, spec in d2l_frameworks.items() if "environment" not in spec] or list(d2l_frameworks)[:1]
d2l_d2lbook = str(CONFIG)
d2l_environments = os.environ.get("D2L_ENVIRONMENTS", str(Path.cwd() / ".venvs"))

# The site's address ([deploy] s3_bucket), when known: the package's help() and the notebooks
# link to it; a short name for the downloads ([project] name: d2l-zh-pytorch-notebooks.zip).
if _project.site:
    html_baseurl = _project.site
if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", _project.name):
    d2l_book_name = _project.name
# Each page's notebook opened in Colab or SageMaker Studio Lab from the repositories of [colab]
# and [sagemaker] (github_repo), as d2l-book links them.
_LAUNCH = {
    "colab": ("Colab", "https://colab.research.google.com/github/{repo}/blob/master/{path}"),
    "sagemaker": ("SageMaker Studio Lab", "https://studiolab.sagemaker.aws/import/github/{repo}/blob/master/{path}"),
}
d2l_launch = {
    _LAUNCH[_service][0]: {
        "url": _LAUNCH[_service][1],
        "repos": {FRAMEWORK_NAMES.get(_tab, _tab): _repo for _tab, _repo in _repos.items()},
    }
    for _service, _repos in _project.launch.items()
}
# The PDF (make pdf BOOK=...): named as d2l-book names it, with config.ini's [pdf] logo when the
# file exists, and its [pdf] post_latex script run on the .tex file before LaTeX (the LaTeX
# settings of [build] sphinx_configs, latex_elements, are applied above).
if _project.post_latex:
    d2l_post_latex = str(BOOK / _project.post_latex)
if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", _project.name):
    texescape.init()  # what the LaTeX builder does before it escapes its default titles
    latex_documents = [
        (root_doc, f"{_project.name}.tex", texescape.escape(project), texescape.escape(author), "manual")
    ]
if _project.latex_logo and (BOOK / _project.latex_logo).is_file():
    latex_logo = str(BOOK / _project.latex_logo)

html_title = project
html_theme = "sphinx_book_theme"
html_secnumber_suffix = " "
html_context = {"default_mode": "auto"}
toc_object_entries_show_parents = "all"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
copybutton_selector = "div:not(.output) > div.highlight pre"
