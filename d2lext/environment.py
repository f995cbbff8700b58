"""Where kernels run: their environment variables, and whether a framework's kernel can run at all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from .config import Framework
from .files import write_if_changed
from .venvs import kernel_python

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
