"""Stage 2, the plan: what must run and what must be read again, before anything runs.

In: the ``Book``, the configuration, each framework's environment fingerprint, and the cache.
Out: a ``Plan`` (``keys.py``): the package's module code per framework (made once), every run's
cache key (``cache.py`` keys and stores results), then (``due.py``) the runs due for the
documents being read, the runs they wait for, and the documents to read again; ``partial.py``
what a partial build (ONLY=) executes and writes. Pure rules; nothing here imports Sphinx.
"""

from .due import documents_to_read, due_runs, in_order, upstream_runs
from .keys import Plan, package_code, run_keys
from .partial import Selection, resolve, select

__all__ = [
    "Plan",
    "Selection",
    "documents_to_read",
    "due_runs",
    "in_order",
    "package_code",
    "resolve",
    "run_keys",
    "select",
    "upstream_runs",
]
