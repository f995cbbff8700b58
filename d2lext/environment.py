"""Where kernels run: their environment variables, and whether a framework's kernel can run at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from .config import Framework
from .files import write_if_changed

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


def missing_requirement(framework: Framework) -> str | None:
    """Why ``framework`` cannot run here (kernel or module missing), or ``None`` when it can."""
    try:
        spec = KernelSpecManager().get_kernel_spec(framework.kernel)
    except NoSuchKernel:
        return (
            f"framework {framework.name!r} needs the Jupyter kernel {framework.kernel!r}, which is not installed "
            f"(see `jupyter kernelspec list`)"
        )
    if not framework.requires:
        return None
    python = spec.argv[0]
    if python in {"python", "python3", f"python3.{sys.version_info[1]}"}:
        python = sys.executable  # as jupyter_client does when it launches the kernel
    if "python" not in Path(python).name:
        return None  # not a Python kernel we can ask
    found = subprocess.run(
        [python, "-c", _FIND_MODULES, *framework.requires], capture_output=True, text=True, check=False
    )
    missing = found.stdout.split()
    if found.returncode != 0 or missing:
        names = " ".join(missing) or " ".join(framework.requires)
        return (
            f"framework {framework.name!r} needs {names}, which the kernel {framework.kernel!r} cannot import: "
            f"install it (pip install {names}) or leave the framework out (make html FRAMEWORKS=...)"
        )
    return None
