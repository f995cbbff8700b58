"""The engine: a build's kernel workers, driven from an event loop in a thread of their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from ..config import Framework
from .kernel import Kernels, Worker
from .runs import Failure, Result, Run
from .schedule import Costs, next_run, ready


class Engine:
    """The kernels of one build, driven from an event loop in a thread of their own.

    Workers live as long as the engine, so their first kernels can be started, and their
    framework imported, while Sphinx is still loading (``warm``). Every run has a kernel of its
    own (``kernel.py``): what a chapter prints does not depend on which chapters ran before it.
    Running the loop outside the main thread also means Ctrl-C reaches the main thread as
    KeyboardInterrupt (nbclient installs signal handlers only in the main thread): the runs are
    then cancelled, the kernels shut down, and the interrupt re-raised.
    """

    def __init__(
        self,
        jobs: int,
        env: dict[str, str],
        log_dir: Path,
        module_roots: tuple[str, ...] = (),
        kernel_specs: KernelSpecManager | None = None,
        keep_warm: float = 0.0,
        package_root: str = "",
    ):
        self.jobs = jobs
        self.kernels = Kernels(env, log_dir, kernel_specs, keep_warm, package_root)
        self.workers = [Worker(n, self.kernels, module_roots) for n in range(jobs)]
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="d2l-kernels", daemon=True)
        self._thread.start()
        self._warming: concurrent.futures.Future | None = None
        self.warm_up_wait = 0.0
        """Seconds ``execute`` waited for kernels started by ``warm`` to be ready."""
        self.costs = Costs()
        self.stopping = False
        """Set by ``interrupt``: no run starts any more, and the runs it stopped say so."""
        self._active: dict[str, tuple[Run, Worker]] = {}

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
        """Cancel every run and wait for them to unwind (their kernels shut down), then close."""
        self.stopping = True
        if self.loop.is_running():

            async def cancel_all() -> None:
                # Ours only: a task of asyncio's own cancelled halfway (the one connecting a new
                # process's pipes) leaves the process's transport waiting forever (30 s here).
                tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task() and ours(task)]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            try:
                asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout=30)
            except Exception:  # stopping anyway
                pass
        self.close()

    def start(
        self,
        runs: list[Run],
        *,
        timeout: Callable[[Run], tuple[int, str]],
        report: Callable[[Result], None] = lambda result: None,
    ) -> concurrent.futures.Future:
        """Start executing all runs on the workers; the future gives results in the order of ``runs``.

        Each run gets a fresh kernel, forked from its framework's server (the framework imported
        once per build, or once for many builds when servers are kept warm); a worker starts its
        next run's kernel while the current one runs, when a run of the same framework is waiting
        for it. ``report`` is called as each run finishes, from the engine's thread.
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
        due = {run.framework.name for run in runs}
        for worker in workers:  # warmed up for a framework with nothing to run
            if worker.spare_framework not in due:
                await worker.drop_spare()
        await self.kernels.finish_all(keep=due)
        pending = list(runs)
        running: list[Run] = []
        results: dict[int, Result] = {}
        costs = self.costs
        changed = asyncio.Condition()  # a run finished: a run that waited for it may start

        def spare_wanted(framework: str) -> bool:
            """Whether a worker should start a kernel ahead for ``framework``: more of its runs wait
            than spare kernels are held for it."""
            waiting = sum(run.framework.name == framework for run in pending)
            spares = sum(worker.spare_framework == framework for worker in workers)
            return waiting > spares

        async def finished(framework: str) -> None:
            """No run of ``framework`` is left: its spares and its fork server go."""
            for worker in workers:
                if worker.spare_framework == framework:
                    await worker.drop_spare()
            await self.kernels.finish(framework)

        def take(worker: Worker) -> Run | None:
            others = [w.framework for w in workers if w is not worker]
            unfinished = pending + running
            run = next_run([r for r in pending if ready(r, unfinished)], worker.framework, others, costs)
            if run is not None:
                pending.remove(run)
                running.append(run)
            return run

        async def work(worker: Worker) -> None:
            try:
                while pending and not self.stopping:
                    run = take(worker)
                    if run is None:
                        if not any(not ready(r, pending + running) for r in pending):
                            break  # nothing for this worker: leave the rest to the others
                        async with changed:  # runs wait for chapters they depend on
                            await changed.wait()
                        continue
                    worker.framework = worker.framework or run.framework.name  # claim it before starting
                    self._active[run.name] = (run, worker)
                    name = run.framework.name
                    result = await worker.run(run, timeout(run), functools.partial(spare_wanted, name))
                    del self._active[run.name]
                    if self.stopping:  # Ctrl-C: what the run met was the build stopping it
                        result = _stopped(run, worker, result.seconds)
                    running.remove(run)
                    costs.record(result)
                    results[id(run)] = result
                    report(result)
                    if not any(other.framework.name == name for other in pending + running):
                        await finished(name)
                    async with changed:
                        changed.notify_all()
            finally:
                await worker.shutdown()

        await asyncio.gather(*(work(worker) for worker in workers))
        await self.kernels.close()
        return [results[id(run)] for run in runs]

    def stopped_runs(self) -> list[Result]:
        """After ``interrupt``: the runs that were executing, each saying it was stopped."""
        return [_stopped(run, worker) for run, worker in list(self._active.values())]

    def close(self) -> None:
        """Shut every kernel down and stop the loop (safe to call more than once)."""
        if not self.loop.is_running():
            return

        async def stop() -> None:
            await asyncio.gather(*(worker.shutdown() for worker in self.workers), return_exceptions=True)
            await self.kernels.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
        except Exception:  # closing on the way out: nothing more to do
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def _stopped(run: Run, worker: Worker, seconds: float = 0.0) -> Result:
    """A run stopped by Ctrl-C, at the cell its worker was executing."""
    result = Result(run, seconds=seconds, interrupted=True)
    result.failure = Failure(
        run.chapter.where(worker.cell_line), run.framework.name, "stopped by Ctrl-C", lasting=False
    )
    return result


_ASYNCIO = os.path.dirname(asyncio.__file__)


def ours(task: asyncio.Task) -> bool:
    """Whether a task runs code of ours (or of a library we call), not of asyncio itself."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is None or not code.co_filename.startswith(_ASYNCIO)
