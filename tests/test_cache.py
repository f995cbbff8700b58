"""Cache keys: which edits change which (document, framework) key."""

from __future__ import annotations

import os

import nbformat
import pytest

from d2lext.config import BookConfig, Framework
from d2lext.execute.runs import Result, Run
from d2lext.plan.cache import Cache, cache_key, imports_package
from d2lext.sources.cells import read_chapter

FRAMEWORKS = {name: Framework(name, name.title()) for name in ("torch", "numpy")}
CONFIG = BookConfig(frameworks=FRAMEWORKS, selected=("torch", "numpy"))
BASE = {
    "prose": "Some prose.",
    "shared": "x = 1",
    "torch": "from d2l import torch as d2l\nprint(d2l.f())",
    "numpy": "import numpy as np",
    "tags": "",
}


def chapter(tmp_path, **changes):
    parts = {**BASE, **changes}
    text = (
        "---\nfile_format: mystnb\n---\n\n# T\n\n"
        f"{parts['prose']}\n\n"
        f"```{{code-cell}} ipython3\n{parts['tags']}{parts['shared']}\n```\n\n"
        f"```{{code-cell}} ipython3\n:tags: [torch]\n{parts['torch']}\n```\n\n"
        f"```{{code-cell}} ipython3\n:tags: [numpy]\n{parts['numpy']}\n```\n"
    )
    path = tmp_path / "c.md"
    path.write_text(text)
    return read_chapter(path, "c", CONFIG)


def keys(tmp_path, package="def f(): return 1", **changes):
    ch = chapter(tmp_path, **changes)
    return {
        name: cache_key(ch, fw, package if imports_package(ch, name, "d2l") else None)
        for name, fw in FRAMEWORKS.items()
    }


def test_prose_edits_change_no_key(tmp_path):
    assert keys(tmp_path, prose="Other prose, and a new paragraph.\n\nMore.") == keys(tmp_path)


def test_one_frameworks_code_changes_only_its_key(tmp_path):
    before, after = keys(tmp_path), keys(tmp_path, torch="from d2l import torch as d2l\nprint(d2l.f() + 1)")
    assert before["torch"] != after["torch"] and before["numpy"] == after["numpy"]


def test_shared_code_changes_every_key(tmp_path):
    before, after = keys(tmp_path), keys(tmp_path, shared="x = 2")
    assert before["torch"] != after["torch"] and before["numpy"] != after["numpy"]


def test_package_changes_only_keys_of_cells_that_import_it(tmp_path):
    before, after = keys(tmp_path), keys(tmp_path, package="def f(): return 2")
    assert before["torch"] != after["torch"] and before["numpy"] == after["numpy"]


def test_execution_tags_matter_and_display_tags_do_not(tmp_path):
    plain = keys(tmp_path)
    assert keys(tmp_path, tags=":tags: [hide-input]\n") == plain
    assert keys(tmp_path, tags=":tags: [raises-exception]\n")["numpy"] != plain["numpy"]


def test_kernel_is_in_the_key(tmp_path):
    ch = chapter(tmp_path)
    other = Framework("torch", "PyTorch", kernel="torch-env")
    assert cache_key(ch, FRAMEWORKS["torch"], None) != cache_key(ch, other, None)


def result_for(ch, text):
    run = Run(ch, FRAMEWORKS["numpy"])
    result = Result(run, seconds=1.5)
    for cell in ch.cells_for("numpy"):
        result.outputs[cell.index] = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        result.execution_counts[cell.index] = 1
    return run, result


def test_store_load_round_trip_and_undo(tmp_path):
    cache = Cache(tmp_path / "cache")
    ch = chapter(tmp_path)
    run, result = result_for(ch, "first\n")
    cache.store(result, "k1")
    loaded = cache.load(run, "k1")
    assert loaded.cached and loaded.outputs == result.outputs
    assert all(output.output_type == "stream" for outputs in loaded.outputs.values() for output in outputs)
    _, second = result_for(ch, "second\n")
    cache.store(second, "k2")
    # Both stay: going back to the first version of the code (an undo) finds its outputs.
    assert cache.has("c", "numpy", "k1") and cache.has("c", "numpy", "k2")
    assert sorted(p.name for p in cache.path("c", "numpy", "k2").parent.iterdir()) == ["k1.json", "k2.json"]
    assert cache.load(run, "k1").outputs == result.outputs


def test_prune_removes_gone_documents_then_least_recently_used(tmp_path):
    cache = Cache(tmp_path / "cache")
    ch = chapter(tmp_path)
    run, result = result_for(ch, "x" * 1000 + "\n")
    for number, key in enumerate(["old", "middle", "new"]):
        cache.store(result, key)
        os.utime(cache.path("c", "numpy", key), (1000 + number, 1000 + number))
    assert cache.load(run, "old") is not None  # a hit marks it used: now the newest
    gone = cache.path("removed/chapter", "numpy", "k")
    gone.parent.mkdir(parents=True)
    gone.write_text("{}")
    size = cache.path("c", "numpy", "new").stat().st_size

    assert cache.prune(10 * size, {"c"}) == [gone]
    assert cache.prune(2 * size, {"c"}) == [cache.path("c", "numpy", "middle")]
    assert cache.prune(1, {"c"}, keep={cache.path("c", "numpy", "old")}) == [cache.path("c", "numpy", "new")]
    assert [path.name for _, path in cache.entries()] == ["old.json"]


def test_outputs_follow_cells_when_prose_moves_them(tmp_path):
    cache = Cache(tmp_path / "cache")
    run, result = result_for(chapter(tmp_path), "out\n")
    cache.store(result, "k")
    moved = chapter(tmp_path, prose="New paragraph.\n\n```{note}\nA note.\n```\n\nAnother.")
    loaded = cache.load(Run(moved, FRAMEWORKS["numpy"]), "k")
    assert set(loaded.outputs) == {cell.index for cell in moved.cells_for("numpy")}


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        '{"key": "other", "cells": []}',
        "null",
        "[1, 2]",
        '{"key": "k", "cells": [5, 6]}',
        '{"key": "k", "cells": [[1, [{"output_type": "nonsense"}]], [2, []]]}',
        '{"key": "k", "cells": [[1, null], [2, []]]}',
    ],
)
def test_damaged_entries_are_misses(tmp_path, content):
    cache = Cache(tmp_path / "cache")
    run, _ = result_for(chapter(tmp_path), "x")
    path = cache.path("c", "numpy", "k")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert cache.load(run, "k") is None


@pytest.mark.parametrize(
    ("code", "imports"),
    [
        ("import numpy, d2l", True),
        ("from d2l.torch import plot", True),
        ("import importlib\nd2l = importlib.import_module('d2l.torch')", True),
        ("%matplotlib inline\nfrom d2l import torch as d2l", True),
        ("import d2lx\nx = 'import d2l'\n# import d2l", False),
        ("def broken(:\n    import d2l", True),  # cannot tell: assume it does
    ],
)
def test_which_cells_import_the_package_is_read_from_their_syntax(tmp_path, code, imports):
    ch = chapter(tmp_path, torch=code)
    assert imports_package(ch, "torch", "d2l") is imports
