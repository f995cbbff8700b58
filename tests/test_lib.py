"""`make lib`: the wheel draws 11.1's figures, installs with what it declares in a fresh virtual
environment, and declares what the source archive `make html` writes does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import fresh_venv, pip_install
from packaging.requirements import Requirement

from d2lext.config import BookConfig, Framework
from d2lext.sources.cells import read_chapter

REPO = Path(__file__).resolve().parent.parent
CHAPTER = REPO / "source" / "chapter_optimization" / "optimization-intro.md"

FIGURES = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
from matplotlib import pyplot as plt
framework, cells = sys.argv[1], json.loads(sys.stdin.read())
namespace, figures = {}, []
for source in cells:
    exec("\n".join(l for l in source.splitlines() if not l.lstrip().startswith("%")), namespace)
    for number in plt.get_fignums():
        axes = plt.figure(number).axes[0]
        figures.append([len(axes.lines), len(axes.texts)])
    plt.close("all")
others = {"numpy", "torch"} - {framework}
print(json.dumps({"figures": figures, "module": namespace["d2l"].__file__,
                  "others imported": sorted(m for m in others if m in sys.modules and m != "numpy")}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `make lib` builds from the book."""
    root = tmp_path_factory.mktemp("lib")
    shutil.copytree(REPO / "source", root / "source")
    shutil.copytree(REPO / "d2lext" / "environments", root / "d2lext" / "environments")  # as in the repository
    shutil.copy(REPO / "conf.py", root / "conf.py")
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "d2lext.lib",
            "--conf",
            str(root),
            "--source",
            str(root / "source"),
            "--build",
            str(root / "_build"),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "warning" not in made.stderr
    (wheel,) = (root / "_build" / "dist").glob("d2l-2.0.0-py3-none-any.whl")
    assert made.stdout.strip().endswith(wheel.name)
    return wheel


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A venv with the wheel alone installed (no dependencies, no index), NumPy, PyTorch and
    matplotlib lent by this one: what the modules do, not what the wheel declares (see
    test_the_wheel_installs_with_what_it_declares_in_a_fresh_environment)."""
    venv = tmp_path_factory.mktemp("lent") / "venv"
    python = fresh_venv(venv)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "lent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = pip_install(python, "--no-deps", "--no-index", str(wheel))
    assert install.returncode == 0, install.stderr
    return python


def figures(python: Path, framework: str) -> dict:
    """11.1's listings for one framework run by ``python`` (outside any book folder): the
    (lines, annotations) of each figure, the d2l module imported and the other frameworks imported."""
    config = BookConfig(
        {name: Framework(name, name) for name in ("torch", "numpy", "mxnet", "tensorflow", "paddle", "jax")},
        (framework,),
    )
    cells = [cell.source for cell in read_chapter(CHAPTER, "c", config).cells_for(framework)]
    done = subprocess.run(
        [python, "-c", FIGURES, framework],
        input=json.dumps(cells),
        capture_output=True,
        text=True,
        cwd=python.parent.parent,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


#: (lines, annotations): risk curves, local/global minimum, x^3 saddle, 3-D saddle, tanh plateau
FIGURES_OF_11_1 = [[2, 2], [1, 2], [1, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_chapter_figures_from_the_installed_package(installed, framework):
    result = figures(installed, framework)
    assert "/venv/" in result["module"]  # the installed wheel, not the build folder
    assert result["others imported"] == []  # d2l.numpy does not import torch
    assert result["figures"] == FIGURES_OF_11_1


def test_the_wheel_installs_with_what_it_declares_in_a_fresh_environment(wheel, tmp_path):
    """As a reader installs it: `pip install "d2l-...whl[numpy]"` in a new venv, with the package
    index and nothing lent, so a dependency the wheel does not declare is missing."""
    venv = tmp_path / "reader"
    python = fresh_venv(venv)
    install = pip_install(python, f"{wheel}[numpy]")
    assert install.returncode == 0, install.stderr
    assert "does not provide the extra" not in install.stderr, install.stderr
    result = figures(python, "numpy")
    assert "/reader/" in result["module"]
    assert result["figures"] == FIGURES_OF_11_1


def declared(requirements: list[str], extra: str | None = None) -> set[str]:
    """Requirements as a wheel's METADATA lists them (``Requires-Dist``), normalised."""
    found = set()
    for text in requirements:
        requirement = Requirement(text)
        if extra is not None:
            condition = f'extra == "{extra}"'
            if requirement.marker is not None:
                condition = f"({requirement.marker}) and {condition}"
            requirement.marker = None
            requirement = Requirement(f"{requirement}; {condition}")
        found.add(str(requirement))
    return found


