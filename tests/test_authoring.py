"""The report for authors: listings a framework lacks, outputs readers should not see, failed
cells, slowest runs; ``d2l_require_parity`` as warnings at ``path:line``."""

from __future__ import annotations

import json

from bs4 import BeautifulSoup
from conftest import build, copy_book

from d2lext.authoring.outputcheck import PATH, STDERR, WARNING, check_outputs, shown
from d2lext.authoring.parity import listings, missing_listings, parity_message
from d2lext.config import BookConfig, Framework
from d2lext.sources.cells import read_chapter

CONFIG = BookConfig(
    frameworks={name: Framework(name, name.title()) for name in ("torch", "numpy", "mxnet")},
    selected=("torch", "numpy"),
)
HEADER = "---\nfile_format: mystnb\n---\n\n# T\n\n"


def cell(tags: str, code: str) -> str:
    return (
        f"```{{code-cell}} ipython3\n{tags}\n{code}\n```\n\n" if tags else f"```{{code-cell}} ipython3\n{code}\n```\n\n"
    )


def test_a_listing_is_a_run_of_framework_cells_with_no_prose_between(tmp_path):
    path = tmp_path / "c.md"
    path.write_text(
        HEADER
        + cell(":tags: [torch]", "import torch")  # line 7
        + cell(":tags: [numpy]", "import numpy")
        + "Prose.\n\n"
        + cell(":tags: [torch]", "x = torch.ones(2)")  # line 19: NumPy lacks it
        + cell("", "print('shared')")  # shared cells end a listing and lack nothing
        + cell(":tags: [mxnet]", "from mxnet import np")  # line 28: only a framework not selected
        + cell(":tags: [numpy, torch]", "y = 1")
    )
    chapter = read_chapter(path, "c", CONFIG)
    assert [[c.line for c in group] for group in listings(chapter)] == [[7, 12], [19], [28, 33]]
    missing = missing_listings(chapter, CONFIG.selected)
    assert [(m.where, m.present, m.missing) for m in missing] == [
        (f"{chapter.display_path}:19", ("torch",), ("numpy",))
    ]
    labels = {"torch": "PyTorch", "numpy": "NumPy"}
    assert parity_message(missing[0], labels) == "listing for PyTorch only: NumPy lacks it"
    # With MXNet selected too, both listings without an MXNet cell lack one.
    every = missing_listings(chapter, ("torch", "numpy", "mxnet"))
    assert [(m.line, m.missing) for m in every] == [(7, ("mxnet",)), (19, ("numpy", "mxnet"))]


def stream(name: str, text: str) -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def test_outputs_with_warnings_stderr_or_machine_paths_are_found():
    found = check_outputs(
        2,
        [
            stream("stdout", "epoch 1\n"),
            stream("stderr", "<venv>/site-packages/x.py:3: DeprecationWarning: old\n  warn()\n"),
            {"output_type": "execute_result", "data": {"text/plain": "'/home/ana/data/train.csv'"}},
        ],
    )
    assert [(f.position, f.kind, f.stderr, f.excerpt) for f in found] == [
        (2, WARNING, True, "<venv>/site-packages/x.py:3: DeprecationWarning: old"),
        (2, PATH, False, "'/home/ana/data/train.csv'"),
        (2, PATH, True, "<venv>/site-packages/x.py:3: DeprecationWarning: old"),
    ]
    plain_stderr = check_outputs(0, [stream("stderr", "\nloading weights\n")])
    assert [(f.kind, f.excerpt) for f in plain_stderr] == [(STDERR, "loading weights")]
    # Nothing to report in clean text, a figure, or a traceback (failures are listed apart).
    assert check_outputs(0, [stream("stdout", "loss 0.25, a/b = 2\n")]) == []
    assert check_outputs(0, [{"output_type": "display_data", "data": {"image/svg+xml": "<svg/>"}}]) == []
    assert check_outputs(0, [{"output_type": "error", "ename": "E", "evalue": "", "traceback": ["/home/x"]}]) == []


def test_what_readers_do_not_see_is_not_reported():
    warning_in_stderr, path_in_stdout = check_outputs(
        0, [stream("stderr", "UserWarning: x\n"), stream("stdout", "/tmp/run/a.txt\n")]
    )
    assert not shown(warning_in_stderr, ("remove-stderr",))
    assert shown(path_in_stdout, ("remove-stderr",))
    assert not shown(path_in_stdout, ("remove-output",))
    assert shown(warning_in_stderr, ("hide-output",))  # hidden behind a button, still shown


