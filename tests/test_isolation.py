"""Chapters are isolated: what a chapter prints does not depend on which chapters ran before it in
the build, even through state a library keeps in its own globals (no reset reaches it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import NOTEBOOK_HEADER, REPO, build, install_kernel, write_book

#: A library installed beside the book, not part of it, with a global counter: as Gluon names
#: layers dense0, dense1, ... from a counter of its own (a chapter that runs after another one in
#: the same process finds dense2, and its `dense1_bias` lookup fails).
COUNTER = '''"""Counts, in a global of its own, how often it was asked."""
count = 0


def next_value():
    global count
    count += 1
    return count
'''

#: A chapter, as both chapters of the book are.
CHAPTER = """# {title}

```{{code-cell}} ipython3
import counter
print('counter', counter.next_value())
```
"""


def outputs(result, page: str) -> list[str]:
    return [output.get_text(" ", strip=True) for output in result.page(page).select(".cell_output")]


def one_job(root: Path, monkeypatch):
    """The book built with one worker (so its kernels could carry one chapter into the next)."""
    library = root.parent / f"{root.name}-site-packages"
    library.mkdir()
    (library / "counter.py").write_text(COUNTER)
    monkeypatch.setenv("PYTHONPATH", str(library))  # installed, as a library is: not the book's
    result = build(root, "-D", "d2l_jobs=1", "-D", "d2l_selected=numpy")
    assert result.returncode == 0, result.output
    return result


def test_a_chapter_prints_the_same_alone_and_after_another_chapter(tmp_path, monkeypatch):
    alone = write_book(tmp_path / "alone", CHAPTER.format(title="Second"))
    alone_result = one_job(alone, monkeypatch)

    after = write_book(tmp_path / "after", CHAPTER.format(title="Second"))
    (after / "first.md").write_text(NOTEBOOK_HEADER + CHAPTER.format(title="First"))
    (after / "index.md").write_text("# Book\n\n```{toctree}\nfirst\nchapter\n```\n")
    after_result = one_job(after, monkeypatch)
    details = json.loads((after / "_build" / "d2l-report.json").read_text())["details"]
    # One worker ran the first chapter, then the second.
    assert [(run["document"], run["status"]) for run in details] == [("first", "executed"), ("chapter", "executed")]

    assert outputs(alone_result, "chapter") == ["counter 1"]
    assert outputs(after_result, "chapter") == ["counter 1"]
    assert outputs(after_result, "first") == ["counter 1"]


GLUON = """# {title}

```{{code-cell}} ipython3
from mxnet.gluon import nn
net = nn.Sequential()
net.add(nn.Dense(8), nn.Dense(1))
net.initialize()
print(net.collect_params()['dense1_bias'].shape)
```
"""


def test_gluon_names_layers_afresh_in_every_chapter(tmp_path):
    """The failure this isolation was made for: Gluon names layers from a global counter, so a
    chapter run after another one in the same process found dense2 and dense3, and failed with
    ``KeyError: 'dense1_bias'``. MXNet runs in its own environment (the repository's `.venvs`,
    made by the first build that needs it)."""
    conf = (
        'd2l_frameworks = {"mxnet": {"label": "MXNet", "requires": ["mxnet", "matplotlib"], '
        '"environment": "environments/mxnet.txt"}}\n'
        f"d2l_environments = {str(REPO / '.venvs')!r}"
    )
    root = write_book(tmp_path, GLUON.format(title="Second"), conf_extra=conf)
    shutil.copytree(REPO / "d2lext" / "environments", root / "environments")
    (root / "first.md").write_text(NOTEBOOK_HEADER + GLUON.format(title="First"))
    (root / "index.md").write_text("# Book\n\n```{toctree}\nfirst\nchapter\n```\n")
    result = build(root, "-D", "d2l_jobs=1", "-D", "d2l_selected=mxnet", timeout=900)
    assert result.returncode == 0, result.output
    assert outputs(result, "first") == outputs(result, "chapter") == ["(1,)"]


def test_a_kernel_that_cannot_be_forked_is_started_afresh_for_every_chapter(tmp_path, monkeypatch):
    """A kernel spec that does not start ipykernel as `python -m ipykernel_launcher` gets no fork
    server: its kernels are started as usual, one per run, and chapters are isolated all the same."""
    launch = "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
    install_kernel(tmp_path, monkeypatch, "plain-python", launch)
    conf = 'd2l_frameworks = {"plain": {"label": "Plain", "kernel": "plain-python", "requires": []}}'
    root = write_book(tmp_path / "book", CHAPTER.format(title="Second"), conf_extra=conf)
    (root / "first.md").write_text(NOTEBOOK_HEADER + CHAPTER.format(title="First"))
    (root / "index.md").write_text("# Book\n\n```{toctree}\nfirst\nchapter\n```\n")
    library = tmp_path / "site-packages"
    library.mkdir()
    (library / "counter.py").write_text(COUNTER)
    monkeypatch.setenv("PYTHONPATH", str(library))
    result = build(root, "-D", "d2l_jobs=1", "-D", "d2l_selected=plain")
    assert result.returncode == 0, result.output
    assert not list((root / "_build" / ".d2l-cache" / "logs").glob("server-*")), "a fork server was started"
    assert outputs(result, "first") == outputs(result, "chapter") == ["counter 1"]
