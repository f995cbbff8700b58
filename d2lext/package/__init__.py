"""The saved package: ``d2l/<framework>.py`` from the ``#@save`` blocks, installable by readers.

In: the ``Book``'s saved blocks, where each is defined, each module's code and the frameworks'
environments. Out: the package folder and its source archive (``write.py``), the problems an
author should hear of, saved imports an environment lacks among them (``check.py``), and the
dependencies and per-framework extras it declares (``dependencies.py``). Written while planning,
before any chapter runs, since chapters import it. ``make lib`` (``d2lext.lib``) writes it through
the same planner. Nothing here imports Sphinx.
"""
