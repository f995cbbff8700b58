"""The reader's site: local math, per-framework notebook downloads, and no third-party requests.

- MathJax is served from ``_static`` (installed by ``python -m d2lext.vendor``), not from a CDN.
- Each executed page links its per-framework notebooks under its title.
- After writing, every page written in this build is checked: a script or stylesheet from
  another site, or a local one that is missing, fails the build.
"""

from __future__ import annotations

import html
import re
import shutil
import time
from pathlib import Path

import jieba
import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.search import _MINIFIED_JS_PATH
from sphinx.search.zh import SearchChinese
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

from . import vendor
from .cache import Cache
from .errors import BookError, stop_on_book_errors
from .execute import Run
from .notebooks import framework_notebook, site_path

logger = logging.getLogger(__name__)

SPHINX_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax"

#: Section titles of the book that jieba should keep whole (set while planning each build).
BOOK_TERMS: list[str] = []
_CJK_TERM = re.compile(r"^[\u4e00-\u9fff]{2,12}$")


def note_terms(titles) -> None:
    """Remember the book's Chinese section titles as words for the search index."""
    BOOK_TERMS[:] = sorted({title.strip() for title in titles if _CJK_TERM.match(title.strip())})


class ChineseSearch(SearchChinese):
    """Sphinx's Chinese search (jieba), with two changes.

    - The book's section titles are words: jieba splits 鞍点 (saddle point) into 鞍 and 点 and
      drops both as too short, so a reader searching a section's own title found nothing.
    - Its JavaScript stemmer is defined: Sphinx 9.0 names it ``ChineseStemmer`` but ships only
      ``EnglishStemmer``, so the search page never finishes (sphinx-doc/sphinx#14229).
    """

    js_stemmer_rawcode = ""
    js_stemmer_code = "\n".join(
        [
            (_MINIFIED_JS_PATH / "base-stemmer.js").read_text(encoding="utf8"),
            (_MINIFIED_JS_PATH / SearchChinese.js_stemmer_rawcode).read_text(encoding="utf8"),
            "window.Stemmer = EnglishStemmer;",
        ]
    )

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        for term in BOOK_TERMS:
            jieba.add_word(term)


_LABELS = {"zh": "下载 Notebook:", "": "Download notebook:"}


def use_local_mathjax(app: Sphinx, config) -> None:
    """Serve MathJax from the site unless conf.py chose another ``mathjax_path``."""
    if str(config.mathjax_path).startswith(SPHINX_MATHJAX):
        config.mathjax_path = vendor.MATHJAX_SCRIPT
        config.mathjax3_config = config.mathjax3_config or {"tex": {"tags": "ams"}}


def copy_mathjax(app: Sphinx) -> None:
    """Put MathJax into ``_static`` when a page has math (once: its version is checked, not its 300 files)."""
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


def note_build_start(app: Sphinx) -> None:
    """Pages written after this are the ones the third-party check reads."""
    app.d2l_write_started = time.time()


def link_notebooks(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Write the page's per-framework notebooks and link them under its title."""
    from .sphinx_ import PLAN, RUNS, state_dir  # this build's plan and runs

    if app.builder.format != "html" or not PLAN or docname not in PLAN[0].chapters:
        return
    plan = PLAN[0]
    chapter = plan.chapters[docname]
    cache = Cache(state_dir(app))
    links = []
    for framework in plan.config.selected_frameworks:
        key = plan.keys.get((docname, framework.name))
        result = RUNS.get((docname, framework.name))  # read this build; else written from the cache
        if result is None and key:
            result = cache.load(Run(chapter, framework), key)
        if result is None:  # no cells for it, or its run failed (KEEP_GOING)
            continue
        target = Path(app.outdir) / site_path(docname, framework.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = nbformat.writes(framework_notebook(chapter, framework, result, app.env.myst_config))
        if not target.exists() or target.read_text(encoding="utf8") != text:
            target.write_text(text, encoding="utf8")
        uri = relative_uri(app.builder.get_target_uri(docname), site_path(docname, framework.name))
        links.append(
            f'<a class="d2l-notebook d2l-notebook-{framework.name}" href="{html.escape(uri)}" download>'
            f"{html.escape(framework.label)}</a>"
        )
    if not links:
        return
    language = (app.config.language or "").split("_")[0]
    label = html.escape(_LABELS.get(language, _LABELS[""]))
    markup = f'<p class="d2l-notebooks">{label} {" | ".join(links)}</p>'
    header = nodes.raw("", markup, format="html")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and isinstance(section[0], nodes.title):
        section.insert(1, header)
    else:
        doctree.insert(0, header)


_TAG = re.compile(r"<(script|link)\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""\b(src|href|rel)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_LOADED_LINKS = {"stylesheet", "preload", "modulepreload", "icon", "manifest", "prefetch"}
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""(?:@import\s+|url\(\s*)["']?((?:[a-z][a-z0-9+.-]*:)?//[^"')\s]+)""", re.IGNORECASE)


def page_problems(page: Path, outdir: Path) -> list[str]:
    """Scripts and stylesheets a page would load from another site, or that are missing."""
    problems = []
    text = page.read_text(encoding="utf8", errors="replace")
    for match in _TAG.finditer(text):
        tag = match.group(1).lower()
        attributes = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _ATTRIBUTE.finditer(match.group(2))
        }
        if tag == "script":
            address = attributes.get("src")
        elif set(attributes.get("rel", "").lower().split()) & _LOADED_LINKS:
            address = attributes.get("href")
        else:
            continue
        if not address or address.startswith("data:"):
            continue
        kind = "script" if tag == "script" else "stylesheet" if "stylesheet" in attributes.get("rel", "") else "file"
        if _EXTERNAL.match(address) or address.startswith(("http:", "https:")):
            problems.append(f"loads the {kind} {address} from another site")
        else:
            local = (page.parent / address.split("?")[0].split("#")[0]).resolve()
            if not local.is_relative_to(outdir.resolve()) or not local.is_file():
                problems.append(f"loads the {kind} {address}, which the site does not have")
    return problems


def stylesheet_problems(path: Path) -> list[str]:
    return [f"imports {url} from another site" for url in _CSS_URL.findall(path.read_text("utf8", errors="replace"))]


@stop_on_book_errors
def finish_site(app: Sphinx, exception: Exception | None) -> None:
    """Copy MathJax, then fail the build if a page written now would load a script or stylesheet from elsewhere."""
    if exception is not None or app.builder.format != "html":
        return
    copy_mathjax(app)
    outdir = Path(app.outdir)
    since = getattr(app, "d2l_write_started", 0.0)
    problems = []
    for page in sorted(outdir.rglob("*.html")):
        if page.stat().st_mtime >= since:
            problems += [f"{page.relative_to(outdir)}: {problem}" for problem in page_problems(page, outdir)]
    static = outdir / "_static"
    for sheet in sorted(static.rglob("*.css")) if static.is_dir() else []:  # copies may keep old times
        problems += [f"{sheet.relative_to(outdir)}: {problem}" for problem in stylesheet_problems(sheet)]
    if problems:
        raise BookError(
            "pages must load nothing from other sites (readers may have no access to them):\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
