"""Run in a kernel before each chapter: makes a reused kernel as good as a fresh one.

This file is not imported by the extension: its text is sent to the kernel as the first cell of
every run, followed by a call to ``_d2l_prepare``. A chapter's names, the book's own modules (the
saved package among them), matplotlib's settings and figures, the warning filters, the working
folder and the execution count are reset; what libraries keep in their own globals (such as
torch's default dtype) is not.
"""


def _d2l_prepare(folder, roots):
    import gc
    import importlib
    import os
    import sys
    import warnings

    from IPython import get_ipython

    importlib.invalidate_caches()
    fresh = getattr(sys, "_d2l_fresh", None)
    if fresh is None:  # a new kernel: remember what a fresh one looks like
        sys._d2l_fresh = {"warnings": list(warnings.filters)}
    else:
        installed = (sys.prefix, sys.base_prefix)  # an environment may sit inside the book's folder
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            if file.startswith(roots) and not file.startswith(installed):
                del sys.modules[name]
        warnings.filters[:] = fresh["warnings"]
        if "matplotlib.pyplot" in sys.modules:
            import matplotlib

            sys.modules["matplotlib.pyplot"].close("all")
            matplotlib.rc_file_defaults()
        if "matplotlib_inline.backend_inline" in sys.modules:
            sys.modules["matplotlib_inline.backend_inline"].set_matplotlib_formats("svg")
    os.chdir(folder)
    collect, gc.collect = gc.collect, lambda *args: 0  # reset() ends with a full collection: ~20 ms+
    try:
        get_ipython().reset(new_session=True)
    finally:
        gc.collect = collect
