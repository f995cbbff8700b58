"""A framework in its own Python environment: made by the build, its kernel used, its fingerprint in the keys."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import nbformat
from conftest import REPO, build, start_build, write_book
from test_bad_input import error_lines
from test_rebuild import rebuild

# A second environment, small and different from the book's: numpy 1.26 instead of 2.x.
OLD_REQUIREMENTS = "numpy==1.26.4\nmatplotlib==3.8.4\n"
CONF = """
d2l_frameworks["old"] = {"label": "Old NumPy", "requires": ["numpy"], "environment": "old.txt"}
"""
LIB = """# Lib

```{code-cell} ipython3
def double(x):  #@save
    return 2 * x
```
"""
CHAPTER = """# Chapter

```{code-cell} ipython3
:tags: [numpy]
from d2l import numpy as d2l
```

```{code-cell} ipython3
:tags: [old]
from d2l import old as d2l
```

```{code-cell} ipython3
import sys
import numpy
print('numpy', numpy.__version__, 'package says', d2l.double(21), 'python', sys.prefix.endswith('old'))
```
"""


def report(root) -> dict[str, str]:
    data = json.loads((root / "_build" / "d2l-report.json").read_text())
    return {f"{run['document']} [{run['framework']}]": run["status"] for run in data["details"]}


def outputs(result) -> dict[str, str]:
    """Framework -> what the shared cell printed in it."""
    page = result.page("chapter")
    return {
        label["data-sync-id"]: label.find_next_sibling("div").get_text(" ", strip=True)
        for label in page.select(".d2l-outputs > label")
    }


def test_a_framework_runs_in_an_environment_the_build_makes(tmp_path):
    root = write_book(tmp_path, CHAPTER, lib=LIB, conf_extra=CONF)
    (root / "old.txt").write_text(OLD_REQUIREMENTS)
    first = rebuild(root, "-D", "d2l_selected=numpy,old")
    assert "setting up the Old NumPy environment in .venvs/old" in first.output
    printed = outputs(first)
    assert printed["old"] == "numpy 1.26.4 package says 42 python True"
    assert printed["numpy"].startswith("numpy 2.") and printed["numpy"].endswith("package says 42 python False")
    assert (root / ".venvs" / "old" / "share" / "jupyter" / "kernels" / "d2l-old" / "kernel.json").is_file()

    again = rebuild(root, "-D", "d2l_selected=numpy,old")
    assert "setting up" not in again.output and report(root) == {}

    # Upgrading something in that environment re-runs its chapters, and only those.
    pip = [str(root / ".venvs" / "old" / "bin" / "python"), "-m", "pip", "install", "--quiet", "six==1.16.0"]
    subprocess.run(pip, check=True, capture_output=True)
    upgraded = rebuild(root, "-D", "d2l_selected=numpy,old")
    assert report(upgraded.root) == {
        "lib [numpy]": "cached",
        "lib [old]": "executed",
        "chapter [numpy]": "cached",
        "chapter [old]": "executed",
    }

    # A build of the other framework alone does not ask that environment what it has installed
    # (the package's dependencies): its extra pins what its requirements pin.
    from unittest import mock

    import d2lext.package.dependencies

    asked = []
    ask = d2lext.package.dependencies.distributions

    def counted(python, modules):
        asked.append(python)
        return ask(python, modules)

    next(root.joinpath("_build").rglob("dependencies.json")).unlink()  # what a cold build knows
    with mock.patch("d2lext.package.dependencies.distributions", counted):
        alone = rebuild(root, "-D", "d2l_selected=numpy")
    assert alone.returncode == 0, alone.output
    assert asked and not any(".venvs" in python for python in asked), asked
    pyproject = (root / "_build" / "d2l" / "pyproject.toml").read_text()
    assert 'old = ["matplotlib==3.8.4", "numpy==1.26.4"]' in pyproject


def test_an_environment_that_cannot_be_made_is_one_line(tmp_path):
    root = write_book(tmp_path, "# Chapter\n", conf_extra=CONF)
    (root / "old.txt").write_text("d2l-there-is-no-such-package==0.0.1\n")
    result = build(root, "-D", "d2l_selected=old")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    # It names the requirement pip found no release of, where the requirements file has it.
    assert (
        "old.txt:1: cannot make the Old NumPy environment: pip found no release of "
        "d2l-there-is-no-such-package==0.0.1 on the package index (see .venvs/old-setup.log)"
    ) in line
    assert "with access to the package index" not in line
    assert "Traceback" not in result.output
    assert "d2l-there-is-no-such-package" in (root / ".venvs" / "old-setup.log").read_text()

    # Another failure of a step names the step and its log.
    (root / "old.txt").write_text("numpy >= > 1\n")
    result = build(root, "-D", "d2l_selected=old")
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert "cannot make the Old NumPy environment: `" in line and "old-setup.log" in line


def test_an_environment_whose_set_up_was_interrupted_is_made_again(tmp_path):
    """Ctrl-C while `venv` runs leaves bin/python without pip; the next build starts afresh."""
    conf = 'd2l_frameworks["small"] = {"label": "Small", "requires": [], "environment": "small.txt"}'
    root = write_book(
        tmp_path,
        "# Chapter\n\n```{code-cell} ipython3\nimport sys\nimport os\nprint(os.path.basename(sys.prefix))\n```\n",
        conf_extra=conf,
    )
    (root / "small.txt").write_text("\n")
    process = start_build(root, "-D", "d2l_selected=small")
    python = root / ".venvs" / "small" / "bin" / "python"
    deadline = time.monotonic() + 60
    while not python.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode != 0
    assert python.exists() and not list(python.parent.glob("pip*"))  # the state the issue found

    result = rebuild(root, "-D", "d2l_selected=small")
    assert "setting up the Small environment" in result.output
    assert result.page("chapter").select_one(".cell_output").get_text().strip() == "small"
    assert "WARNING" not in result.output, result.output


# MXNet's environment (the repository's .venvs/mxnet) has another matplotlib than the book's own.
TWO_MATPLOTLIBS = f"""
d2l_frameworks["mxnet"] = {{
    "label": "MXNet", "requires": ["numpy", "matplotlib"],
    "environment": "{REPO / "d2lext" / "environments" / "mxnet.txt"}",
}}
d2l_environments = "{REPO / ".venvs"}"
"""
SAME_FIGURE = """# Chapter

