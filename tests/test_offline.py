"""The offline check reads a page's tags as a browser does: what it loads, not what its text shows."""

from __future__ import annotations

from d2lext.render.offline import page_problems

PAGE = """<!DOCTYPE html>
<html><head>
<SCRIPT SRC="_static/here.js"></SCRIPT>
<script src=https://cdn.example.com/unquoted.js></script>
<script src="_static/here.js" data-src="https://cdn.example.com/lazy.js" src="https://cdn.example.com/second.js"></script>
<link rel="Preload Stylesheet" href="//fonts.example.com/font.css">
<link rel="canonical" href="https://book.example.com/chapter.html">
<link rel="icon" href="_static/missing.ico?v=1&amp;x=2" />
<script src="data:text/javascript,1"></script>
<!-- <script src="https://cdn.example.com/commented.js"></script> -->
<script>const shown = '<script src="https://cdn.example.com/in-code.js"></script>';</script>
</head><body>
<pre>&lt;script src="https://cdn.example.com/in-text.js"&gt;&lt;/script&gt;</pre>
<a href="https://doi.org/10.1000/1">a citation</a>
</body></html>
"""


def test_a_page_loads_what_its_tags_load_and_nothing_its_text_shows(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "here.js").write_text("")
    page = tmp_path / "chapter.html"
    page.write_text(PAGE)
    assert page_problems(page, tmp_path) == [
        "loads the script https://cdn.example.com/unquoted.js from another site",
        "loads the stylesheet //fonts.example.com/font.css from another site",
        "loads the file _static/missing.ico?v=1&x=2, which the site does not have",
    ]
