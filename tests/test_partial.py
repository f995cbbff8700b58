"""Partial builds (``make html ONLY=...``, ``d2l_only``): only the named chapters (and the pages that
index them) are executed and written, with the package, numbers and references of the whole book;
a later full build completes the rest, with no stale page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BOOKS, REPO, build, copy_book, write_book
from myst_parser.config.main import MdParserConfig

from d2lext.config import BookConfig, Framework
from d2lext.errors import BookError
from d2lext.plan import documents_to_read, resolve, run_keys, select
from d2lext.plan.keys import Plan
from d2lext.sources.book import read_book

# ---------------------------------------------------------------- the rules, without building


DOCUMENTS = ["index", "lib", "part/index", "part/a", "part/b", "last"]


def test_a_name_is_a_document_with_or_without_its_suffix_or_a_folder():
    assert resolve(["last"], DOCUMENTS) == ["last"]
    assert resolve(["part/a.md", "./last", "/lib"], DOCUMENTS) == ["part/a", "last", "lib"]
    assert resolve(["part"], DOCUMENTS) == ["part/a", "part/b", "part/index"]
    assert resolve(["part/", "part/a"], DOCUMENTS) == ["part/a", "part/b", "part/index"]  # once each


def test_unknown_names_are_one_error_with_the_close_names_of_each():
    with pytest.raises(BookError) as raised:
        resolve(["part/aa", "last", "lsat", "b", "zzzzzz"], DOCUMENTS)
    message = str(raised.value)
    assert message.startswith("ONLY (d2l_only) gives 4 names that are not a document or a folder")
    assert "'part/aa': did you mean part/a? (also close: part/b, part)" in message
    assert "'lsat': did you mean last?" in message
    assert "'b': did you mean part/b?" in message  # the last part of a name alone
    assert "'zzzzzz': no document or folder has a close name" in message
    assert "'last'" not in message


HEADER = "---\nfile_format: mystnb\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
CONFIG = BookConfig(frameworks={"numpy": Framework("numpy", "NumPy")}, selected=("numpy",))


def plan_of(tmp_path: Path) -> Plan:
    """The fixture book's structure; ``last`` depends on ``part/b`` (d2l.depends)."""
    pages = {
        "index": "# Book\n\n```{toctree}\n:numbered:\n\nlib\npart/index\nlast\n```\n",
        "lib": HEADER + "# Lib\n\n```{code-cell} ipython3\nprint(1)\n```\n",
        "part/index": "# Part\n\n```{toctree}\na\nb\n```\n",
        "part/a": HEADER + "# A\n\n```{code-cell} ipython3\nprint(2)\n```\n",
        "part/b": HEADER + "# B\n\n```{code-cell} ipython3\nprint(3)\n```\n",
        "last": HEADER.replace("---\n\n", "d2l:\n  depends: [part/b]\n---\n\n")
        + "# Last\n\n```{code-cell} ipython3\nprint(4)\n```\n",
    }
    sources = {}
    for name, text in pages.items():
        sources[name] = tmp_path / f"{name}.md"
        sources[name].parent.mkdir(parents=True, exist_ok=True)
        sources[name].write_text(text)
    book = read_book("index", sources, CONFIG, MdParserConfig())
    package = tmp_path / "_build" / "d2l"
    return Plan(CONFIG, book, run_keys(book, CONFIG), {}, package, [package / "d2l" / "numpy.py"], tmp_path / "a.tgz")


def test_the_selection_adds_the_chapters_depended_on_and_the_pages_that_index_them(tmp_path):
    plan = plan_of(tmp_path)
    selection = select(["last"], DOCUMENTS, plan.book)
    assert selection.named == ("last",)
    assert selection.depended == ("part/b",)
    assert selection.indexing == ("index", "part/index")  # table-of-contents order
    assert selection.built == {"last", "part/b", "index", "part/index"}
    assert selection.summary(2) == (
        "partial build: 1 of 6 chapters (last), with the 1 chapter it depends on (d2l.depends) and the "
        "2 pages that index it, executed and written; the other 2 are read for the package, section "
        "numbers and references, not executed (2 runs of theirs not cached) and not written"
    )
    assert select(["part/a"], DOCUMENTS, plan.book).indexing == ("index", "part/index")


