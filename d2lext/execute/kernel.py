"""Kernels and the workers that run chapters in them, one fresh kernel per chapter; why a run failed.

A chapter never runs in a kernel another chapter ran in, so what it prints cannot depend on which
chapters ran before it (libraries keep state in their own globals, which no reset reaches). So
that this costs little: ``Kernels`` makes a framework's kernels by forking a server that imported
the framework once (``forking.py``), and each worker starts the kernel of its next chapter while
the current one runs (its spare). nbclient executes the cells; its errors become a ``Failure``
naming the source line, the framework and the cause.
"""

from __future__ import annotations

import asyncio
import queue
import re
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from string import Template

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..config import Framework
from ..sources.cells import Cell
from .forking import ForkedProvisioner, ForkServer, server_command, servers_folder
from .outputs import plain_escapes
from .runs import Failure, Result, Run, run_notebook

_CELL_LINE = re.compile(r"Cell In\[(\d*)\], line (\d+)")

#: Kernel options: inline figures as SVG (sharp at any zoom, and reproducible).
#: No IPython history: nothing reads it, and parallel kernels would share one SQLite file.
KERNEL_ARGUMENTS = ("--InlineBackend.figure_formats=svg", "--HistoryManager.enabled=False")
#: Sent before every chapter (a real Python file, checked like the rest of the code).
PROLOGUE = (Path(__file__).parent / "prologue.py").read_text(encoding="utf8")


def preloaded(framework: Framework) -> list[str]:
    """The modules every kernel of a framework has imported before its chapter starts: the
    framework's ``requires``, and matplotlib's pyplot (its import is most of a figure's first cost)
    when the kernel's environment has it."""
    return [*framework.requires, "matplotlib.pyplot"]


class KernelStartError(RuntimeError):
    """A kernel that did not start: why, and the end of what it printed (``tail``)."""

    def __init__(self, cause: str, tail: str):
        super().__init__(cause)
        self.tail = tail