```{code-cell} ipython3
import matplotlib
print(matplotlib.__version__)
```

```{code-cell} ipython3
from matplotlib import pyplot as plt
plt.figure(figsize=(3.5, 2.5))
plt.plot([0, 1, 2, 3], [0, 1, 4, 9])
plt.xlabel('x')
plt.ylabel('f(x)')
plt.show()
```
"""


def test_the_same_figure_drawn_by_two_matplotlib_releases_is_shown_once(tmp_path):
    root = write_book(tmp_path, SAME_FIGURE, conf_extra=TWO_MATPLOTLIBS)
    result = rebuild(root, "-D", "d2l_selected=numpy,mxnet")
    page = result.page("chapter")
    first = page.select(".d2l-outputs")[0]  # the first cell prints matplotlib's version: not the same
    versions = {label["data-sync-id"]: label.find_next_sibling("div").get_text(strip=True) for label in first("label")}
    assert set(versions) == {"numpy", "mxnet"} and versions["numpy"] != versions["mxnet"], versions
    svgs = {}
    for framework in ("numpy", "mxnet"):
        notebook = nbformat.read(result.html / "notebooks" / framework / "chapter.ipynb", as_version=4)
        (figure,) = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "data" in o]
        svgs[framework] = figure.data["image/svg+xml"]
    assert svgs["numpy"] != svgs["mxnet"]  # files that differ, for the same picture
    figures = page.select(".cell_output img")
    assert len(figures) == 1  # shown once, as the same for every framework
    assert not figures[0].find_parent(class_="sd-tab-set")
    assert len(page.select(".d2l-outputs")) == 1  # only the versions are in tabs