def test_the_report_lists_missing_listings_and_outputs_and_parity_fails_w(tmp_path):
    root = copy_book("authors", tmp_path / "book")
    first = build(root)
    assert first.returncode == 0, first.output
    assert (
        "authors' report: 1 listing missing (NumPy 1), 4 outputs to check (2 warning, 2 path), 0 failed cells; "
        "slowest run chapter [" in first.output
    )
    assert "see _build/d2l-book-report.html" in first.output
    report = json.loads((root / "_build" / "d2l-book-report.json").read_text())
    (section,) = report["sections"]
    assert (section["number"], section["title"], section["page"]) == ("1", "Listings to check", "html/chapter.html")
    assert [(m["where"], m["missing"], m["heading"]) for m in section["missing_listings"]] == [
        ("chapter.md:24", ["numpy"], "1.1 A listing only PyTorch has")
    ]
    outputs = [(o["where"], o["framework"], o["kind"], o["excerpt"]) for o in section["outputs"]]
    assert outputs == [
        ("chapter.md:31", "numpy", "warning", "<cell>:2: FutureWarning: this API is going away"),
        ("chapter.md:31", "torch", "warning", "<cell>:2: FutureWarning: this API is going away"),
        ("chapter.md:43", "numpy", "path", "reading /home/someone/data/train.csv"),
        ("chapter.md:43", "torch", "path", "reading /home/someone/data/train.csv"),
    ]  # not the remove-stderr cell at line 37
    assert {(run["document"], run["framework"], run["status"]) for run in report["slowest"]} == {
        ("chapter", "numpy", "executed"),
        ("chapter", "torch", "executed"),
    }
    page = BeautifulSoup((root / "_build" / "d2l-book-report.html").read_text(), "html.parser")
    assert [item.get_text() for item in page.select("ul.counts li")] == [
        "1 listing missing (NumPy 1)",
        "4 outputs to check (2 warning, 2 path)",
        "0 failed cells",
    ]
    heading = page.find("h2", id="chapter")
    assert heading.get_text() == "1 Listings to check" and heading.a["href"] == "html/chapter.html"
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in page.find_all("tr")]
    assert ["chapter.md:24", "1.1 A listing only PyTorch has", "NumPy (has: PyTorch)"] in rows
    assert ["chapter.md:31", "NumPy", "warning (stderr)", "<cell>:2: FutureWarning: this API is going away"] in rows

    # CI: parity required, warnings are errors. A no-op build (no kernel) still reports everything.
    strict = build(root, "-D", "d2l_require_parity=1", "-W", "--keep-going", process=True, watch_kernels=True)
    assert strict.returncode != 0, strict.output
    assert "chapter.md:24: WARNING: listing for PyTorch only: NumPy lacks it [d2l.parity]" in strict.output
    assert strict.kernels_seen == []
    (again,) = json.loads((root / "_build" / "d2l-book-report.json").read_text())["sections"]
    assert (again["missing_listings"], again["outputs"]) == (section["missing_listings"], section["outputs"])
    assert [(run["framework"], run["status"]) for run in again["runs"]] == [("numpy", "cached"), ("torch", "cached")]

    # A cell that fails is in the report, at its line, although the build stops.
    with open(root / "chapter.md", "a") as chapter:
        chapter.write("\n```{code-cell} ipython3\n:tags: [numpy]\nnp.zeros(2) @ np.zeros(3)\n```\n")
    failing = build(root)
    assert failing.returncode == 2
    # (a listing of its own, which PyTorch lacks)
    assert "authors' report: 2 listings missing (NumPy 1, PyTorch 1), 4 outputs to check" in failing.output
    assert "1 failed cell;" in failing.output
    (section,) = json.loads((root / "_build" / "d2l-book-report.json").read_text())["sections"]
    assert [(f["where"], f["framework"], f["earlier_build"]) for f in section["failed"]] == [
        ("chapter.md:49", "numpy", False)
    ]
    assert section["failed"][0]["error"].startswith("ValueError: matmul")
    again = build(root, "-D", "d2l_keep_going=1")  # the failure is remembered, not run again
    assert again.returncode == 0, again.output
    assert "1 failed cell;" in again.output
    (section,) = json.loads((root / "_build" / "d2l-book-report.json").read_text())["sections"]
    assert [(f["where"], f["earlier_build"]) for f in section["failed"]] == [("chapter.md:49", True)]
