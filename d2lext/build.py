"""One build of the book, free of Sphinx: its configuration, plan, kernels, results and merged notebooks.

The Sphinx layer creates one ``BookBuild`` per build and calls, in order:

    start()         wait for another build of the same directory; on a cold build, start
                    kernels while Sphinx is still loading
    make_plan()     read the book, write the package, key every run
    select()        a partial build (ONLY=): the documents it executes and writes
    outdated()      documents to read again because their runs are not cached
    execute()       load cached runs, execute the missing ones, merge each chapter's runs
    merged_notebook(), result()   what the parser and the notebook downloads use
    close()         stop the kernels; release()  let the next build of this directory start

Each stage runs inside ``stage()``: a failure or an interrupt is written to the report, and a
folder that cannot be written is one error naming it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses as dc
import errno
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import nbformat
from myst_parser.config.main import MdParserConfig

from .config import BookConfig, Framework
from .errors import BEFORE_EXIT, BookError, ExecutionFailed
from .execute.cluster import Cluster, last_seconds_in
from .execute.engine import Engine
from .execute.environments import (
    Environments,
    Fingerprints,
    kernel_env,
    kernel_python,
    kernel_specs,
    missing_requirement,
    where_to_add,
)
from .execute.merge import merge
from .execute.outputs import Paths, book_paths, readable_result
from .execute.runs import Result, Run
from .lock import BuildLock
from .package.check import missing_imports, package_report
from .package.dependencies import Dependencies, package_dependencies
from .package.write import archive_path, write_archive, write_package
from .plan import (
    Plan,
    Selection,
    documents_to_read,
    due_runs,
    in_order,
    package_code,
    run_keys,
    select,
    upstream_runs,
)
from .plan.cache import Cache
from .report import Progress
from .sources.book import MemoFile, read_book


class Log(Protocol):
    """Where the build reports; the Sphinx layer passes Sphinx's logger."""

    def info(self, message: str) -> None: ...

    def warning(self, message: str, *, subtype: str, docname: str | None = None, line: int | None = None) -> None: ...


@dc.dataclass(frozen=True)
class Site:
    """What the build needs to know of the site it is part of."""

    project: str = "book"
    release: str = "0"
    baseurl: str = ""
    """``html_baseurl``: addresses in the package's docstrings are absolute under it."""
    suffix: str = ".html"


def failure_outcome(results: Iterable[Result], keep_going: bool) -> tuple[str | None, list[str]]:
    """What failed runs do to the build: ``(error, warnings)``.

    Without ``keep_going`` the failures are one error (the build stops after every run finished);
    with it, each failure is a warning and its page shows it. Failures remembered from an earlier
    build (same key) say so, and how to run them again.
    """
    failed = [result for result in results if result.failure]
    if not failed:
        return None, []
    messages = [result.failure.message() for result in failed]
    earlier = sum(1 for result in failed if result.remembered_failure)
    if earlier:
        runs = "this run" if len(failed) == 1 else f"{earlier} of these runs"
        messages.append(
            f"({runs} failed in an earlier build with the same code and inputs and did not run again; "
            f"RETRY=1, or d2l_retry_failed = True, runs {'it' if earlier == 1 else 'them'} again)"
        )
    if not keep_going:
        return "\n".join(messages), []
    return None, [f"execution failed (shown in the page, KEEP_GOING): {message}" for message in messages]