def test_the_wheel_declares_what_the_source_archive_declares(wheel, real_book):
    (archive,) = (real_book.root / "_build" / "dist").glob("d2l-*.tar.gz")
    with tarfile.open(archive) as opened:
        top = archive.name[: -len(".tar.gz")]
        project = tomllib.loads(opened.extractfile(f"{top}/pyproject.toml").read().decode())["project"]
    extras = project.get("optional-dependencies", {})
    expected = declared(project.get("dependencies", []))
    for extra, requirements in extras.items():
        expected |= declared(requirements, extra)
    assert project["dependencies"] and "numpy" in extras  # what make html's archive declares

    with zipfile.ZipFile(wheel) as opened:
        dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
        metadata = Parser().parsestr(opened.read(f"{dist_info}/METADATA").decode())
    assert declared(metadata.get_all("Requires-Dist") or []) == expected
    assert set(metadata.get_all("Provides-Extra") or []) == set(extras)


def test_the_source_archive_declares_its_dependencies_and_installs_with_an_extra(real_book, tmp_path):
    (archive,) = (real_book.root / "_build" / "dist").glob("d2l-*.tar.gz")
    with tarfile.open(archive) as opened:
        pyproject = opened.extractfile(f"{archive.name[: -len('.tar.gz')]}/pyproject.toml").read().decode()
    assert 'dependencies = ["ipython", "matplotlib", "matplotlib-inline", "numpy"]' in pyproject
    torch = r'torch = \["ipython==[\d.]+", "matplotlib-inline==0.2.2", "matplotlib==3.11.2", "numpy==2.4.6", '
    assert re.search(torch + r'"torch==2.13.0"\]', pyproject)
    assert '"mxnet==1.9.1", "numpy==1.23.5"' in pyproject  # MXNet's own numpy, from its environment's pins

    venv = tmp_path / "reader"
    python = str(fresh_venv(venv))
    install = pip_install(python, f"{archive}[numpy]")
    assert install.returncode == 0, install.stderr
    code = (
        "import importlib.metadata as m, matplotlib\nmatplotlib.use('Agg')\n"
        "from d2l import numpy as d2l\nd2l.plot([0.0, 1.0], [[1.0, 0.0]])\n"
        "print(m.version('numpy'), m.version('matplotlib'))\n"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2.4.6", "3.11.2"]


def lib(root: Path, conf: Path, source: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`make lib`, as the Makefile runs it."""
    command = [sys.executable, "-m", "d2lext.lib", "--conf", str(conf), "--source", str(source)]
    command += ["--build", str(root / "_build")]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)


def test_make_lib_plans_as_the_build_does_and_its_wheel_declares_the_archives_dependencies(tmp_path):
    from conftest import write_book

    saved = "# Lib\n\n```{code-cell} ipython3\nimport numpy as np\n\ndef double(x):  #@save\n    return 2 * x\n```\n"
    root = write_book(tmp_path, "# Chapter\n", lib=saved)
    (root / "drafts").mkdir()  # excluded from the book: its saved code is not in the package
    (root / "drafts" / "old.md").write_text(
        (root / "lib.md").read_text().replace("def double", "def old_draft").replace("# Lib", "# Old")
    )
    with open(root / "conf.py", "a") as conf:
        conf.write('\nexclude_patterns = ["_build", "drafts"]\n')
    made = lib(root, root, root)
    assert made.returncode == 0, made.stderr
    module = (root / "_build" / "d2l" / "d2l" / "numpy.py").read_text()
    assert "def double" in module and "old_draft" not in module
    (wheel,) = (root / "_build" / "dist").glob("d2l-*.whl")
    with zipfile.ZipFile(wheel) as opened:
        metadata = opened.read(next(n for n in opened.namelist() if n.endswith("METADATA"))).decode()
    requires = sorted(line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist"))
    (archive,) = (root / "_build" / "dist").glob("d2l-*.tar.gz")
    with tarfile.open(archive) as opened:
        pyproject = tomllib.loads(
            opened.extractfile(f"{archive.name[: -len('.tar.gz')]}/pyproject.toml").read().decode()
        )
    project = pyproject["project"]
    declared = list(project["dependencies"]) + [
        f'{requirement}; extra == "{extra}"'
        for extra, requirements in project.get("optional-dependencies", {}).items()
        for requirement in requirements
    ]
    assert "numpy" in project["dependencies"] and "numpy" in project["optional-dependencies"]
    assert requires == sorted(declared)


def test_make_lib_builds_a_d2lbook_projects_package(tmp_path):
    shutil.copytree(REPO / "tests" / "books" / "d2lbook", tmp_path / "book")
    root = tmp_path / "book"
    env = {**os.environ, "D2L_BOOK": str(root), "D2L_ENVIRONMENTS": str(REPO / ".venvs")}
    made = lib(root, REPO / "d2lext" / "d2lbook_conf", root, env)
    assert made.returncode == 0, made.stderr
    (wheel,) = (root / "_build" / "dist").glob("d2l-*.whl")
    with zipfile.ZipFile(wheel) as opened:
        names = opened.namelist()
        torch = opened.read("d2l/torch.py").decode()
    assert "d2l/numpy.py" in names
    assert "def total(x):" in torch
