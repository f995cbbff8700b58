"""Text alternatives for the figures code cells draw.

MyST-NB gives an output image its file name as ``alt``, which tells a screen reader nothing.
matplotlib's SVG keeps every text it draws (axis labels, legend, annotations) as a comment next
to its glyphs; the alternative text lists those, so a reader hears what the figure labels.
An ``alt`` the author set (MyST-NB's ``mystnb: image: alt:`` cell metadata) is kept.

Output figures load lazily (``loading="lazy"``): those in the tabs of frameworks the reader did not
choose are hidden and never requested, those further down the page when the reader gets there.
An SVG figure's ``<img>`` is given the size the SVG declares, so its room is kept before it loads
(the page does not jump while the reader scrolls).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

_COMMENT = re.compile(r"<!-- (.*?) -->")
_TEXT_GROUP = re.compile(r'<g id="text_\d+">')
_WORDS = re.compile(r"[A-Za-z\u4e00-\u9fff]")
_TICK = re.compile(r"^\$?\\mathdefault\{[^}]*\}\$?$")
_SVG_SIZE = re.compile(r'<svg\b[^>]*?\swidth="([\d.]+)(pt|px)?"[^>]*?\sheight="([\d.]+)(pt|px)?"', re.DOTALL)
#: CSS pixels per unit of an SVG's size.
_PIXELS = {"pt": 4 / 3, "px": 1.0, None: 1.0, "": 1.0}
_PREFIX = {"zh": ("图:", "、"), "": ("Figure: ", ", ")}
_PREFIX_3D = {"zh": "图:三维图,", "": "Figure: 3-D plot, "}


def figure_texts(svg: str) -> list[str]:
    """The labels a matplotlib SVG draws, in drawing order, without tick numbers or repeats.

    matplotlib writes one comment per line of a text; the lines of one text element (a
    ``<g id="text_N">`` group) are read as one label: "min of empirical risk".
    """
    starts = [match.start() for match in _TEXT_GROUP.finditer(svg)]
    if starts:
        groups = [_COMMENT.findall(svg, start, end) for start, end in zip(starts, [*starts[1:], len(svg)], strict=True)]
    else:  # not matplotlib's layout: each comment on its own
        groups = [[comment] for comment in _COMMENT.findall(svg)]
    found: list[str] = []
    for lines in groups:
        # the SVG escapes what it draws; the page escapes alt again
        text = " ".join(line for line in (html.unescape(line.strip()) for line in lines) if line)
        if text and _WORDS.search(text) and not _TICK.match(text) and text not in found:
            found.append(text)
    return found


def svg_size(svg: str) -> tuple[int, int] | None:
    """The CSS pixels an SVG's root declares (matplotlib writes points), or ``None``."""
    found = _SVG_SIZE.search(svg[:4000])
    if found is None:
        return None
    width, width_unit, height, height_unit = found.groups()
    return round(float(width) * _PIXELS[width_unit]), round(float(height) * _PIXELS[height_unit])


def alt_text(svg: str, language: str = "") -> str:
    """ "图:x、f(x)、local minimum": the labels a figure draws; a 3-D plot says it is one."""
    words = language.split("_")[0]
    prefix, separator = _PREFIX.get(words, _PREFIX[""])
    if 'id="axis3d_' in svg:  # matplotlib's 3-D axes: the labels alone would not say it
        prefix = _PREFIX_3D.get(words, _PREFIX_3D[""])
    texts = figure_texts(svg)
    return prefix + (separator.join(texts) if texts else "(no labels)")


class FigureText(SphinxTransform):
    """Give cell-output SVG figures an ``alt`` from the labels they draw; load output figures lazily."""

    default_priority = 810  # after MyST-NB has rendered the outputs

    def apply(self, **kwargs) -> None:
        for image in self.document.findall(nodes.image):
            uri = image.get("uri", "")
            if not any(parent.get("nb_element") == "cell_code_output" for parent in _ancestors(image)):
                continue
            image.setdefault("loading", "lazy")
            if not uri.endswith(".svg"):
                continue
            path = Path(self.env.relfn2path(uri, self.env.docname)[1])
            try:
                svg = path.read_text(encoding="utf8", errors="replace")
            except OSError:
                continue
            size = svg_size(svg)
            if size is not None and "width" not in image and "height" not in image and "scale" not in image:
                image["width"], image["height"] = (str(value) for value in size)
            if image.get("alt", uri) == uri:
                image["alt"] = alt_text(svg, self.config.language or "")


def _ancestors(node: nodes.Node):
    node = node.parent
    while node is not None:
        if isinstance(node, nodes.Element):
            yield node
        node = node.parent


def setup_figures(app: Sphinx) -> None:
    app.add_transform(FigureText)
