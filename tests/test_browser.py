"""What readers see, in a real browser: Debian's chromium driven by Playwright, with the network cut.

The built book is served on 127.0.0.1; every request to any other host is blocked and recorded.
Screenshots of section 11.1 in each framework are saved under `_build/test-output/browser/`.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import nbformat
import pytest
from conftest import EVERY_FRAMEWORK, EVERY_LABEL, PAGE, REPO, build, write_book

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "_build" / "test-output" / "browser"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STORAGE_KEY = "sphinx-design-tab-id-framework"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="*** BROWSER TESTS SKIPPED: Debian's chromium is not installed (`make test` installs it as root) ***",
)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(real_book):
    """The built site on a loopback port."""
    handler = functools.partial(QuietHandler, directory=str(real_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def serve(folder: Path):
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def every_site(every_framework_book):
    """The site built with every framework, on a loopback port."""
    server = serve(every_framework_book.html)
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


class Reader:
    """A fresh browser profile (no stored choice) whose network stops at the loopback site."""

    def __init__(self, browser, site: str):
        self.site = site
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda request: self.failed.append(f"{request.url} {request.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} {r.status}"))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.console: list[str] = []  # errors scripts log, such as the theme's "invalid theme mode"
        self.page.on("console", lambda message: message.type == "error" and self.console.append(message.text))

    def _route(self, route) -> None:
        if route.request.url.startswith(self.site):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def open(self, path: str) -> None:
        self.page.goto(self.site + path)
        self.page.wait_for_load_state("load")

    def chosen(self) -> list[str]:
        """The label of the checked tab of every framework tab set on the page."""
        return self.page.eval_on_selector_all(
            ".sd-tab-set > input:checked + label[data-sync-group='framework']",
            "labels => labels.map(label => label.textContent.trim())",
        )

    def stored(self):
        return self.page.evaluate(f"() => window.localStorage.getItem('{STORAGE_KEY}')")


@pytest.fixture
def reader(browser, site):
    reader = Reader(browser, site)
    yield reader
    reader.context.close()


def typeset(reader: Reader) -> None:
    """Math is typeset when the site is built: what is left to wait for is the fonts."""
    reader.page.evaluate("() => document.fonts.ready.then(() => true)")


def test_section_loads_only_from_the_site_and_typesets_math(reader, real_book):
    requested: list[str] = []
    reader.page.on("request", lambda request: requested.append(request.url))
    reader.open(f"{PAGE}.html")
    typeset(reader)
    assert reader.external == [] and reader.failed == [] and reader.errors == []
    assert reader.console == []  # a first visit: no "Got invalid theme mode", no missing favicon.ico
    math = real_book.page(PAGE).select(".math")
    assert len(math) > 20
    assert reader.page.locator("mjx-container").count() == len(math)
    text = reader.page.locator("main").inner_text()
    assert "\\(" not in text and "\\[" not in text and "$$" not in text
    # Typeset when the site was built: the page loads no math script, only MathJax's fonts.
    assert not [url for url in requested if url.endswith(".js") and "mathjax" in url.lower()], requested
    assert [url for url in requested if "/mathjax/" in url and url.endswith(".woff")]
    # Screen readers get each formula as MathML, as MathJax gives it in a browser.
    assert reader.page.locator("mjx-container mjx-assistive-mml math").count() == len(math)
    # Selected and copied with the text around it, a formula is its TeX (the glyphs are not text).
    reader.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=reader.site.rstrip("/"))
    paragraph = reader.page.locator("p:has(mjx-container)").first
    paragraph.evaluate("p => window.getSelection().selectAllChildren(p)")
    reader.page.keyboard.press("Control+C")
    copied = reader.page.evaluate("() => navigator.clipboard.readText()")
    assert "$f(x)$" in copied and copied.startswith("对于任何目标函数")
    # Drawn at the size MathJax gives it in a browser: x-height matched to the text around it.
    ratio = reader.page.locator("p mjx-container").first.evaluate(
        "c => parseFloat(getComputedStyle(c).fontSize) / parseFloat(getComputedStyle(c.parentElement).fontSize)"
    )
    assert 1.0 < ratio < 1.6
    assert re.search(r"^2\.1 优化和深度学习", reader.page.locator("main h1:has(.section-number)").inner_text())


def test_one_click_switches_every_listing_and_the_choice_follows_the_reader(reader):
    reader.open(f"{PAGE}.html")
    groups = len(reader.chosen())
    assert groups == 7 and set(reader.chosen()) == {"PyTorch"}
    reader.page.locator("label.sd-tab-label", has_text="NumPy").first.click()
    assert reader.chosen() == ["NumPy"] * groups
    visible = [img for img in reader.page.locator(".cell_output img").all() if img.is_visible()]
    assert len(visible) == 5  # NumPy's five figures, and only them
    numpy_figures = reader.page.locator("input:checked + label:text('NumPy') + .sd-tab-content img")
    assert numpy_figures.count() == 5 and all(img.is_visible() for img in numpy_figures.all())
    assert reader.stored() == "numpy"
    reader.open("chapter_preliminaries/plotting.html")  # another page
    assert set(reader.chosen()) == {"NumPy"}
    assert reader.page.locator(".d2l-framework-torch").is_hidden()  # PyTorch-only prose
    reader.page.reload()
    assert set(reader.chosen()) == {"NumPy"}
    assert reader.external == [] and reader.failed == [] and reader.errors == []


def test_tabs_work_from_the_keyboard(reader):
    reader.open(f"{PAGE}.html")
    first = reader.page.locator(".sd-tab-set > input:checked").first
    first.focus()  # the checked tab is in the focus order (Tab reaches it)
    assert reader.page.evaluate("() => document.activeElement.tabIndex") >= 0
    reader.page.keyboard.press("ArrowRight")
    assert set(reader.chosen()) == {"NumPy"}
    reader.page.keyboard.press("ArrowLeft")
    assert set(reader.chosen()) == {"PyTorch"}
    assert reader.stored() == "torch"


def test_a_choice_this_page_lacks_keeps_the_page_usable_and_the_choice_intact(reader):
    reader.context.add_init_script(f"window.localStorage.setItem('{STORAGE_KEY}', 'mxnet')")
    reader.open(f"{PAGE}.html")
    assert set(reader.chosen()) == {"PyTorch"}  # what the page has, first tab
    assert len([img for img in reader.page.locator(".cell_output img").all() if img.is_visible()]) == 5
    assert reader.stored() == "mxnet"  # not overwritten for pages that have MXNet code
    assert reader.errors == []


#: Words and phrases of 11.1's text; Sphinx's jieba index found none but the section titles.
SEARCHES = [
    "鞍点",
    "梯度消失",
    "经验风险",
    "损失函数",
    "目标函数",
    "泛化误差",
    "过拟合",
    "全局最小值",
    "黑塞矩阵",
    "小批量随机梯度下降",
]


@pytest.mark.parametrize("query", SEARCHES)
def test_chinese_search_finds_the_section(reader, query):
    reader.open(f"search.html?q={query}")  # the address readers share
    results = reader.page.locator("#d2l-search-results ul.search li")
    results.first.wait_for(timeout=15000)
    first = results.first
    link = first.locator("a")
    assert link.get_attribute("href").endswith("chapter_optimization/optimization-intro.html"), link.inner_text()
    assert link.inner_text() == "2.1 优化和深度学习"  # numbered, as the page's title
    snippet = first.locator("p.context").inner_text()
    assert snippet and "\\(" not in snippet and "\\[" not in snippet and "$" not in snippet  # no TeX
    assert query in snippet  # the snippet shows the word searched for
    marks = first.locator("p.context mark").all_inner_texts()
    assert marks and set(marks) == {query}  # highlighted whole, not character by character
    assert reader.page.locator("#search-results").is_hidden()  # one list of results
    boxes = [box for box in reader.page.locator("input[name=q], .search-button-field").all() if box.is_visible()]
    assert len(boxes) == 1  # one search box: the page's own
    link.click()
    reader.page.wait_for_load_state("load")
    assert reader.page.url.endswith("chapter_optimization/optimization-intro.html")
    assert reader.external == [] and reader.errors == []


def test_search_snippets_read_math_as_text(reader):
    """特征值 (eigenvalue): its sentence has formulas, "输入是$k$维向量 ... 将有$k$个特征值"; the
    snippet reads them as text instead of leaving holes ("是维向量…将有个特征值")."""
    reader.open("search.html?q=特征值")
    first = reader.page.locator("#d2l-search-results ul.search li").first
    first.wait_for(timeout=15000)
    snippet = first.locator("p.context").inner_text()
    assert "k个特征值" in snippet and "k维向量" in snippet
    assert first.locator("p.context mark").all_inner_texts() == ["特征值"]


def test_notebook_link_downloads_the_chosen_frameworks_notebook(reader, tmp_path):
    reader.open(f"{PAGE}.html")
    reader.page.locator("label.sd-tab-label", has_text="NumPy").first.click()
    chosen = reader.page.locator("a.d2l-notebook.d2l-chosen")
    assert chosen.inner_text() == "NumPy"
    with reader.page.expect_download() as download:
        chosen.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "optimization-intro-numpy.ipynb"  # not the same name as the other frameworks'
    notebook = nbformat.read(saved, as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "from d2l import numpy as d2l" in code and "torch" not in code
    figures = [
        o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/svg+xml" in o.get("data", {})
    ]
    assert len(figures) == 5
    assert notebook.metadata.kernelspec.name == "python3"


def test_figures_are_inline_svg_with_text_and_the_size_the_code_asks(reader):
    reader.open(f"{PAGE}.html")
    figures = [img for img in reader.page.locator(".cell_output img").all() if img.is_visible()]
    assert len(figures) == 5
    for image in figures:
        assert image.get_attribute("loading") == "lazy"
        room = image.evaluate("img => img.getBoundingClientRect().width")  # kept before it loads
        image.scroll_into_view_if_needed()  # where the reader gets to it: it loads
        image.evaluate("img => img.decode()")
        assert abs(image.evaluate("img => img.getBoundingClientRect().width") - room) <= 1  # the page did not jump
        assert image.get_attribute("src").endswith(".svg")
        assert image.get_attribute("alt").startswith("图:") and "_images" not in image.get_attribute("alt")
        natural = image.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
        assert natural[0] > 200 and abs(natural[0] - natural[1]) <= 1  # drawn at the size matplotlib set
    # The first figure: d2l.plot draws at its default figsize=(3.5, 2.5) inches, 336 x 240 CSS px,
    # plus the few pixels the inline backend's tight bounding box adds around the axes labels.
    width, height = figures[0].evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert 336 <= width <= 366 and 240 <= height <= 260


def test_copy_buttons_sit_on_code_not_on_outputs_and_copy_the_code(reader):
    reader.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=reader.site.rstrip("/"))
    reader.open(f"{PAGE}.html")
    assert reader.page.locator(".cell_input .copybtn").count() > 0
    assert reader.page.locator(".cell_output .copybtn").count() == 0
    # The listing that defines f and g (PyTorch tab, shown first).
    listing = reader.page.locator(".cell_input:visible", has_text="def f(x)").first
    listing.hover()
    listing.locator(".copybtn").click()
    copied = reader.page.evaluate("() => navigator.clipboard.readText()")
    assert copied.strip() == listing.locator("pre").inner_text().strip()
    assert copied.startswith("def f(x):") and "torch.cos" in copied and "#@save" not in copied
    button = reader.page.locator(".cell_input:visible .copybtn").nth(3)  # not the one just clicked
    button.focus()  # reached from the keyboard: visible without hovering
    reader.page.mouse.move(0, 0)
    reader.page.wait_for_timeout(400)  # the button fades in over 0.3 s
    assert button.evaluate("b => getComputedStyle(b).opacity") == "1"


EVERY_FIGURE_LOADED = """() => Promise.all([...document.querySelectorAll('img[loading=lazy]')]
    .filter((img) => img.checkVisibility())
    .map((img) => { img.loading = 'eager'; return img.decode().catch(() => null); }))"""


def test_screenshots_of_the_section_in_each_framework(reader):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reader.open(f"{PAGE}.html")
    typeset(reader)
    for label, name in (("PyTorch", "torch"), ("NumPy", "numpy")):
        reader.page.locator("label.sd-tab-label", has_text=label).first.click()
        # The whole page at once: its lazy figures as a reader scrolling down would have them.
        reader.page.evaluate(EVERY_FIGURE_LOADED)
        reader.page.screenshot(path=str(SCREENSHOTS / f"optimization-intro-{name}.png"), full_page=True)
        reader.page.screenshot(path=str(SCREENSHOTS / f"optimization-intro-{name}-top.png"))
    for name in ("torch", "numpy"):
        shot = SCREENSHOTS / f"optimization-intro-{name}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


LABELS = dict(zip(EVERY_FRAMEWORK, EVERY_LABEL, strict=True))


def test_six_tabs_one_choice_for_every_listing_and_page(browser, every_site):
    reader = Reader(browser, every_site)
    try:
        reader.open(f"{PAGE}.html")
        assert reader.chosen() == ["MXNet"] * 7  # nothing stored yet: the first tab
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for framework in [*EVERY_FRAMEWORK[1:-1], EVERY_FRAMEWORK[0], EVERY_FRAMEWORK[-1]]:  # a change each time
            reader.page.locator("label.sd-tab-label", has_text=LABELS[framework]).first.click()
            assert reader.chosen() == [LABELS[framework]] * 7
            assert reader.stored() == framework
            visible = [img for img in reader.page.locator(".cell_output img").all() if img.is_visible()]
            assert len(visible) == 5, framework
            reader.page.screenshot(path=str(SCREENSHOTS / f"all-frameworks-{framework}-top.png"))
        reader.open("chapter_preliminaries/plotting.html")  # the last choice, JAX, follows the reader
        assert set(reader.chosen()) == {"JAX"}
        # Its example draws the same figure in every framework (MXNet's matplotlib is another
        # release, which writes other bytes): shown once.
        assert reader.page.locator(".cell_output img").count() == 1
        reader.open("api.html")
        assert set(reader.chosen()) == {"JAX"}
        assert reader.page.locator("dt#d2l\\.jax\\.annotate").is_visible()
        assert reader.external == [] and reader.failed == [] and reader.errors == []
    finally:
        reader.context.close()


def test_six_tabs_fit_a_phone(browser, every_site):
    reader = Reader(browser, every_site)
    try:
        reader.page.set_viewport_size({"width": 390, "height": 844})
        reader.open(f"{PAGE}.html")
        reader.page.locator("label.sd-tab-label", has_text="Paddle").first.click()
        labels = reader.page.locator(".d2l-tabs").first.locator("label.sd-tab-label")
        assert labels.count() == 6 and all(label.is_visible() for label in labels.all())
        page_width = reader.page.evaluate("() => document.documentElement.scrollWidth")
        assert page_width <= 390  # the tab labels wrap instead of widening the page
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        reader.page.screenshot(path=str(SCREENSHOTS / "all-frameworks-phone.png"))
    finally:
        reader.context.close()


def test_a_save_marker_links_to_its_api_entry(reader):
    reader.open(f"{PAGE}.html")
    marker = reader.page.locator(".cell_input:visible a.d2l-save-link").first
    assert marker.inner_text() == "#@save"
    assert marker.get_attribute("href") == "../api.html#d2l.torch.annotate"  # PyTorch, the first tab
    marker.click()
    reader.page.wait_for_load_state("load")
    assert reader.page.url.endswith("/api.html#d2l.torch.annotate")
    assert reader.page.locator("dt#d2l\\.torch\\.annotate").is_visible()
    assert reader.errors == []


def test_a_save_marker_of_a_shared_listing_follows_the_chosen_framework(reader):
    """A listing shown once for every framework: its markers lead to the chosen framework's entry,
    and a marker at the end of a definition over several lines names that definition."""
    reader.open("chapter_preliminaries/plotting.html")
    shared = reader.page.locator(".cell:not(.sd-tab-content .cell) .cell_input a.d2l-save-link")
    assert shared.count() == 4  # use_svg_display, set_figsize, set_axes, plot: outside any tab
    first, last = shared.first, shared.last
    assert first.get_attribute("href") == "../api.html#d2l.torch.use_svg_display"  # PyTorch, the first tab
    assert first.get_attribute("title") == "d2l.torch.use_svg_display"
    assert last.get_attribute("title") == "d2l.torch.plot"  # def plot(X, ..., \n ..., axes=None):  #@save
    reader.page.locator("label.sd-tab-label", has_text="NumPy").first.click()
    assert first.get_attribute("href") == "../api.html#d2l.numpy.use_svg_display"
    assert last.get_attribute("title") == "d2l.numpy.plot"
    last.click()
    reader.page.wait_for_load_state("load")
    assert reader.page.url.endswith("/api.html#d2l.numpy.plot")
    assert reader.page.locator("dt#d2l\\.numpy\\.plot").is_visible()
    reader.open("chapter_preliminaries/plotting.html")  # the stored choice, on arriving
    assert shared.first.get_attribute("title") == "d2l.numpy.use_svg_display"
    assert reader.errors == []


def shown(reader, selector: str):
    """The one button matching ``selector`` that a reader can see."""
    (button,) = [b for b in reader.page.locator(selector).all() if b.is_visible()]
    return button


def test_on_a_phone_the_menu_and_the_page_contents_open_and_their_links_work(reader):
    reader.page.set_viewport_size({"width": 390, "height": 844})
    reader.open(f"{PAGE}.html")
    navigation = reader.page.locator("#pst-primary-sidebar-modal")
    assert not navigation.evaluate("dialog => dialog.open")
    shown(reader, "button.primary-toggle").click()
    assert navigation.evaluate("dialog => dialog.open")
    link = navigation.locator("a.reference", has_text="参考文献")
    assert link.is_visible()
    reader.page.screenshot(path=str(SCREENSHOTS / "phone-menu.png"))
    reader.page.keyboard.press("Escape")
    assert not navigation.evaluate("dialog => dialog.open")

    contents = reader.page.locator("#pst-secondary-sidebar-modal")
    shown(reader, "button.secondary-toggle").click()
    assert contents.evaluate("dialog => dialog.open")
    entry = contents.locator("a", has_text="鞍点").first
    assert entry.is_visible()
    target = entry.get_attribute("href")
    entry.click()
    assert reader.page.url.endswith(target)  # the page went to that section
    if contents.evaluate("dialog => dialog.open"):
        box = contents.bounding_box()  # a tap beside the panel closes it, as on a phone
        reader.page.mouse.click(5 if box["x"] > 50 else 385, 420)
    assert not contents.evaluate("dialog => dialog.open")

    shown(reader, "button.primary-toggle").click()
    navigation.locator("a.reference", has_text="参考文献").click()
    reader.page.wait_for_load_state("load")
    assert reader.page.url.endswith("/references.html")
    assert reader.errors == []


def test_on_a_wide_screen_the_menu_button_folds_the_navigation(reader):
    reader.open(f"{PAGE}.html")
    sidebar = reader.page.locator("#pst-primary-sidebar")
    assert sidebar.is_visible()
    shown(reader, "button.primary-toggle").click()
    assert sidebar.is_hidden()
    assert reader.page.locator("main").bounding_box()["x"] < 100  # the page takes the room
    shown(reader, "button.primary-toggle").click()
    assert sidebar.is_visible()


#: A cold load of 11.1 with six frameworks, as a reader on a slow connection meets it: at most these.
MOST_BYTES, MOST_REQUESTS, MOST_DOM_READY_MS = 1_200_000, 35, 1000


@pytest.mark.parametrize("width", [390, 1280])
def test_section_with_six_frameworks_is_light(browser, every_site, width):
    """Bytes, requests and DOMContentLoaded of 11.1 (six tabs, 30 figures) loaded cold from the
    test server: no Font Awesome script, no math script, figures of hidden tabs not requested."""
    reader = Reader(browser, every_site)
    try:
        reader.page.set_viewport_size({"width": width, "height": 844})
        loaded: dict[str, int] = {}
        reader.page.on("requestfinished", lambda r: loaded.__setitem__(r.url, sum(r.sizes().values())))
        reader.open(f"{PAGE}.html")
        reader.page.wait_for_load_state("networkidle")
        ready = reader.page.evaluate("() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        weight = sum(size for url, size in loaded.items() if not url.startswith("data:"))
        heaviest = sorted(loaded.items(), key=lambda item: -item[1])[:5]
        assert weight < MOST_BYTES, heaviest
        assert len(loaded) < MOST_REQUESTS, sorted(loaded)
        assert ready < MOST_DOM_READY_MS
        assert not [url for url in loaded if "fontawesome.js" in url or "tex-mml-chtml" in url]
        figures = [url for url in loaded if "/_images/" in url]
        assert 0 < len(figures) <= 5  # the chosen tab's, as far as the reader has scrolled: not the 30
        # The icons are there all the same, drawn from the theme's font cut to them.
        icon = reader.page.locator(".theme-switch-button i.fa-solid:visible, button i.fa-solid:visible").first
        assert icon.evaluate("i => getComputedStyle(i, '::before').content") not in ("none", "normal", '""')
        assert icon.evaluate("i => document.fonts.check('900 16px \"Font Awesome 7 Free\"', i.textContent)")
        assert reader.external == [] and reader.failed == [] and reader.errors == []
    finally:
        reader.context.close()


#: Formulas of every kind the book has: inline, numbered display, aligned, fractions, matrices,
#: and an amsmath environment written without delimiters (MyST's amsmath extension).
MATH_CHAPTER = r"""# Math

