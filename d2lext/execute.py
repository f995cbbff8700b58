"""Execution: each chapter once per selected framework, in Jupyter kernels driven by nbclient.

All due (chapter, framework) runs of a build are scheduled together on ``jobs`` workers, so the
frameworks of a chapter, and the chapters of a book, execute at the same time. Each worker has one
kernel, reused for its next run of the same framework after a reset (``PROLOGUE``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses as dc
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .cells import Cell, Chapter
from .config import Framework

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d*\], line (\d+)")

#: matplotlib settings that make figures reproducible: the same code gives the same SVG.
MATPLOTLIBRC = "svg.hashsalt: d2l\n"
#: Kernel options: inline figures as SVG (sharp at any zoom, and reproducible).
#: No IPython history: nothing reads it, and parallel kernels would share one SQLite file.
KERNEL_ARGUMENTS = ["--InlineBackend.figure_formats=svg", "--HistoryManager.enabled=False"]


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
    """The kernel the run found: "new", "warm" (started early, framework imported) or "reused"."""


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


def kernel_env(package_root: Path, state_dir: Path) -> dict[str, str]:
    """Environment of every kernel: the saved package importable, reproducible figures."""
    state_dir.mkdir(parents=True, exist_ok=True)
    rc = state_dir / "matplotlibrc"
    if not rc.exists() or rc.read_text() != MATPLOTLIBRC:
        rc.write_text(MATPLOTLIBRC)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
    env["MATPLOTLIBRC"] = str(rc)
    env["SOURCE_DATE_EPOCH"] = "0"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


#: First cell of every run: makes a reused kernel as good as fresh for the next chapter.
#: A chapter's names, the book's own modules (the saved package included), matplotlib's settings and
#: figures, warning filters, the working folder and the execution count are reset; what libraries
#: keep in their own globals (e.g. torch's default dtype) is not.
PROLOGUE = """\
def _d2l_prepare(folder, roots):
    import importlib, os, sys, warnings
    importlib.invalidate_caches()
    fresh = getattr(sys, "_d2l_fresh", None)
    if fresh is None:
        sys._d2l_fresh = {{"warnings": list(warnings.filters)}}
    else:
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(roots):
                del sys.modules[name]
        warnings.filters[:] = fresh["warnings"]
        if "matplotlib.pyplot" in sys.modules:
            import matplotlib
            sys.modules["matplotlib.pyplot"].close("all")
            matplotlib.rc_file_defaults()
        if "matplotlib_inline.backend_inline" in sys.modules:
            sys.modules["matplotlib_inline.backend_inline"].set_matplotlib_formats("svg")
    os.chdir(folder)
    import gc
    collect, gc.collect = gc.collect, lambda *args: 0  # reset() ends with a full collection: ~20 ms+
    try:
        get_ipython().reset(new_session=True)
    finally:
        gc.collect = collect
