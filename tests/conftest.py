"""Shared helpers: build fixture books with the real sphinx-build, as an author would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

BOOKS = Path(__file__).parent / "books"
REPO = Path(__file__).resolve().parent.parent
PAGE = "chapter_optimization/optimization-intro"  # section 11.1 of the book
SPHINX_BUILD = Path(sys.executable).with_name("sphinx-build")


@dataclass
class Build:
    root: Path
    returncode: int
    output: str

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    @property
    def package(self) -> Path:
        return self.root / "_build" / "d2l"

    def page(self, name: str) -> BeautifulSoup:
        return BeautifulSoup((self.html / f"{name}.html").read_text(encoding="utf8"), "html.parser")


def build(root: Path, *options: str, timeout: int = 300) -> Build:
    """Run sphinx-build on a book folder (conf.py and sources side by side)."""
    done = subprocess.run(
        [str(SPHINX_BUILD), "-M", "html", ".", "_build", "--no-color", *options],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Build(root, done.returncode, done.stdout + done.stderr)


def copy_book(name: str, target: Path) -> Path:
    """A fixture book in a fresh folder; books without a conf.py use the basic book's."""
    shutil.copytree(BOOKS / name, target, dirs_exist_ok=True)
    if not (target / "conf.py").exists():
        shutil.copy(BOOKS / "basic" / "conf.py", target / "conf.py")
    return target


def book_build(root: Path, *options: str) -> Build:
    """The book itself (this repository's conf.py and source/) built in ``root``."""
    shutil.copytree(REPO / "source", root / "source")
    shutil.copy(REPO / "conf.py", root / "conf.py")
    result = subprocess.run(
        [str(SPHINX_BUILD), "-M", "html", "source", "_build", "-c", ".", "--no-color", *options],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Build(root, result.returncode, result.stdout + result.stderr)


@pytest.fixture(scope="session")
def real_book(tmp_path_factory) -> Build:
    """The book built once for NumPy and PyTorch, as `make html` does."""
    return book_build(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="session")
def basic_build(tmp_path_factory) -> Build:
    """The fixture book built once with NumPy and PyTorch."""
    root = copy_book("basic", tmp_path_factory.mktemp("basic"))
    result = build(root)
    assert result.returncode == 0, result.output
    return result


@pytest.fixture(scope="session")
def torch_only_build(tmp_path_factory) -> Build:
    """The fixture book built with PyTorch only, as `make html FRAMEWORKS=torch` does."""
    root = copy_book("basic", tmp_path_factory.mktemp("torch_only"))
    result = build(root, "-D", "d2l_selected=torch")
    assert result.returncode == 0, result.output
    return result


def kernels_of(root: Path) -> list[int]:
    """Processes that kernels of a build of ``root`` run in.

    A kernel's command line names only its connection file, never the book; its environment
    carries the build's ``MATPLOTLIBRC`` (under ``_build/.d2l-cache``), which nothing else has.
    """
    marker = f"MATPLOTLIBRC={root / '_build' / '.d2l-cache' / 'matplotlibrc'}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = environ.read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if marker in variables:
            found.append(int(environ.parent.name))
    return found


def write_book(root: Path, chapter: str, *, conf_extra: str = "", lib: str | None = None) -> Path:
    """A minimal book: the basic book's conf.py, an index, and the given chapter text."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(BOOKS / "basic" / "conf.py", root / "conf.py")
    if conf_extra:
        with open(root / "conf.py", "a") as conf:
            conf.write("\n" + conf_extra + "\n")
    pages = ["lib", "chapter"] if lib is not None else ["chapter"]
    (root / "index.md").write_text("# Book\n\n```{toctree}\n" + "\n".join(pages) + "\n```\n")
    if lib is not None:
        (root / "lib.md").write_text(NOTEBOOK_HEADER + lib)
    (root / "chapter.md").write_text(NOTEBOOK_HEADER + chapter)
    return root


NOTEBOOK_HEADER = """---
file_format: mystnb
kernelspec:
  name: python3
  display_name: Python 3
---

"""