class Kernel:
    """One kernel process, started for one chapter and shut down after it."""

    def __init__(self, framework: Framework, log: Path):
        self.framework = framework
        self.log = log
        """Where the kernel's own stdout and stderr go (bytes written to its file descriptors)."""
        self.km: AsyncKernelManager | None = None
        self.kc = None
        self._context: zmq.asyncio.Context | None = None
        self._log_file = None
        self._stopping: asyncio.Task | None = None

    async def start(self, specs: KernelSpecManager, env: dict[str, str], folder: Path, server: ForkServer | None):
        """Start the kernel, forked by ``server`` when there is one, and wait until it is ready."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log, "w")  # noqa: SIM115 (closed in shutdown)
        if server is None:
            self.km = AsyncKernelManager(kernel_name=self.framework.kernel, kernel_spec_manager=specs)
        else:
            # A forked kernel speaks over Unix sockets of its own (a private folder, a short path),
            # not TCP ports picked free and bound later: another process (a second Dask worker, a
            # connection's own ephemeral port) could take such a port first, and the kernel died.
            self.km = AsyncKernelManager(
                kernel_name=self.framework.kernel,
                kernel_spec_manager=specs,
                transport="ipc",
                ip=str(servers_folder() / f"k-{uuid.uuid4().hex[:16]}"),
            )
            spec = self.km.kernel_spec
            provisioner = ForkedProvisioner(kernel_id=str(uuid.uuid4()), kernel_spec=spec, parent=self.km)
            provisioner.server = server
            self.km.kernel_id = provisioner.kernel_id
            self.km.provisioner = provisioner
        await self.km.start_kernel(
            extra_arguments=list(KERNEL_ARGUMENTS),
            env=env,
            cwd=str(folder),
            stdout=self._log_file,
            stderr=self._log_file,
        )
        # The client connects before the kernel listens: it retries every 10 ms, not every 100 ms
        # (zmq's default), so a kernel is ready a tenth of a second sooner.
        self._context = zmq.asyncio.Context()
        self._context.setsockopt(zmq.RECONNECT_IVL, 10)
        self.kc = self.km.client(context=self._context)
        self.kc.start_channels()
        self.kc.allow_stdin = False  # input() fails at once instead of waiting for the timeout
        await _ready(self.kc, self.km, timeout=60)
        modules = preloaded(self.framework)
        if server is None and modules:  # a forked kernel has them from its server
            code = (
                f"import importlib\nfor _m in {modules!r}:\n    try:\n        importlib.import_module(_m)\n"
                "    except Exception:\n        pass\ndel _m, importlib\n"
            )
            await self.kc.execute_interactive(
                code, silent=True, store_history=False, timeout=120, output_hook=lambda message: None
            )

    async def shutdown(self) -> None:
        """Stop the kernel (at once: nothing in it is needed any more). Safe to call again, also
        after a shutdown that Ctrl-C cancelled halfway: that one is done again."""
        if self._stopping is None or self._stopping.cancelled():
            self._stopping = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._stopping)

    async def _shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        if self._context is not None:
            self._context.destroy(linger=0)  # the kernel is about to be killed: nothing to deliver
        if self.km is not None:
            try:
                await self.km.shutdown_kernel(now=True)
            except Exception:  # already gone, or never started
                pass
        if self._log_file is not None:
            self._log_file.close()

    async def exit_cause(self) -> str:
        """How the kernel process ended: "exit status 3", "killed by SIGSEGV", or "" if unknown."""
        provisioner = self.km.provisioner if self.km is not None else None
        status = None
        if isinstance(provisioner, ForkedProvisioner):
            status = await provisioner.exit_status()
        else:
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


async def _ready(kc, km: AsyncKernelManager, timeout: float) -> None:
    """Wait until the kernel answers on its shell channel and its IOPub reaches the client.

    ``wait_for_ready`` as jupyter_client has it, without its last step: listening to IOPub until
    nothing came for 0.2 s. nbclient ignores IOPub messages of requests other than its own, so
    that wait only made every kernel 0.2 s slower to be ready.
    """
    deadline = time.monotonic() + timeout
    asked = 0.0
    while True:
        if time.monotonic() - asked >= 1:  # asked again each second (a request sent before the
            kc.kernel_info()  # kernel listened may be lost); a kernel that died is seen at once
            asked = time.monotonic()
        try:
            reply = await kc.shell_channel.get_msg(timeout=0.1)
        except queue.Empty:
            pass
        else:
            if reply["msg_type"] == "kernel_info_reply":
                try:
                    await kc.iopub_channel.get_msg(timeout=0.2)  # something arrives: IOPub is connected
                except queue.Empty:
                    pass
                else:
                    kc._handle_kernel_info_reply(reply)  # the protocol version the kernel speaks
                    return
        if not await km.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


class Kernels:
    """This build's kernels, made for every framework alike: forked from the framework's fork
    server (started on first use, or kept warm by an earlier build; left when the framework's runs
    are done), or, for a kernel
    that is not ipykernel started by a Python (or when its server cannot start), started as usual
    and given the same imports. Either way a kernel holds nothing any chapter did."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        kernel_specs: KernelSpecManager | None = None,
        keep_warm: float = 0.0,
        package_root: str = "",
        shared: bool = False,
    ):
        self.env = env
        self.log_dir = log_dir
        self.specs = kernel_specs or KernelSpecManager()
        self.keep_warm = keep_warm
        """Seconds the fork servers stay after the build, for the next build (``d2l_keep_warm``)."""
        self.package_root = package_root
        self.shared = shared
        """Whether the fork servers are shared with other processes even when not kept warm
        (``ForkServer``): a Dask worker shares them with the other workers of its machine."""
        self.kept_warm: list[str] = []
        """The frameworks whose kernels came from a server an earlier build kept warm."""
        self._servers: dict[str, asyncio.Future] = {}
        self._alive: set[Kernel] = set()

    async def start(self, framework: Framework, folder: Path, log: Path) -> Kernel:
        """A kernel for ``framework``, ready to run a chapter."""
        kernel = Kernel(framework, log)
        self._alive.add(kernel)
        try:
            await kernel.start(self.specs, self.env, folder, await self._server(framework, folder))
        except Exception as error:
            await self.stop(kernel)
            raise KernelStartError(f"{type(error).__name__}: {error}", _tail(log)) from error
        except BaseException:
            await self.stop(kernel)
            raise
        return kernel

    async def stop(self, kernel: Kernel) -> None:
        await kernel.shutdown()
        self._alive.discard(kernel)

    async def _server(self, framework: Framework, folder: Path) -> ForkServer | None:
        server = self._servers.get(framework.name)
        if server is None:
            server = self._servers[framework.name] = asyncio.ensure_future(self._start_server(framework, folder))
        return await asyncio.shield(server)  # one start, shared by the kernels that wait for it

    async def _start_server(self, framework: Framework, folder: Path) -> ForkServer | None:
        try:
            spec = self.specs.get_kernel_spec(framework.kernel)
        except NoSuchKernel:  # the kernel's own start says so
            return None
        command = server_command(spec)
        if command is None:
            return None
        env = dict(self.env)
        env.update({name: Template(value).safe_substitute(self.env) for name, value in spec.env.items()})
        log = self.log_dir / f"server-{framework.name}.log"
        server = ForkServer(
            command, preloaded(framework), env, folder, log, self.keep_warm, self.package_root, self.shared
        )
        try:
            if await server.start():
                if server.reused:
                    self.kept_warm.append(framework.name)
                return server
        except OSError:  # its Python cannot start: the kernel's own start says why
            pass
        except BaseException:  # cancelled (Ctrl-C) while it started
            await server.close()
            raise
        await server.close()
        return None

    async def finish(self, framework: str) -> None:
        """The framework's runs are done: close its fork server (which kills any kernel it forked)."""
        started = self._servers.get(framework)
        if started is None:
            return
        if not started.done():
            started.cancel()
        await asyncio.wait([started])
        if not started.cancelled() and started.exception() is None and started.result() is not None:
            await started.result().close()
        self._servers.pop(framework, None)  # only now: a close that Ctrl-C cut short is done again

    async def finish_all(self, keep: set[str] = frozenset()) -> None:
        """Close the fork servers of every framework but those in ``keep``."""
        for framework in [name for name in self._servers if name not in keep]:
            await self.finish(framework)

    async def close(self) -> None:
        """Stop every kernel and fork server."""
        await asyncio.gather(*(self.stop(kernel) for kernel in list(self._alive)), return_exceptions=True)
        await self.finish_all()


