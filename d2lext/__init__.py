"""A Sphinx extension for executable, multi-framework deep-learning books."""

__version__ = "0.1.0"


def setup(app):
    from .sphinx_ import setup as setup_sphinx

    return {"version": __version__, **setup_sphinx(app)}
