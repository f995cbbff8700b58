"""Sphinx's Chinese search, for books in Chinese only (it imports jieba)."""

from __future__ import annotations

from sphinx.search import _MINIFIED_JS_PATH
from sphinx.search.zh import SearchChinese


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
