"""Planning without Sphinx: which runs are due, which documents are read again, what failures do."""

from __future__ import annotations

from pathlib import Path

from myst_parser.config.main import MdParserConfig

from d2lext.build import failure_outcome
from d2lext.config import BookConfig, Framework
from d2lext.execute.runs import Failure, Result, Run
from d2lext.plan import Plan, documents_to_read, due_runs, run_keys
from d2lext.sources.book import read_book

FRAMEWORKS = {name: Framework(name, name.title()) for name in ("torch", "numpy")}
CONFIG = BookConfig(frameworks=FRAMEWORKS, selected=("torch", "numpy"))
HEADER = "---\nfile_format: mystnb\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"


def plan_of(tmp_path: Path, config: BookConfig = CONFIG) -> Plan:
    """index -> b, a (in that order); b has cells for both frameworks, a only for torch; c is prose."""
    pages = {
        "index": "# Book\n\n```{toctree}\nb\na\nc\n```\n",
        "a": HEADER + "# A\n\n```{code-cell} ipython3\n:tags: [torch]\nimport torch\n```\n",
        "b": HEADER + "# B\n\n```{code-cell} ipython3\nprint(1)\n```\n",
        "c": "# C\n\nProse only.\n",
    }
    sources = {}
    for name, text in pages.items():
        sources[name] = tmp_path / f"{name}.md"
        sources[name].write_text(text)
    book = read_book("index", sources, config, MdParserConfig())
    package = tmp_path / "_build" / "d2l"
    rewritten = [package / "d2l" / "torch.py"]
    return Plan(config, book, run_keys(book, config), {}, package, rewritten, tmp_path / "d2l.tar.gz")


def names(runs: list[Run]) -> list[str]:
    return [run.name for run in runs]


def test_runs_exist_only_for_selected_frameworks_with_cells(tmp_path):
    plan = plan_of(tmp_path)
    assert sorted(plan.keys) == [("a", "torch"), ("b", "numpy"), ("b", "torch")]
    numpy_only = plan_of(tmp_path, BookConfig(frameworks=FRAMEWORKS, selected=("numpy",)))
    assert sorted(numpy_only.keys) == [("b", "numpy")]


def test_due_runs_follow_the_table_of_contents_and_the_tab_order(tmp_path):
    plan = plan_of(tmp_path)
    assert names(due_runs(plan, ["a", "b", "c", "index"])) == ["b [torch]", "b [numpy]", "a [torch]"]
    assert names(due_runs(plan, ["a"])) == ["a [torch]"]
    assert due_runs(plan, ["c"]) == []


def test_documents_read_again_are_those_missing_a_run_or_showing_a_rewritten_file(tmp_path):
    plan = plan_of(tmp_path)
    cached = {("b", "torch"), ("b", "numpy")}

    def has(docname, framework, key):
        assert key == plan.keys[docname, framework]
        return (docname, framework) in cached

    found = ["index", "a", "b", "c", "api"]
    assert documents_to_read(plan, has, {}, found) == {"a"}
    cached.add(("a", "torch"))
    assert documents_to_read(plan, has, {}, found) == set()
    api = {"api": [str(plan.rewritten[0])], "c": [str(tmp_path / "unrelated.py")]}
    assert documents_to_read(plan, has, api, found) == {"api"}
    assert documents_to_read(plan, has, api, ["index", "a", "b", "c"]) == set()  # api.md was removed


def failed(plan: Plan, docname: str, framework: str) -> Result:
    run = Run(plan.chapters[docname], FRAMEWORKS[framework])
    return Result(run, failure=Failure(f"{docname}.md:9", framework, "NameError: name 'x' is not defined"))


def test_failures_stop_the_build_unless_keep_going(tmp_path):
    plan = plan_of(tmp_path)
    good = Result(Run(plan.chapters["b"], FRAMEWORKS["numpy"]))
    results = [good, failed(plan, "b", "torch"), failed(plan, "a", "torch")]
    assert failure_outcome([good], keep_going=False) == (None, [])

    error, warnings = failure_outcome(results, keep_going=False)
    assert error.splitlines() == [
        "b.md:9 [torch] NameError: name 'x' is not defined",
        "a.md:9 [torch] NameError: name 'x' is not defined",
    ]
    assert warnings == []

    error, warnings = failure_outcome(results, keep_going=True)
    assert error is None
    assert warnings == [
        "execution failed (shown in the page, KEEP_GOING): b.md:9 [torch] NameError: name 'x' is not defined",
        "execution failed (shown in the page, KEEP_GOING): a.md:9 [torch] NameError: name 'x' is not defined",
    ]
