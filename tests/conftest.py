"""Shared helpers: build fixture books with Sphinx, as an author would; and the suite's two tiers.

Tiers: a test is marked ``slow`` when it builds a book (Sphinx, which starts kernels), starts a
process (a kernel, ``venv``, pip and the package index, ``sphinx-build``, the browser), or uses a
fixture that does. ``pytest -m "not slow"`` (``make test-quick``) runs the rest: the extension's
rules called directly, with no kernel, environment, network or browser. The mark is given at
collection (``pytest_collection_modifyitems`` below), from what the test's code and its fixtures'
code refer to; a test the rule cannot see through may say ``@pytest.mark.slow`` itself. A test
left unmarked that starts a process, builds a book or connects to a socket fails, saying so.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sphinx import locale
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace, patch_docutils

from d2lext.state import book_build as book_build_of

# The suite's builds share their frameworks' fork servers, as the rebuilds of ``make livehtml``
# do (``d2l_keep_warm``): each framework is imported once per environment for the whole suite, not
# once per build. The servers listen in a folder of the session's own and are stopped when it ends
# (``pytest_sessionfinish``), which says how much CPU time they used: a server that a
# ``sphinx-build`` process started is not this process's child, and ``time make test`` would not
# count it. A test that needs servers of its build's own sets 0.
SERVERS = Path(tempfile.mkdtemp(prefix="d2l-servers-"))
os.environ["D2L_SERVERS"] = str(SERVERS)
os.environ["D2L_KEEP_WARM"] = "3600"  # longer than the suite: stopped at its end

BOOKS = Path(__file__).parent / "books"
REPO = Path(__file__).resolve().parent.parent
PAGE = "chapter_optimization/optimization-intro"  # section 11.1 of the book
SPHINX_BUILD = Path(sys.executable).with_name("sphinx-build")


@dataclass
class Build:
    root: Path
    returncode: int
    output: str
    #: This build's kernels still running when it ended: for a build in this process, looked up
    #: before the harness stops anything; for a ``sphinx-build`` process, once it has exited.
    kernels_left: list[int] = field(default_factory=list)
    #: With ``watch_kernels=True``: every kernel of this build seen running while it built (the
    #: positive control of a ``kernels_left == []`` check: the look-up finds this build's kernels).
    kernels_seen: list[int] = field(default_factory=list)

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    @property
    def package(self) -> Path:
        return self.root / "_build" / "d2l"

    def page(self, name: str) -> BeautifulSoup:
        return BeautifulSoup((self.html / f"{name}.html").read_text(encoding="utf8"), "html.parser")


def build(root: Path, *options: str, timeout: int = 300, process: bool = False, watch_kernels: bool = False) -> Build:
    """Build a book folder (conf.py and sources side by side) as ``sphinx-build -M html . _build``.

    In this process by default (Sphinx's own application, as sphinx-build makes it, minus the
    second of start-up), or as a real ``sphinx-build`` process with ``process=True`` or ``-j``.
    With ``watch_kernels=True`` the build's kernels are looked up while it runs (``kernels_seen``).
    """
    if process or "-j" in options:
        return build_process(root, ".", *options, timeout=timeout, watch_kernels=watch_kernels)
    return build_in_process(root, root, root, options, watch_kernels=watch_kernels)


def build_process(root: Path, source: str, *options: str, timeout: int = 300, watch_kernels: bool = False) -> Build:
    with KernelWatch(root, watch_kernels) as watch:
        done = subprocess.run(
            [str(SPHINX_BUILD), "-M", "html", source, "_build", "-c", ".", "--no-color", *options],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return Build(root, done.returncode, done.stdout + done.stderr, kernels_of(root), watch.seen)


def start_build(root: Path, *options: str) -> subprocess.Popen:
    """A ``sphinx-build`` process started, not waited for, its output (text) on ``stdout``, and
    Ctrl-C (SIGINT) reaching it as in a terminal: a suite started in the background inherits
    SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt."""
    return subprocess.Popen(
        [str(SPHINX_BUILD), "-M", "html", ".", "_build", "--no-color", *options],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def build_in_process(
    root: Path, source: Path, conf: Path, options: tuple[str, ...], *, watch_kernels: bool = False
) -> Build:
    """What sphinx-build does, in this process: same folders, overrides, output and exit status.

    Afterwards the build's kernels are stopped and its lock released, as the end of a
    sphinx-build process does; the kernels still running are looked up first (``kernels_left``).
    """
    overrides = {}
    rest = list(options)
    while rest:
        option = rest.pop(0)
        assert option == "-D", f"in-process builds take only -D options, not {option}"
        name, _, value = rest.pop(0).partition("=")
        overrides[name] = value
    stream = io.StringIO()
    returncode = 0
    app = None
    previous = os.getcwd()
    os.chdir(root)
    watch = KernelWatch(root, watch_kernels)
    # Sphinx keeps its translations in a global and adds a later book's language to an earlier
    # one's as a fallback ("节 2.1" in an English book built after a Chinese one): forgotten, as
    # Sphinx's own test application does, so each build starts as a sphinx-build process does.
    locale.translators.clear()
    try:
        with watch, patch_docutils(conf), docutils_namespace():
            app = Sphinx(
                source,
                conf,
                root / "_build" / "html",
                root / "_build" / "doctrees",
                "html",
                confoverrides=overrides,
                status=stream,
                warning=stream,
            )
            app.build()
            returncode = app.statuscode
    except SystemExit as stop:
        returncode = stop.code if isinstance(stop.code, int) else 1
    except Exception:
        returncode = 2
        stream.write(traceback.format_exc())
    finally:
        os.chdir(previous)
        left = kernels_of(root)  # what the build itself left running, before the harness stops it
        book = book_build_of(app.env) if app is not None and getattr(app, "env", None) else None
        if book is not None:
            book.close()
            book.release()
    return Build(root, returncode, _COLOUR.sub("", stream.getvalue()), left, watch.seen)


def formula_text(element) -> str:
    """The TeX of a page's formula (a ``div.math`` or ``span.math``), with its number: typeset when
    the site was built, MathJax's markup keeps the TeX in ``data-tex``; left to the browser, it is
    the element's text."""
    typeset = element.select("mjx-container[data-tex]")
    if not typeset:
        return element.get_text()
    number = element.select_one(".eqno")
    return (number.get_text() if number else "") + " ".join(formula["data-tex"] for formula in typeset)


