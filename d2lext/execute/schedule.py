"""The scheduling policy: which run a kernel worker takes next, from costs measured during the build."""

from __future__ import annotations

from collections import Counter, defaultdict

from .runs import Result, Run


class Costs:
    """What this build has measured: seconds to make a kernel ready for a framework, seconds a run takes."""

    #: Before anything is measured: a kernel start with a framework import, a chapter's run.
    DEFAULT_START, DEFAULT_RUN = 2.0, 0.5

    def __init__(self):
        self.starts: defaultdict[str, list[float]] = defaultdict(list)
        self.runs: defaultdict[str, list[float]] = defaultdict(list)

    def record(self, result: Result) -> None:
        if result.failure is None:
            # A run that waited for its kernel ("new") includes the kernel's start (and the fork
            # server's, with the framework's import, for the framework's first kernel).
            (self.runs if result.kernel != "new" else self.starts)[result.run.framework.name].append(result.seconds)

    def start(self, framework: str) -> float:
        seen = self.starts[framework]
        return sum(seen) / len(seen) if seen else self.DEFAULT_START

    def run(self, framework: str) -> float:
        seen = self.runs[framework]
        return sum(seen) / len(seen) if seen else self.DEFAULT_RUN


def next_run(pending: list[Run], mine: str | None, others: list[str | None], costs: Costs) -> Run | None:
    """The run a worker whose kernel holds ``mine`` should take next, or ``None`` to stop.

    Its own framework first; then a framework no other kernel holds; then one another kernel
    holds, when starting a kernel for it pays: the runs waiting take longer (count x mean time)
    than the holders would lose to one more start-up (holders x start time).
    """
    for run in pending:
        if run.framework.name == mine:
            return run
    holders = Counter(framework for framework in others if framework)
    waiting = Counter(run.framework.name for run in pending)
    for run in pending:
        name = run.framework.name
        if holders[name] == 0 or waiting[name] * costs.run(name) > holders[name] * costs.start(name):
            return run
    return None


def ready(run: Run, unfinished: list[Run]) -> bool:
    """Whether ``run`` may start: no chapter it depends on (front matter ``d2l.depends``) has a run
    of the same framework still to finish."""
    depends = run.chapter.depends
    return not depends or not any(
        other.framework.name == run.framework.name and other.chapter.docname in depends for other in unfinished
    )
