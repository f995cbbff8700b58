"""`make pdf`: a PDF per framework, read back with poppler's tools and pypdf; the site offers it.

One small d2l-book project (Chinese, a figure file, an equation, citations), PyTorch only, plus a
plot in each framework. One page is rendered to PNG in `_build/test-output/pdf/` to be looked at.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pypdf
import pytest
from bs4 import BeautifulSoup
from conftest import REPO
from test_d2lbook import build_project, d2lbook_project

from d2lext.files import display_path
from d2lext.pdf import latex_error

PAGE = "chapter_basics/tensors"
PICTURES = REPO / "_build" / "test-output" / "pdf"
PLOTS = """
```{.python .input}
#@tab pytorch
import matplotlib.pyplot as plt
plt.plot([1, 3, 2])
plt.title('torch plot')
```

```{.python .input}
#@tab numpy
import matplotlib.pyplot as plt
plt.plot([3, 1, 2])
plt.title('numpy plot')
```
"""

needs_tex = pytest.mark.skipif(
    shutil.which("xelatex") is None or shutil.which("pdftotext") is None,
    reason="*** PDF TESTS SKIPPED: xelatex or poppler is not installed (`make test` installs them as root) ***",
)


def test_a_latex_error_is_its_first_line_and_the_log_to_read(tmp_path):
    (tmp_path / "d2l.log").write_text(
        "This is XeTeX\n(./d2l.tex\n! Undefined control sequence.\nl.42 \\nosuchmacro\n\n! Emergency stop.\n"
    )
    assert latex_error(tmp_path) == (
        f"Undefined control sequence. l.42 \\nosuchmacro (see {display_path(tmp_path / 'd2l.log')})"
    )
    assert latex_error(tmp_path / "nothing") == f"see the .log files in {display_path(tmp_path / 'nothing')}"


def figures(pdf: Path) -> int:
    """How many figures the PDF draws: each included PDF figure is a form XObject (vector
    figures are no images to `pdfimages`), each raster one an image XObject."""
    count = 0
    for page in pypdf.PdfReader(pdf).pages:
        resources = page.get("/Resources")
        objects = resources.get_object().get("/XObject") if resources is not None else None
        if objects is not None:
            kinds = [ref.get_object()["/Subtype"] for ref in objects.get_object().values()]
            count += sum(1 for kind in kinds if kind in ("/Form", "/Image"))
    return count


@needs_tex
@pytest.mark.slow
def test_make_pdf_gives_one_framework_s_book_and_the_site_offers_it(tmp_path):
    root = d2lbook_project(tmp_path / "book", "d2lbook")
    with open(root / "chapter_basics" / "tensors.md", "a") as chapter:
        chapter.write(PLOTS)
    post_latex(root, POST_LATEX)
    done = subprocess.run(
        ["make", "-C", str(REPO), "pdf", f"BOOK={root}", "FRAMEWORKS=torch"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pdf = root / "_build" / "pdf" / "tiny-d2l-torch.pdf"  # config.ini's [project] name
    assert f"PDF for PyTorch: {pdf}" in done.stdout
    assert not (root / "_build" / "pdf" / "tiny-d2l-numpy.pdf").exists()

    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "小小深度学习" in text and "1.1 张量" in text  # the title and the numbered section
    assert "公式 (1.1.1) 给出求和" in text and "(1.1.2)" in text  # numbered equations, referenced
    assert "图 1.1.1: 一个方块" in text and "表 1.1.1: 几个张量的大小" in text
    assert "[Wigner, 1958]" in text and "On the distribution of the roots" in text  # the bibliography
    assert "目录" in text and "CHAPTER" not in text  # the table of contents; chapters headed by their number
    assert "本书经后处理脚本处理" in text  # config.ini's [pdf] post_latex ran on the .tex file
    # PyTorch's listings (aliases applied), outputs and prose; no other framework's.
    assert "from d2l import torch as d2l" in text and "x = torch.arange(6, dtype=torch.float32)" in text
    assert "total 15.0 torch" in text and "PyTorch 读者看这里" in text
    assert "numpy as d2l" not in text and "numpy plot" not in text and "total 15.0 numpy" not in text
    assert "torch plot" in text  # the listing of PyTorch's plot
    assert figures(pdf) == 2  # img/square.svg and PyTorch's plot, both SVG converted to PDF
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(listed.splitlines()) == 2  # pdfimages' header only: the figures are vector, not images

    PICTURES.mkdir(parents=True, exist_ok=True)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    first = next(n for n in range(1, pages + 1) if "1.1 张量" in _page_text(pdf, n) and "方块" in _page_text(pdf, n))
    png = PICTURES / "tensors-torch"
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", "-singlefile", "-f", str(first), "-l", str(first), str(pdf), str(png)]
    )
    assert png.with_suffix(".png").stat().st_size > 10_000

    # The site, built after it, links it under every page's title and serves it.
    site = build_project(root)
    assert site.returncode == 0, site.output
    page = BeautifulSoup((root / "_build" / "html" / f"{PAGE}.html").read_text(), "html.parser")
    offer = page.select_one("p.d2l-pdfs")
    assert offer.get_text(" ", strip=True) == "PDF: PyTorch"  # no NumPy PDF was made
    assert offer.a["href"] == "../pdf/tiny-d2l-torch.pdf"
    assert (root / "_build" / "html" / "pdf" / "tiny-d2l-torch.pdf").read_bytes() == pdf.read_bytes()
    index = BeautifulSoup((root / "_build" / "html" / "index.html").read_text(), "html.parser")
    assert index.select_one("p.d2l-pdfs a")["href"] == "pdf/tiny-d2l-torch.pdf"


@needs_tex
@pytest.mark.slow
def test_a_post_latex_script_that_fails_is_one_line_and_no_pdf(tmp_path):
    root = d2lbook_project(tmp_path / "book", "d2lbook")
    post_latex(root, "import regex_not_installed_here\n")  # as d2l-zh's imports regex
    done = subprocess.run(
        ["make", "-C", str(REPO), "pdf", f"BOOK={root}", "FRAMEWORKS=torch"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode != 0
    script = display_path(root / "static" / "post_latex" / "main.py")
    assert (
        f"ERROR: Book error: {script} (d2l_post_latex) failed on the PyTorch PDF's tiny-d2l.tex: "
        "ModuleNotFoundError: No module named 'regex_not_installed_here'"
    ) in done.stderr.splitlines()
    assert not (root / "_build" / "pdf").exists()


#: A post_latex script, as d2l-zh's edits its .tex file (it unnumbers some sections).
POST_LATEX = r"""import sys

path = sys.argv[1]
with open(path, encoding="utf8") as tex:
    text = tex.read()
with open(path, "w", encoding="utf8") as tex:
    tex.write(text.replace("\\sphinxtableofcontents", "本书经后处理脚本处理\n\n\\sphinxtableofcontents", 1))
"""


def post_latex(root: Path, script: str) -> None:
    """Give the d2l-book project a ``[pdf] post_latex`` script."""
    (root / "static" / "post_latex").mkdir(parents=True)
    (root / "static" / "post_latex" / "main.py").write_text(script)
    with open(root / "config.ini", "a") as config:
        config.write("\n[pdf]\npost_latex = ./static/post_latex/main.py\n")


def _page_text(pdf: Path, number: int) -> str:
    found = subprocess.run(
        ["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"], capture_output=True, text=True
    )
    return found.stdout
