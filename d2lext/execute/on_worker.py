"""What a Dask worker does with a build's tasks: the same kernels as a local build, on its own disk.

Imported in the worker processes of a Dask cluster (``cluster.py`` is the build's side). A task
carries one run (or a chain of runs that read each other's files): the cells, the saved
package's modules, and the files the book ships in the chapter's folder, content-addressed (each
file is sent to a worker once, and written where the chapter finds it). Nothing of the client's
disk is needed.

Each worker process keeps, for as long as it lives:

- its folder (``D2L_WORKER_DIR``, else ``d2l`` in the worker's local directory): a book's
  chapters run in ``books/<book>/source/<chapter's folder>``, which persists across tasks (a data
  set a chapter downloads is fetched once per worker), the package in ``books/<book>/build/d2l``,
  so outputs name ``<book>/...`` and ``<build>/...`` as a local build's do;
- the frameworks' own environments (``D2L_WORKER_ENVIRONMENTS``, else ``environments`` in its
  folder), made by the same code as locally (``environments.py``);
- one event loop in a thread of its own, with the kernels of ``kernel.py``: a fork server per
  framework that imported it once, kept alive across tasks and builds and shared by the workers
  of the machine (``--nworkers N`` imports each framework once, not N times; it ends when the
  last of them leaves), and a fresh kernel forked from it for every run. A worker's kernels are
  its own: they end with it, and the other workers' runs go on.
"""

from __future__ import annotations

import asyncio
import dataclasses as dc
import hashlib
import itertools
import os
import shutil
import threading
from pathlib import Path

from ..config import Environment, Framework
from ..errors import BookError
from ..files import write_atomic, write_if_changed
from .environments import Environments, Fingerprints, kernel_env, kernel_python, kernel_specs, missing_requirement
from .kernel import Kernels, Worker
from .outputs import book_paths, readable_result
from .runs import Result, Run

#: The topic of the lines a worker says to the build (an environment being made).
TOPIC = "d2l"
#: Seconds a spare kernel (started for a framework's next run) is kept waiting for one.
SPARE_SECONDS = 30


@dc.dataclass(frozen=True)
class Setup:
    """What a worker needs to run a framework: the framework, and the text of the requirements
    files its environment is made from (the framework's names them ``requirements/<n>.txt``)."""

    framework: Framework
    requirements: tuple[tuple[str, str], ...] = ()


def setup_of(framework: Framework, conf_dir: Path) -> Setup:
    """A framework's ``Setup``, its requirements files read on the build's machine."""
    environment = framework.environment
    if environment is None:
        return Setup(framework)
    texts: list[tuple[str, str]] = []

    def sent(name: str) -> str:
        if not name:
            return name
        try:
            text = (conf_dir / name).read_text(encoding="utf8")
        except OSError as error:
            raise BookError(f"d2l_frameworks[{framework.name!r}]: cannot read {conf_dir / name}: {error}") from None
        local = f"requirements/{len(texts)}-{Path(name).name}"
        texts.append((local, text))
        return local

    moved = Environment(sent(environment.requirements), environment.python, tuple(map(sent, environment.book)))
    return Setup(dc.replace(framework, environment=moved), tuple(texts))