For any objective function $f(x)$, if the value of $f(x)$ at $x$ is smaller than at any other
point near $x$, then $f(x)$ may be a local minimum; $\mathbf{H} \in \mathbb{R}^{d \times d}$ has $d$
eigenvalues, and $\frac{\partial^2 f}{\partial x_i \partial x_j}$ is one entry of it; $\boldsymbol{\epsilon}$
is bold (an extension MathJax loads when a formula needs it).

$$f(x) = x \cdot \cos(\pi x) \text{ for } -1.0 \leq x \leq 2.0,$$ (eq-first)

$$
\begin{aligned}
R(f) &= E_{p(x, y)} [\ell(f(x), y)] \\
\hat{R}(f) &= \frac{1}{n} \sum_{i=1}^n \ell(f(x_i), y_i)
\end{aligned}
$$ (eq-risk)

$$\mathbf{H} = \begin{bmatrix} \frac{\partial^2 f}{\partial x_1^2} & \cdots \\ \vdots & \ddots \end{bmatrix}$$

\begin{align}
a &= b + c \\
d &= e
\end{align}

See {eq}`eq-first` and {eq}`eq-risk`.
"""


@pytest.fixture(scope="module")
def math_sites(tmp_path_factory):
    """One chapter of formulas, typeset when built and typeset by MathJax in the browser."""
    sites = {}
    for where in ("build", "browser"):
        conf = 'math_number_all = True\nmyst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]'
        root = write_book(tmp_path_factory.mktemp(f"math-{where}"), MATH_CHAPTER, conf_extra=conf)
        result = build(root, "-D", f"d2l_math={where}")
        assert result.returncode == 0, result.output
        sites[where] = serve(result.html)
    yield {where: f"http://127.0.0.1:{server.server_port}/" for where, server in sites.items()}
    for server in sites.values():
        server.shutdown()


def test_math_typeset_when_built_looks_as_mathjax_draws_it_in_the_browser(browser, math_sites):
    from PIL import Image, ImageChops

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots: dict[str, list] = {}
    for where, site in math_sites.items():
        reader = Reader(browser, site)
        try:
            reader.open("chapter.html")
            if where == "browser":
                reader.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                reader.page.evaluate("() => MathJax.startup.promise")
            else:
                assert reader.page.locator("script[src*='mathjax']").count() == 0
            typeset(reader)
            assert reader.page.locator("span.eqno").count() == 4  # every display numbered, as math_number_all asks
            assert reader.page.locator("mjx-container").count() == reader.page.locator(".math").count() == 13
            assert reader.page.locator("mjx-merror").count() == 0
            # MathML for screen readers, as MathJax gives it in a browser.
            assert reader.page.locator("mjx-assistive-mml math").count() == 13
            boxes = reader.page.locator("mjx-container").evaluate_all(
                "cs => cs.map(c => { const r = c.getBoundingClientRect(); return [r.width, r.height]; })"
            )
            shots[where] = [boxes]
            for index, element in enumerate([reader.page.locator("p").first, *reader.page.locator("div.math").all()]):
                path = SCREENSHOTS / f"math-{where}-{index}.png"
                element.screenshot(path=str(path))
                shots[where].append(Image.open(path).convert("RGB"))
            assert reader.external == [] and reader.failed == [] and reader.errors == []
        finally:
            reader.context.close()
    built, in_browser = shots["build"], shots["browser"]
    for (width, height), (expected_width, expected_height) in zip(built[0], in_browser[0], strict=True):
        assert abs(width - expected_width) <= 0.5 and abs(height - expected_height) <= 0.5
    for mine, theirs in zip(built[1:], in_browser[1:], strict=True):
        assert mine.size == theirs.size
        difference = ImageChops.difference(mine, theirs).convert("L")
        strong = difference.point(lambda value: 255 if value > 96 else 0).histogram()[255]
        assert strong <= mine.size[0] * mine.size[1] // 1000  # anti-aliasing at most, not another drawing


LAUNCH_CONF = """
d2l_launch = {
    "Colab": {
        "url": "https://colab.research.google.com/github/{repo}/blob/master/{path}",
        "repos": {"torch": "d2l-ai/d2l-zh-pytorch-colab"},
    },
    "SageMaker Studio Lab": {
        "url": "https://studiolab.sagemaker.aws/import/github/{repo}/blob/master/{path}",
        "repos": {"torch": "d2l-ai/d2l-zh-pytorch-sagemaker", "numpy": "example/numpy-sagemaker"},
    },
}
"""
LAUNCH_CHAPTER = """# Chapter

