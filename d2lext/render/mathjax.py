"""Math served by the site itself: MathJax from ``_static`` (installed by ``python -m d2lext.vendor``), not a CDN."""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

from ..errors import BookError
from ..messages import stop_on_book_errors
from ..site import vendor

SPHINX_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax"


def use_local_mathjax(app: Sphinx, config) -> None:
    """Serve MathJax from the site unless conf.py chose another ``mathjax_path``."""
    if str(config.mathjax_path).startswith(SPHINX_MATHJAX):
        config.mathjax_path = vendor.MATHJAX_SCRIPT
        config.mathjax3_config = config.mathjax3_config or {"tex": {"tags": "ams"}}


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """Put MathJax into ``_static`` when a page has math (once: its version is checked, not its 300 files)."""
    if exception is not None or app.builder.format != "html":
        return
    if app.config.mathjax_path != vendor.MATHJAX_SCRIPT or not app.env.get_domain("math").has_equations():
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    stamp = target / "VERSION"
    if stamp.is_file() and stamp.read_text() == (vendor.static_dir() / "mathjax" / "VERSION").read_text():
        return
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(vendor.static_dir() / "mathjax", target)


@stop_on_book_errors
def check_mathjax_installed(app: Sphinx) -> None:
    if app.builder.format == "html" and app.config.mathjax_path == vendor.MATHJAX_SCRIPT and not vendor.installed():
        raise BookError(
            f"MathJax {vendor.MATHJAX_VERSION} is not installed in this environment "
            f"(pages would have no math offline): run `make setup` or `python -m d2lext.vendor`"
        )


def setup_mathjax(app: Sphinx) -> None:
    app.connect("config-inited", use_local_mathjax)
    app.connect("builder-inited", check_mathjax_installed)
    app.connect("build-finished", copy_mathjax)
