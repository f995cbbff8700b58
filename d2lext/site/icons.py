"""The theme's icon fonts cut to the glyphs a site shows.

pydata-sphinx-theme draws its icons (the menu, search, colour mode, page contents buttons) with
Font Awesome: its stylesheet maps each ``fa-*`` class to a character of a web font, and a 1.5 MB
script replaces each ``<i class="fa-...">`` with an SVG. The site leaves the script out (the
template ``templates/static/webpack-macros.html``) and keeps the stylesheet's way, with fonts cut
from over 100 KB each to the few glyphs used: those of the ``fa-*`` classes the pages name, and
the private-use characters the stylesheets name themselves (the theme's ``--pst-icon-*``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path

#: ``.fa-bars,.fa-navicon{--fa:"\f0c9"}``: a class naming an icon's character.
_ICON_RULE = re.compile(r'((?:\.fa-[a-z0-9-]+,?)+)\{--fa:"\\([0-9a-fA-F]{1,6})"\}')
_ICON_CLASS = re.compile(r"\bfa-[a-z0-9-]+")
#: Characters of the Unicode private-use area a stylesheet names, literally or escaped.
_PRIVATE = re.compile(r"[\ue000-\uf8ff]|\\([ef][0-9a-fA-F]{3})\b")


def icon_characters(stylesheet: str) -> dict[str, int]:
    """``{"fa-bars": 0xF0C9, ...}``: the character each icon class shows, read from a stylesheet."""
    found = {}
    for selectors, code in _ICON_RULE.findall(stylesheet):
        for selector in filter(None, selectors.split(",")):
            found[selector.removeprefix(".")] = int(code, 16)
    return found


def named_characters(stylesheet: str) -> set[int]:
    """Private-use characters a stylesheet names outside its icon classes' rules (``--pst-icon-*``)."""
    rest = _ICON_RULE.sub("", stylesheet)
    return {ord(match[0]) if not match[1] else int(match[1], 16) for match in _PRIVATE.finditer(rest)}


def used_characters(stylesheets: Iterable[str], pages: Iterable[str]) -> set[int]:
    """The icon characters a site shows: its pages' ``fa-*`` classes and its stylesheets' own."""
    sheets = list(stylesheets)
    classes: dict[str, int] = {}
    wanted: set[int] = set()
    for sheet in sheets:
        classes.update(icon_characters(sheet))
        wanted |= named_characters(sheet)
    for page in pages:
        wanted |= {classes[name] for name in set(_ICON_CLASS.findall(page)) if name in classes}
    return wanted


def subset_font(font: bytes, characters: set[int]) -> bytes:
    """A WOFF2 font holding only these characters' glyphs (those it has)."""
    import logging

    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # its INFO lines are not the build's

    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # the font's names and licence stay
    options.notdef_outline = True
    loaded = TTFont(io.BytesIO(font))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(characters & set(loaded.getBestCmap())))
    subsetter.subset(loaded)
    out = io.BytesIO()
    loaded.flavor = "woff2"
    loaded.save(out)
    return out.getvalue()


def cut_fonts(fonts: Iterable[Path], characters: set[int]) -> dict[Path, bytes]:
    """Each font file cut to ``characters``."""
    return {path: subset_font(path.read_bytes(), characters) for path in fonts}