class Worker:
    """Runs chapters one after another, each in a fresh kernel; it starts the kernel for its next
    chapter (its spare) while the current one runs."""

    def __init__(self, number: int, kernels: Kernels, module_roots: tuple[str, ...] = ()):
        self.number = number
        self.kernels = kernels
        self.module_roots = module_roots
        self.framework: str | None = None
        """The framework of the worker's spare kernel, or of its last run (the one it holds)."""
        self.spare: asyncio.Task | None = None
        """The kernel being started, or ready, for the worker's next run."""
        self.spare_framework: str | None = None
        self.cell_line = 1
        """The source line of the cell this worker executes (or executed last)."""
        self._logs = 0
        self._stopping: set[asyncio.Task] = set()

    def _log(self, framework: Framework) -> Path:
        # Two names in turn: a worker holds at most two live kernels (the current one and its spare).
        self._logs += 1
        return self.kernels.log_dir / f"kernel-{self.number}-{framework.name}-{self._logs % 2}.log"

    def prepare(self, framework: Framework, folder: Path) -> asyncio.Task:
        """Start the kernel of this worker's next run, a run of ``framework``, without waiting for it."""
        self.spare = asyncio.ensure_future(self.kernels.start(framework, folder, self._log(framework)))
        self.framework = self.spare_framework = framework.name
        return self.spare

    async def warm(self, framework: Framework, folder: Path) -> None:
        """Start this worker's first kernel ahead of time (with the framework imported) and wait for it."""
        await asyncio.wait([self.prepare(framework, folder)])

    async def drop_spare(self) -> None:
        """Stop the spare kernel (its framework has no runs left for this worker)."""
        spare, self.spare, self.spare_framework = self.spare, None, None
        if spare is None:
            return
        if not spare.done():
            spare.cancel()  # a kernel cancelled while it starts stops itself
        await asyncio.wait([spare])
        if not spare.cancelled() and spare.exception() is None:
            self._retire(spare.result())

    def _retire(self, kernel: Kernel) -> None:
        """Shut a kernel down in the background: the next run need not wait for it."""
        stopping = asyncio.ensure_future(self.kernels.stop(kernel))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)

    async def shutdown(self) -> None:
        """Stop this worker's kernels: its spare, and those still shutting down."""
        await self.drop_spare()
        self.framework = None
        while self._stopping:
            await asyncio.wait(list(self._stopping))

    async def run(
        self,
        run: Run,
        timeout: tuple[float, str],
        spare_wanted: Callable[[], bool] = lambda: False,
        *,
        folder: Path | None = None,
        package: Path | None = None,
    ) -> Result:
        """Execute one chapter in one framework, in a kernel no other chapter ran in.

        ``timeout`` is (seconds, where that limit is set). Once the kernel is ready, a spare for
        the next run of the same framework is started if ``spare_wanted()`` says one is due.
        ``folder`` is the working folder (default: the chapter's own); ``package``, a folder put
        first on the kernel's path (a Dask worker's copy of the saved package).
        """
        seconds, timeout_origin = timeout
        notebook, cells = run_notebook(run.chapter, run.framework)
        folder = folder or run.chapter.path.parent
        path = f", {str(package)!r}" if package else ""
        prologue = f"{PROLOGUE}\n_d2l_prepare({str(folder)!r}, {self.module_roots!r}{path})\n"
        notebook.cells.insert(0, nbformat.v4.new_code_cell(prologue))
        result = Result(run)
        current = [0]
        self.cell_line = 1

        def on_cell_execute(cell, cell_index):
            current[0] = cell_index
            self.cell_line = _line_of(cells, cell_index)

        started = time.perf_counter()
        self.framework = run.framework.name
        if self.spare is not None and self.spare_framework == run.framework.name:
            starting, self.spare, self.spare_framework = self.spare, None, None
            result.kernel = "warm"
        else:
            await self.drop_spare()
            starting = asyncio.ensure_future(self.kernels.start(run.framework, folder, self._log(run.framework)))
            result.kernel = "new"
        kernel: Kernel | None = None
        try:
            kernel = await starting
            if spare_wanted():
                self.prepare(run.framework, folder)
            client = NotebookClient(
                notebook,
                km=kernel.km,
                timeout_func=lambda cell: seconds,  # may be a fraction (nbclient's timeout is whole seconds)
                kernel_name=run.framework.kernel,
                record_timing=False,
                skip_cells_with_tag="skip-execution",
                on_cell_execute=on_cell_execute,
            )
            client.kc = kernel.kc
            await client.async_execute()
        except CellExecutionError as error:
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
            cause = await kernel.exit_cause()
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                "the kernel died while running this cell" + (f" ({cause})" if cause else ""),
                _tail(kernel.log, _cell_stderr(notebook, current[0])),
                lasting=False,
            )
            _mark(notebook, current[0], result.failure)
        except KernelStartError as error:  # what the kernel said before it died, if it did
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                f"could not run the kernel {run.framework.kernel!r}: {error}",
                error.tail,
                lasting=False,
            )
        except Exception as error:  # the kernel's connection failing and the like
            result.failure = Failure(
                run.chapter.where(_line_of(cells, current[0])),
                run.framework.name,
                f"could not run the kernel {run.framework.kernel!r}: {type(error).__name__}: {error}",
                lasting=False,
            )
        finally:
            if kernel is not None:
                self._retire(kernel)
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
