"""Math served by the site itself, typeset when the site is built.

Readers load no math script: each page's formulas are typeset by MathJax (the pinned release,
``site/vendor.py``) in Node when the page is written (``site/math.py``), as MathJax's CommonHTML
output, the same markup MathJax makes in a browser; the page carries the stylesheet of its own
formulas, and loads the few MathJax fonts their characters use from ``_static/mathjax``. Where
``node`` is missing, pages typeset their math in the browser with MathJax from ``_static``, as
before (a warning says so); ``d2l_math = "browser"`` chooses that. A ``mathjax_path`` of
``conf.py``'s own is used as given.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.ext import mathjax as sphinx_mathjax

from ..errors import BookError
from ..messages import SphinxLog, stop_on_book_errors
from ..site import math, vendor

SPHINX_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax"
#: The math renderer that typesets when pages are written.
RENDERER = "d2l"


def use_local_mathjax(app: Sphinx, config) -> None:
    """Serve MathJax from the site unless conf.py chose another ``mathjax_path``; typeset at build
    time where Node can run it (and conf.py chose no other renderer)."""
    if str(config.mathjax_path).startswith(SPHINX_MATHJAX):
        config.mathjax_path = vendor.MATHJAX_SCRIPT
        config.mathjax3_config = config.mathjax3_config or {"tex": {"tags": "ams"}}
    if config.html_math_renderer is None:
        local = config.mathjax_path == vendor.MATHJAX_SCRIPT
        config.html_math_renderer = RENDERER if local and _at_build_time(config) else "mathjax"


def _at_build_time(config) -> bool:
    return getattr(config, "d2l_math", "build") != "browser" and math.available()


def _tex_options(config) -> dict:
    return dict((config.mathjax3_config or {}).get("tex", {}))


class PageMath:
    """Replaces the TeX of a page's formulas (as Sphinx's MathJax visitors write it) with MathJax's
    markup, when the page is written; one Node process per build process."""

    def __init__(self):
        self.typesetter: math.Typesetter | None = None

    def start(self, app: Sphinx) -> None:
        if app.builder.format == "html" and getattr(app.builder, "math_renderer_name", None) == RENDERER:
            self.typesetter = math.Typesetter(_tex_options(app.config))

    def early(self, app: Sphinx, env, docnames: list[str]) -> None:
        """A build that reads documents writes pages: MathJax loads in Node while they are read
        (a third of a second, off the critical path) instead of when the first page is written."""
        if self.typesetter is not None and docnames:
            try:
                self.typesetter.start()
            except (OSError, RuntimeError):  # said when the first page is typeset
                pass

    def patterns(self, config) -> tuple[re.Pattern, ...]:
        """Inline formulas, display formulas (MyST's amsmath blocks among them), and environments
        written without delimiters (Sphinx's ``nowrap``: MathJax finds ``\\begin{align}`` in a
        page's text), as the MathJax renderer's visitors write them."""
        inline, display = config.mathjax_inline, config.mathjax_display
        block = r'<div class="(?:[^"]*\s)?math notranslate nohighlight(?:\s[^"]*)?"[^>]*>'

        def between(opening: str, delimiters: tuple[str, str], closing: str) -> re.Pattern:
            left, right = (re.escape(delimiter) for delimiter in delimiters)
            return re.compile(f"({opening}){left}(.*?){right}({closing})", re.DOTALL)

        return (
            between(r'<span class="math notranslate nohighlight">', inline, "</span>"),
            between(rf'{block}\s*(?:<span class="eqno">.*?</span>)?', display, "</div>"),
            re.compile(rf"({block}\s*)(\\begin\{{.*?)(</div>)", re.DOTALL),
        )

    @stop_on_book_errors
    def page(self, app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
        body = context.get("body")
        if self.typesetter is None or not body or not context.get("has_maths_elements", True):
            return
        found = []  # (start, end, before, tex, after, display), in page order
        for kind, pattern in enumerate(self.patterns(app.config)):
            for match in pattern.finditer(body):
                found.append((match.start(), match.end(), match[1], html.unescape(match[2]), match[3], kind > 0))
        found.sort()
        found = [match for index, match in enumerate(found) if index == 0 or match[0] >= found[index - 1][1]]
        if not found:
            return
        try:
            typeset = self.typesetter.typeset([(tex, display) for _, _, _, tex, _, display in found])
        except RuntimeError as error:
            raise BookError(f"{pagename}: cannot typeset its math: {error}") from None
        for tex, message in typeset.errors:
            SphinxLog().warning(f"MathJax cannot read `{tex}`: {message}", subtype="math", docname=pagename)
        pieces, last = [], 0
        for (start, end, before, _, after, _), markup in zip(found, typeset.html, strict=True):
            pieces += [body[last:start], before, markup, after]
            last = end
        context["body"] = "".join([*pieces, body[last:]])
        fonts = context["pathto"](f"_static/mathjax/{math.FONTS}", 1)
        css = typeset.css.replace(math.FONTS_MARK, fonts).replace("</", "<\\/")
        context["metatags"] = context.get("metatags", "") + f'\n<style id="d2l-math">{css}</style>'

    def finish(self, app: Sphinx, exception: Exception | None) -> None:
        if self.typesetter is not None:
            self.typesetter.close()


def same_markup_as_mathjax(app: Sphinx) -> None:
    """This renderer writes what the MathJax renderer's visitors write, as extensions left them
    (MyST's amsmath blocks are numbered by its own), then typesets it when the page is written."""
    registry = app.registry
    if "mathjax" in registry.html_inline_math_renderers:
        registry.html_inline_math_renderers[RENDERER] = registry.html_inline_math_renderers["mathjax"]
        registry.html_block_math_renderers[RENDERER] = registry.html_block_math_renderers["mathjax"]


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """Put MathJax into ``_static`` when a page has math: its fonts when math is typeset at build
    time, all of it otherwise (once: its version is checked, not its files)."""
    if exception is not None or app.builder.format != "html":
        return
    if app.config.mathjax_path != vendor.MATHJAX_SCRIPT or not app.env.get_domain("math").has_equations():
        return
    renderer = app.builder.math_renderer_name
    target = Path(app.outdir) / "_static" / "mathjax"
    stamp = target / "VERSION"
    wanted = (vendor.static_dir() / "mathjax" / "VERSION").read_text().strip() + f" {renderer}\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    shutil.rmtree(target, ignore_errors=True)
    source = vendor.static_dir() / "mathjax"
    if renderer == RENDERER:
        shutil.copytree(source / math.FONTS, target / math.FONTS)
        shutil.copy(source / "LICENSE", target / "LICENSE")
    else:
        shutil.copytree(source, target)
    stamp.write_text(wanted)


@stop_on_book_errors
def check_mathjax_installed(app: Sphinx) -> None:
    if app.builder.format == "html" and app.config.mathjax_path == vendor.MATHJAX_SCRIPT and not vendor.installed():
        raise BookError(
            f"MathJax {vendor.MATHJAX_VERSION} is not installed in this environment "
            f"(pages would have no math offline): run `make setup` or `python -m d2lext.site.vendor`"
        )


def say_where_math_is_typeset(app: Sphinx) -> None:
    """Once: a book that asked for math typeset at build time but cannot have it is told why."""
    if app.builder.format != "html" or app.config.mathjax_path != vendor.MATHJAX_SCRIPT:
        return
    if getattr(app.config, "d2l_math", "build") != "browser" and math.node() is None:
        SphinxLog().warning(
            "node is not installed: math is typeset in the reader's browser, which loads MathJax (1.1 MB); "
            "install Node.js (Debian: apt-get install nodejs) to typeset it when the site is built",
            subtype="math",
        )


def setup_mathjax(app: Sphinx) -> None:
    page_math = PageMath()
    app.add_html_math_renderer(
        RENDERER,
        inline_renderers=(sphinx_mathjax.html_visit_math, None),
        block_renderers=(sphinx_mathjax.html_visit_displaymath, None),
    )
    app.connect("config-inited", use_local_mathjax)
    app.connect("builder-inited", check_mathjax_installed)
    app.connect("builder-inited", say_where_math_is_typeset)
    app.connect("builder-inited", same_markup_as_mathjax, priority=900)  # after MyST's override
    app.connect("builder-inited", page_math.start)
    app.connect("env-before-read-docs", page_math.early)
    app.connect("html-page-context", page_math.page)
    app.connect("build-finished", page_math.finish)
    app.connect("build-finished", copy_mathjax)
