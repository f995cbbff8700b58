"""Frameworks' own Python environments: made on first use, their kernels registered, their contents fingerprinted.

Frameworks conflict (MXNet needs numpy 1.23, the book numpy 2), so a framework may name a
requirements file; the build then makes ``<environments>/<framework>`` with ``venv`` and pip,
installs a Jupyter kernel there, and runs that framework's cells in it. A fingerprint of every
environment a kernel runs in (its Python and its installed distributions) is part of the cache
keys, so upgrading a framework re-runs its chapters and nothing else. Last, what every kernel
runs with (its environment variables) and whether a framework's kernel can run here at all.
"""

from __future__ import annotations

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

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from ..config import Framework
from ..errors import BookError
from ..files import write_atomic, write_if_changed
from ..sources.cells import display_path

#: Installed with every environment's requirements: what a kernel and the book's figures need.
KERNEL_PACKAGES = ("ipykernel", "matplotlib", "matplotlib-inline")
#: In an environment: what it was made from (so a changed requirements file updates it).
READY = ".d2l-ready"


class Environments:
    """The frameworks' own environments, in one folder beside the book's ``.venv``."""

    def __init__(self, folder: Path, conf_dir: Path, info: Callable[[str], None]):
        self.folder = folder
        self.conf_dir = conf_dir
        self.info = info

    def path(self, framework: Framework) -> Path:
        return self.folder / framework.name

    def python(self, framework: Framework) -> str | None:
        """The environment's Python, if the environment has been made."""
        python = self.path(framework) / "bin" / "python"
        return str(python) if python.exists() else None

    def kernel_dir(self, framework: Framework) -> Path:
        return self.path(framework) / "share" / "jupyter" / "kernels"

    def requirements(self, framework: Framework) -> Path:
        return self.conf_dir / framework.environment.requirements

    def recipe(self, framework: Framework) -> str:
        """What the environment is made from: the Python asked for and the requirements' text."""
        requirements = self.requirements(framework)
        try:
            text = requirements.read_text(encoding="utf8")
        except OSError:
            raise BookError(
                f"d2l_frameworks[{framework.name!r}]: the requirements file {requirements} does not exist"
            ) from None
        content = [framework.environment.python, framework.kernel, text, list(KERNEL_PACKAGES)]
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()

    def ensure(self, framework: Framework) -> None:
        """Make (or bring up to date) the framework's environment and its kernel, saying so.

        The ready mark is written last, and removed before an update starts: a folder without it
        was left by a set-up that did not finish (Ctrl-C, a failed step) and is made again from
        scratch, since its ``bin/python`` may have no pip or half of its packages.
        """
        target = self.path(framework)
        recipe = self.recipe(framework)
        ready = target / READY
        if ready.is_file() and ready.read_text(encoding="utf8") == recipe:
            return
        log = target.parent / f"{framework.name}-setup.log"
        self.info(
            f"setting up the {framework.label} environment in {display_path(target)} (first use, or its "
            f"requirements changed); this can take minutes, pip's output goes to {display_path(log)}"
        )
        started = time.perf_counter()
        if ready.is_file():
            ready.unlink()  # an update: if it does not finish, the next build starts afresh
        elif target.exists():
            shutil.rmtree(target)
        python = target / "bin" / "python"
        steps = []
        if not python.exists():
            steps.append([framework.environment.python or sys.executable, "-m", "venv", str(target)])
        requirements = self.requirements(framework)
        steps.append(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                # No byte-compiling of every module installed (half of pip's time): a kernel
                # compiles what it imports, once, when it first imports it.
                "--no-compile",
                "-r",
                str(requirements),
                *KERNEL_PACKAGES,
            ]
        )
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
                    missing = _not_found(log.read_text(encoding="utf8", errors="replace"))
                    if missing:
                        raise BookError(
                            f"{_where(requirements, missing)}: cannot make the {framework.label} environment: pip "
                            f"found no release of {missing} on the package index (see {display_path(log)}); correct "
                            f"the requirement, or leave {framework.name} out (make html FRAMEWORKS=...)"
                        )
                    raise BookError(
                        f"cannot make the {framework.label} environment: `{shlex.join(step[:4])} ...` failed "
                        f"(see {display_path(log)}); with access to the package index, run the build again, or leave "
                        f"{framework.name} out (make html FRAMEWORKS=...)"
                    )
        write_atomic(ready, recipe)
        self.info(f"{framework.label} environment ready ({time.perf_counter() - started:.0f} s)")


#: What pip says of a requirement no index has (pip 23-25).
_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")


def _not_found(log: str) -> str | None:
    """The requirement pip could not find on the package index, from its output."""
    found = _NOT_FOUND.findall(log)
    return found[-1] if found else None


def _where(requirements: Path, requirement: str) -> str:
    """``file:line`` of a requirement in a requirements file (the file alone if not found there)."""
    try:
        lines = requirements.read_text(encoding="utf8").splitlines()
    except OSError:
        lines = []
    for number, line in enumerate(lines, 1):
        if line.split("#")[0].strip().replace(" ", "") == requirement.replace(" ", ""):
            return f"{display_path(requirements)}:{number}"
    return display_path(requirements)


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
        stamp = _stamp(python)
        known = self.known.get(python)
        if stamp is not None and isinstance(known, dict) and known.get("stamp") == stamp:
            return known["fingerprint"]
        done = subprocess.run([python, "-c", _LIST], capture_output=True, text=True, check=False)
        listing = done.stdout if done.returncode == 0 else f"unreadable: {done.stderr[-200:]}"
        fingerprint = hashlib.sha256(listing.encode()).hexdigest()[:16]
        self.known[python] = {"stamp": stamp, "fingerprint": fingerprint}
        return fingerprint

    def save(self) -> None:
        write_if_changed(self.path, json.dumps(self.known, indent=1, sort_keys=True))


def _stamp(python: str) -> list | None:
    """What changes when an environment's contents change: its interpreter and site-packages folders."""
    found = shutil.which(python) or python
    executable = Path(found)
    try:
        real = executable.resolve()
        stamp = [str(real), real.stat().st_mtime_ns]
        folders = sorted(executable.parent.parent.glob("lib/python3*/site-packages"))
        stamp += [[str(folder), folder.stat().st_mtime_ns] for folder in folders]
    except OSError:
        return None
    return stamp if len(stamp) > 2 else None


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
        where = (
            f"add it to {framework.environment.requirements}"
            if framework.environment
            else f"install it (pip install {names})"
        )
        return (
            f"framework {framework.name!r} needs {names}, which the kernel {framework.kernel!r} cannot import: "
            f"{where} or leave the framework out (make html FRAMEWORKS=...)"
        )
    return None