class BookBuild:
    """Everything one build of the book owns, with plain methods for each stage."""

    def __init__(
        self, config: BookConfig, root: Path, source: Path, site: Site, log: Log, conf_dir: Path | None = None
    ):
        self.config = config
        self.root = root
        """The build directory (``_build``): the package, the cache and the report live here."""
        self.source = source
        self.site = site
        self.log = log
        self.plan: Plan | None = None
        self.cache = Cache(self.state_dir)
        self.results: dict[tuple[str, str], Result] = {}
        """This build's successful runs, by (docname, framework)."""
        self.merged: dict[str, nbformat.NotebookNode] = {}
        """Each read chapter's merged notebook, by source path."""
        self.failed_pages: set[str] = set()
        """Chapters read in this build whose pages show a failed run (KEEP_GOING)."""
        self.selection: Selection | None = None
        """A partial build's selection (ONLY=); ``None`` when the whole book is built."""
        self.uncached_others: list[str] = []
        """In a partial build, the runs of the documents it does not build that are not cached."""
        self.unshown: dict[str, set[str]] = {}
        """Documents read without being built (partial build): the frameworks whose runs are not
        cached, so their pages were read without those outputs."""
        self._engine: Engine | Cluster | None = None
        self._lock = BuildLock(root / ".d2l.lock")
        self._progress: Progress | None = None
        self._documents: set[str] = set()
        self._documents_changed = False
        self._fingerprints: Fingerprints | None = None
        self.keyed_environments: dict[str, str] = {}
        """The environment fingerprint each framework's keys name (``make_plan``)."""
        self._paths: Paths | None = None
        conf_dir = conf_dir or source
        self.environments = Environments(conf_dir / config.environments, conf_dir, log.info)
        own = [fw for fw in config.frameworks.values() if fw.environment]
        self.kernel_specs = kernel_specs([self.environments.kernel_dir(fw) for fw in own])

    @property
    def package_root(self) -> Path:
        """Folder holding the installable package (``pyproject.toml`` and ``d2l/``)."""
        return self.root / self.config.package_name

    @property
    def finished_runs(self) -> list[Result]:
        """The runs this build executed or read from the cache, as they finished (failures too)."""
        return list(self._progress.done) if self._progress else []

    @property
    def state_dir(self) -> Path:
        return self.root / ".d2l-cache"

    @property
    def report_path(self) -> Path:
        return self.root / "d2l-report.json"

    # ------------------------------------------------------------------ kernels

    @property
    def on_cluster(self) -> bool:
        """Whether the runs execute on a Dask cluster (``d2l_executor``)."""
        return self.config.executor.kind != "local"

    def engine(self) -> Engine | Cluster:
        """This build's kernels, or its Dask cluster (created on first use, closed by ``close``)."""
        if self._engine is None and self.on_cluster:
            self._engine = Cluster(
                self.config.executor,
                self.config.retries,
                self.source,
                self.package_root,
                self.config.package_name,
                self.environments.conf_dir,
                self.root / ".d2l-workers",
                self.environments.folder.resolve(),
                self.log.info,
                lambda message: self.log.warning(message, subtype="execution"),
                last_seconds_in(self.state_dir),
                frozenset(name for fw in self.config.frameworks.values() for name, _ in fw.resources),
            )
            self._close_at_exit()
        if self._engine is None:
            env = kernel_env(self.package_root, self.state_dir)
            roots = tuple(os.path.join(str(path), "") for path in (self.package_root, self.source))  # "dir/"
            self._engine = Engine(
                self.config.jobs,
                env,
                self.state_dir / "logs",
                roots,
                self.kernel_specs,
                self.config.keep_warm,
                str(self.package_root),
            )
            self._close_at_exit()
        return self._engine

    def _close_at_exit(self) -> None:
        """A build stopped by an error or Ctrl-C leaves no kernel behind: ``close`` runs at exit,
        and before a book error ends the process (``BEFORE_EXIT``, while threads still run)."""
        atexit.register(self.close)
        BEFORE_EXIT.append(self.close)

    def take(self) -> None:
        """Take the build directory, waiting for another build of it to finish."""
        try:
            self._lock.acquire(self.log.info)
        except OSError as error:  # the build folder cannot be made or written
            raise BookError(_os_error(error, self.root)) from None

    def start(self, warm: bool = True) -> None:
        """Take the build directory (waiting for another build of it), make the selected frameworks'
        own environments if they are missing, then warm kernels up (unless ``warm`` is false)."""
        self.take()
        with self.stage():
            if self.config.executor.kind == "dask":  # made on the workers, which say their fingerprints
                self.engine().prepare(self.config.selected_frameworks, warm=not self.state_dir.exists())
            else:  # this machine's kernels, or a LocalCluster's on this machine: the same environments
                for framework in self.config.selected_frameworks:
                    if framework.environment is not None:
                        self.environments.ensure(framework)
        if warm:
            self.warm()

    def environments_pattern(self) -> str | None:
        """The frameworks' environments folder as an exclude pattern of the sources, when it is
        inside them (their packages hold Markdown files that are no part of the book)."""
        try:
            return self.environments.folder.resolve().relative_to(self.source.resolve()).as_posix()
        except ValueError:  # outside the sources
            return None

    def release(self) -> None:
        """Let the next build of this directory start (the operating system does it at exit too)."""
        self._lock.release()

    @contextlib.contextmanager
    def stage(self):
        """Run a stage: failures and interrupts are written to the report; an unwritable folder
        becomes one book error naming it."""
        try:
            yield
        except KeyboardInterrupt:
            self.write_report("interrupted", "interrupted (Ctrl-C)")
            raise
        except OSError as error:
            message = _os_error(error, self.root)
            self.write_report("failed", message)
            raise BookError(message) from None
        except BookError as error:
            self.write_report("failed", str(error))
            raise

    def write_report(self, status: str, error: str | None = None) -> None:
        """``d2l-report.json`` saying how the build ended, with the runs that finished (if any)."""
        progress = self._progress or Progress(0, lambda message: None)
        keys = self.plan.keys if self.plan else {}
        try:
            progress.summary(
                self.report_path, keys, status=status, error=error, quiet=True, partial=self.partial_report()
            )
        except OSError:  # the build folder itself cannot be written: the error says so already
            pass

    def warm(self) -> None:
        """On a cold build (no execution cache yet), start kernels and import their frameworks now,
        while Sphinx is still loading; execution then finds them ready. Warm builds start none."""
        if self.state_dir.exists() or not _has_code(self.source):
            return
        self.package_root.mkdir(parents=True, exist_ok=True)  # on the kernels' path from their start
        self.engine().warm(self.config.selected_frameworks, self.source)

    def close(self) -> None:
        """At the end of the build, or after an error or Ctrl-C: no kernel outlives the build (on a
        cluster, none of its runs goes on, and a LocalCluster it started stops)."""
        engine, self._engine = self._engine, None
        while self.close in BEFORE_EXIT:
            BEFORE_EXIT.remove(self.close)
        if engine is not None:
            engine.interrupt()
            if isinstance(engine, Cluster):
                engine.close()

    # ------------------------------------------------------------------ planning

    def make_plan(self, root_doc: str, sources: dict[str, Path], md_config: MdParserConfig) -> Plan:
        """Read the book (unchanged documents from the memo), write the package, key every run."""
        config = self.config
        settings = (
            sorted(config.frameworks),
            sorted(config.extra_tags),
            config.d2lbook,
            config.source_format,
            md_config,
            Path.cwd(),
            self.source,
        )
        # The environments are read (a subprocess each, when not known) while the book is read.
        with ThreadPoolExecutor(max_workers=1) as background:
            fingerprints = background.submit(self.fingerprints)
            memo = MemoFile(self.state_dir / "chapters.pickle", settings)
            book = read_book(root_doc, sources, config, md_config, memo.entries)
            memo.save(set(sources))
            self._documents = set(sources)
            self._documents_changed = set(memo.before) != self._documents
            for problem in package_report(config, book.blocks):
                self.log.warning(
                    f"saved package: {problem.text}",
                    subtype="package",
                    docname=problem.block.docname,
                    line=book.source_line(problem.block.docname, problem.block.line),
                )
            places = book.places(self.site.baseurl, self.site.suffix)
            code = package_code(book, config)  # each module's code, once: for the keys and the dependencies
            found = fingerprints.result()  # first: the dependencies are keyed by the same readings
            dependencies = self.dependencies(code)
            rewritten = write_package(
                self.package_root,
                config,
                book.blocks,
                places,
                self.site.project,
                self.site.release,
                dependencies.declared,
            )

            def advice(framework: Framework) -> str:
                return where_to_add(framework, self.environments.conf_dir, self.source)

            for missing in missing_imports(config, book.blocks, dependencies.missing, advice):
                line = book.source_line(missing.block.docname, missing.line)
                self.log.warning(missing.text, subtype="requirements", docname=missing.block.docname, line=line)
            archive = archive_path(self.root / "dist", config, self.site.release)
            if rewritten or not archive.exists():
                write_archive(self.package_root, archive.parent, config, self.site.release)
            self.keyed_environments = found
            keys = run_keys(book, config, found, code)
        self.plan = Plan(config, book, keys, places, self.package_root, rewritten, archive)
        return self.plan

    def select(self, documents: Iterable[str]) -> Selection | None:
        """A partial build's selection (``config.only``, ``plan/partial.py``), checked against the
        documents found; ``None`` when the whole book is built. Call after ``make_plan``."""
        if self.config.only:
            self.selection = select(self.config.only, documents, self.plan.book)
        return self.selection

    def partial_report(self) -> dict | None:
        """What the report says of a partial build; ``None`` for a full build."""
        return self.selection.report(self.uncached_others) if self.selection else None

    def environment_fingerprints(self) -> Fingerprints:
        """The environments' fingerprints, read from the cache folder once per build."""
        if self._fingerprints is None:
            self._fingerprints = Fingerprints(self.state_dir / "environments.json")
        return self._fingerprints

    def dependencies(self, code: dict[str, str]) -> Dependencies:
        """The package's common dependencies and per-framework extras (``package/dependencies.py``),
        read from the Python each framework runs in, and the saved imports each cannot find."""

        def runs_in(framework: Framework) -> str | None:
            if framework.environment:
                return self.environments.python(framework)
            return kernel_python(self.kernel_specs, framework.kernel) or sys.executable  # as the keys read it

        # Only the Pythons the selected frameworks run in are asked (a framework not selected
        # that runs in one of them is answered with it): a build of one framework does not wait
        # for the others' environments. The others pin what their requirements pin.
        asked = {runs_in(framework) for framework in self.config.selected_frameworks} - {None}

        def python_of(framework: Framework) -> str | None:
            python = runs_in(framework)
            return python if python in asked else None

        def pinned_of(framework: Framework) -> dict[str, str]:
            return self.environments.pins(framework) if framework.environment else {}

        known = self.environment_fingerprints()
        return package_dependencies(
            self.config, code, python_of, pinned_of, known.of, self.state_dir / "dependencies.json"
        )

    def fingerprints(self) -> dict[str, str]:
        """Each selected framework's environment fingerprint (read once per build and environment,
        the environments not known yet at the same time: each is a subprocess); on a Dask
        cluster, the one its workers reported (``start``)."""
        known = self.environment_fingerprints()
        reported = self._engine.fingerprints if isinstance(self._engine, Cluster) else {}
        frameworks = [fw for fw in self.config.selected_frameworks if fw.name not in reported]
        pythons = {fw.name: kernel_python(self.kernel_specs, fw.kernel) for fw in frameworks}
        distinct = list(dict.fromkeys(python for python in pythons.values() if python))
        with ThreadPoolExecutor(max_workers=max(1, len(distinct))) as pool:
            read = dict(zip(distinct, pool.map(known.of, distinct), strict=True))
        known.save()
        found = {
            name: read[python] if python else self.config.frameworks[name].kernel for name, python in pythons.items()
        }
        return {
            fw.name: reported[fw.name] if fw.name in reported else found[fw.name]
            for fw in self.config.selected_frameworks
        }

    def outdated(
        self,
        dependencies: dict[str, Iterable[str]],
        found: Iterable[str],
        shown: dict[str, dict[str, str]],
        failed: Iterable[str] = (),
    ) -> set[str]:
        """Documents to read again: runs not cached (and the chapters whose files those runs read),
        pages made from other runs than the current ones (``shown``: the keys each page was made
        from), or pages showing a package file this build rewrote. Pages showing a failure
        (``failed``) are read again unless the build keeps going: the failure then stops it."""
        retry = self.config.retry_failed

        def cached(docname: str, framework: str, key: str) -> bool:
            return self.cache.has(docname, framework, key, failures=not retry)

        built = self.selection.built if self.selection else None
        stale = documents_to_read(self.plan, cached, dependencies, found, shown, built)
        if not self.config.keep_going or retry:
            stale |= set(failed) & set(found) & (built if built is not None else set(found))
        if built is not None:
            self.uncached_others = [
                f"{docname} [{framework}]"
                for (docname, framework), key in self.plan.keys.items()
                if docname not in built and not cached(docname, framework, key)
            ]
        return stale

    def page_keys(self, docname: str) -> dict[str, str]:
        """The keys of the runs a chapter's page is made from in this build, by framework (a page
        read without some outputs, in a partial build, is made from fewer: the next build that
        builds it reads it again)."""
        keys = self.plan.keys if self.plan else {}
        unshown = self.unshown.get(docname, set())
        return {
            framework: key for (name, framework), key in keys.items() if name == docname and framework not in unshown
        }

    # ------------------------------------------------------------------ executing

    def execute(self, docnames: Iterable[str]) -> None:
        """Load the cached runs of the documents being read, execute the missing ones (all at once,
        on one pool of kernels), then merge each chapter's runs into the notebook MyST-NB renders.

        A run that executes after a chapter it depends on first has that chapter's run executed
        again in this build, even when it is cached: the cache holds outputs, not the files the
        run wrote, and those may be gone or stale.

        In a partial build, the documents read that it does not build (``select``) execute
        nothing: their pages are read with the runs the cache has, for their titles, numbers and
        labels, and are not written."""
        plan, config = self.plan, self.config
        docnames = list(docnames)
        built = self.selection.built if self.selection else None
        due = due_runs(plan, [docname for docname in docnames if built is None or docname in built])
        results: list[Result] = []
        missing: list[Run] = []
        for run in due:
            key = plan.keys[run.chapter.docname, run.framework.name]
            cached = self.readable(self.cache.load(run, key, failures=not config.retry_failed))
            if cached is None:
                missing.append(run)
            else:
                results.append(cached)
        writers = upstream_runs(plan, missing)
        again = {run.name for run in writers}
        results = [result for result in results if result.run.name not in again]
        missing = in_order(plan, [*missing, *writers])
        progress = self._progress = Progress(len(results) + len(missing), self.log.info)
        for result in results:
            progress(result)

        if self.config.executor.kind != "dask":  # a scheduler's workers checked it themselves (start)
            for framework in {run.framework for run in missing}:
                problem = missing_requirement(framework, self.kernel_specs)
                if problem:
                    raise BookError(problem)

        unstored: list[OSError] = []

        def finished(result: Result) -> None:
            self.readable(result)
            # Stored at once: an interrupted build keeps what finished. A failure is stored when
            # the code caused it, so the next build shows it without running it again.
            if not result.failure or result.failure.lasting:
                try:
                    self.cache.store(result, plan.keys[result.run.chapter.docname, result.run.framework.name])
                except OSError as error:  # reported once every run is done
                    unstored.append(error)
            progress(result)

        waited = 0.0
        if missing:
            rerun = f" ({len(writers)} again: later chapters read their files)" if writers else ""
            engine = self.engine()
            runs = f"{len(missing)} runs{rerun}" if len(missing) > 1 else f"1 run{rerun}"
            if isinstance(engine, Cluster):
                engine.connect()
                self.log.info(
                    f"executing {runs} on the Dask cluster {config.executor} ({len(engine.workers())} workers)"
                )
            else:
                at_once = f", {min(config.jobs, len(missing))} at a time, each" if len(missing) > 1 else ""
                self.log.info(f"executing {runs}{at_once} in a kernel of its own")
            try:
                results += engine.execute(missing, timeout=self.timeout_of, report=finished)
            except KeyboardInterrupt:  # the report lists the runs Ctrl-C stopped, as stopped
                reported = {result.run.name for result in progress.done}
                for result in engine.stopped_runs():
                    if result.run.name not in reported:
                        progress(result)
                raise
            waited = engine.warm_up_wait
            if isinstance(engine, Engine) and engine.kernels.kept_warm:
                kept = ", ".join(dict.fromkeys(engine.kernels.kept_warm))
                self.log.info(f"kernels forked from fork servers an earlier build kept warm ({kept})")
            self._check_environments(results)
            if isinstance(engine, Cluster):
                engine.finish()
        error, warnings = failure_outcome(results, config.keep_going)
        progress.summary(
            self.report_path,
            plan.keys,
            waited,
            status="failed" if error else "finished",
            error=error,
            partial=self.partial_report(),
        )
        if unstored:
            raise unstored[0]
        if missing or self._documents_changed:  # the cache grew, or documents are gone
            self.prune()

        if error:
            raise ExecutionFailed(error)
        for warning in warnings:
            self.log.warning(warning, subtype="execution")

        results += self.only_read(plan, [docname for docname in docnames if built is not None and docname not in built])
        self.failed_pages = {result.run.chapter.docname for result in results if result.failure}
        by_chapter: dict[str, dict[str, Result]] = {docname: {} for docname in docnames if docname in plan.chapters}
        for result in results:
            if result.run.chapter.docname not in by_chapter:
                continue  # a writer run again for its readers; its own page is not being read
            by_chapter[result.run.chapter.docname][result.run.framework.name] = result
            if not result.failure and result.run.framework.name not in self.unshown.get(result.run.chapter.docname, ()):
                self.results[result.run.chapter.docname, result.run.framework.name] = result
        chapters = plan.chapters
        for docname, runs in by_chapter.items():
            chapter = chapters[docname]
            self.merged[str(chapter.path)] = merge(chapter, config, runs)

    def _check_environments(self, results: list[Result]) -> None:
        """On a cluster: one warning per framework that workers ran in another environment than the
        one its keys name (the cache would hold their outputs under keys that do not say so)."""
        others: dict[str, set[str]] = {}
        for result in results:
            keyed = self.keyed_environments.get(result.run.framework.name)
            if result.environment and keyed and result.environment != keyed and not result.cached:
                others.setdefault(result.run.framework.name, set()).add(result.worker or "?")
        for name, workers in others.items():
            self.log.warning(
                f"the Dask workers {', '.join(sorted(workers))} ran {self.config.frameworks[name].label} in another "
                f"environment than the one this build's cache keys name ({self.keyed_environments[name]}): install "
                f"the same versions there",
                subtype="execution",
            )

    def only_read(self, plan: Plan, docnames: list[str]) -> list[Result]:
        """The runs of documents a partial build reads but does not build: from the cache, or,
        when it does not have them, no outputs (``unshown``). Nothing executes."""
        results = []
        for run in due_runs(plan, docnames):
            key = plan.keys[run.chapter.docname, run.framework.name]
            cached = self.readable(self.cache.load(run, key, failures=not self.config.retry_failed))
            if cached is None:
                self.unshown.setdefault(run.chapter.docname, set()).add(run.framework.name)
                cached = Result(run)  # the cells, without outputs
            results.append(cached)
        return results

    def prune(self) -> None:
        """Bound the cache: entries of removed documents go, then the least recently used, never
        those of this build's runs. A cache that cannot be written is left as it is."""
        used = {self.cache.path(docname, framework, key) for (docname, framework), key in self.plan.keys.items()}
        try:
            self.cache.prune(self.config.cache_size, self._documents, keep=used)
        except OSError:
            pass

    def timeout_of(self, run: Run) -> tuple[float, str]:
        """Seconds a cell of ``run`` may take, and where that limit is set."""
        if run.chapter.timeout:
            return run.chapter.timeout, "d2l.timeout in the document's front matter"
        return self.config.timeout, "d2l_timeout in conf.py"

    # ------------------------------------------------------------------ results

    def line_map(self, docname: str) -> tuple[int, ...]:
        """The author's line behind each line of the text the build read for a document (d2l-book
        sources are read converted; the conversion is made once, while planning); empty: the same lines."""
        found = self.plan.book.converted.get(docname) if self.plan else None
        return found[1] if found else ()

    def readable_source(self, docname: str) -> str | None:
        """The MyST text of a document read through a converter (d2l-book Markdown), as planning made it."""
        found = self.plan.book.converted.get(docname) if self.plan else None
        return found[0] if found else None

    def merged_notebook(self, path: str) -> nbformat.NotebookNode | None:
        """The merged notebook of the chapter at ``path``, if this build prepared one."""
        return self.merged.get(path)

    def result(self, docname: str, framework: str) -> Result | None:
        """A chapter's successful run in one framework: read in this build, else from the cache."""
        found = self.results.get((docname, framework))
        key = self.plan.keys.get((docname, framework)) if self.plan else None
        if found is None and key:
            run = Run(self.plan.chapters[docname], self.config.frameworks[framework])
            found = self.readable(self.cache.load(run, key, failures=False))
        return found

    def readable(self, result: Result | None) -> Result | None:
        """A run's outputs and failure as readers see them (``outputs.py``): a result as it
        arrives from a kernel, or from the cache (entries stored before are cleaned the same way)."""
        if self._paths is None:  # the kernels' Pythons, the build's own, the book, the build folder
            pythons = [
                kernel_python(self.kernel_specs, framework.kernel)
                or (self.environments.python(framework) if framework.environment else None)
                for framework in self.config.selected_frameworks
            ]
            self._paths = book_paths([python for python in pythons if python], self.source, self.root)
        return readable_result(result, self._paths)


def _has_code(source: Path) -> bool:
    """Whether any Markdown source has a code cell (a book of prose needs no kernel)."""
    for path in source.rglob("*.md"):
        if "_build" in path.parts or any(part.startswith(".") for part in path.relative_to(source).parts):
            continue
        try:
            text = path.read_text(encoding="utf8", errors="replace")
        except OSError:
            continue
        if "{code-cell}" in text or "{.python .input" in text:  # MyST-NB or d2l-book cells
            return True
    return False


_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def _os_error(error: OSError, root: Path) -> str:
    """One line for an operating-system error, naming the folder involved."""
    path = Path(error.filename) if error.filename else root
    reason = error.strerror or str(error)
    if error.errno == errno.EISDIR:
        return f"cannot write to {path}: it is a folder, not a file"
    blocking = next((part for part in (path, *path.parents) if part.is_file()), None)
    if error.errno in (errno.EEXIST, errno.ENOTDIR) and blocking is not None:
        return f"cannot write to {blocking}: it is a file, not a folder"
    if error.errno in _UNWRITABLE:
        folder = path if path.is_dir() else path.parent
        return f"cannot write to {folder}: {reason}"
    return f"{path}: {reason}"