@dc.dataclass(frozen=True)
class Task:
    """One Dask task: runs of one framework, in order, on one worker (a chain of chapters that
    read each other's files, ``d2l.depends``, is one task; any other run is a task of its own)."""

    build: str
    """The build's id: Ctrl-C stops its runs (``cancel``)."""
    book: str
    """The book's id: its folder on the worker."""
    setup: Setup
    runs: tuple[tuple[Run, tuple[float, str]], ...]
    """Each run (its chapter's path relative to the book's source folder, its cells only) with
    its timeout (seconds, and where that limit is set)."""
    package: tuple[tuple[str, str], ...]
    """The saved package's files (``d2l/__init__.py``, ``d2l/<framework>.py``) and their text."""
    files: tuple[tuple[str, str], ...]
    """The files the book ships in the chapters' folders (relative to its source folder) and the
    SHA-256 of each; their bytes come as the task's dependencies."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class WorkerState:
    """What a worker process keeps across tasks: its folder, its event loop and kernels."""

    def __init__(self, root: Path, address: str):
        self.root = root
        self.address = address
        self.environments_folder = Path(os.environ.get("D2L_WORKER_ENVIRONMENTS") or root / "environments")
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="d2l-worker-kernels", daemon=True).start()
        env = kernel_env(root / "package", root)  # the package's folder is put on the path by each run
        env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        if not env["PYTHONPATH"]:
            del env["PYTHONPATH"]
        self.env = {name: value for name, value in env.items() if name not in _dask_settings()}
        self.kernels: dict[tuple[str, str], Kernels] = {}
        self.fingerprints = Fingerprints(root / "environments.json")
        self.placed: dict[Path, tuple[str, int]] = {}
        self.active: dict[str, set[asyncio.Task]] = {}
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.checked: dict[tuple[Setup, str], str | None] = {}
        """What ``missing_requirement`` said of a framework's kernel here (a subprocess)."""
        self.spares: dict[tuple[str, str, str], asyncio.Task] = {}
        """A kernel started for a framework's next run while its last one ran, as the local
        workers do (dropped after ``SPARE_SECONDS`` unused); by kernels' key and framework."""
        self.prepared: dict[tuple[Setup, str, str], dict] = {}
        """What ``prepare`` found for a framework, by book and build (kept for the build's later runs)."""
        self.stopped: set[str] = set()
        """Builds stopped by Ctrl-C: their runs keep no spare kernel."""
        self.background: set[asyncio.Future] = set()
        """Kernels shutting down after their runs: the next task need not wait for them."""

    # ------------------------------------------------------------------ environments

    def prepare(self, setup: Setup, book: str, warm: bool = False) -> dict:
        """Make the framework's environment if it has one (saying so to the build), check that its
        kernel can run it, and start its fork server when ``warm``: the worker's fingerprint of it."""
        framework = setup.framework
        conf_dir = self.root / "books" / book / "conf"
        for name, text in setup.requirements:
            write_if_changed(conf_dir / name, text)
        with self.lock:  # one environment made at a time in this process
            environments = Environments(self.environments_folder, conf_dir, self.say)
            if framework.environment is not None:
                environments.ensure(framework)
                specs = kernel_specs([environments.kernel_dir(framework)])
            else:
                specs = kernel_specs([])
            key = (str(environments.kernel_dir(framework)) if framework.environment else "", framework.kernel)
            kernels = self.kernels.get(key)
            if kernels is None:
                logs = self.root / "logs" / f"worker-{os.getpid()}"  # workers may share a folder
                kernels = self.kernels[key] = Kernels(self.env, logs, specs, _linger(), shared=True)
            python = kernel_python(specs, framework.kernel)
            fingerprint = self.fingerprints.of(python) if python else framework.kernel
            self.fingerprints.save()
        if (setup, key[0]) not in self.checked:
            self.checked[setup, key[0]] = missing_requirement(framework, specs)
        problem = self.checked[setup, key[0]]
        if warm and problem is None:
            asyncio.run_coroutine_threadsafe(kernels._server(framework, self.root), self.loop)
        return {
            "worker": self.address,
            "fingerprint": fingerprint,
            "problem": problem,
            "kernels": kernels,
            "key": key,
            "python": python,
        }

    def say(self, message: str) -> None:
        """A line for the build (an environment being made), through Dask's events."""
        try:
            from distributed import get_worker

            get_worker().log_event(TOPIC, {"worker": self.address, "message": message})
        except Exception:  # not in a worker (or it is closing): nobody to tell
            pass

    # ------------------------------------------------------------------ files

    def place(self, target: Path, sha: str, data: bytes | None) -> None:
        """Put a shipped file where its chapter finds it, unless it is there already."""
        known = self.placed.get(target)
        try:
            if known is not None and known == (sha, target.stat().st_mtime_ns):
                return
        except OSError:
            pass
        stored = self.root / "files" / sha
        if not stored.exists():
            if data is None or digest(data) != sha:
                raise RuntimeError(f"the file {target.name} did not arrive whole on {self.address}")
            write_atomic(stored, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.is_file() and target.stat().st_size == stored.stat().st_size and _same(target, sha)):
            tmp = target.with_name(f".{target.name}.d2l-tmp")
            shutil.copyfile(stored, tmp)
            os.replace(tmp, target)
        self.placed[target] = (sha, target.stat().st_mtime_ns)

    # ------------------------------------------------------------------ runs

    def run(self, task: Task, blobs: dict[str, bytes]) -> list[Result]:
        book = self.root / "books" / task.book
        source, build = book / "source", book / "build"
        for name, sha in task.files:
            self.place(source / name, sha, blobs.get(sha))
        package = build / "d2l"
        for name, text in task.package:
            write_if_changed(package / name, text)
        prepared = self.prepared.get((task.setup, task.book, task.build))
        if prepared is None:  # once per build, framework and worker: the environment may change between builds
            prepared = self.prepared[task.setup, task.book, task.build] = self.prepare(task.setup, task.book)
            prepared["paths"] = book_paths([prepared["python"]] if prepared["python"] else [], source, build)
            while len(self.prepared) > 64:  # earlier builds'
                del self.prepared[next(iter(self.prepared))]
        if prepared["problem"]:
            raise BookError(f"{prepared['problem']} (on the Dask worker {self.address})")
        kernels: Kernels = prepared["kernels"]
        spare_key = (*prepared["key"], task.setup.framework.name)
        paths = prepared["paths"]
        roots = tuple(os.path.join(str(path), "") for path in (package, source))
        results = []
        for run, timeout in task.runs:
            folder = source / run.chapter.path.parent
            folder.mkdir(parents=True, exist_ok=True)
            worker = Worker(next(self.numbers), kernels, roots)
            running = self._run(task.build, worker, run, timeout, folder, package, spare_key)
            result = asyncio.run_coroutine_threadsafe(running, self.loop).result()
            result.worker = self.address
            result.environment = prepared["fingerprint"]
            results.append(readable_result(result, paths))
            if result.failure is not None:
                break  # the chapters after it read what it did not finish
        return results

    async def _run(self, build: str, worker: Worker, run: Run, timeout, folder: Path, package: Path, spare_key):
        task = asyncio.current_task()
        self.active.setdefault(build, set()).add(task)
        spare = self.spares.pop(spare_key, None)
        if spare is not None:  # started by the framework's last run here: ready, or nearly
            worker.spare, worker.spare_framework = spare, run.framework.name
        try:
            return await worker.run(run, timeout, lambda: True, folder=folder, package=package)
        finally:
            running = self.active.get(build, set())
            running.discard(task)
            if not running:
                self.active.pop(build, None)
            stopped = build in self.stopped or task.cancelling()
            if worker.spare is not None and not stopped:  # kept for the next run
                self._keep(spare_key, worker.spare, worker)
                worker.spare = worker.spare_framework = None
            stopping = asyncio.ensure_future(worker.shutdown())
            self.background.add(stopping)
            stopping.add_done_callback(self.background.discard)
            if stopped:
                await asyncio.shield(stopping)

    def _keep(self, key, spare: asyncio.Task, worker: Worker) -> None:
        old = self.spares.pop(key, None)
        if old is not None:
            self._drop(old, worker.kernels)
        self.spares[key] = spare

        def expire() -> None:
            if self.spares.get(key) is spare:
                del self.spares[key]
                self._drop(spare, worker.kernels)

        self.loop.call_later(SPARE_SECONDS, expire)

    def _drop(self, spare: asyncio.Task, kernels: Kernels) -> None:
        async def drop() -> None:
            if not spare.done():
                spare.cancel()  # a kernel cancelled while it starts stops itself
            await asyncio.wait([spare])
            if not spare.cancelled() and spare.exception() is None:
                await kernels.stop(spare.result())

        stopping = asyncio.ensure_future(drop())
        self.background.add(stopping)
        stopping.add_done_callback(self.background.discard)

    def cancel(self, build: str) -> int:
        """Stop the build's runs (Ctrl-C on the build's machine): their kernels shut down, and so
        do the spare kernels (no kernel is left waiting for a run that will not come)."""
        tasks = list(self.active.pop(build, ()))
        self.stopped.add(build)

        def stop() -> None:
            for task in tasks:
                task.cancel()
            for key in list(self.spares):
                kernels = self.kernels.get(key[:2])
                if kernels is not None:
                    self._drop(self.spares.pop(key), kernels)

        self.loop.call_soon_threadsafe(stop)
        return len(tasks)