def with_tex(element):
    """A copy of a page's element whose formulas typeset when the site was built read as their TeX,
    as the page's text has them when math is left to the browser: ``\\(2x\\)``, ``\\[...\\]``."""
    copy = BeautifulSoup(str(element), "html.parser")
    for formula in copy.select("mjx-container[data-tex]"):
        tex = formula["data-tex"]
        formula.replace_with(f"\\[{tex}\\]" if formula.get("display") == "true" else f"\\({tex}\\)")
    return copy


def run_with_package(code: str, package: Path, *args: str, python: str = sys.executable, cwd=None):
    """Run ``code`` as a reader would, with only the saved package on the path; asserts it succeeds."""
    done = subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(package), "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    return done


def fresh_venv(venv: Path) -> Path:
    """A new, empty virtual environment, as a reader makes one; returns its Python. It is made
    without pip (``ensurepip`` is seconds of CPU per venv): ``pip_install`` installs into it with
    this environment's pip, which installs exactly what the venv's own pip would."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def pip_install(python: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``pip install`` into the environment of ``python``, with no byte-compiling (the modules are
    compiled when first imported, as they are used)."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    return subprocess.run(
        [*command, "--disable-pip-version-check", "--no-compile", *arguments], capture_output=True, text=True
    )


def copy_book(name: str, target: Path) -> Path:
    """A fixture book in a fresh folder; books without a conf.py use the basic book's."""
    shutil.copytree(BOOKS / name, target, dirs_exist_ok=True)
    if not (target / "conf.py").exists():
        shutil.copy(BOOKS / "basic" / "conf.py", target / "conf.py")
    return target


def book_build(root: Path, *options: str) -> Build:
    """The book itself (this repository's conf.py and source/) built in ``root``."""
    shutil.copytree(REPO / "source", root / "source")
    shutil.copytree(REPO / "d2lext" / "environments", root / "d2lext" / "environments")
    shutil.copy(REPO / "conf.py", root / "conf.py")
    result = build_in_process(root, root / "source", root, options)
    assert result.returncode == 0, result.output
    return result


@pytest.fixture(scope="session")
def real_book(tmp_path_factory) -> Build:
    """The book built once for NumPy and PyTorch, as `make html` does."""
    return book_build(tmp_path_factory.mktemp("book"))


#: Every framework of the book, in the published book's tab order.
EVERY_FRAMEWORK = ["mxnet", "torch", "tensorflow", "paddle", "numpy", "jax"]
#: Their tabs' labels.
EVERY_LABEL = ["MXNet", "PyTorch", "TensorFlow", "Paddle", "NumPy", "JAX"]


@pytest.fixture(scope="session")
def every_framework_book(tmp_path_factory) -> Build:
    """The book built with every framework (`make html FRAMEWORKS=all`). The frameworks' own
    environments are the repository's `.venvs`, made by the first build that needs them."""
    return book_build(
        tmp_path_factory.mktemp("every"), "-D", "d2l_selected=all", "-D", f"d2l_environments={REPO / '.venvs'}"
    )


