"""Which run a worker takes next."""

from __future__ import annotations

from pathlib import Path

from d2lext.config import Framework
from d2lext.execute.runs import Result, Run
from d2lext.execute.schedule import Costs, next_run
from d2lext.sources.cells import Chapter

TORCH, NUMPY = Framework("torch", "PyTorch"), Framework("numpy", "NumPy")


def runs(*frameworks):
    return [Run(Chapter(f"c{i}", Path(f"c{i}.md"), f"c{i}.md", None, []), fw) for i, fw in enumerate(frameworks)]


def costs(start=2.0, run=0.05):
    measured = Costs()
    measured.starts["torch"].append(start)
    measured.runs["torch"].append(run)
    return measured


def test_own_framework_first():
    pending = runs(NUMPY, TORCH)
    assert next_run(pending, "torch", ["numpy"], Costs()) is pending[1]


def test_a_framework_no_kernel_holds():
    pending = runs(TORCH, NUMPY)
    assert next_run(pending, None, ["torch"], Costs()) is pending[1]
    assert next_run(pending, "mxnet", [None], Costs()) is pending[0]


def test_no_second_kernel_for_a_few_quick_runs():
    pending = runs(*[TORCH] * 10)  # 10 x 0.05 s waiting, a start costs 2 s
    assert next_run(pending, "numpy", ["torch"], costs()) is None


def test_second_kernel_when_the_work_waiting_outweighs_its_start():
    pending = runs(*[TORCH] * 10)  # 10 x 0.5 s waiting
    assert next_run(pending, "numpy", ["torch"], costs(run=0.5)) is pending[0]
    assert next_run(pending, "numpy", ["torch", "torch", "torch"], costs(run=0.5)) is None  # 3 holders


def test_first_runs_on_new_kernels_measure_start_costs():
    measured = Costs()
    run = runs(TORCH)[0]
    measured.record(Result(run, seconds=2.5, kernel="new"))
    measured.record(Result(run, seconds=0.1, kernel="warm"))
    assert (measured.start("torch"), measured.run("torch")) == (2.5, 0.1)
    assert (measured.start("numpy"), measured.run("numpy")) == (Costs.DEFAULT_START, Costs.DEFAULT_RUN)
