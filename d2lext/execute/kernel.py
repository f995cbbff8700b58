"""A kernel worker: runs chapters one after another in one Jupyter kernel, and says why a run failed.

The kernel is kept for the next chapter of the same framework and reset before each one by
``prologue.py``. nbclient executes the cells; its errors become a ``Failure`` naming the source
line, the framework and the cause.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..config import Framework
from ..sources.cells import Cell
from .outputs import plain_escapes
from .runs import Failure, Result, Run, run_notebook

_CELL_LINE = re.compile(r"Cell In\[(\d*)\], line (\d+)")

#: Kernel options: inline figures as SVG (sharp at any zoom, and reproducible).
#: No IPython history: nothing reads it, and parallel kernels would share one SQLite file.
KERNEL_ARGUMENTS = ("--InlineBackend.figure_formats=svg", "--HistoryManager.enabled=False")
#: The reset sent before every chapter (a real Python file, checked like the rest of the code).
PROLOGUE = (Path(__file__).parent / "prologue.py").read_text(encoding="utf8")


class Worker:
    """Runs chapters one after another in one kernel, kept while the framework stays the same."""

    def __init__(
        self,
        number: int,
        env: dict[str, str],
        log_dir: Path,
        module_roots: tuple[str, ...],
        kernel_specs: KernelSpecManager | None = None,
    ):
        self.number = number
        self.kernel_specs = kernel_specs or KernelSpecManager()
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
        self.cell_line = 1
        """The source line of the cell this worker executes (or executed last)."""

    async def _kernel_for(self, framework: Framework, folder: Path) -> AsyncKernelManager:
        if self.km is not None and (self.framework != framework.name or not await self.km.is_alive()):
            await self.shutdown()
        if self.km is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.log = self.log_dir / f"kernel-{self.number}-{framework.name}.log"
            self._log_file = open(self.log, "w")  # noqa: SIM115 (closed in shutdown)
            self.km = AsyncKernelManager(kernel_name=framework.kernel, kernel_spec_manager=self.kernel_specs)
            # The kernel's own stdout and stderr (bytes written to its file descriptors, not what
            # cells print) go to its log, not to the build's console.
            await self.km.start_kernel(
                extra_arguments=list(KERNEL_ARGUMENTS),
                env=self.env,
                cwd=str(folder),
                stdout=self._log_file,
                stderr=self._log_file,
            )
            self.framework = framework.name
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.allow_stdin = False  # input() fails at once instead of waiting for the timeout
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

    async def exit_cause(self) -> str:
        """How the kernel process ended: "exit status 3", "killed by SIGSEGV", or "" if unknown."""
        provisioner = self.km.provisioner if self.km is not None else None
        status = None
        for _ in range(20):  # the process may still be on its way out
            status = await provisioner.poll() if provisioner is not None else None
            if status is not None:
                break
            await asyncio.sleep(0.05)
        if status is None:
            return ""
        if status < 0:
            try:
                return f"killed by {signal.Signals(-status).name}"
            except ValueError:
                return f"killed by signal {-status}"
        return f"exit status {status}"

    async def run(self, run: Run, timeout: tuple[float, str]) -> Result:
        """Execute one chapter in one framework; ``timeout`` is (seconds, where that limit is set)."""
        seconds, timeout_origin = timeout
        notebook, cells = run_notebook(run.chapter, run.framework)
        folder = run.chapter.path.parent
        prologue = f"{PROLOGUE}\n_d2l_prepare({str(folder)!r}, {self.module_roots!r})\n"
        notebook.cells.insert(0, nbformat.v4.new_code_cell(prologue))
        result = Result(run)
        current = [0]
        self.cell_line = 1

        def on_cell_execute(cell, cell_index):
            current[0] = cell_index
            self.cell_line = _line_of(cells, cell_index)

        started = time.perf_counter()
        healthy = False
        try:
            km = await self._kernel_for(run.framework, folder)
            result.kernel = self.kernel_state
            self.kernel_state = "reused"
            client = NotebookClient(
                notebook,
                km=km,
                timeout_func=lambda cell: seconds,  # may be a fraction (nbclient's timeout is whole seconds)
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
                f"cell timed out after {seconds:g} s (the limit is {timeout_origin})",
                lasting=False,
            )
            _mark(notebook, current[0], result.failure)
        except DeadKernelError:
            cause = await self.exit_cause()
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                "the kernel died while running this cell" + (f" ({cause})" if cause else ""),
                _tail(self.log, _cell_stderr(notebook, current[0])),
                lasting=False,
            )
            _mark(notebook, current[0], result.failure)
        except Exception as error:  # kernel start failures and the like
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                f"could not run the kernel {run.framework.kernel!r}: {type(error).__name__}: {error}",
                lasting=False,
            )
        finally:
            if not healthy:
                await self.shutdown()
        result.seconds = time.perf_counter() - started
        for cell, executed in zip(cells, notebook.cells[1:], strict=True):
            result.outputs[cell.index] = executed.get("outputs", [])
            result.execution_counts[cell.index] = executed.get("execution_count")
        return result


def _mark(notebook: nbformat.NotebookNode, executed_index: int, failure: Failure) -> None:
    """Show a failure that raised no error output (a timeout, a dead kernel) under its cell, after
    what the cell printed before it (pages show it when the build keeps going)."""
    if 0 < executed_index < len(notebook.cells):
        lines = [f"{failure.summary} [{failure.framework}]", *failure.traceback.splitlines()]
        error = nbformat.v4.new_output("error", ename="BuildError", evalue=failure.summary, traceback=lines)
        notebook.cells[executed_index].setdefault("outputs", []).append(error)


def _line_of(cells: list[Cell], executed_index: int) -> int:
    """Source line of the cell at ``executed_index`` of a run's notebook (0 is the prologue)."""
    return cells[executed_index - 1].line if 0 < executed_index <= len(cells) else 1


