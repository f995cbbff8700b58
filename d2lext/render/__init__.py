"""Stage 4, rendering, inside Sphinx: the merged notebooks become pages, and the pages a site.

In: each chapter's merged notebook (MyST-NB renders it) and the build's plan. Out: framework tabs
(``tabs.py``), framework prose (``prose.py``), figure text (``figures.py``), every display
equation numbered under ``math_number_all`` (``equations.py``), references of d2l-book sources
(``references.py``), the API page (``api.py``); and on the written site, the notebook downloads
and launch links (``notebook_links.py``), Chinese search (``search.py``), math typeset when
pages are written (``mathjax.py``), icons without Font Awesome's script (``icons.py``) and the
check that pages load nothing from other sites (``offline.py``).
The only package, with the wiring (``extension.py``, ``state.py``, ``messages.py``, ``lib.py``),
that imports Sphinx.
"""
