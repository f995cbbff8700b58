"""The files a build writes, as a web server and a reader meet them: modes, and the search index."""

from __future__ import annotations

import os
import stat

from conftest import build, write_book

LIB = "# Lib\n\n```{code-cell} ipython3\ndef double(x):  #@save\n    return 2 * x\n```\n"
CHAPTER = (
    "# Chapter\n\nSome words.\n\n```{code-cell} ipython3\nfrom d2l import numpy as d2l\nprint(d2l.double(2))\n```\n"
)


def test_every_file_of_the_site_and_the_package_can_be_read_by_a_web_server(tmp_path):
    """Under umask 022, what the build writes is 0644: a server running as another user reads it."""
    root = write_book(tmp_path, CHAPTER, lib=LIB)
    previous = os.umask(0o022)
    try:
        result = build(root, "-D", "d2l_selected=numpy,torch")
        assert result.returncode == 0, result.output
        # A second build rewrites nothing it need not; what an earlier build left 0600 is repaired.
        script = root / "_build" / "html" / "_static" / "d2l.js"
        script.chmod(0o600)
        assert build(root, "-D", "d2l_selected=numpy,torch").returncode == 0
    finally:
        os.umask(previous)
    folders = [root / "_build" / "html", root / "_build" / "d2l", root / "_build" / "dist"]
    unreadable = [
        str(path.relative_to(root))
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o044 != 0o044
    ]
    assert unreadable == []
    written = [
        root / "_build/html/_static/d2l.js",
        root / "_build/html/_static/d2l.css",
        root / "_build/html/notebooks/numpy/chapter.ipynb",
        root / "_build/d2l/d2l/numpy.py",
    ]
    assert [oct(stat.S_IMODE(path.stat().st_mode)) for path in written] == ["0o644"] * len(written)
    assert list((root / "_build" / "dist").glob("d2l-*.tar.gz"))
    assert list((root / "_build" / "html" / "notebooks").glob("*.zip"))


def test_when_pagefind_fails_its_previous_index_goes_and_sphinx_search_answers(tmp_path):
    root = write_book(tmp_path, CHAPTER, lib=LIB)
    assert build(root, "-D", "d2l_selected=numpy").returncode == 0
    index = root / "_build" / "html" / "pagefind"
    assert (index / "pagefind.js").is_file()

    # A Pagefind configuration it cannot read (in the folder the build runs from): it fails.
    (root / "pagefind.yml").write_text("root_selector: [unclosed\n")
    chapter = root / "chapter.md"
    chapter.write_text(chapter.read_text().replace("Some words.", "Other words."))
    failed = build(root, "-D", "d2l_selected=numpy")
    assert failed.returncode == 0, failed.output
    (warning,) = [line for line in failed.output.splitlines() if "Pagefind could not index the site" in line]
    assert "Error loading Pagefind config" in warning and "the search page uses Sphinx's index" in warning
    assert not index.exists()  # no stale results
    assert (root / "_build" / "html" / "searchindex.js").is_file()

    # Once Pagefind works again, the next build indexes the site, even with no page to write.
    (root / "pagefind.yml").unlink()
    assert build(root, "-D", "d2l_selected=numpy").returncode == 0
    assert (index / "pagefind.js").is_file()
