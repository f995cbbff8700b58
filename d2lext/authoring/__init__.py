"""Authors' tools: what an author checks before readers see the book.

In: the ``Plan`` of a build (its chapters, cells and keys), the runs' results (this build's and
the cache's), and the selected frameworks.
Out: ``parity.py``, the listings a selected framework lacks (as d2l-book's ``tabcheck``);
``outputcheck.py``, outputs that carry warnings, stderr or the build machine's paths (as
``outputcheck``); ``report.py``, ``_build/d2l-book-report.json`` and ``.html`` with those, the
slowest runs and the failed cells, and its one-line summary. Nothing here imports Sphinx.
"""
