"""A book's own requirements: its tabs' environments are made with them, a saved import no
environment provides is one warning naming the file to add it to, and the package declares a
framework's own packages in that framework's extra only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import BOOKS, REPO, Build, build_in_process, write_book
from test_bad_input import error_lines
from test_config import conf
from test_d2lbook import build_project

from d2lext.config import Environment, Framework, load
from d2lext.errors import BookError
from d2lext.execute.environments import FRAMEWORK_REQUIREMENTS, Environments, own_versions

BOOK_CONF = REPO / "d2lext" / "d2lbook_conf"
CHAPTER = "chapter_data/toml"


def printed(result: Build) -> list[str]:
    """What the chapter's cells printed, cell by cell."""
    return [output.get_text().strip() for output in result.page(CHAPTER).select(".cell_output")]


def warnings(result: Build) -> list[str]:
    return [line for line in result.output.splitlines() if "WARNING" in line]


# ---------------------------------------------------------------- the environment made with them


def test_a_d2lbook_projects_requirements_txt_is_installed_in_its_tabs_environment(tmp_path):
    """The fixture's saved import (tomli) is in no environment of this tool: its requirements.txt
    names it, the NumPy tab runs in an environment made from NumPy's packages and the book's."""
    environments = tmp_path / "environments"
    root = shutil.copytree(BOOKS / "requirements", tmp_path / "book")
    first = build_project(root, "-D", "d2l_selected=numpy", environments=environments)
    assert first.returncode == 0, first.output
    made = re.search(
        r"setting up the NumPy environment in (\S+/numpy-([0-9a-f]{12})) with the book's requirements\.txt",
        first.output,
    )
    assert made, first.output
    assert Path(made.group(1)).resolve() == (environments / f"numpy-{made.group(2)}").resolve()
    assert printed(first) == ["tomli 2.0.1 0.5 numpy-"]  # tomli from the book's pin, in that environment
    assert warnings(first) == []
    # NumPy's part is the build's own versions of its packages, pinned.
    own = (environments / f"numpy-{made.group(2)}" / FRAMEWORK_REQUIREMENTS).read_text()
    assert "numpy==2.4.6" in own and "matplotlib==3.11.2" in own

    # Another book with the same requirements shares the environment: nothing is set up again.
    other = shutil.copytree(BOOKS / "requirements", tmp_path / "other")
    (other / "chapter_data" / "toml.md").write_text(
        (other / "chapter_data" / "toml.md").read_text().replace("rate = 0.5", "rate = 2")
    )
    second = build_project(other, "-D", "d2l_selected=numpy", environments=environments)
    assert second.returncode == 0, second.output
    assert "setting up" not in second.output
    assert printed(second) == ["tomli 2.0.1 2 numpy-"]
    assert sorted(path.name for path in environments.iterdir() if path.is_dir()) == [f"numpy-{made.group(2)}"]

    # The package: tomli is imported by every tab's module, so it is a common dependency.
    project = tomllib.loads((first.package / "pyproject.toml").read_text())["project"]
    assert "tomli" in project["dependencies"]
    assert "tomli==2.0.1" in project["optional-dependencies"]["numpy"]


def test_requirements_that_cannot_be_installed_are_one_line(tmp_path):
    """A range the framework's pinned version does not satisfy: pip's conflict, said in one line;
    a release that does not exist: where the book's requirements name it."""
    root = shutil.copytree(BOOKS / "requirements", tmp_path / "book")
    (root / "requirements-numpy.txt").write_text("matplotlib<3.10\n")
    result = build_project(root, "-D", "d2l_selected=numpy", environments=tmp_path / "environments")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "cannot make the NumPy environment: pip cannot install " in line, line
    assert "matplotlib<3.10 and matplotlib==3.11.2 together" in line, line  # the book's and NumPy's own
    assert "Traceback" not in result.output

    # A release no index has: the line of the book's file naming it.
    (root / "requirements-numpy.txt").unlink()
    (root / "requirements.txt").write_text("tomli==2.0.1\nd2l-there-is-no-such-package==0.0.1\n")
    result = build_project(root, "-D", "d2l_selected=numpy", environments=tmp_path / "environments")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert re.search(
        r"requirements\.txt:2: cannot make the NumPy environment: pip found no release of "
        r"d2l-there-is-no-such-package==0\.0\.1 on the package index",
        line,
    ), line


