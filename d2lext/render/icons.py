"""Icons without Font Awesome's script: the theme's icon fonts, cut to the glyphs the site shows.

pydata-sphinx-theme (and sphinx-book-theme on it) loads a 1.5 MB script that turns each
``<i class="fa-...">`` into an SVG. Its stylesheet draws the same icons from Font Awesome's web
fonts, over 100 KB each. The theme's asset macros are given without the script (a template
loader placed after ``templates_path``, so a book's own templates still win), and after each HTML
build the fonts in ``_static`` are replaced by copies cut to the glyphs the site shows
(``site/icons.py``): about 6 KB for the three, against 1.7 MB for the script and one font.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.jinja2glue import SphinxFileSystemLoader

from ..files import write_if_changed
from ..site import icons
from ..state import site_state

TEMPLATES = Path(__file__).parent.parent / "site" / "templates"
MACROS = "static/webpack-macros.html"
FONTS = "vendor/fontawesome/webfonts"


def _theme_dirs(app: Sphinx) -> list[Path]:
    theme = getattr(app.builder, "theme", None)
    return [Path(folder) for folder in theme.get_theme_dirs()] if theme else []


def leave_out_script(app: Sphinx) -> None:
    """Give the theme's asset macros without Font Awesome's script, when the theme loads it."""
    if app.builder.format != "html":
        return
    if not any("fontawesome.js" in _read(folder / MACROS) for folder in _theme_dirs(app)):
        return
    templates = app.builder.templates
    position = templates.templatepathlen  # after the book's templates_path, before the theme
    templates.loaders.insert(position, SphinxFileSystemLoader(str(TEMPLATES)))
    templates.pathchain.insert(position, TEMPLATES)  # pages are written again when it changes
    templates.templatepathlen += 1  # "!static/..." still finds the theme's own macros


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf8")
    except OSError:
        return ""


def cut_fonts(app: Sphinx, exception: Exception | None) -> None:
    """Replace the theme's icon fonts in ``_static`` with copies holding the glyphs the site shows
    (Sphinx copies the theme's files again on every build; the cut fonts are kept in the cache)."""
    if exception is not None or app.builder.format != "html":
        return
    sources = {}
    for folder in reversed(_theme_dirs(app)):  # a theme's files override its base's, as Sphinx copies them
        for font in sorted((folder / "static" / FONTS).glob("*.woff2")):
            sources[font.name] = font
    if not sources:
        return
    outdir = Path(app.outdir)
    static = outdir / "_static"
    cache = Path(app.doctreedir).parent / ".d2l-cache" / "icons"
    used = cache / "characters.json"
    site = site_state(app.env)
    try:  # a build that wrote no page shows the icons the last one found
        characters = set(json.loads(used.read_text())) if site is not None and not site.pages_written else None
    except (OSError, ValueError):
        characters = None
    if characters is None:
        sheets = [sheet.read_text(encoding="utf8", errors="replace") for sheet in sorted(static.rglob("*.css"))]
        pages = (page.read_text(encoding="utf8", errors="replace") for page in outdir.rglob("*.html"))
        characters = icons.used_characters(sheets, pages)
        write_if_changed(used, json.dumps(sorted(characters)))
    for name, source in sources.items():
        font = source.read_bytes()
        key = hashlib.sha256(font + repr(sorted(characters)).encode()).hexdigest()[:32]
        cached = cache / f"{key}.woff2"
        if not cached.is_file():
            write_if_changed(cached, icons.subset_font(font, characters))
        write_if_changed(static / FONTS / name, cached.read_bytes())


def setup_icons(app: Sphinx) -> None:
    app.connect("builder-inited", leave_out_script)
    app.connect("build-finished", cut_fonts, priority=850)  # before the offline check and Pagefind
