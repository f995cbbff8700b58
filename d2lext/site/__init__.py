"""The reader's site, apart from Sphinx.

In: a chapter and its runs, the build's book. Out: the per-framework notebooks (``notebooks.py``),
the site's state in a build (``state.py``: pages and notebooks written, the navigation its pages
show, the bibliography), the vendored MathJax (``vendor.py``), math typeset by it in Node
(``math.py``, ``typeset.js``), the theme's icon fonts cut to the glyphs shown (``icons.py``; the
theme's asset macros without Font Awesome's script in ``templates/``) and our script and
stylesheet (``static/``). ``render/`` puts them on the site. Nothing here imports Sphinx.
"""
