"""Chinese search: Sphinx's jieba-based index, with the book's section titles as words and a working page."""

from __future__ import annotations

import re

import jieba
from sphinx.application import Sphinx
from sphinx.builders import Builder
from sphinx.search import _MINIFIED_JS_PATH
from sphinx.search.zh import SearchChinese

from .state import book_build

_CJK_TERM = re.compile(r"^[\u4e00-\u9fff]{2,12}$")


def book_terms(titles) -> list[str]:
    """The Chinese section titles that jieba should keep whole."""
    return sorted({title.strip() for title in titles if _CJK_TERM.match(title.strip())})


class ChineseSearch(SearchChinese):
    """Sphinx's Chinese search (jieba), with a JavaScript stemmer that exists.

    Sphinx 9.0 names it ``ChineseStemmer`` but ships only ``EnglishStemmer``, so the search page
    never finishes (sphinx-doc/sphinx#14229).
    """

    js_stemmer_rawcode = ""
    js_stemmer_code = "\n".join(
        [
            (_MINIFIED_JS_PATH / "base-stemmer.js").read_text(encoding="utf8"),
            (_MINIFIED_JS_PATH / SearchChinese.js_stemmer_rawcode).read_text(encoding="utf8"),
            "window.Stemmer = EnglishStemmer;",
        ]
    )


def add_book_terms(app: Sphinx, builder: Builder) -> None:
    """Before pages are indexed: the book's section titles become jieba words. jieba splits 鞍点
    (saddle point) into 鞍 and 点 and the index drops both as too short, so a reader searching a
    section's own title found nothing."""
    build = book_build(app.env)
    if getattr(builder, "search", False) and build is not None and build.plan is not None:
        if (app.config.language or "").startswith("zh"):
            for term in book_terms(build.section_titles()):
                jieba.add_word(term)


def setup_search(app: Sphinx) -> None:
    app.add_search_language(ChineseSearch)
    app.connect("write-started", add_book_terms)
