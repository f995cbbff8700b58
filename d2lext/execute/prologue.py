"""Run in a chapter's kernel before its first cell: the working folder, the book's modules, the count.

This file is not imported by the extension: its text is sent to the kernel as the first cell of
every run, followed by a call to ``_d2l_prepare``. Every chapter has a kernel of its own, forked
from a process that imported only the framework's modules (``forkserver.py``), so there is
nothing of another chapter to undo. Left to do: the working folder becomes the chapter's; a
module of the book (the saved package among them) imported before the book was written is
dropped, so the chapter imports the current one; the execution count starts again at 1;
matplotlib-inline, when the server loaded it, is hooked into this kernel's shell (figures are
shown at the end of a cell whatever the chapter's first figure does).
"""


def _d2l_prepare(folder, roots, path=None):
    import gc
    import importlib
    import os
    import sys

    from IPython import get_ipython

    importlib.invalidate_caches()  # files written since the fork server looked at the folders
    installed = (sys.prefix, sys.base_prefix)  # an environment may sit inside the book's folder
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if file.startswith(roots) and not file.startswith(installed):
            del sys.modules[name]
    os.chdir(folder)
    if path and path not in sys.path:  # on a Dask worker: the book's package, sent with the run
        sys.path.insert(0, path)
    collect, gc.collect = gc.collect, lambda *args: 0  # reset() ends with a full collection: ~20 ms+
    try:
        get_ipython().reset(new_session=True)
    finally:
        gc.collect = collect
    inline = sys.modules.get("matplotlib_inline.backend_inline")
    if inline is not None:  # loaded by the fork server, where it had no shell to hook into
        getattr(inline, "_enable_matplotlib_integration", lambda: None)()  # what its import here does