def test_the_environments_folder_is_named_by_the_requirements_content(tmp_path):
    """Same content, same folder (wherever the book is); other content, another folder; none:
    the framework stays in the build's own environment."""

    def environment(book: Path, text: str | None, spec: dict | None = None):
        book.mkdir(parents=True, exist_ok=True)
        if text is not None:
            (book / "requirements.txt").write_text(text)
        spec = spec or {"label": "NumPy", "requires": ["numpy"]}
        config = load(conf(d2l_frameworks={"x": {**spec, "requirements": "requirements.txt"}}), book)
        return Environments(tmp_path / "environments", book, print), config.frameworks["x"]

    one, numpy = environment(tmp_path / "one", "tomli==2.0.1\n")
    two, same = environment(tmp_path / "two", "tomli==2.0.1\n")
    three, other = environment(tmp_path / "three", "tomli==2.0.0\n")
    assert one.path(numpy) == two.path(same) != three.path(other)
    assert re.fullmatch(r"x-[0-9a-f]{12}", one.path(numpy).name)
    assert one.pins(numpy)["tomli"] == "2.0.1" and three.pins(other)["tomli"] == "2.0.0"
    assert one.pins(numpy)["numpy"] == "2.4.6"  # the build's own version of the framework's package

    # A framework's packages that are not named as their module: by the distribution providing it.
    assert "\npillow==" in own_versions(Framework("pil", "Pillow", requires=("PIL",)))

    _, without = environment(tmp_path / "none", None)
    assert without.environment is None and without.kernel == "python3"  # nothing to add: the build's own

    # A version the book pins with == replaces the framework's (torch for torchvision); a name alone does not.
    mxnet = {"label": "MXNet", "environment": str(REPO / "d2lext" / "environments" / "mxnet.txt")}
    pinned, framework = environment(tmp_path / "pinned", "numpy==1.24.4\npandas\n", mxnet)
    assert pinned.pins(framework)["numpy"] == "1.24.4" and pinned.pins(framework)["mxnet"] == "1.9.1"
    unpinned, framework = environment(tmp_path / "unpinned", "numpy\n", mxnet)
    assert unpinned.pins(framework)["numpy"] == "1.23.5"


def test_a_frameworks_requirements_option():
    root = REPO / "tests" / "books" / "requirements"
    frameworks = {
        "torch": {"label": "PyTorch", "requirements": ["requirements-torch.txt", "requirements.txt"]},
        "numpy": {"label": "NumPy", "requirements": "requirements-numpy.txt"},
        "mxnet": {"label": "MXNet", "environment": "mxnet.txt", "requirements": ["requirements.txt"]},
    }
    config = load(conf(d2l_frameworks=frameworks), root)
    torch, numpy, mxnet = (config.frameworks[name] for name in ("torch", "numpy", "mxnet"))
    # requirements.txt exists: PyTorch runs in an environment made with it, with its own kernel.
    assert torch.environment == Environment("", "", ("requirements.txt",)) and torch.kernel == "d2l-torch"
    assert torch.requirements == ("requirements-torch.txt", "requirements.txt")
    # None of NumPy's exists: it stays in the build's own environment.
    assert numpy.environment is None and numpy.kernel == "python3"
    assert numpy.requirements == ("requirements-numpy.txt",)
    assert mxnet.environment == Environment("mxnet.txt", "", ("requirements.txt",))
    for spec, message in [
        ({"kernel": "k", "requirements": "requirements.txt"}, r"give either 'kernel' .* or 'requirements'"),
        ({"requirements": 5}, r"\['requirements'\] must be a requirements file or a list of them"),
        ({"requirements": [""]}, r"\['requirements'\] must be a requirements file or a list of them"),
    ]:
        with pytest.raises(BookError, match=message):
            load(conf(d2l_frameworks={"torch": {"label": "PyTorch", **spec}}), root)


# ---------------------------------------------------------------- a saved import no environment has


