"""What the reader's site is made of, apart from Sphinx: the per-framework notebooks
(``notebooks.py``), the site's state during a build (``state.py``: pages and notebooks written,
the navigation its pages show), the vendored MathJax (``vendor.py``) and our script and stylesheet
(``static/``). ``render/`` puts them on the site. Nothing here imports Sphinx.
"""