def _cell_failure(run: Run, cells: list[Cell], notebook, executed_index: int, error: CellExecutionError) -> Failure:
    if executed_index == 0:
        return Failure(
            run.chapter.where(1),
            run.framework.name,
            f"could not prepare the kernel: {error.ename}: {error.evalue}",
            lasting=False,
        )
    cell = cells[executed_index - 1]
    executed = notebook.cells[executed_index]
    errors = [o for o in executed.get("outputs", []) if o.get("output_type") == "error"]
    traceback = plain_escapes("\n".join(errors[-1].get("traceback", [])), colours=False) if errors else ""
    # The last frame in this cell itself is the line that raised (or called what raised); frames of
    # functions defined in earlier cells name those cells' lines.
    # IPython lists the executed cell's frame first; frames of functions from earlier cells follow.
    frames = _CELL_LINE.findall(traceback)
    own = [int(line) for number, line in frames if number == frames[0][0]] if frames else []
    line = cell.body_line + own[-1] if own else cell.line
    # A KeyboardInterrupt comes from outside the code (a signal), not from the code and its inputs.
    lasting = error.ename != "KeyboardInterrupt"
    return Failure(run.chapter.where(line), run.framework.name, f"{error.ename}: {error.evalue}", traceback, lasting)


#: What every ipykernel prints on start; not worth showing next to a crash.
_KERNEL_NOISE = ("Kernel is running over TCP without encryption",)


def _cell_stderr(notebook: nbformat.NotebookNode, executed_index: int) -> str:
    """What the cell at ``executed_index`` wrote to ``sys.stderr`` (it reaches the cell, not the log)."""
    if not 0 < executed_index < len(notebook.cells):
        return ""
    outputs = notebook.cells[executed_index].get("outputs", [])
    return "".join(
        "".join(output.get("text", ""))
        for output in outputs
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    )


def _tail(log: Path | None, cell_stderr: str = "", lines: int = 15) -> str:
    """The end of a dead kernel's stderr (why it died, when it said so): what the cell wrote to
    ``sys.stderr``, then what the process wrote to its file descriptor 2 (native code, Python's
    fatal error handler), which goes to the kernel's log."""
    try:
        text = log.read_text(errors="replace") if log is not None else ""
    except OSError:
        text = ""
    found = cell_stderr.splitlines() + text.splitlines()
    kept = [line for line in found if line.strip() and not any(noise in line for noise in _KERNEL_NOISE)]
    return "\n".join(kept[-lines:])
