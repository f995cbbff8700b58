"""The build's side of a Dask cluster: each due run is one Dask task; the build keeps the rest.

``make html EXECUTOR=dask://HOST:PORT`` (an existing scheduler) or ``EXECUTOR=dask-local:N`` (a
``distributed.LocalCluster`` of N worker processes on this machine, started by the build). The
build plans, reads and writes the cache, merges and writes the site as it does locally; only the
runs go to the workers (``on_worker.py`` is their side), and their results are stored under the
same keys as local runs, so switching executor re-runs nothing that is cached.

What a task carries: the run's cells, the saved package's modules, and the files the book ships
in the chapter's folder, content-addressed (one Dask task per file, keyed by its SHA-256: a
worker fetches each once, and writes it to its disk once). Runs are submitted longest first (the
time the run took when it last ran, from the cache), with Dask's priority saying the same. A framework's ``resources``
(``{"GPU": 1}``) go with its tasks: only workers offering them take its runs. A worker lost while
running (killed, out of memory) has its run tried again on another by the scheduler, up to
``d2l_retries`` times (the scheduler's ``allowed-failures``); then the run fails naming the worker.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses as dc
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import nbformat

from ..config import Executor, Framework
from ..errors import BookError
from . import on_worker
from .runs import Failure, Result, Run
from .schedule import Costs

#: Files of a chapter's folder that are not sent with its runs: the book's sources.
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst")
#: Files larger than this are not sent (a data set belongs on the workers' disks, or downloaded).
LARGEST_FILE = 64 * 2**20


class Cluster:
    """A build's runs on a Dask cluster, with the local engine's interface (``engine.py``)."""

    def __init__(
        self,
        executor: Executor,
        retries: int,
        source: Path,
        package_root: Path,
        package_name: str,
        conf_dir: Path,
        work_dir: Path,
        environments: Path,
        info: Callable[[str], None],
        warn: Callable[[str], None],
        last_seconds: Callable[[Run], float | None] = lambda run: None,
        reserved: frozenset[str] = frozenset(),
    ):
        self.executor = executor
        self.retries = retries
        self.source = source
        self.package_root = package_root
        self.package_name = package_name
        self.conf_dir = conf_dir
        self.work_dir = work_dir
        self.environments = environments
        self.info = info
        self.warn = warn
        self.last_seconds = last_seconds
        self.reserved = reserved
        """The resources the book's frameworks ask for (``GPU``): a framework asking for none runs on
        the workers offering none of them, when there are such workers."""
        self.build_id = uuid.uuid4().hex
        self.book_id = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
        self.client = None
        self.local = None
        self.fingerprints: dict[str, str] = {}
        """Each framework's environment fingerprint, as the workers that run it report it."""
        self.pinned: dict[str, list[str]] = {}
        """The workers a framework's runs go to while any of them is connected, when not every
        worker that offers its resources should: those agreeing on its environment, those
        without a GPU (``offering``)."""
        self.routed: set[str] = set()
        self.warm_up_wait = 0.0
        """Always 0: ``warm`` starts the cluster before Sphinx reads the book, and the fork servers it
        asks for start while the runs wait in the workers' queues."""
        self.costs = Costs()
        self._futures: dict[str, tuple] = {}
        """The tasks submitted and not finished: key -> (future, runs, when submitted)."""
        self._stopping = False
        self._warm_futures: list = []
        self._closing: threading.Thread | None = None

    # ------------------------------------------------------------------ connecting

    def connect(self):
        """The Dask client: connected to the scheduler, or to a LocalCluster started now (always in
        Sphinx's thread: a LocalCluster forks its workers from this process)."""
        if self.client is not None:
            return self.client
        import dask
        from distributed import Client, LocalCluster

        if self.executor.kind == "dask-local":
            self.work_dir.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            with dask.config.set({"distributed.scheduler.allowed-failures": self.retries, **_local_settings()}):
                self.local = LocalCluster(
                    n_workers=self.executor.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    local_directory=str(self.work_dir),
                    silence_logs=logging.ERROR,
                    env={"D2L_WORKER_ENVIRONMENTS": str(self.environments)},
                )
            self.client = Client(self.local, set_as_default=False)
            # Registered after distributed's own exit handler, so run before it: a build that stops
            # on an error (SystemExit) closes its cluster (or waits for the close ``finish``
            # started) before distributed tries to close it again and prints a traceback.
            atexit.register(self.close)
            self.info(
                f"started a Dask cluster of {self.executor.workers} worker processes on this machine "
                f"({time.perf_counter() - started:.1f} s)"
            )
        else:
            timeout = dask.config.get("distributed.comm.timeouts.connect")
            quiet = logging.getLogger("distributed")
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)  # its traceback of each attempt: the error below says it
            try:
                self.client = Client(self.executor.address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise BookError(
                    f"cannot reach the Dask scheduler at {self.executor.address} (d2l_executor / EXECUTOR=) "
                    f"within {timeout}: {reason}"
                ) from None
            finally:
                quiet.setLevel(level)
            self._check_retries()
        self.client.subscribe_topic(on_worker.TOPIC, self._said)
        return self.client

    def _said(self, event) -> None:
        _, message = event
        self.info(f"[Dask worker {message['worker']}] {message['message']}")

    def _check_retries(self) -> None:
        """An existing scheduler retries lost workers' tasks as its own setting says."""
        try:
            allowed = self.client.run_on_scheduler(_allowed_failures)
        except Exception:  # the scheduler does not run our code: nothing to compare
            return
        if allowed != self.retries:
            self.warn(
                f"the Dask scheduler at {self.executor.address} tries a run whose worker was lost {allowed} more "
                f"times, not d2l_retries = {self.retries}: start it with "
                f"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES={self.retries} to change it"
            )

    def workers(self) -> dict[str, dict]:
        return self.connect().scheduler_info(n_workers=-1)["workers"]

    def offering(self, framework: Framework) -> list[str]:
        """The workers that offer the framework's resources. A framework that asks for none goes
        to the workers offering none of the resources other frameworks ask for (a GPU is kept for
        the frameworks that need one), or to any worker when every worker offers some."""
        wanted = dict(framework.resources)
        found, plain = [], []
        for address, info in self.workers().items():
            resources = info.get("resources") or {}
            if all(resources.get(name, 0) >= amount for name, amount in wanted.items()):
                found.append(address)
                if not self.reserved.intersection(name for name, amount in resources.items() if amount):
                    plain.append(address)
        if not wanted and plain and len(plain) < len(found):
            self.pinned[framework.name] = sorted(plain)
            return sorted(plain)
        return sorted(found)

    def _route(self, framework: Framework) -> list[str]:
        workers = self.workers()
        if not workers:
            timeout = 10
            try:
                self.client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise BookError(
                    f"no worker is connected to the Dask scheduler at {self._where()} (waited {timeout} s): start "
                    f"workers with `dask worker {self._where()}`"
                ) from None
        found = self.offering(framework)
        if not found:
            needs = ", ".join(f"{name}={amount:g}" for name, amount in framework.resources)
            raise BookError(
                f"framework {framework.name!r} needs the Dask worker resources {needs}, which no worker of the "
                f"cluster at {self._where()} offers: start one with `dask worker {self._where()} --resources "
                f'"{needs}"`, or leave the framework out (make html FRAMEWORKS=...)'
            )
        return found

    def _where(self) -> str:
        return self.executor.address if self.executor.kind == "dask" else f"dask-local:{self.executor.workers}"

    # ------------------------------------------------------------------ environments

    def prepare(self, frameworks: list[Framework], warm: bool = False) -> dict[str, str]:
        """On every worker that may run them: each framework's environment made (if it has one),
        its kernel checked, its fingerprint read; returns the fingerprints the keys use.

        Workers that disagree on a framework's environment are one warning naming them; its runs
        then go only to those with the fingerprint most workers have, so the key of every run
        names the environment that ran it."""
        client = self.connect()
        for framework in frameworks:
            setup = on_worker.setup_of(framework, self.conf_dir)
            workers = self._route(framework)
            futures = [
                client.submit(
                    on_worker.prepare,
                    setup,
                    self.book_id,
                    warm,
                    key=f"d2l-prepare-{framework.name}-{self.build_id}-{address}",
                    workers=[address],
                    allow_other_workers=False,
                    pure=False,
                    resources=dict(framework.resources) or None,
                )
                for address in workers
            ]
            answers = self._gather(futures)
            problems = [answer for answer in answers if answer["problem"]]
            if problems:
                raise BookError(f"{problems[0]['problem']} (on the Dask worker {problems[0]['worker']})")
            by_print: dict[str, list[str]] = {}
            for answer in answers:
                by_print.setdefault(answer["fingerprint"], []).append(answer["worker"])
            chosen = max(by_print, key=lambda fingerprint: (len(by_print[fingerprint]), fingerprint))
            if len(by_print) > 1:
                others = "; ".join(
                    f"{', '.join(addresses)} ({fingerprint})"
                    for fingerprint, addresses in by_print.items()
                    if fingerprint != chosen
                )
                self.warn(
                    f"Dask workers disagree on the {framework.label} environment: {others} differ from "
                    f"{', '.join(by_print[chosen])} ({chosen}); its runs go only to the latter"
                )
            self.fingerprints[framework.name] = chosen
            if len(by_print) > 1:
                self.pinned[framework.name] = sorted(by_print[chosen])
            self.routed.add(framework.name)
        return dict(self.fingerprints)

    def _gather(self, futures: list):
        """The futures' results, waiting so that Ctrl-C reaches the build (and cancels them)."""
        try:
            while not all(future.done() for future in futures):
                time.sleep(0.05)
            return self.client.gather(futures)
        except KeyboardInterrupt:
            self.client.cancel(futures)
            raise

    # ------------------------------------------------------------------ executing

    def warm(self, frameworks: list[Framework], folder: Path) -> None:
        """On a cold build with ``dask-local``: start the cluster now, and the frameworks' fork
        servers on its workers while Sphinx is still loading (a scheduler's workers keep theirs
        across builds, and ``prepare`` starts them on a cold build).

        The cluster starts in the calling thread, Sphinx's: its workers are forked from this
        process, which must not be in the middle of something else (an import) as it forks."""
        if self.executor.kind != "dask-local" or self.client is not None:
            return
        try:
            client = self.connect()
            for framework in frameworks:
                setup = on_worker.setup_of(framework, self.conf_dir)
                for address in self.workers():
                    self._warm_futures.append(
                        client.submit(on_worker.prepare, setup, self.book_id, True, workers=[address], pure=False)
                    )
        except Exception:  # execute connects again, and says what is wrong
            pass

    def execute(
        self,
        runs: list[Run],
        *,
        timeout: Callable[[Run], tuple[float, str]],
        report: Callable[[Result], None] = lambda result: None,
    ) -> list[Result]:
        """Submit every run (longest first) and collect the results as they arrive; the results in
        the order of ``runs``. Ctrl-C meanwhile cancels them (``interrupt``) and is raised again."""
        if not runs:
            return []
        client = self.connect()
        frameworks = {run.framework.name: run.framework for run in runs}
        setups = {name: on_worker.setup_of(framework, self.conf_dir) for name, framework in frameworks.items()}
        for framework in frameworks.values():
            if framework.name not in self.routed:
                self._route(framework)
                self.routed.add(framework.name)
        package = self._package(frameworks)
        groups = chains(runs)
        estimates = {run.name: self._estimate(run) for run in runs}
        groups.sort(key=lambda group: -sum(estimates[run.name] for run in group))
        preferred = self._affinity(runs, estimates)
        files, blobs = self._files(groups)
        # A task per file rather than scattered data: a worker lost with the only copy of a file
        # has it made again from the task (Dask cannot recompute scattered data).
        scattered = {
            sha: client.submit(on_worker.content, data, key=f"d2l-file-{sha}", pure=False)
            for sha, data in blobs.items()
        }
        arrived: queue.Queue = queue.Queue()
        futures = self._futures  # Ctrl-C while submitting cancels those submitted
        for group in groups:
            framework = group[0].framework
            setup = setups[framework.name]
            shipped = tuple(sorted({item for run in group for item in files[run.chapter.docname]}))
            task = on_worker.Task(
                self.build_id,
                self.book_id,
                setup,
                tuple((self._slim(run, setup.framework), timeout(run)) for run in group),
                package[framework.name],
                shipped,
            )
            cost = sum(estimates[run.name] for run in group)
            future = client.submit(
                on_worker.execute,
                task,
                {sha: scattered[sha] for _, sha in shipped},
                key=f"d2l-run-{group[0].chapter.docname}-{framework.name}-{self.build_id}",
                pure=False,
                priority=int(cost * 1000),
                resources=dict(framework.resources) or None,
                # Loose: should those workers all be gone (lost, restarted under another address),
                # the runs go to the others rather than wait for them forever; an idle worker
                # takes preferred runs of others (Dask's work stealing).
                workers=self.pinned.get(framework.name) or preferred.get(framework.name),
                allow_other_workers=framework.name in self.pinned or framework.name in preferred,
                retries=0,
            )
            futures[future.key] = (future, group, time.perf_counter())
            future.add_done_callback(lambda done: arrived.put(done.key))
        results: dict[str, Result] = {}
        try:
            while len(results) < len(runs):
                try:
                    key = arrived.get(timeout=0.1)
                except queue.Empty:
                    continue
                future, group, submitted = futures.pop(key)
                for result in self._results(future, group, submitted):
                    results[result.run.name] = result
                    self.costs.record(result)
                    report(result)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        return [results[run.name] for run in runs]

    def _affinity(self, runs: list[Run], estimates: dict[str, float]) -> dict[str, list[str]]:
        """The workers each framework's runs prefer, so that a worker imports few frameworks (each
        a fork server, and seconds of CPU): the frameworks, heaviest first, take the workers in
        turn. Only for frameworks that any worker may run (no resources, nothing pinned); an idle
        worker still takes runs another prefers."""
        totals: dict[str, float] = {}
        for run in runs:
            if not run.framework.resources and run.framework.name not in self.pinned:
                totals[run.framework.name] = totals.get(run.framework.name, 0.0) + estimates[run.name]
        workers = sorted(self.workers())
        if len(totals) < 2 or not workers:
            return {}
        order = sorted(totals, key=lambda name: -totals[name])
        preferred: dict[str, list[str]] = {name: [] for name in order}
        for number, worker in enumerate(workers):
            preferred[order[number % len(order)]].append(worker)
        for number, name in enumerate(order[len(workers) :], len(workers)):
            preferred[name] = [workers[number % len(workers)]]  # more frameworks than workers
        return preferred

    def _results(self, future, group: list[Run], submitted: float) -> list[Result]:
        """The results of a task; a task that failed (its worker lost, or something the worker
        could not do) is a failure of its runs."""
        from distributed.scheduler import KilledWorker

        round_trip = time.perf_counter() - submitted
        try:
            found = future.result()
        except KilledWorker as lost:
            worker = lost.last_worker.address
            tries = lost.allowed_failures + 1
            summary = (
                f"the Dask worker {worker} was lost while running it (its process died: killed, out of memory, or "
                f"its machine gone); {tries} worker{'s' if tries > 1 else ''} tried (d2l_retries = {self.retries})"
            )
            return [self._failed(run, summary, worker) for run in group]
        except (Exception, asyncio.CancelledError) as error:  # the worker's error, or the scheduler lost
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return [self._failed(run, f"on a Dask worker: {reason}") for run in group]
        own = sum(result.seconds for result in found)
        results = []
        for run, result in zip(group, found, strict=False):
            result.run = run
            result.waited = max(0.0, round_trip - own)
            results.append(result)
        # A chain stops at its first failure: the runs after it did not run.
        for run in group[len(found) :]:
            results.append(self._failed(run, f"not run: {found[-1].run.name} failed before it", found[-1].worker))
        return results

    def _failed(self, run: Run, summary: str, worker: str | None = None) -> Result:
        where = run.chapter.where(run.chapter.cells_for(run.framework.name)[0].line)
        return Result(run, failure=Failure(where, run.framework.name, summary, lasting=False), worker=worker)

    def _estimate(self, run: Run) -> float:
        """How long a run may take: the time it took when it last ran (the cache knows), else the
        framework's mean in this build, else a guess by its number of cells."""
        last = self.last_seconds(run)
        if last is not None:
            return last
        return max(self.costs.run(run.framework.name), 0.1 * len(run.chapter.cells_for(run.framework.name)))

    def _slim(self, run: Run, framework: Framework) -> Run:
        """What a worker needs of a run: its chapter's place in the book and its cells."""
        chapter = run.chapter
        slim = dc.replace(
            chapter,
            path=chapter.path.relative_to(self.source),
            notebook=nbformat.v4.new_notebook(),
            cells=chapter.cells_for(run.framework.name),
        )
        return Run(slim, framework)

    def _package(self, frameworks: dict[str, Framework]) -> dict[str, tuple[tuple[str, str], ...]]:
        """The saved package's files each framework's runs need, as the build wrote them."""
        folder = self.package_root / self.package_name
        found = {}
        for name in frameworks:
            files = []
            for module in ("__init__.py", f"{name}.py"):
                path = folder / module
                if path.is_file():
                    files.append((f"{self.package_name}/{module}", path.read_text(encoding="utf8")))
            found[name] = tuple(files)
        return found

    def _files(self, groups: list[list[Run]]) -> tuple[dict[str, tuple[tuple[str, str], ...]], dict[str, bytes]]:
        """The files each chapter's runs are sent (the book's files in its folder, not the
        sources), by docname, and the content of every one, by SHA-256."""
        by_folder: dict[Path, tuple[tuple[str, str], ...]] = {}
        blobs: dict[str, bytes] = {}
        files: dict[str, tuple[tuple[str, str], ...]] = {}
        for group in groups:
            for run in group:
                folder = run.chapter.path.parent
                if folder not in by_folder:
                    found = []
                    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                        if path.name.startswith(".") or path.suffix in SOURCE_SUFFIXES or not path.is_file():
                            continue
                        if path.stat().st_size > LARGEST_FILE:
                            self.warn(f"{path}: not sent to the Dask workers (over {LARGEST_FILE >> 20} MB)")
                            continue
                        data = path.read_bytes()
                        sha = on_worker.digest(data)
                        blobs[sha] = data
                        found.append((path.relative_to(self.source).as_posix(), sha))
                    by_folder[folder] = tuple(found)
                files[run.chapter.docname] = by_folder[folder]
        return files, blobs

    # ------------------------------------------------------------------ stopping

    def stopped_runs(self) -> list[Result]:
        """After ``interrupt``: the runs that were submitted and had not finished, each saying so."""
        stopped = []
        for _, group, _ in self._futures.values():
            for run in group:
                result = self._failed(run, "stopped by Ctrl-C")
                result.interrupted = True
                stopped.append(result)
        return stopped

    def interrupt(self) -> None:
        """Ctrl-C: cancel the build's tasks and stop its runs on the workers (their kernels shut
        down); the cluster stays usable for the next build."""
        futures = [future for future, _, _ in self._futures.values()]
        if self._stopping or self._closing is not None or self.client is None or not futures:
            return  # (closing: the runs are done, and the client is being closed in the background)
        self._stopping = True
        try:
            self.client.cancel(futures)
            self.client.run(on_worker.cancel, self.build_id, on_error="ignore")
        except Exception:  # stopping anyway
            pass

    def finish(self) -> None:
        """The build's runs are done: a LocalCluster it started stops in the background, while
        Sphinx reads and writes the pages (``close`` waits for it)."""
        if self.local is not None and self._closing is None:
            self._closing = threading.Thread(target=self.close, name="d2l-cluster-close", daemon=True)
            self._closing.start()

    def close(self) -> None:
        """Disconnect (and stop a LocalCluster the build started). Safe to call more than once."""
        closing = self._closing
        if closing is not None and closing is not threading.current_thread():
            closing.join()
            return
        self._warm_futures = []
        client, self.client = self.client, None
        local, self.local = self.local, None
        for opened in (client, local):  # the client first, then the cluster it was connected to
            if opened is not None:
                with contextlib.suppress(Exception):  # closing on the way out: nothing more to do
                    opened.close()


def _local_settings() -> dict:
    """Dask's settings for a LocalCluster the build starts.

    Its workers are forked from the build's process rather than started afresh: each then has
    Python, distributed and our worker's modules imported for nothing (about 0.7 s of CPU a worker
    otherwise, on the machine that runs the kernels). Not when Dask's offload thread already runs in
    this process (an earlier cluster of a long-lived process): a forked worker would have that
    thread's executor without its thread, and wait forever for what it offloads (large messages).
    A worker that its nanny starts again after it was lost is started afresh, as Dask does by default.

    The cluster's diagnostics that only its dashboard shows (no dashboard is served: the cluster
    lives as long as the build) run seldom: Dask's sampling profiler off, the event loops' health
    checked every 0.5 s instead of every 20 ms, the machine's load read every 5 s.
    """
    from distributed import utils

    offload = getattr(utils, "_offload_executor", None)
    started = bool(getattr(offload, "_threads", True))
    return {
        "distributed.worker.multiprocessing-method": "spawn" if started else "fork",
        "distributed.worker.profile.enabled": False,
        "distributed.admin.tick.interval": "500ms",
        "distributed.admin.system-monitor.interval": "5s",
    }


def _allowed_failures(dask_scheduler) -> int:
    return dask_scheduler.allowed_failures


def chains(runs: list[Run]) -> list[list[Run]]:
    """The runs as Dask tasks: runs of one framework whose chapters depend on each other
    (``d2l.depends``) together, upstream first, so that they share a worker's folder; every other
    run alone."""
    by_name = {(run.chapter.docname, run.framework.name): run for run in runs}
    parent = {key: key for key in by_name}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for (docname, framework), run in by_name.items():
        for upstream in run.chapter.depends:
            if (upstream, framework) in by_name:
                parent[root((upstream, framework))] = root((docname, framework))
    groups: dict = {}
    for key in by_name:
        groups.setdefault(root(key), []).append(key)
    ordered = []
    for keys in groups.values():
        members, done = set(keys), []
        waiting = list(keys)
        while waiting:  # upstream first: a key goes once all the keys it depends on have gone
            key = waiting.pop(0)
            upstream = [(name, key[1]) for name in by_name[key].chapter.depends if (name, key[1]) in members]
            if all(other in done for other in upstream):  # no cycle: planning refuses them
                done.append(key)
            else:
                waiting.append(key)
        ordered.append([by_name[key] for key in done])
    return ordered


def last_seconds_in(cache_root: Path) -> Callable[[Run], float | None]:
    """How long a run took when it last ran: from the newest cache entry of its chapter and framework."""

    def last(run: Run) -> float | None:
        folder = cache_root.joinpath(*run.chapter.docname.split("/"), run.framework.name)
        try:
            newest = max(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, default=None)
            return float(json.loads(newest.read_text(encoding="utf8"))["seconds"]) if newest else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    return last