@pytest.fixture(scope="session")
def basic_build(tmp_path_factory) -> Build:
    """The fixture book built once with NumPy and PyTorch."""
    root = copy_book("basic", tmp_path_factory.mktemp("basic"))
    result = build(root)
    assert result.returncode == 0, result.output
    return result


@pytest.fixture(scope="session")
def torch_only_build(tmp_path_factory) -> Build:
    """The fixture book built with PyTorch only, as `make html FRAMEWORKS=torch` does."""
    root = copy_book("basic", tmp_path_factory.mktemp("torch_only"))
    result = build(root, "-D", "d2l_selected=torch")
    assert result.returncode == 0, result.output
    return result


def kernels_of(root: Path) -> list[int]:
    """Processes that kernels of a build of ``root`` run in, and the fork servers of the build's
    own they are forked from (processes of the build too, which must not outlive it either).

    A kernel's command line names only its connection file, never the book. A server of the
    build's own, and the kernels it forks, carry the build's ``MATPLOTLIBRC`` (under
    ``_build/.d2l-cache``) in the environment they started with, which nothing else has. A server
    kept warm started with another build's: its kernels are known by their working folder, in the
    book. Sphinx resolves the book's folder, which the test may name through a symbolic link (a
    temporary folder often is one): both forms are looked for.
    """
    forms = {Path(root).absolute(), Path(root).resolve()}
    markers = {f"MATPLOTLIBRC={form / '_build' / '.d2l-cache' / 'matplotlibrc'}".encode() for form in forms}
    servers = {pid for pid, command in _processes() if b"forkserver.py" in command}
    found = []
    for pid, _ in _processes():
        process = Path("/proc") / str(pid)
        try:
            variables = (process / "environ").read_bytes().split(b"\0")
            parent = int((process / "stat").read_text().rpartition(")")[2].split()[1])
            folder = Path(os.readlink(process / "cwd")) if parent in servers else None
        except OSError:  # gone, or not ours to read
            continue
        if not markers.isdisjoint(variables) or (folder is not None and any(folder.is_relative_to(f) for f in forms)):
            found.append(pid)
    return sorted(found)


def _processes() -> list[tuple[int, bytes]]:
    """Every process's number and command line."""
    found = []
    for command in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append((int(command.parent.name), command.read_bytes()))
        except OSError:
            continue
    return found


def kept_servers() -> dict[int, tuple[bytes, list[str]]]:
    """The fork servers the suite keeps warm, by process number: each one's command line and the
    fields of its ``/proc/PID/stat`` after its name (a kernel has its server's command line, being
    a fork of it: it is known by its parent, and left out)."""
    found = {}
    for pid, command in _processes():
        if str(SERVERS).encode() in command:
            try:
                found[pid] = (command, (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split())
            except OSError:  # gone
                continue
    return {pid: seen for pid, seen in found.items() if int(seen[1][1]) not in found}


def stop_servers() -> tuple[int, float, float]:
    """Stop the fork servers the suite kept warm: how many there were, the CPU time (user and
    system) they and the kernels they forked used, and how much of it was in servers that are not
    this process's children (started by a ``sphinx-build`` process: ``time`` does not count them)."""
    servers = kept_servers()
    seconds = adopted = 0.0
    for pid, (_, fields) in servers.items():
        used = sum(int(ticks) for ticks in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        seconds += used
        adopted += used if int(fields[1]) != os.getpid() else 0.0
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    count = len(servers)
    servers = set(servers)
    deadline = time.monotonic() + 20
    while servers and time.monotonic() < deadline:
        servers = {pid for pid in servers if Path(f"/proc/{pid}").exists()}
        _reap()
        time.sleep(0.05)
    _reap()
    shutil.rmtree(SERVERS, ignore_errors=True)
    return count, seconds, adopted


def _reap() -> None:
    """Wait for every child of this process that has ended."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def pytest_sessionfinish(session) -> None:
    session.config.stash[_SERVED] = stop_servers()


_SERVED = pytest.StashKey[tuple[int, float, float]]()


def pytest_terminal_summary(terminalreporter, config) -> None:
    count, seconds, adopted = config.stash.get(_SERVED, (0, 0.0, 0.0))
    if count:
        terminalreporter.write_line(
            f"fork servers kept warm for the suite: {count}, {seconds:.1f} s of CPU time, of which {adopted:.1f} s "
            "in servers that sphinx-build processes started (not counted by `time` of this process)"
        )


class KernelWatch:
    """While it is entered (and ``active``), looks up the kernels of a build of ``root`` every
    0.1 s in a thread; ``seen`` lists every one found."""

    def __init__(self, root: Path, active: bool = True):
        self.root, self.active, self.seen = root, active, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while True:
            self.seen.extend(pid for pid in kernels_of(self.root) if pid not in self.seen)
            if self._stop.wait(0.1):
                return

    def __enter__(self) -> KernelWatch:
        if self.active:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            self._stop.set()
            self._thread.join()


def write_book(root: Path, chapter: str, *, conf_extra: str = "", lib: str | None = None) -> Path:
    """A minimal book: the basic book's conf.py, an index, and the given chapter text."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(BOOKS / "basic" / "conf.py", root / "conf.py")
    if conf_extra:
        with open(root / "conf.py", "a") as conf:
            conf.write("\n" + conf_extra + "\n")
    pages = ["lib", "chapter"] if lib is not None else ["chapter"]
    (root / "index.md").write_text("# Book\n\n```{toctree}\n" + "\n".join(pages) + "\n```\n")
    if lib is not None:
        (root / "lib.md").write_text(NOTEBOOK_HEADER + lib)
    (root / "chapter.md").write_text(NOTEBOOK_HEADER + chapter)
    return root


def install_kernel(folder: Path, monkeypatch, name: str, code: str) -> None:
    """A Jupyter kernel ``name`` that runs ``python -c CODE -f CONNECTION_FILE``, installed in
    ``folder`` for this test's processes (``JUPYTER_PATH``)."""
    spec = folder / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", code, "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder / "jupyter"))