_d2l_prepare({folder!r}, {roots!r})
"""


class Worker:
    """Runs chapters one after another in one kernel, kept while the framework stays the same."""

    def __init__(self, number: int, env: dict[str, str], log_dir: Path, module_roots: tuple[str, ...]):
        self.number = number
        self.env = env
        self.log_dir = log_dir
        self.module_roots = module_roots
        self.framework: str | None = None
        self.km: AsyncKernelManager | None = None
        self.kc = None
        """One client per kernel, kept across runs: connecting a client costs ~0.2 s (IOPub settling)."""
        self.kernel_state = "new"
        """What the next run finds: a "new" kernel, a "warm" one (framework imported) or a "reused" one."""
        self.log: Path | None = None
        self._log_file = None

    async def _kernel_for(self, framework: Framework, folder: Path) -> AsyncKernelManager:
        if self.km is not None and (self.framework != framework.name or not await self.km.is_alive()):
            await self.shutdown()
        if self.km is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.log = self.log_dir / f"kernel-{self.number}-{framework.name}.log"
            self._log_file = open(self.log, "w")  # noqa: SIM115 (closed in shutdown)
            self.km = AsyncKernelManager(kernel_name=framework.kernel)
            await self.km.start_kernel(
                extra_arguments=KERNEL_ARGUMENTS, env=self.env, cwd=str(folder), stderr=self._log_file
            )
            self.framework = framework.name
            self.kc = self.km.client()
            self.kc.start_channels()
            await self.kc.wait_for_ready(timeout=60)
        return self.km

    async def warm(self, framework: Framework, folder: Path) -> None:
        """Start this worker's kernel ahead of time and import the framework's modules in it."""
        await self._kernel_for(framework, folder)
        self.kernel_state = "warm"
        modules = list(framework.requires) + (["matplotlib.pyplot"] if "matplotlib" in framework.requires else [])
        if not modules:
            return
        code = (
            f"import importlib\nfor _m in {modules!r}:\n    try:\n        importlib.import_module(_m)\n"
            "    except Exception:\n        pass\ndel _m, importlib\n"
        )
        await self.kc.execute_interactive(
            code, silent=True, store_history=False, timeout=120, output_hook=lambda message: None
        )

    async def shutdown(self) -> None:
        """Stop this worker's kernel; safe to call twice at once (the second finds nothing to stop)."""
        kc, km, log_file = self.kc, self.km, self._log_file
        self.kc, self.km, self._log_file, self.framework = None, None, None, None
        self.kernel_state = "new"
        if kc is not None:
            kc.stop_channels()
        if km is not None:
            try:
                await km.shutdown_kernel(now=True)
            except Exception:  # already gone
                pass
        if log_file is not None:
            log_file.close()

    async def run(self, run: Run, timeout: tuple[int, str]) -> Result:
        """Execute one chapter in one framework; ``timeout`` is (seconds, where that limit is set)."""
        seconds, timeout_origin = timeout
        notebook, cells = run_notebook(run.chapter, run.framework)
        folder = run.chapter.path.parent
        prologue = PROLOGUE.format(folder=str(folder), roots=self.module_roots)
        notebook.cells.insert(0, nbformat.v4.new_code_cell(prologue))
        result = Result(run)
        current = [0]

        def on_cell_execute(cell, cell_index):
            current[0] = cell_index

        started = time.perf_counter()
        healthy = False
        try:
            km = await self._kernel_for(run.framework, folder)
            result.kernel = self.kernel_state
            self.kernel_state = "reused"
            client = NotebookClient(
                notebook,
                km=km,
                timeout=seconds,
                kernel_name=run.framework.kernel,
                record_timing=False,
                skip_cells_with_tag="skip-execution",
                on_cell_execute=on_cell_execute,
            )
            client.kc = self.kc
            await client.async_execute()
            healthy = True
        except CellExecutionError as error:
            healthy = True  # the kernel is fine; the next chapter resets it
            result.failure = _cell_failure(run, cells, notebook, current[0], error)
        except CellTimeoutError:
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                f"cell timed out after {seconds} s (the limit is {timeout_origin})",
            )
        except DeadKernelError:
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                "the kernel died while running this cell",
                _tail(self.log) if self.log else "",
            )
        except Exception as error:  # kernel start failures and the like
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                f"could not run the kernel {run.framework.kernel!r}: {type(error).__name__}: {error}",
            )
        finally:
            if not healthy:
                await self.shutdown()
        result.seconds = time.perf_counter() - started
        for cell, executed in zip(cells, notebook.cells[1:], strict=True):
            result.outputs[cell.index] = executed.get("outputs", [])
            result.execution_counts[cell.index] = executed.get("execution_count")
        return result


def _line_of(cells: list[Cell], executed_index: int) -> int:
    """Source line of the cell at ``executed_index`` of a run's notebook (0 is the prologue)."""
    return cells[executed_index - 1].line if 0 < executed_index <= len(cells) else 1


def _cell_failure(run: Run, cells: list[Cell], notebook, executed_index: int, error: CellExecutionError) -> Failure:
    if executed_index == 0:
        return Failure(
            run.chapter.where(1), run.framework.name, f"could not prepare the kernel: {error.ename}: {error.evalue}"
        )
    cell = cells[executed_index - 1]
    executed = notebook.cells[executed_index]
    errors = [o for o in executed.get("outputs", []) if o.get("output_type") == "error"]
    traceback = strip_ansi("\n".join(errors[-1].get("traceback", []))) if errors else ""
    frames = _CELL_LINE.findall(traceback)
    # The last frame in the cell itself is the line that raised (or called what raised).
    line = cell.body_line + int(frames[-1]) if frames else cell.line
    return Failure(run.chapter.where(line), run.framework.name, f"{error.ename}: {error.evalue}", traceback)


#: What every ipykernel prints on start; not worth showing next to a crash.
_KERNEL_NOISE = ("Kernel is running over TCP without encryption",)