def _dask_settings() -> set[str]:
    """The variables a Dask nanny sets for its worker process (one thread for OpenMP, MKL and
    OpenBLAS, malloc's trimming), which a kernel does not inherit: it runs as on the local pool."""
    try:
        import dask

        settings = dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}
    except Exception:
        return set()
    return {name for name, value in settings.items() if os.environ.get(name) == str(value)}


def _linger() -> float:
    """Seconds a fork server stays once no worker of this machine uses it: ``D2L_KEEP_WARM`` as
    the worker sees it (as for a build), else 0 (it ends with the machine's last worker)."""
    try:
        return max(0.0, float(os.environ.get("D2L_KEEP_WARM") or 0))
    except ValueError:
        return 0.0


def _same(path: Path, sha: str) -> bool:
    try:
        return digest(path.read_bytes()) == sha
    except OSError:
        return False


_STATE: WorkerState | None = None
_STATE_LOCK = threading.Lock()


def state() -> WorkerState:
    """This worker process's state, made on first use."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is None:
            from distributed import get_worker

            worker = get_worker()
            root = Path(os.environ.get("D2L_WORKER_DIR") or Path(worker.local_directory) / "d2l")
            root.mkdir(parents=True, exist_ok=True)
            _STATE = WorkerState(root, worker.address)
        return _STATE


# What the build calls on workers (module-level functions: Dask pickles them by reference).


def prepare(setup: Setup, book: str, warm: bool) -> dict:
    """A task: the framework's environment made and checked on this worker; its fingerprint."""
    found = state().prepare(setup, book, warm)
    del found["kernels"], found["key"]
    return found


def content(data: bytes) -> bytes:
    """A task: a file the book ships, by its content (what the runs that need it depend on)."""
    return data


def execute(task: Task, blobs: dict[str, bytes]) -> list[Result]:
    """A task: the task's runs, each in a fresh kernel; their results, as readers see them."""
    return state().run(task, blobs)


def cancel(build: str) -> int:
    """Run on every worker (``Client.run``) when the build is interrupted: its runs stop."""
    return state().cancel(build) if _STATE is not None else 0
