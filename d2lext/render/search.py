"""Search that finds Chinese words: a Pagefind index of the written site, Sphinx's jieba index as fallback.

Sphinx's Chinese search indexes jieba's fragments and does not segment the query, so words jieba
does not know (经验风险, 泛化误差) are never found. Pagefind segments Chinese both when indexing and
when searching; after each build that wrote pages, it indexes the site (``pagefind/``), and the
search page (``search.html?q=...``, as readers share it) shows its results. Where Pagefind cannot
load (a page opened from ``file://``), Sphinx's own search still answers.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.builders import Builder

from ..errors import BookError
from ..messages import SphinxLog, stop_on_book_errors
from ..state import book_build, site_state
from .mathjax import RENDERER

#: Themes whose pages hold their text in ``article.bd-article`` (pydata-sphinx-theme's family).
ARTICLE_THEMES = frozenset({"sphinx_book_theme", "pydata_sphinx_theme"})
#: What the index leaves out: heading anchors, equation numbers, the notebook and launch links.
PAGEFIND_EXCLUDE = (".headerlink", ".eqno", ".d2l-notebooks", ".d2l-launch", ".copybtn")
#: And math, where it is TeX typeset in the reader's browser. Math typeset when the site was built
#: is indexed as the text of its MathML ("f(x)=x⋅cos(πx)"), so snippets read without holes.
TEX = ".math"

_CJK_TERM = re.compile(r"^[\u4e00-\u9fff]{2,12}$")


def book_terms(titles) -> list[str]:
    """The Chinese section titles that jieba should keep whole."""
    return sorted({title.strip() for title in titles if _CJK_TERM.match(title.strip())})


def chinese_search(app: Sphinx, config) -> None:
    """For a book in Chinese, Sphinx's Chinese search with a stemmer that exists (``search_zh.py``);
    other books import neither it nor jieba (10 ms of every build's start)."""
    if (config.language or "").startswith("zh"):
        from .search_zh import ChineseSearch

        app.add_search_language(ChineseSearch)


def add_book_terms(app: Sphinx, builder: Builder) -> None:
    """Before pages are indexed: the book's section titles become jieba words. jieba splits 鞍点
    (saddle point) into 鞍 and 点 and the index drops both as too short, so a reader searching a
    section's own title found nothing."""
    build, site = book_build(app.env), site_state(app.env)
    if getattr(builder, "search", False) and build is not None and build.plan is not None:
        if (app.config.language or "").startswith("zh"):
            from .search_zh import ChineseSearch  # imported by ``chinese_search`` already

            ChineseSearch.keep_whole(book_terms(site.section_titles(build.plan.book)))


def note_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """A document's page was written (not only the search page and index every build writes)."""
    site = site_state(app.env)
    if site is not None and doctree is not None:
        site.pages_written = True


@stop_on_book_errors
def index_site(app: Sphinx, exception: Exception | None) -> None:
    """Index the site with Pagefind when this build wrote pages (or there is no index yet)."""
    site = site_state(app.env)
    if exception is not None or app.builder.format != "html" or site is None:
        return
    outdir = Path(app.outdir)
    if not site.pages_written and (outdir / "pagefind" / "pagefind.js").is_file():
        return
    command = [*_pagefind(), "--site", str(outdir)]
    if app.config.html_theme in ARTICLE_THEMES:  # the page's text, without navigation and header
        command += ["--root-selector", "article.bd-article"]
    typeset = getattr(app.builder, "math_renderer_name", None) == RENDERER
    for selector in PAGEFIND_EXCLUDE if typeset else (*PAGEFIND_EXCLUDE, TEX):
        command += ["--exclude-selectors", selector]
    try:
        done = subprocess.run([*command, "--silent"], capture_output=True, text=True, check=False)
    except OSError as error:
        raise BookError(f"cannot run Pagefind to index the site: {error}") from None
    if done.returncode != 0:
        # The previous index would answer with stale results, or a half-written one with none:
        # without it, the search page answers from Sphinx's index, as the warning says.
        shutil.rmtree(outdir / "pagefind", ignore_errors=True)
        output = (done.stderr.strip() or done.stdout.strip()).replace("\n", " ")
        reason = "it is not installed" if "No module named pagefind" in output else output[-300:]
        SphinxLog().warning(
            f"Pagefind could not index the site ({reason}): the search page uses Sphinx's index", subtype="search"
        )


def _pagefind() -> list[str]:
    """Pagefind's program, found as its Python package finds it, run without that package's
    Python wrapper (which only starts it: 50 ms of every build that indexes)."""
    path = os.environ.get("PAGEFIND_BINARY_PATH")
    for module in () if path else ("pagefind_bin_extended", "pagefind_bin"):
        try:
            path = str(importlib.import_module(module).get_executable())
            break
        except (ImportError, AttributeError, OSError):
            continue
    return [path] if path else [sys.executable, "-m", "pagefind"]


def search_box_text(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """The search box's placeholder in the book's language ("搜索..."): sphinx-book-theme gives
    "Search..." from its own catalogs, which lack many languages; Sphinx's own have them. A
    ``search_bar_text`` the book sets is kept."""
    from sphinx.locale import _

    if "search_bar_text" not in (app.config.html_theme_options or {}) and "theme_search_bar_text" in context:
        context["theme_search_bar_text"] = _("Search") + "..."


def setup_search(app: Sphinx) -> None:
    app.connect("html-page-context", search_box_text, priority=600)  # after sphinx-book-theme's
    app.connect("config-inited", chinese_search)
    app.connect("write-started", add_book_terms)
    app.connect("html-page-context", note_page)
    app.connect("build-finished", index_site, priority=950)  # after the pages and assets are final