```{code-cell} ipython3
:tags: [numpy]
print("numpy")
```

```{code-cell} ipython3
:tags: [torch]
print("torch")
```
"""


@pytest.fixture(scope="module")
def launch_site(tmp_path_factory):
    result = build(write_book(tmp_path_factory.mktemp("launch"), LAUNCH_CHAPTER, conf_extra=LAUNCH_CONF))
    assert result.returncode == 0, result.output
    server = serve(result.html)
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.mark.parametrize("width", [390, 1280])
def test_launch_links_follow_the_chosen_framework_and_ask_nothing_of_other_sites(browser, launch_site, width):
    reader = Reader(browser, launch_site)
    try:
        reader.page.set_viewport_size({"width": width, "height": 844})
        reader.open("chapter.html")
        line = reader.page.locator("p.d2l-notebooks + p.d2l-launch")  # under the title, after the downloads
        colab = line.locator(".d2l-launch-service", has_text="Colab")
        studio = line.locator(".d2l-launch-service", has_text="SageMaker Studio Lab")
        # NumPy, the first tab: no Colab notebooks of it; SageMaker Studio Lab's.
        assert reader.chosen() == ["NumPy"]
        assert colab.is_hidden() and studio.is_visible()
        assert studio.inner_text() == "SageMaker Studio Lab: NumPy"
        link = studio.locator("a:visible")
        assert link.get_attribute("href") == (
            "https://studiolab.sagemaker.aws/import/github/example/numpy-sagemaker/blob/master/chapter.ipynb"
        )
        reader.page.locator("label.sd-tab-label", has_text="PyTorch").first.click()
        assert line.inner_text() == "Run online: Colab: PyTorch · SageMaker Studio Lab: PyTorch"
        link = colab.locator("a:visible")
        assert link.get_attribute("href") == (
            "https://colab.research.google.com/github/d2l-ai/d2l-zh-pytorch-colab/blob/master/chapter.ipynb"
        )
        assert reader.page.evaluate("() => document.documentElement.scrollWidth") <= width
        assert reader.external == []  # nothing asked of Colab or anyone until the reader clicks
        link.click()
        reader.page.wait_for_timeout(300)
        assert reader.external and reader.external[0].startswith("https://colab.research.google.com/github/")
    finally:
        reader.context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_one_search_box_in_the_books_language(reader, width):
    reader.page.set_viewport_size({"width": width, "height": 844})
    reader.open(f"{PAGE}.html")

    def boxes():
        return [b for b in reader.page.locator(".search-button-field, .search-button").all() if b.is_visible()]

    assert len(boxes()) == 1
    boxes()[0].click()
    field = reader.page.locator("#pst-search-dialog input[name=q]")
    assert field.is_visible() and field.get_attribute("placeholder") == "搜索..."
    reader.page.keyboard.press("Escape")
    if width >= 992:  # the navigation folded away: its box goes with it, the top bar's comes back
        shown(reader, "button.primary-toggle").click()
        assert len(boxes()) == 1 and reader.page.locator("#pst-primary-sidebar").is_hidden()
    assert reader.errors == []
