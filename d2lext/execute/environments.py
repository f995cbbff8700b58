"""Frameworks' own Python environments: made on first use, their kernels registered, their contents fingerprinted.

Frameworks conflict (MXNet needs numpy 1.23, the book numpy 2), so a framework may name a
requirements file; the build then makes ``<environments>/<framework>`` with ``venv`` and pip,
installs a Jupyter kernel there, and runs that framework's cells in it. A book's own requirements
(``Environment.book``) are installed with the framework's, in ``<environments>/<framework>-<key>``
named by their content; a framework that otherwise runs in the build's own environment then gets
one too, from the versions that environment has of its packages. A fingerprint of every
environment a kernel runs in (its Python and its installed distributions) is part of the cache
keys, so upgrading a framework re-runs its chapters and nothing else. Last, what every kernel
runs with (its environment variables) and whether a framework's kernel can run here at all.
"""

from __future__ import annotations

import dataclasses as dc
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from ..config import Framework
from ..errors import BookError
from ..files import write_atomic, write_if_changed
from ..package.dependencies import pinned_in, requirement_in
from ..sources.cells import display_path

#: Installed with every environment's requirements: what a kernel and the book's figures need.
KERNEL_PACKAGES = ("ipykernel", "matplotlib", "matplotlib-inline")
#: In an environment: what it was made from (so a changed requirements file updates it).
READY = ".d2l-ready"


