"""A Sphinx extension for executable, multi-framework deep-learning books."""

__version__ = "0.1.0"


def setup(app):
    from .extension import setup as setup_extension

    return {"version": __version__, **setup_extension(app)}
