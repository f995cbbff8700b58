"""The site loads nothing from other sites: after writing, every page written in this build is checked.

A script or stylesheet from another site, or a local one that is missing, fails the build.
Links to other sites (the DOI of a citation) are of course allowed.
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path

from sphinx.application import Sphinx

from ..errors import BookError
from ..messages import stop_on_book_errors

_LOADED_LINKS = frozenset({"stylesheet", "preload", "modulepreload", "icon", "manifest", "prefetch"})
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:@import\s+|url\(\s*)["']?((?:[a-z][a-z0-9+.-]*:)?//[^"')\s]+)""", re.IGNORECASE)


class _Loads(HTMLParser):
    """A page's ``<script>`` and ``<link>`` tags, with their attributes (names in lower case,
    character references resolved; the first of an attribute given twice, as browsers read it).
    Text, comments and scripts' code are not tags, whatever they hold."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link"):
            attributes: dict[str, str] = {}
            for name, value in attrs:
                attributes.setdefault(name, value or "")
            self.tags.append((tag, attributes))


def loaded_tags(text: str) -> list[tuple[str, dict[str, str]]]:
    """``(tag, attributes)`` of each ``<script>`` and ``<link>`` of an HTML page, in order."""
    parser = _Loads()
    parser.feed(text)
    parser.close()
    return parser.tags


def page_problems(page: Path, outdir: Path) -> list[str]:
    """Scripts and stylesheets a page would load from another site, or that are missing."""
    problems = []
    for tag, attributes in loaded_tags(page.read_text(encoding="utf8", errors="replace")):
        rel = set(attributes.get("rel", "").lower().split())
        if tag == "script":
            address = attributes.get("src")
        elif rel & _LOADED_LINKS:
            address = attributes.get("href")
        else:
            continue
        if not address or address.startswith("data:"):
            continue
        kind = "script" if tag == "script" else "stylesheet" if "stylesheet" in rel else "file"
        if _EXTERNAL.match(address) or address.startswith(("http:", "https:")):
            problems.append(f"loads the {kind} {address} from another site")
        else:
            local = (page.parent / address.split("?")[0].split("#")[0]).resolve()
            if not local.is_relative_to(outdir.resolve()) or not local.is_file():
                problems.append(f"loads the {kind} {address}, which the site does not have")
    return problems


def stylesheet_problems(path: Path) -> list[str]:
    return [f"imports {url} from another site" for url in _CSS_URL.findall(path.read_text("utf8", errors="replace"))]


class OfflineCheck:
    """Reads the pages written since the builder started (older pages were checked when written)."""

    def __init__(self):
        self.started = 0.0

    def start(self, app: Sphinx) -> None:
        self.started = time.time()

    @stop_on_book_errors
    def finish(self, app: Sphinx, exception: Exception | None) -> None:
        if exception is not None or app.builder.format != "html":
            return
        outdir = Path(app.outdir)
        problems = []
        for page in sorted(outdir.rglob("*.html")):
            if page.stat().st_mtime >= self.started:
                problems += [f"{page.relative_to(outdir)}: {problem}" for problem in page_problems(page, outdir)]
        static = outdir / "_static"
        for sheet in sorted(static.rglob("*.css")) if static.is_dir() else []:  # copies may keep old times
            problems += [f"{sheet.relative_to(outdir)}: {problem}" for problem in stylesheet_problems(sheet)]
        if problems:
            raise BookError(
                "pages must load nothing from other sites (readers may have no access to them):\n"
                + "\n".join(f"  {problem}" for problem in problems)
            )


def setup_offline(app: Sphinx) -> None:
    check = OfflineCheck()
    app.connect("builder-inited", check.start)
    app.connect("build-finished", check.finish, priority=900)  # after MathJax and our assets are copied
