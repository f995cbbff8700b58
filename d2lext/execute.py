"""Execution: each chapter once per selected framework, each run in its own Jupyter kernel.

Runs are independent (one kernel each) and are scheduled together on a pool of ``jobs`` kernels, so
the frameworks of a chapter, and the chapters of a book, execute at the same time.
"""

from __future__ import annotations

import asyncio
import dataclasses as dc
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .cells import Cell, Chapter
from .config import Framework

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d*\], line (\d+)")

#: matplotlib settings that make figures reproducible: the same code gives the same SVG.
MATPLOTLIBRC = "svg.hashsalt: d2l\n"
#: Kernel options: inline figures as SVG (sharp at any zoom, and reproducible).
KERNEL_ARGUMENTS = ["--InlineBackend.figure_formats=svg"]


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


async def _execute(run: Run, timeout: tuple[int, str], env: dict[str, str], log_dir: Path) -> Result:
    """Run one chapter in one framework; ``timeout`` is (seconds, where that limit is set)."""
    timeout, timeout_origin = timeout
    notebook, cells = run_notebook(run.chapter, run.framework)
    result = Result(run)
    current = [0]

    def on_cell_execute(cell, cell_index):
        current[0] = cell_index

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=run.framework.kernel,
        resources={"metadata": {"path": str(run.chapter.path.parent)}},
        record_timing=False,
        skip_cells_with_tag="skip-execution",
        on_cell_execute=on_cell_execute,
        extra_arguments=KERNEL_ARGUMENTS,
    )
    log = log_dir / (run.chapter.docname.replace("/", "__") + f".{run.framework.name}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as kernel_stderr:
        try:
            await client.async_execute(env=env, stderr=kernel_stderr)
        except CellExecutionError as error:
            result.failure = _cell_failure(run, cells[current[0]], notebook.cells[current[0]], error)
        except CellTimeoutError:
            cell = cells[current[0]]
            result.failure = Failure(
                run.chapter.where(cell.line),
                run.framework.name,
                f"cell timed out after {timeout} s (the limit is {timeout_origin})",
            )
        except DeadKernelError:
            cell = cells[current[0]] if cells else None
            result.failure = Failure(
                run.chapter.where(cell.line if cell else 1),
                run.framework.name,
                "the kernel died while running this cell",
                _tail(log),
            )
        except Exception as error:  # kernel start failures and the like
            result.failure = Failure(
                run.chapter.where(1),
                run.framework.name,
                f"could not run the kernel {run.framework.kernel!r}: {type(error).__name__}: {error}",
            )
    result.seconds = time.perf_counter() - started
    for cell, executed in zip(cells, notebook.cells, strict=True):
        result.outputs[cell.index] = executed.get("outputs", [])
        result.execution_counts[cell.index] = executed.get("execution_count")
    return result


def _cell_failure(run: Run, cell: Cell, executed, error: CellExecutionError) -> Failure:
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


def execute(
    runs: list[Run],
    *,
    jobs: int,
    timeout: Callable[[Run], tuple[int, str]],
    env: dict[str, str],
    log_dir: Path,
    report: Callable[[Result], None] = lambda result: None,
) -> list[Result]:
    """Execute all runs, at most ``jobs`` kernels at a time; results in the order of ``runs``.

    ``report`` is called as each run finishes (in the calling thread's stead: keep it quick).
    The event loop runs in a worker thread, so that Ctrl-C reaches this thread as
    KeyboardInterrupt (nbclient only installs its own signal handlers in the main thread); the
    runs are then cancelled, their kernels shut down, and the interrupt re-raised.
    """
    if not runs:
        return []
    loop = asyncio.new_event_loop()
    outcome: dict[str, object] = {}

    async def main() -> list[Result]:
        pool = asyncio.Semaphore(jobs)

        async def one(run: Run) -> Result:
            async with pool:
                result = await _execute(run, timeout(run), env, log_dir)
            report(result)
            return result

        return list(await asyncio.gather(*(one(run) for run in runs)))

    def worker() -> None:
        asyncio.set_event_loop(loop)
        try:
            outcome["results"] = loop.run_until_complete(main())
        except BaseException as error:  # handed to the calling thread
            outcome["error"] = error
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=worker, name="d2l-execute", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
        thread.join(30)
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["results"]  # type: ignore[return-value]


_FIND_MODULES = (
    "import importlib.util, sys\nprint(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
)


def missing_requirement(framework: Framework) -> str | None:
    """Why ``framework`` cannot run here (kernel or module missing), or ``None`` when it can."""
    import subprocess

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

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