def test_a_partial_build_reads_again_only_what_it_builds_and_pages_showing_a_rewritten_file(tmp_path):
    plan = plan_of(tmp_path)
    shown = {docname: {} for docname in DOCUMENTS}  # every page made without its runs
    every = documents_to_read(plan, lambda *run: False, {}, DOCUMENTS, shown)
    assert every == {"lib", "part/a", "part/b", "last"}
    rewritten = {"api": [str(plan.rewritten[0])]}
    built = {"last", "part/b", "index", "part/index"}
    assert documents_to_read(plan, lambda *run: False, rewritten, [*DOCUMENTS, "api"], shown, built) == {
        "last",
        "part/b",
        "api",  # not built, but read again: the file is rewritten once, the next build would not see it
    }


# ---------------------------------------------------------------- real builds


def report(root: Path) -> dict[str, str]:
    """(document [framework]) -> executed / cached / failed, from the build's JSON report."""
    data = json.loads((root / "_build" / "d2l-report.json").read_text())
    return {f"{run['document']} [{run['framework']}]": run["status"] for run in data["details"]}


def pages(root: Path) -> set[str]:
    html = root / "_build" / "html"
    return {str(path.relative_to(html).with_suffix("")) for path in html.rglob("*.html") if "_static" not in path.parts}


def outputs(result, page: str) -> list[str]:
    return [output.get_text().strip() for output in result.page(page).select(".cell_output")]


def numbers(result, page: str) -> list[str]:
    return [heading.get_text().strip("¶") for heading in result.page(page).select("section > h1, section > h2")]


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """The fixture book, never built before, built with ONLY=last."""
    root = copy_book("partial", tmp_path_factory.mktemp("partial"))
    result = build(root, "-D", "d2l_only=last")
    assert result.returncode == 0, result.output
    return result


def test_a_partial_build_executes_only_the_named_chapter_and_says_so(partial):
    assert report(partial.root) == {"last [numpy]": "executed"}
    data = json.loads((partial.root / "_build" / "d2l-report.json").read_text())
    assert data["partial"] == {
        "named": ["last"],
        "depended": [],
        "indexing": ["index"],
        "not_executed": ["lib [numpy]", "part/a [numpy]", "part/b [numpy]"],
    }
    assert (
        "partial build: 1 of 6 chapters (last), with the 1 page that indexes it, executed and written; the other "
        "4 are read for the package, section numbers and references, not executed (3 runs of theirs not cached) "
        "and not written" in partial.output
    )
    assert (
        "partial build: references to the other 4 link to where a full build writes their pages; 4 of them are "
        "not there yet (a build without ONLY writes them)" in partial.output
    )


def test_a_partial_build_writes_the_named_chapter_and_the_pages_that_index_it(partial):
    assert pages(partial.root) == {"index", "last", "genindex", "search"}
    assert not (partial.root / "_build" / "html" / "notebooks" / "numpy" / "part").exists()


def test_the_page_has_the_numbers_and_references_of_the_whole_book(partial):
    assert not (partial.html / "part" / "a.html").exists() and not (partial.html / "lib.html").exists()
    assert numbers(partial, "last") == ["3. Last", "3.1. A section of last"]
    links = partial.page("last").select("section p a.reference.internal")
    assert [(link["href"], link.get_text()) for link in links] == [
        ("part/a.html#sec-a", "Section 2.1"),  # where a full build writes it
        ("part/a.html#sec-a", "Chapter A"),
    ]
    assert not partial.page("last").select(".d2l-missing-ref")
    assert "labelled" not in partial.output


def test_the_package_holds_every_chapters_saved_code(partial):
    assert set(report(partial.root)) == {"last [numpy]"}
    module = (partial.root / "_build" / "d2l" / "d2l" / "numpy.py").read_text()
    assert "def double(x):" in module and "def a_value():" in module and "def b_value():" in module
    assert outputs(partial, "last") == ["last ran 4 a b"]  # the chapter imported what it did not run


def test_an_unknown_name_is_one_error_before_anything_runs(tmp_path):
    root = copy_book("partial", tmp_path)
    result = build(root, "-D", "d2l_only=part/aa lsat")
    assert result.returncode == 2
    errors = [line for line in result.output.splitlines() if "ERROR" in line]
    assert errors == [
        "ERROR: Book error: ONLY (d2l_only) gives 2 names that are not a document or a folder of the book's documents:"
    ]
    close = "  'part/aa': did you mean part/a? (also close: part/b, part)\n  'lsat': did you mean last?\n"
    assert close in result.output
    assert "executing" not in result.output
    assert not (root / "_build" / "d2l").exists()  # not even the package
    assert not (root / "_build" / "html" / "last.html").exists()
    assert not (root / "_build" / ".d2l-cache" / "last").exists()


