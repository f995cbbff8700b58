"""Stage 1, the sources: what the author wrote, read without running anything.

In: the book's files (MyST-NB text notebooks, or d2l-book Markdown with its ``config.ini``) and
the extension's configuration. Out: a ``Book`` (``book.py``): every document in table-of-contents
order with its outline and section numbers, each text notebook as a ``Chapter`` whose code cells
know which frameworks run them (``cells.py``), and every ``#@save`` block (``saved.py``).
``toc.py`` reads toctrees; ``d2lbook.py`` converts d2l-book Markdown (once per build, with a line
map back to the author's file). Nothing here imports Sphinx.
"""