def _tail(log: Path, lines: int = 15) -> str:
    """The end of a kernel's stderr (why it died, when it said so)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if not any(noise in line for noise in _KERNEL_NOISE)]
    return "\n".join(kept[-lines:])


class Costs:
    """What this build has measured: seconds to make a kernel ready for a framework, seconds a run takes."""

    #: Before anything is measured: a kernel start with a framework import, a chapter's run.
    DEFAULT_START, DEFAULT_RUN = 2.0, 0.5

    def __init__(self):
        self.starts: defaultdict[str, list[float]] = defaultdict(list)
        self.runs: defaultdict[str, list[float]] = defaultdict(list)

    def record(self, result: Result) -> None:
        if result.failure is None:
            # A first run on a new kernel includes the kernel's start and the framework's import.
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


class Engine:
    """The kernels of one build, driven from an event loop in a thread of their own.

    Workers (one kernel each) live as long as the engine, so kernels can be started and their
    framework imported while Sphinx is still loading (``warm``), and reused by ``execute``.
    Running the loop outside the main thread also means Ctrl-C reaches the main thread as
    KeyboardInterrupt (nbclient installs signal handlers only in the main thread): the runs are
    then cancelled, the kernels shut down, and the interrupt re-raised.
    """

    def __init__(self, jobs: int, env: dict[str, str], log_dir: Path, module_roots: tuple[str, ...] = ()):
        self.jobs = jobs
        self.workers = [Worker(n, env, log_dir, module_roots) for n in range(jobs)]
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="d2l-kernels", daemon=True)
        self._thread.start()
        self._warming: concurrent.futures.Future | None = None
        self.warm_up_wait = 0.0
        """Seconds ``execute`` waited for kernels started by ``warm`` to be ready."""
        self.costs = Costs()

    def warm(self, frameworks: list[Framework], folder: Path) -> None:
        """Start a kernel per framework (at most one per worker) without waiting for it."""

        async def start(worker: Worker, framework: Framework) -> None:
            started = time.perf_counter()
            await worker.warm(framework, folder)
            self.costs.starts[framework.name].append(time.perf_counter() - started)

        async def start_all() -> None:
            pairs = zip(self.workers, frameworks, strict=False)
            await asyncio.gather(*(start(worker, fw) for worker, fw in pairs), return_exceptions=True)

        self._warming = asyncio.run_coroutine_threadsafe(start_all(), self.loop)

    def _wait(self, future: concurrent.futures.Future):
        try:
            while True:
                try:
                    return future.result(timeout=0.1)
                except concurrent.futures.TimeoutError:
                    continue
        except KeyboardInterrupt:
            self.interrupt()
            raise

    def interrupt(self) -> None:
        """Cancel every run (their kernels shut down as they unwind), then close."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(self.loop)])
        self.close()

    def start(
        self,
        runs: list[Run],
        *,
        timeout: Callable[[Run], tuple[int, str]],
        report: Callable[[Result], None] = lambda result: None,
    ) -> concurrent.futures.Future:
        """Start executing all runs on the workers; the future gives results in the order of ``runs``.

        A worker reuses its kernel for the next run of the same framework (imports are paid once
        per worker, as in a plain script), resetting it first (see ``PROLOGUE``). ``report`` is
        called as each run finishes, from the engine's thread.
        """
        return asyncio.run_coroutine_threadsafe(self._execute(runs, timeout, report), self.loop)

    def wait(self, future: concurrent.futures.Future):
        """The future's result; Ctrl-C meanwhile cancels the runs and shuts the kernels down."""
        return self._wait(future)

    def execute(self, runs: list[Run], **options) -> list[Result]:
        """``start`` and wait for the results."""
        return self.wait(self.start(runs, **options)) if runs else []

    async def _execute(self, runs, timeout, report) -> list[Result]:
        if self._warming is not None:
            waiting = time.perf_counter()
            await asyncio.wrap_future(self._warming)
            self.warm_up_wait = time.perf_counter() - waiting
            self._warming = None
        workers = self.workers[: min(self.jobs, len(runs))]
        for idle in self.workers[len(workers) :]:
            await idle.shutdown()
        pending = list(runs)
        results: dict[int, Result] = {}
        costs = self.costs

        def take(worker: Worker) -> Run | None:
            others = [w.framework for w in workers if w is not worker]
            run = next_run(pending, worker.framework, others, costs)
            if run is not None:
                pending.remove(run)
            return run

        async def work(worker: Worker) -> None:
            try:
                while (run := take(worker)) is not None:
                    worker.framework = worker.framework or run.framework.name  # claim it before starting
                    result = await worker.run(run, timeout(run))
                    costs.record(result)
                    results[id(run)] = result
                    report(result)
            finally:
                await worker.shutdown()

        await asyncio.gather(*(work(worker) for worker in workers))
        return [results[id(run)] for run in runs]

    def close(self) -> None:
        """Shut every kernel down and stop the loop (safe to call more than once)."""
        if not self.loop.is_running():
            return

        async def stop() -> None:
            await asyncio.gather(*(worker.shutdown() for worker in self.workers), return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
        except Exception:  # closing on the way out: nothing more to do
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


_FIND_MODULES = (
    "import importlib.util, sys\nprint(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
)


def missing_requirement(framework: Framework) -> str | None:
    """Why ``framework`` cannot run here (kernel or module missing), or ``None`` when it can."""
    try:
        spec = KernelSpecManager().get_kernel_spec(framework.kernel)
    except NoSuchKernel:
        return (
            f"framework {framework.name!r} needs the Jupyter kernel {framework.kernel!r}, which is not installed "
            f"(see `jupyter kernelspec list`)"
        )
    if not framework.requires:
        return None
    python = spec.argv[0]
    if python in {"python", "python3", f"python3.{sys.version_info[1]}"}:
        python = sys.executable  # as jupyter_client does when it launches the kernel
    if "python" not in Path(python).name:
        return None  # not a Python kernel we can ask
    found = subprocess.run(
        [python, "-c", _FIND_MODULES, *framework.requires], capture_output=True, text=True, check=False
    )
    missing = found.stdout.split()
    if found.returncode != 0 or missing:
        names = " ".join(missing) or " ".join(framework.requires)
        return (
            f"framework {framework.name!r} needs {names}, which the kernel {framework.kernel!r} cannot import: "
            f"install it (pip install {names}) or leave the framework out (make html FRAMEWORKS=...)"
        )
    return None
