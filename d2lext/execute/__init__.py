"""Stage 3, execution: the due runs, each chapter once per framework, in Jupyter kernels.

In: the runs the plan says are due. Out: a ``Result`` per run (``runs.py``): its outputs, read as
a reader sees them (``outputs.py``), or its ``Failure``; then each chapter's runs merged into the
one notebook the pages render (``merge.py``). ``engine.py`` drives a pool of kernel workers
(``kernel.py``: a fresh kernel for every run, forked from a process that imported the framework
once, ``forking.py``; ``prologue.py`` runs first in it) in the order ``schedule.py`` chooses;
``environments.py`` makes the frameworks' own Python environments and says whether a framework
can run. On a Dask cluster (``d2l_executor``), ``cluster.py`` sends each run to a worker, where
``on_worker.py`` runs it with the same kernels. Nothing here imports Sphinx.
"""