def test_a_saved_import_the_environment_lacks_is_one_warning_naming_the_file_to_add_it_to(tmp_path):
    """Without the book's requirements.txt: one warning per selected tab, at the saved import's
    line in the d2l-book source, before the chapters fail on it."""
    root = shutil.copytree(BOOKS / "requirements", tmp_path / "book")
    (root / "requirements.txt").unlink()
    result = build_project(root, "-D", "d2l_selected=all", environments=tmp_path / "environments")
    assert result.returncode == 2  # the chapters still fail: ModuleNotFoundError
    expected = [
        "chapter_data/toml.md:10: WARNING: [torch] the saved import `import tomli` needs a package the PyTorch "
        "environment lacks: add it to requirements-pytorch.txt (or requirements.txt) [d2l.requirements]",
        "chapter_data/toml.md:10: WARNING: [numpy] the saved import `import tomli` needs a package the NumPy "
        "environment lacks: add it to requirements-numpy.txt (or requirements.txt) [d2l.requirements]",
    ]
    found = warnings(result)
    assert len(found) == 2, result.output
    assert all(line.endswith(tail) for line, tail in zip(found, expected, strict=True)), result.output
    lines = result.output.splitlines()
    first_error = next(i for i, line in enumerate(lines) if "ERROR" in line)
    assert all(lines.index(line) < first_error for line in found)
    assert "ModuleNotFoundError: No module named 'tomli'" in result.output


def test_in_a_myst_book_the_warning_names_the_option(tmp_path):
    lib = "# Lib\n\n```{code-cell} ipython3\n#@save\nimport tomli\n```\n"
    root = write_book(tmp_path, "# Chapter\n", lib=lib)
    result = build_in_process(root, root, root, ("-D", "d2l_selected=numpy"))
    assert [line.split(": WARNING: ", 1)[1] for line in warnings(result)] == [
        "[numpy] the saved import `import tomli` needs a package the NumPy environment lacks: add it to a "
        "requirements file of the book, named in conf.py by d2l_frameworks['numpy']['requirements'] "
        "(e.g. 'requirements.txt') [d2l.requirements]"
    ]
    assert re.search(r"(^|/)lib\.md:12: WARNING", warnings(result)[0])


# ---------------------------------------------------------------- the package's dependencies

MIXED_CONFIG = "[project]\ntitle = Mixed\nrelease = 1.0\n\n[build]\ntabs = mxnet, pytorch\n"
MIXED_CHAPTER = """# Saved imports

```{.python .input}
#@tab all
#@save
import requests
```

```{.python .input}
#@save
from mxnet import np
```

```{.python .input}
#@tab pytorch
#@save
import torch
```
"""


def test_a_frameworks_own_packages_are_only_in_its_extra(tmp_path):
    """`make lib` of a d2l-book project with MXNet (not made here) and PyTorch (the build's own
    environment): the wheel requires what every tab imports; torch only with the torch extra."""
    root = tmp_path / "book"
    root.mkdir()
    (root / "config.ini").write_text(MIXED_CONFIG)
    (root / "index.md").write_text("# Mixed\n\n```toc\nchapter\n```\n")
    (root / "chapter.md").write_text(MIXED_CHAPTER)
    env = {**os.environ, "D2L_BOOK": str(root), "D2L_ENVIRONMENTS": str(tmp_path / "environments")}
    command = [sys.executable, "-m", "d2lext.lib", "--conf", str(BOOK_CONF), "--source", str(root)]
    made = subprocess.run([*command, "--build", str(root / "_build")], capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr

    (wheel,) = (root / "_build" / "dist").glob("d2l-1.0-*.whl")
    with zipfile.ZipFile(wheel) as opened:
        metadata = Parser().parsestr(opened.read("d2l-1.0.dist-info/METADATA").decode())
    requires = metadata.get_all("Requires-Dist")
    always = sorted(requirement for requirement in requires if "extra ==" not in requirement)
    assert always == ["ipython", "matplotlib", "matplotlib-inline", "numpy", "requests"]
    assert 'torch==2.13.0; extra == "torch"' in requires
    assert not [requirement for requirement in requires if "torch" in requirement and "extra" not in requirement]
    assert 'mxnet==1.9.1; extra == "mxnet"' in requires and 'numpy==1.23.5; extra == "mxnet"' in requires
    assert sorted(metadata.get_all("Provides-Extra")) == ["mxnet", "torch"]

    # The source archive declares the same.
    (archive,) = (root / "_build" / "dist").glob("d2l-1.0.tar.gz")
    with tarfile.open(archive) as opened:
        project = tomllib.loads(opened.extractfile("d2l-1.0/pyproject.toml").read().decode())["project"]
    assert project["dependencies"] == always
    assert "torch==2.13.0" in project["optional-dependencies"]["torch"]
