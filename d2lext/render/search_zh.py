"""Sphinx's Chinese search, for books in Chinese only (it imports jieba)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from sphinx.search import _MINIFIED_JS_PATH
from sphinx.search.zh import JIEBA_DEFAULT_DICT, SearchChinese


class ChineseSearch(SearchChinese):
    """Sphinx's Chinese search (jieba), with a JavaScript stemmer that exists, that loads no
    dictionary twice and starts jieba only when a page is indexed.

    Sphinx 9.0 names its stemmer ``ChineseStemmer`` but ships only ``EnglishStemmer``, so the
    search page never finishes (sphinx-doc/sphinx#14229).

    Since sphinx-doc/sphinx#13005 (Sphinx 9 has it), a book that names no ``dict`` in
    ``html_search_options`` has jieba's own default dictionary loaded again as a user dictionary:
    349,062 ``add_word`` calls, seconds of every build that writes anything (a no-op too), for
    words jieba's main dictionary already holds, so segmentation is the same without it. That
    load is skipped; a ``dict`` the book names is loaded as Sphinx loads it.
    """

    js_stemmer_rawcode = ""
    js_stemmer_code = "\n".join(
        [
            (_MINIFIED_JS_PATH / "base-stemmer.js").read_text(encoding="utf8"),
            (_MINIFIED_JS_PATH / SearchChinese.js_stemmer_rawcode).read_text(encoding="utf8"),
            "window.Stemmer = EnglishStemmer;",
        ]
    )

    #: Words jieba must keep whole (the book's section titles), added when the first page is
    #: indexed: adding them at once would start jieba (its dictionary, about half a second) in
    #: builds that index no page at all, a no-op among them.
    _pending_words: ClassVar[set[str]] = set()

    def __init__(self, options: dict[str, str]) -> None:
        named = options.get("dict")
        if not named or (JIEBA_DEFAULT_DICT and Path(named).resolve() == Path(JIEBA_DEFAULT_DICT)):
            options = {**options, "dict": ""}  # jieba's own dictionary, loaded once, by jieba
        super().__init__(options)

    @classmethod
    def keep_whole(cls, words) -> None:
        """Have jieba keep ``words`` whole in the pages indexed from now on."""
        cls._pending_words.update(words)

    def split(self, input: str) -> list[str]:
        if ChineseSearch._pending_words:
            import jieba

            for word in sorted(ChineseSearch._pending_words):
                jieba.add_word(word)
            ChineseSearch._pending_words.clear()
        return super().split(input)
