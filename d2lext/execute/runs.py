"""What a run is and what it gives: one chapter executed in one framework, and its outputs or failure."""

from __future__ import annotations

import dataclasses as dc

import nbformat

from ..config import Framework
from ..sources.cells import Cell, Chapter


@dc.dataclass(frozen=True)
class Run:
    """One chapter executed in one framework."""

    chapter: Chapter
    framework: Framework

    @property
    def name(self) -> str:
        return f"{self.chapter.docname} [{self.framework.name}]"


@dc.dataclass(frozen=True)
class Failure:
    """Why a run did not finish: the cell's place, the framework, and the error."""

    where: str
    framework: str
    summary: str
    traceback: str = ""
    lasting: bool = True
    """Whether the run's code and inputs cause it (a cell raised): then it is remembered in the
    cache and not run again until they change. A timeout, a dead kernel or a kernel that cannot
    start depend on the machine, and are tried again by the next build."""

    def message(self) -> str:
        head = f"{self.where} [{self.framework}] {self.summary}"
        if not self.traceback:
            return head
        return head + "\n" + "\n".join("    " + line for line in self.traceback.splitlines())


@dc.dataclass
class Result:
    """Outputs of a run, keyed by the cell's index in the chapter's notebook."""

    run: Run
    outputs: dict[int, list] = dc.field(default_factory=dict)
    execution_counts: dict[int, int | None] = dc.field(default_factory=dict)
    seconds: float = 0.0
    failure: Failure | None = None
    cached: bool = False
    kernel: str = "new"
    """The kernel the run had, always one no other chapter ran in: "new" (started for this run,
    which waited for it) or "warm" (started ahead: while Sphinx loaded, or while the worker's
    previous run executed)."""
    interrupted: bool = False
    """The build was stopped (Ctrl-C) while this run was executing."""
    worker: str | None = None
    """On a Dask cluster: the address of the worker that ran it (``None``: this machine's kernels)."""
    waited: float | None = None
    """On a Dask cluster: seconds between its submission and its result other than its own run
    (queueing, the transfer of what it carries, the worker's environment and fork server)."""
    environment: str | None = None
    """On a Dask cluster: the fingerprint of the environment the worker ran it in."""

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "failed" if self.failure else "cached" if self.cached else "executed"

    @property
    def remembered_failure(self) -> bool:
        """A failure read from the cache: the run failed in an earlier build with the same key."""
        return self.failure is not None and self.cached


def run_notebook(chapter: Chapter, framework: Framework) -> tuple[nbformat.NotebookNode, list[Cell]]:
    """The notebook a kernel executes for one framework: that framework's cells and the shared ones."""
    cells = chapter.cells_for(framework.name)
    notebook = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": framework.kernel, "display_name": framework.label, "language": "python"},
            "language_info": {"name": "python"},
        },
        cells=[nbformat.v4.new_code_cell(cell.source, metadata={"tags": list(cell.tags)}) for cell in cells],
    )
    return notebook, cells
