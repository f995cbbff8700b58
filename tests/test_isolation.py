"""Chapters are isolated: what a chapter prints does not depend on which chapters ran before it in
the build, even through state a library keeps in its own globals (no reset reaches it)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import NOTEBOOK_HEADER, build, write_book

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