class Environments:
    """The frameworks' own environments, in one folder beside the book's ``.venv``.

    A framework's environment is ``<folder>/<framework>``, made from its requirements file. With
    the book's own requirements (``Environment.book``) it is ``<folder>/<framework>-<key>``, made
    from the framework's requirements and the book's in one pip call, ``<key>`` naming their
    content: books with the same requirements share it, books with others have their own.
    """

    def __init__(self, folder: Path, conf_dir: Path, info: Callable[[str], None]):
        self.folder = folder
        self.conf_dir = conf_dir
        self.info = info
        self._recipes: dict[Framework, Recipe] = {}

    def path(self, framework: Framework) -> Path:
        if framework.environment.book:
            return self.folder / f"{framework.name}-{self.recipe(framework)[:12]}"
        return self.folder / framework.name

    def python(self, framework: Framework) -> str | None:
        """The environment's Python, if the environment has been made."""
        python = self.path(framework) / "bin" / "python"
        return str(python) if python.exists() else None

    def kernel_dir(self, framework: Framework) -> Path:
        return self.path(framework) / "share" / "jupyter" / "kernels"

    def requirements(self, framework: Framework) -> Path | None:
        """The framework's own requirements file (``None``: the build's own environment's versions)."""
        name = framework.environment.requirements
        return self.conf_dir / name if name else None

    def book_requirements(self, framework: Framework) -> list[Path]:
        return [self.conf_dir / name for name in framework.environment.book]

    def recipe(self, framework: Framework) -> str:
        """What the environment is made from, as a hash: the Python asked for, the kernel, and the
        requirements' text (the framework's, and the book's)."""
        return self._recipe(framework).key

    def pins(self, framework: Framework) -> dict[str, str]:
        """``distribution -> version`` pinned by what the environment is made from (the book's pins
        win), as the package declares the framework's extra when the environment is not made here."""
        recipe = self._recipe(framework)
        if recipe.problem:  # a requirements file missing: the extra stays unpinned
            return {}
        found = pinned_in(recipe.framework_text)
        for text in recipe.book_texts:
            found.update(pinned_in(text))
        return found

    def _recipe(self, framework: Framework) -> Recipe:
        if framework not in self._recipes:
            self._recipes[framework] = self._make_recipe(framework)
        return self._recipes[framework]

    def _make_recipe(self, framework: Framework) -> Recipe:
        environment = framework.environment
        requirements = self.requirements(framework)
        problem = None
        if requirements is None:
            text = own_versions(framework)
        else:
            try:
                text = requirements.read_text(encoding="utf8")
            except OSError:
                text = ""
                problem = f"d2l_frameworks[{framework.name!r}]: the requirements file {requirements} does not exist"
        if not environment.book:  # as before the book's requirements: existing environments stay made
            content = [environment.python, framework.kernel, text, list(KERNEL_PACKAGES)]
            return Recipe(hashlib.sha256(json.dumps(content).encode()).hexdigest(), text, (), False, problem)
        book_texts = []
        for path in self.book_requirements(framework):
            try:
                book_texts.append(path.read_text(encoding="utf8"))
            except OSError as error:
                book_texts.append("")
                problem = problem or f"{display_path(path)}: cannot be read: {error.strerror or error}"
        pinned = set()
        for book_text in book_texts:
            pinned |= set(pinned_in(book_text))
        kept = _without(text, pinned)  # a distribution the book pins is installed at the book's version
        content = [environment.python, framework.kernel, kept, book_texts, list(KERNEL_PACKAGES)]
        key = hashlib.sha256(json.dumps(content).encode()).hexdigest()
        return Recipe(key, kept, tuple(book_texts), requirements is None or kept != text, problem)

    def ensure(self, framework: Framework) -> None:
        """Make (or bring up to date) the framework's environment and its kernel, saying so.

        The ready mark is written last, and removed before an update starts: a folder without it
        was left by a set-up that did not finish (Ctrl-C, a failed step) and is made again from
        scratch, since its ``bin/python`` may have no pip or half of its packages. Builds making
        the same environment at once (two books with the same requirements) take turns.
        """
        target = self.path(framework)
        recipe = self.recipe(framework)
        problem = self._recipe(framework).problem
        if problem:
            raise BookError(problem)
        ready = target / READY
        if _is_ready(ready, recipe):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(target.parent / f"{target.name}.lock", thread_local=False)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            self.info(f"waiting for another build setting up {display_path(target)} ...")
            lock.acquire()
        try:
            if not _is_ready(ready, recipe):  # the other build may have made it meanwhile
                self._make(framework, target, recipe)
        finally:
            lock.release()

    def _make(self, framework: Framework, target: Path, recipe: str) -> None:
        ready = target / READY
        log = target.parent / f"{target.name}-setup.log"
        book = self.book_requirements(framework)
        why = (
            f" with the book's {', '.join(path.name for path in book)}"
            if book
            else " (first use, or its requirements changed)"
        )
        self.info(
            f"setting up the {framework.label} environment in {display_path(target)}{why}; this can take "
            f"minutes, pip's output goes to {display_path(log)}"
        )
        started = time.perf_counter()
        if ready.is_file() and not book:
            ready.unlink()  # an update: if it does not finish, the next build starts afresh
        elif target.exists():
            shutil.rmtree(target)
        python = target / "bin" / "python"
        steps = []
        if not python.exists():
            steps.append([framework.environment.python or sys.executable, "-m", "venv", str(target)])
        own = self.requirements(framework)
        made = self._recipe(framework)
        if made.written:  # the build's own versions, or the framework's without what the book pins
            own = target / FRAMEWORK_REQUIREMENTS
            target.mkdir(parents=True, exist_ok=True)  # venv makes its environment in it all the same
            note = "# Made by the build: the framework's requirements, without what the book pins.\n"
            own.write_text(note + made.framework_text, encoding="utf8")
        files = [own, *book]
        # No byte-compiling of every module installed (half of pip's time): a kernel compiles
        # what it imports, once, when it first imports it.
        install = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-compile"]
        for path in files:
            install += ["-r", str(path)]
        steps.append([*install, *KERNEL_PACKAGES])
        steps.append(
            [
                str(python),
                "-m",
                "ipykernel",
                "install",
                "--prefix",
                str(target),
                "--name",
                framework.kernel,
                "--display-name",
                framework.label,
            ]
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", encoding="utf8") as output:
            for step in steps:
                output.write(f"$ {shlex.join(step)}\n")
                output.flush()
                try:
                    done = subprocess.run(step, stdout=output, stderr=subprocess.STDOUT, check=False)
                except FileNotFoundError:
                    raise BookError(
                        f"cannot make the {framework.label} environment: the Python {step[0]!r} is not installed "
                        f"(d2l_frameworks[{framework.name!r}]['environment']['python'])"
                    ) from None
                if done.returncode != 0:
                    output.flush()
                    raise BookError(self._failure(framework, step, files, log))
        write_atomic(ready, recipe)
        self.info(f"{framework.label} environment ready ({time.perf_counter() - started:.0f} s)")

    def _failure(self, framework: Framework, step: list[str], files: list[Path], log: Path) -> str:
        """The one line saying why a step of making the environment failed."""
        text = log.read_text(encoding="utf8", errors="replace")
        leave_out = f"leave {framework.name} out (make html FRAMEWORKS=...)"
        missing = _not_found(text)
        if missing:
            return (
                f"{_where(files, missing)}: cannot make the {framework.label} environment: pip found no release "
                f"of {missing} on the package index (see {display_path(log)}); correct the requirement, or "
                f"{leave_out}"
            )
        conflict = _conflict(text)
        if conflict:
            return (
                f"cannot make the {framework.label} environment: pip cannot install {conflict} together (see "
                f"{display_path(log)}); make the book's requirements agree with the framework's (a version the "
                f"book pins with == replaces the framework's), or {leave_out}"
            )
        return (
            f"cannot make the {framework.label} environment: `{shlex.join(step[:4])} ...` failed (see "
            f"{display_path(log)}); with access to the package index, run the build again, or {leave_out}"
        )


@dc.dataclass(frozen=True)
class Recipe:
    """What a framework's environment is made from."""

    key: str
    """The hash of it all: the ready mark's content, and the folder's name with the book's requirements."""
    framework_text: str
    """The framework's requirements, without the distributions the book pins."""
    book_texts: tuple[str, ...]
    """The book's requirements files' text."""
    written: bool
    """Whether ``framework_text`` is installed from a file the build writes (it is not the
    framework's requirements file as it is)."""
    problem: str | None = None
    """Why the environment cannot be made (a requirements file missing), said when it is to be made."""


#: In an environment made with the book's requirements: the framework's part of them.
FRAMEWORK_REQUIREMENTS = "d2l-framework-requirements.txt"


def _is_ready(ready: Path, recipe: str) -> bool:
    try:
        return ready.read_text(encoding="utf8") == recipe
    except OSError:
        return False


#: What a framework running in the build's own environment is made from, when it needs its own
#: (the book has requirements): the distributions of these modules and of its ``requires``, at
#: the versions the build's own environment has.
OWN_MODULES = ("numpy", "matplotlib", "matplotlib_inline", "ipykernel")


def own_versions(framework: Framework) -> str:
    """Requirements pinning the framework's packages at the versions the build's own Python has
    (a local version such as ``+cpu`` left out, as the book's requirements.txt names it)."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    lines = [f"# {framework.name}: the versions of the build's own environment"]
    by_module = None
    for module in dict.fromkeys([*framework.requires, *OWN_MODULES]):
        try:
            names = [metadata.distribution(module).metadata["Name"]]  # most are named as their module
        except metadata.PackageNotFoundError:
            by_module = by_module if by_module is not None else metadata.packages_distributions()  # 0.2 s
            names = by_module.get(module, [])  # none: not installed here
        for name in names:
            line = f"{canonicalize_name(name)}=={metadata.version(name).split('+')[0]}"
            if line not in lines:
                lines.append(line)
    return "\n".join(lines) + "\n"


def _without(text: str, names: set[str]) -> str:
    """A requirements text without the lines asking for ``names`` (normalised distribution names)."""
    from packaging.utils import canonicalize_name

    kept = []
    for line in text.splitlines(keepends=True):
        requirement = requirement_in(line)
        if requirement is None or canonicalize_name(requirement.name) not in names:
            kept.append(line)
    return "".join(kept)


#: What pip says of a requirement no index has (pip 23-25).
_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")


def _not_found(log: str) -> str | None:
    """The requirement pip could not find on the package index, from its output."""
    found = _NOT_FOUND.findall(log)
    return found[-1] if found else None


#: What pip says of requirements that no set of versions satisfies together (pip 23-25).
_CONFLICT = re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies")


def _conflict(log: str) -> str | None:
    """The requirements pip cannot install together, from its output."""
    found = _CONFLICT.findall(log)
    return found[-1] if found else None


def _where(files: list[Path], requirement: str) -> str:
    """``file:line`` of a requirement in the first requirements file having it (the first file if none)."""
    for requirements in files:
        try:
            lines = requirements.read_text(encoding="utf8").splitlines()
        except OSError:
            lines = []
        for number, line in enumerate(lines, 1):
            if line.split("#")[0].strip().replace(" ", "") == requirement.replace(" ", ""):
                return f"{display_path(requirements)}:{number}"
    return display_path(files[0])


def kernel_specs(extra_dirs: list[Path]) -> KernelSpecManager:
    """Jupyter's kernel lookup, with the frameworks' own environments' kernels first."""
    manager = KernelSpecManager()
    manager.kernel_dirs = [str(folder) for folder in extra_dirs] + list(manager.kernel_dirs)
    return manager


def kernel_python(specs: KernelSpecManager, kernel: str) -> str | None:
    """The Python a kernel runs, or ``None`` if the kernel is unknown or not a Python one."""
    try:
        spec = specs.get_kernel_spec(kernel)
    except NoSuchKernel:
        return None
    python = spec.argv[0] if spec.argv else ""
    if python in {"python", "python3", f"python3.{sys.version_info[1]}"}:
        return sys.executable  # as jupyter_client does when it launches the kernel
    return python if "python" in Path(python).name else None


_LIST = (
    "import sys, json, importlib.metadata as m\n"
    "print(json.dumps([sys.version, sorted({(d.metadata['Name'] or '?').lower() + '==' + d.version "
    "for d in m.distributions()})]))"
)


class Fingerprints:
    """What each Python environment holds (its version, its distributions and their versions), as a
    short hash. Read with one subprocess per environment, and again only when one of its
    site-packages folders changed (installing or removing a distribution changes it)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.known = json.loads(path.read_text(encoding="utf8"))
            assert isinstance(self.known, dict)
        except Exception:  # missing or damaged: read the environments again
            self.known = {}

    def of(self, python: str) -> str:
        current = stamp(python)
        known = self.known.get(python)
        if current is not None and isinstance(known, dict) and known.get("stamp") == current:
            return known["fingerprint"]
        done = subprocess.run([python, "-c", _LIST], capture_output=True, text=True, check=False)
        listing = done.stdout if done.returncode == 0 else f"unreadable: {done.stderr[-200:]}"
        fingerprint = hashlib.sha256(listing.encode()).hexdigest()[:16]
        self.known[python] = {"stamp": current, "fingerprint": fingerprint}
        return fingerprint

    def save(self) -> None:
        write_if_changed(self.path, json.dumps(self.known, indent=1, sort_keys=True))


def stamp(python: str) -> list | None:
    """What changes when an environment's contents change: its interpreter and site-packages folders."""
    found = shutil.which(python) or python
    executable = Path(found)
    try:
        real = executable.resolve()
        found = [str(real), real.stat().st_mtime_ns]
        folders = sorted(executable.parent.parent.glob("lib/python3*/site-packages"))
        found += [[str(folder), folder.stat().st_mtime_ns] for folder in folders]
    except OSError:
        return None
    return found if len(found) > 2 else None


#: matplotlib settings that make figures reproducible: the same code gives the same SVG.
MATPLOTLIBRC = "svg.hashsalt: d2l\n"


def kernel_env(package_root: Path, state_dir: Path) -> dict[str, str]:
    """Environment of every kernel: the saved package importable, reproducible figures."""
    rc = state_dir / "matplotlibrc"
    write_if_changed(rc, MATPLOTLIBRC)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
    env["MATPLOTLIBRC"] = str(rc)
    env["SOURCE_DATE_EPOCH"] = "0"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


_FIND_MODULES = (
    "import importlib.util, sys\nprint(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
)


def missing_requirement(framework: Framework, specs: KernelSpecManager) -> str | None:
    """Why ``framework`` cannot run here (kernel or module missing), or ``None`` when it can."""
    try:
        specs.get_kernel_spec(framework.kernel)
    except NoSuchKernel:
        return (
            f"framework {framework.name!r} needs the Jupyter kernel {framework.kernel!r}, which is not installed "
            f"(see `jupyter kernelspec list`)"
        )
    python = kernel_python(specs, framework.kernel)
    if not framework.requires or python is None:
        return None  # nothing to check, or not a Python kernel we can ask
    found = subprocess.run(
        [python, "-c", _FIND_MODULES, *framework.requires], capture_output=True, text=True, check=False
    )
    missing = found.stdout.split()
    if found.returncode != 0 or missing:
        names = " ".join(missing) or " ".join(framework.requires)
        if framework.environment and framework.environment.requirements:
            where = f"add it to {framework.environment.requirements}"
        elif framework.requirements:
            where = where_to_add(framework)
        else:
            where = f"install it (pip install {names})"
        return (
            f"framework {framework.name!r} needs {names}, which the kernel {framework.kernel!r} cannot import: "
            f"{where} or leave the framework out (make html FRAMEWORKS=...)"
        )
    return None


def where_to_add(framework: Framework, conf_dir: Path | None = None, source: Path | None = None) -> str:
    """Where a package the framework's environment lacks is added: "add it to a.txt (or b.txt)",
    the book's requirements files named for it (relative to ``conf_dir``), each shown relative to
    the book's ``source`` folder when it is in it."""
    files = []
    for name in framework.requirements:
        path = (conf_dir or Path()) / name
        try:
            files.append(path.resolve().relative_to(source.resolve()).as_posix() if source else display_path(path))
        except ValueError:
            files.append(display_path(path))
    if not files:
        return (
            f"add it to a requirements file of the book, named in conf.py by "
            f"d2l_frameworks[{framework.name!r}]['requirements'] (e.g. 'requirements.txt')"
        )
    others = f" (or {', '.join(files[1:])})" if files[1:] else ""
    return f"add it to {files[0]}{others}"
