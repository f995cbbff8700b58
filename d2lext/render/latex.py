"""The LaTeX builder's settings for a PDF of the book (``make pdf``), unless ``conf.py`` sets them.

- xelatex (Unicode in code and prose), with ctex and the Noto CJK fonts for Chinese;
  Latin text in fontspec's Latin Modern (Sphinx's default FreeFont is one more package to install);
- no xindy (Sphinx's default index tool for xelatex, another package): makeindex;
- a book whose title has no ASCII letters is ``<package name>.tex`` (Sphinx would call it ``sphinx``);
- figures: MyST-NB does not take ``image/svg+xml`` outputs for LaTeX, so they are given a place
  in its priorities, and ``sphinxcontrib.rsvgconverter`` (``rsvg-convert``) turns them into PDF.

Each PDF is built with one framework selected, so listings are plain (no tabs), with that
framework's outputs and figures, and prose for other frameworks is left out.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.builders.latex import default_latex_documents
from sphinx.config import Config
from sphinx.util.osutil import make_filename_from_project

#: Chinese through ctex (on xeCJK), in the Noto CJK fonts Debian's ``fonts-noto-cjk`` installs;
#: chapters headed by their number alone, as d2l-zh's PDF has them (not "CHAPTER 1").
CJK = r"""\usepackage[UTF8, fontset=none, heading=false]{ctex}
\setCJKmainfont{Noto Serif CJK SC}
\setCJKsansfont{Noto Sans CJK SC}
\setCJKmonofont{Noto Sans Mono CJK SC}
\renewcommand{\chaptername}{}
"""
#: Where SVG figures rank for the LaTeX builder: after PDF, before PNG (converted to PDF).
SVG_PRIORITY = ("latex", "image/svg+xml", 15)


def latex_defaults(app: Sphinx, config: Config) -> None:
    """Fill in what ``conf.py`` (or ``-D``) leaves unset."""
    given = set(config._raw_config) | set(config.overrides)
    if "latex_engine" not in given:
        config.latex_engine = "xelatex"
    if "latex_use_xindy" not in given:
        config.latex_use_xindy = False
    elements = dict(config.latex_elements or {})
    if (config.language or "").startswith("zh") and config.latex_engine == "xelatex":
        elements.setdefault("fontenc", CJK)
        elements.setdefault("babel", "")
        elements.setdefault("polyglossia", "")
    if config.latex_engine in ("xelatex", "lualatex"):
        elements.setdefault("fontpkg", "")
    config.latex_elements = elements
    if "latex_documents" not in given and make_filename_from_project(config.project) == "sphinx":
        # A title with no ASCII letters (动手学深度学习) would be "sphinx.tex": the package's name instead.
        name = getattr(config, "d2l_package_name", "") or "book"
        config.latex_documents = [(root, f"{name}.tex", *rest) for root, _, *rest in default_latex_documents(config)]
    overrides = list(getattr(config, "nb_mime_priority_overrides", []) or [])
    if not any(builder == "latex" and mime == "image/svg+xml" for builder, mime, _ in overrides):
        config.nb_mime_priority_overrides = [*overrides, SVG_PRIORITY]


def svg_converter(app: Sphinx) -> None:
    """SVG figures become PDF through ``rsvg-convert``, for the LaTeX builder only."""
    if app.builder.format == "latex":
        app.setup_extension("sphinxcontrib.rsvgconverter")


def setup_latex(app: Sphinx) -> None:
    app.connect("config-inited", latex_defaults)
    app.connect("builder-inited", svg_converter)