def test_a_full_build_after_a_partial_one_completes_the_rest(tmp_path):
    root = copy_book("partial", tmp_path)
    assert build(root, "-D", "d2l_only=last").returncode == 0
    full = build(root)
    assert full.returncode == 0, full.output
    assert report(root) == {  # last's page is done: it is not read again
        "lib [numpy]": "executed",
        "part/a [numpy]": "executed",
        "part/b [numpy]": "executed",
    }
    assert pages(root) == {"index", "lib", "part/index", "part/a", "part/b", "last", "genindex", "search"}
    assert outputs(full, "part/a") == ["A ran"] and outputs(full, "lib") == ["lib ran"]
    assert numbers(full, "part/a") == ["2.1. Chapter A"]
    assert outputs(full, "last") == ["last ran 4 a b"]
    assert json.loads((root / "_build" / "d2l-report.json").read_text())["partial"] is None
    again = build(root)
    assert again.returncode == 0 and "no targets are out of date" in again.output


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_pages_a_partial_build_leaves_are_made_right_by_the_next_full_build(tmp_path):
    root = copy_book("partial", tmp_path)
    assert build(root).returncode == 0
    edit(root / "part" / "a.md", "print('A ran')", "print('A changed')")
    edit(root / "part" / "a.md", "# Chapter A", "# Chapter A, renamed")
    edit(root / "conf.py", 'html_title = "Partial book"', 'html_title = "Retitled book"')

    partial = build(root, "-D", "d2l_only=last")
    assert partial.returncode == 0, partial.output
    assert report(root) == {}  # part/a is read for its title, not executed
    assert "executing" not in partial.output
    assert "each is there, from an earlier build" in partial.output
    see = next(p.get_text() for p in partial.page("last").select("section p") if p.get_text().startswith("See"))
    assert see == 'See Section 2.1, "Chapter A, renamed".'.replace('"', "\u201c", 1).replace('"', "\u201d")
    assert "Retitled book" in partial.page("last").title.get_text()
    assert outputs(partial, "part/a") == ["A ran"]  # not written: the page of the earlier build
    assert "Partial book" in partial.page("part/b").title.get_text()
    assert "Chapter A, renamed" not in partial.page("part/index").select_one("section").get_text()

    full = build(root)
    assert full.returncode == 0, full.output
    assert report(root) == {"part/a [numpy]": "executed"}
    assert outputs(full, "part/a") == ["A changed"]
    assert numbers(full, "part/a") == ["2.1. Chapter A, renamed"]
    for page in ("lib", "part/index", "part/b", "index"):  # the partial build left them
        assert "Retitled book" in full.page(page).title.get_text(), page
    assert "Chapter A, renamed" in full.page("part/index").select_one("section").get_text()
    again = build(root)
    assert again.returncode == 0 and "no targets are out of date" in again.output


WRITER = "# Writer\n\n```{code-cell} ipython3\nopen('shared.txt', 'w').write('WORD')\n```\n"
READER = "# Reader\n\n```{code-cell} ipython3\nprint('read', open('shared.txt').read())\n```\n"


def test_a_chapter_named_is_built_with_the_chapters_it_depends_on(tmp_path):
    root = write_book(tmp_path, READER, lib=WRITER, conf_extra='d2l_selected = ["numpy"]')
    edit(root / "chapter.md", "---\n\n", "d2l:\n  depends: [lib]\n---\n\n")
    result = build(root, "-D", "d2l_only=chapter")
    assert result.returncode == 0, result.output
    assert report(root) == {"lib [numpy]": "executed", "chapter [numpy]": "executed"}
    assert "with the 1 chapter it depends on (d2l.depends) and the 1 page that indexes it" in result.output
    assert pages(root) == {"index", "lib", "chapter", "genindex", "search"}
    assert outputs(result, "chapter") == ["read WORD"]


def test_make_html_passes_only_through_for_a_d2lbook_project(tmp_path):
    root = tmp_path / "book"
    shutil.copytree(BOOKS / "d2lbook", root)
    done = subprocess.run(
        ["make", "-C", str(REPO), "html", f"BOOK={root}", "ONLY=chapter_basics/tensors"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "D2L_ENVIRONMENTS": str(REPO / ".venvs")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "partial build: 1 of " in done.stdout
    assert set(report(root)) == {"chapter_basics/tensors [torch]", "chapter_basics/tensors [numpy]"}
    assert pages(root) == {"index", "chapter_basics/index", "chapter_basics/tensors", "genindex", "search"}
