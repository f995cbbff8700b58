"""The reader's site without a browser: notebooks, local math, and the third-party check."""

from __future__ import annotations

import re
import zipfile

import nbformat
from conftest import build, copy_book, write_book
from test_rebuild import rebuild

from d2lext.render.figures import alt_text, figure_texts
from d2lext.site.notebooks import framework_prose


def test_each_executed_page_has_a_notebook_per_framework_linked_under_its_title(basic_build):
    for docname in ("lib", "chapter"):
        page = basic_build.page(docname)
        header = page.select_one("section > h1 + p.d2l-notebooks")
        links = {a.get_text(): a["href"] for a in header.select("a.d2l-notebook")}
        assert list(links) == ["NumPy", "PyTorch"]
        for label, framework in (("NumPy", "numpy"), ("PyTorch", "torch")):
            assert links[label] == f"notebooks/{framework}/{docname}.ipynb"
            notebook = nbformat.read(basic_build.html / links[label], as_version=4)
            nbformat.validate(notebook)
            assert notebook.metadata.d2l.framework == framework
    torch = nbformat.read(basic_build.html / "notebooks/torch/chapter.ipynb", as_version=4)
    numpy = nbformat.read(basic_build.html / "notebooks/numpy/chapter.ipynb", as_version=4)
    torch_code = "\n".join(c.source for c in torch.cells if c.cell_type == "code")
    numpy_code = "\n".join(c.source for c in numpy.cells if c.cell_type == "code")
    assert "import torch" in torch_code and "np.arange" not in torch_code
    assert "np.arange" in numpy_code and "import torch" not in numpy_code
    torch_prose = "\n".join(c.source for c in torch.cells if c.cell_type == "markdown")
    numpy_prose = "\n".join(c.source for c in numpy.cells if c.cell_type == "markdown")
    assert "Only PyTorch readers see this sentence." in torch_prose and "{framework}" not in torch_prose
    assert "Only PyTorch readers see this sentence." not in numpy_prose
    figures = [
        o for c in torch.cells if c.cell_type == "code" for o in c.outputs if "image/svg+xml" in o.get("data", {})
    ]
    assert figures  # the outputs the build produced
    lib = nbformat.read(basic_build.html / "notebooks/torch/lib.ipynb", as_version=4)
    assert any("#@save" in c.source for c in lib.cells)  # markers tell readers what the package holds


def test_pages_with_math_are_typeset_when_written_and_load_only_its_fonts_from_the_site(basic_build):
    page = basic_build.page("chapter")
    math = page.select(".math")
    assert math
    assert not [s["src"] for s in page.select("script[src]") if "mathjax" in s["src"].lower()]
    assert len(page.select(".math mjx-container")) == len(math)  # every formula, as MathJax marks it up
    assert "\\(" not in page.get_text() and "\\[" not in page.get_text()
    (style,) = page.select("style#d2l-math")
    fonts = re.findall(r"url\(\"?([^)\"]+\.woff)\"?\)", style.string)
    assert fonts and all((basic_build.html / font).is_file() for font in fonts)
    assert not (basic_build.html / "_static/mathjax/tex-mml-chtml.js").exists()  # only the fonts are copied
    for html in basic_build.html.rglob("*.html"):
        text = html.read_text()
        assert not re.search(r"<script[^>]+src=\"(https?:)?//", text), html
        assert not re.search(r"<link[^>]+rel=\"stylesheet\"[^>]+href=\"(https?:)?//", text), html