NOTEBOOK_HEADER = """---
file_format: mystnb
kernelspec:
  name: python3
  display_name: Python 3
---

"""


# ---------------------------------------------------------------- tiers: slow and quick tests

#: Names whose use makes a test slow: the builders above, Sphinx applications, ``subprocess``
#: (kernels, venv, pip, sphinx-build) and Playwright.
SLOW_NAMES = frozenset(
    {"build", "build_in_process", "build_process", "book_build", "Sphinx", "SphinxTestApp", "subprocess", "playwright"}
)
TESTS = Path(__file__).resolve().parent


def _is_slow(code: types.CodeType, namespace: dict, seen: set) -> bool:
    """Whether code refers to a slow name, itself, in the functions and lambdas it defines, or in
    the functions of the tests' modules it calls (followed as far as they go)."""
    if code in seen:
        return False
    seen.add(code)
    if not SLOW_NAMES.isdisjoint(code.co_names):  # globals, attributes and imports alike
        return True
    nested = (const for const in code.co_consts if isinstance(const, types.CodeType))
    if any(_is_slow(inner, namespace, seen) for inner in nested):
        return True
    for name in code.co_names:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType) and _in_tests(value):
            if _is_slow(value.__code__, value.__globals__, seen):
                return True
    return False


def _in_tests(function: types.FunctionType) -> bool:
    return Path(function.__code__.co_filename).resolve().parent == TESTS


def _slow(item: pytest.Item) -> bool:
    seen: set = set()
    functions = [item.function] if isinstance(item, pytest.Function) else []
    info = getattr(item, "_fixtureinfo", None)
    for name in item.fixturenames:
        if name == "quick_tests_start_nothing":  # the guard below
            continue
        for definition in info.name2fixturedefs.get(name, ()) if info else ():
            functions.append(definition.func)
    functions = [inspect.unwrap(function) for function in functions]
    return any(
        _is_slow(function.__code__, function.__globals__, seen)
        for function in functions
        if isinstance(function, types.FunctionType) and _in_tests(function)
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` selects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is None and _slow(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def quick_tests_start_nothing(request, monkeypatch):
    """A test not marked slow fails as soon as it starts a process, builds a book or connects a
    socket: the quick tier stays quick, and a test the rule above cannot see through says so (at
    its end too, should code running in another thread have swallowed the failure)."""
    refusals: list[str] = []
    if request.node.get_closest_marker("slow") is None:

        def refuse(what: str):
            def refused(*args, **kwargs):
                refusals.append(what)
                pytest.fail(f"{what}, so it is slow: mark it @pytest.mark.slow (see tests/conftest.py)")

            return refused

        monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse("this test starts a process"))
        monkeypatch.setattr(Sphinx, "__init__", refuse("this test builds a book with Sphinx"))
        monkeypatch.setattr(socket.socket, "connect", refuse("this test opens a connection"))
    yield
    if refusals:
        pytest.fail(f"{refusals[0]}, so it is slow: mark it @pytest.mark.slow (see tests/conftest.py)")
