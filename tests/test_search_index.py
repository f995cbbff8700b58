"""Sphinx's Chinese index (the search of pages opened from ``file://``) at the cost it must have:
jieba's dictionary loaded once, jieba started only by a build that indexes a page, and a no-op
rebuild that parses and indexes nothing, whatever the process's string hashing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from unittest import mock

import jieba
from conftest import SPHINX_BUILD, build, write_book

CHAPTER = """# 优化和深度学习

本节讨论优化与深度学习的关系。

## 鞍点

鞍点是梯度消失的位置之一。

## 经验风险

经验风险是训练数据集上的平均损失。
"""

ZH = 'language = "zh_CN"'


def index_terms(html: Path) -> set[str]:
    """Every term of Sphinx's search index (text and titles)."""
    text = (html / "searchindex.js").read_text(encoding="utf8")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    return set(index["terms"]) | set(index["titleterms"])


def test_a_chinese_book_keeps_its_titles_whole_without_loading_jiebas_dictionary_again(tmp_path):
    """Sphinx 9 loads jieba's default dictionary again as a user dictionary (349,062 words, seconds
    of every build): the index is made without it, and the section titles are still whole terms."""
    root = write_book(tmp_path / "book", CHAPTER, conf_extra=ZH)
    added = []
    original = jieba.Tokenizer.add_word

    def counted(self, word, *args, **kwargs):
        added.append(word)
        return original(self, word, *args, **kwargs)

    with mock.patch.object(jieba.Tokenizer, "add_word", counted):
        result = build(root)
    assert result.returncode == 0, result.output
    assert len(added) < 50, f"{len(added)} words added to jieba"
    terms = index_terms(result.root / "_build" / "html")
    assert {"鞍点", "经验风险", "优化和深度学习"} <= terms


def test_a_no_op_rebuild_starts_no_jieba_and_keeps_the_parsed_chapters_in_any_process(tmp_path):
    """Two ``sphinx-build`` processes with different string hashing: the second one (nothing
    changed) neither starts jieba (jieba says so on stderr when it does) nor parses a chapter
    again (the memo of parsed chapters is kept as it was), and the index still finds the titles."""
    root = write_book(
        tmp_path / "book",
        CHAPTER,
        conf_extra=ZH
        + '\nmyst_enable_extensions = ["dollarmath", "colon_fence", "deflist", "amsmath", "substitution"]',
    )

    def sphinx_build(seed: str) -> str:
        done = subprocess.run(
            [str(SPHINX_BUILD), "-M", "html", ".", "_build", "-c", ".", "--no-color"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    first = sphinx_build("1")
    assert "Prefix dict has been built" in first  # the cold build indexed pages: jieba started
    memo = next((root / "_build").rglob("chapters.pickle"))
    before = (memo.stat().st_mtime_ns, memo.read_bytes())
    for seed in ("2", "3"):
        again = sphinx_build(seed)
        assert "Prefix dict has been built" not in again and "Loading model" not in again, again
        assert (memo.stat().st_mtime_ns, memo.read_bytes()) == before, f"chapters parsed again (seed {seed})"
    assert {"鞍点", "经验风险"} <= index_terms(root / "_build" / "html")