def test_a_formula_mathjax_cannot_read_is_a_warning_at_its_page(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\nFine $x^2$, broken $\\frac{1}{$, bold $\\boldsymbol{x}$.\n")
    result = build(root)
    assert result.returncode == 0, result.output
    assert "chapter.md: WARNING: MathJax cannot read `\\frac{1}{`: Missing close brace [d2l.math]" in result.output
    page = result.page("chapter")
    assert len(page.select("mjx-container")) == 3 and len(page.select("mjx-merror")) == 1  # shown as MathJax shows it


def test_math_left_to_the_browser_loads_mathjax_from_the_site(tmp_path):
    root = write_book(tmp_path, "# Chapter\n\nInline $x^2$ and\n\n$$y = \\frac{1}{2}$$\n")
    result = build(root, "-D", "d2l_math=browser")
    assert result.returncode == 0, result.output
    page = result.page("chapter")
    scripts = [s["src"] for s in page.select("script[src]") if "mathjax" in s["src"].lower()]
    assert scripts == [s for s in scripts if s.startswith("_static/mathjax/tex-mml-chtml.js")] and scripts
    assert (result.html / "_static/mathjax/tex-mml-chtml.js").stat().st_size > 500_000
    assert (result.html / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir()
    assert "\\(x^2\\)" in page.get_text() and not page.select("mjx-container")


def test_a_third_party_script_fails_the_build_naming_page_and_address(tmp_path):
    root = write_book(
        tmp_path,
        "# Chapter\n\nText.\n",
        conf_extra='html_js_files = ["https://cdn.example.com/track.js"]\n'
        'html_css_files = ["https://fonts.example.com/font.css"]',
    )
    result = build(root)
    assert result.returncode == 2
    assert "pages must load nothing from other sites" in result.output
    assert "chapter.html: loads the script https://cdn.example.com/track.js from another site" in result.output
    assert "chapter.html: loads the stylesheet https://fonts.example.com/font.css from another site" in result.output
    assert "Traceback" not in result.output


def test_framework_prose_keeps_its_own_and_drops_the_others():
    from myst_parser.config.main import MdParserConfig

    text = "Intro.\n\n:::{framework} torch\nFor torch.\n:::\n\n```{framework} numpy, torch\nFor both.\n```\n\nEnd.\n"
    config = MdParserConfig(enable_extensions={"colon_fence"})
    assert framework_prose(text, "torch", config) == "Intro.\n\nFor torch.\n\nFor both.\n\nEnd.\n"
    assert framework_prose(text, "numpy", config) == "Intro.\n\n\nFor both.\n\nEnd.\n"


def test_figure_text_lists_labels_not_tick_numbers():
    svg = (
        "<g><!-- $\\mathdefault{0.5}$ --><!-- −1.0 --><!-- x --><!-- f(x) --><!-- local minimum -->"
        "<!-- x --><!-- 2 --></g>"
    )
    assert figure_texts(svg) == ["x", "f(x)", "local minimum"]
    assert alt_text(svg, "zh_CN") == "图:x、f(x)、local minimum"
    assert alt_text("<svg/>", "en") == "Figure: (no labels)"


def sidebar(result, page: str) -> list[str]:
    """The pages a page's navigation links to (its sidebar), in order."""
    links = result.page(page).select("nav.bd-docs-nav a.reference")
    return [link["href"] for link in links]


def test_navigation_follows_the_table_of_contents_on_every_page(tmp_path):
    root = copy_book("rebuild", tmp_path)
    first = rebuild(root, "-D", "d2l_selected=numpy", "-D", "html_theme=sphinx_book_theme")
    assert sidebar(first, "a") == ["lib.html", "#", "b.html"]

    (root / "c.md").write_text("# C\n\nA new page.\n")
    (root / "index.md").write_text("# Rebuild book\n\n```{toctree}\nlib\na\nb\nc\n```\n")
    added = rebuild(root, "-D", "d2l_selected=numpy", "-D", "html_theme=sphinx_book_theme")
    assert sidebar(added, "a") == ["lib.html", "#", "b.html", "c.html"]  # a was not read again
    assert added.page("b").select_one("a.right-next")["href"] == "c.html"

    (root / "b.md").unlink()
    (root / "index.md").write_text("# Rebuild book\n\n```{toctree}\nlib\na\nc\n```\n")
    removed = rebuild(root, "-D", "d2l_selected=numpy", "-D", "html_theme=sphinx_book_theme")
    assert not (removed.html / "b.html").exists()
    assert not list((removed.html / "notebooks").glob("*/b.ipynb"))
    assert sidebar(removed, "a") == ["lib.html", "#", "c.html"]


def test_a_label_on_several_lines_is_one_label_in_the_alt_text():
    svg = (
        '<g id="text_1"><!-- 0.5 --></g><g id="text_2"><!-- x --></g>'
        '<g id="text_3"><!-- min of --><path d="M 0 0"/><!-- empirical risk --></g>'
        '<g id="text_4"><!-- min of risk --></g>'
    )
    assert figure_texts(svg) == ["x", "min of empirical risk", "min of risk"]


def test_the_footer_names_the_books_authors_and_licences(real_book):
    page = real_book.page("chapter_optimization/optimization-intro")
    footer = " ".join(part.get_text(" ", strip=True) for part in page.select("footer"))
    assert "Aston Zhang, Zachary C. Lipton, Mu Li, Alexander J. Smola" in footer
    assert "CC BY-SA 4.0" in footer and "MIT-0" in footer
    assert "The book's authors" not in footer


def test_the_api_page_speaks_the_books_language(real_book):
    api = real_book.page("api").get_text(" ", strip=True)
    assert "定义于" in api and "Defined in" not in api
    assert '[torch]"' in api and "下载" in api


def test_the_install_hint_is_in_each_frameworks_tab(real_book):
    """`pip install "...[numpy]"` in NumPy's tab: the hint follows the reader's choice."""
    tabs = real_book.page("api").select(".sd-tab-set .sd-tab-content")
    assert len(tabs) == 2
    for tab, framework in zip(tabs, ["torch", "numpy"], strict=True):
        hint = tab.select_one(".d2l-api-install").get_text(" ", strip=True)
        assert f'pip install "d2l-2.0.0.tar.gz[{framework}]"' in hint
        assert f"from d2l import {framework} as d2l" in hint
    heading = real_book.page("api").select_one(".d2l-api-download").get_text(" ", strip=True)
    assert "[torch]" not in heading and "pip install d2l-2.0.0.tar.gz" in heading


def test_the_search_box_speaks_the_books_language(real_book):
    page = real_book.page("chapter_optimization/optimization-intro")
    assert [box["placeholder"] for box in page.select("input[placeholder]")] == ["搜索..."]
    assert "Search..." not in str(page)


def test_notebooks_are_plain_markdown_with_the_pages_outputs_numbered_from_one(real_book):
    page = real_book.page("chapter_optimization/optimization-intro")
    names = [a["download"] for a in page.select("a.d2l-notebook")]
    assert names == ["optimization-intro-torch.ipynb", "optimization-intro-numpy.ipynb"]
    notebook = nbformat.read(real_book.html / "notebooks/torch/chapter_optimization/optimization-intro.ipynb", 4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert prose.startswith("# 优化和深度学习")  # no MyST target before the title
    assert "(Wigner, 1958)" in prose and "{cite" not in prose and ")=" not in prose
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    streams = [o for c in code for o in c.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert streams == []  # the page hides the meshgrid warning (remove-stderr), and so does the notebook


def test_one_archive_of_all_notebooks_per_framework_named_after_the_book_and_framework(basic_build):
    archives = basic_build.page("chapter").select("a.d2l-notebooks-archive")
    # "Fixture book", its PyTorch notebooks: not torch.zip, which says neither
    names = ["fixture-book-numpy-notebooks.zip", "fixture-book-pytorch-notebooks.zip"]
    assert [a["href"] for a in archives] == [f"notebooks/{name}" for name in names]
    assert [a["download"] for a in archives] == names
    with zipfile.ZipFile(basic_build.html / "notebooks" / names[1]) as archive:
        top = "fixture-book-pytorch-notebooks"
        assert sorted(archive.namelist()) == [f"{top}/chapter.ipynb", f"{top}/lib.ipynb"]
        notebook = nbformat.reads(archive.read(f"{top}/chapter.ipynb").decode(), 4)
    assert "import torch" in "\n".join(c.source for c in notebook.cells)


def test_references_are_labelled_as_the_text_cites_them_and_pages_have_an_icon(real_book):
    references = real_book.page("references").get_text(" ", strip=True)
    assert "Wigner, 1958" in references and "Wig58" not in references
    page = real_book.page("chapter_optimization/optimization-intro")
    icon = page.select_one("link[rel=icon]")
    assert icon is not None and (real_book.html / "chapter_optimization" / icon["href"]).resolve().is_file()
    assert 'localStorage.getItem("mode") || "auto"' in str(page)  # no "invalid theme mode" on a first visit


def test_the_api_pages_contents_say_which_framework_each_entry_is(real_book):
    contents = [a.get_text(strip=True) for a in real_book.page("api").select(".bd-toc a, #pst-page-toc-nav a")]
    assert "d2l.torch.plot()" in contents and "d2l.numpy.plot()" in contents
    assert "plot()" not in contents


def test_the_themes_translatable_strings_are_in_the_books_language(real_book):
    page = real_book.page("chapter_optimization/optimization-intro")
    switcher = " ".join(str(tag) for tag in page.select(".theme-switch-button, .theme-switch"))
    assert "跟随系统设置" in switcher and "System Settings" not in switcher


def test_a_three_dimensional_figure_says_so(real_book):
    alts = [img["alt"] for img in real_book.page("chapter_optimization/optimization-intro").select(".cell_output img")]
    assert "图:三维图,x、y" in alts  # the 3-D saddle, in both frameworks' tabs
    assert "图:x、risk、min of empirical risk、min of risk" in alts


def test_a_no_op_build_does_not_index_the_site_again(tmp_path):
    root = copy_book("rebuild", tmp_path)
    rebuild(root, "-D", "d2l_selected=numpy")
    entry = root / "_build" / "html" / "pagefind" / "pagefind-entry.json"
    first = entry.stat().st_mtime_ns
    rebuild(root, "-D", "d2l_selected=numpy")
    assert entry.stat().st_mtime_ns == first
    (root / "a.md").write_text((root / "a.md").read_text().replace("Prose of A.", "Prose of A, edited."))
    rebuild(root, "-D", "d2l_selected=numpy")
    assert entry.stat().st_mtime_ns != first  # a written page: indexed again
