"""The extension's configuration: one typed place, validated with messages naming the option."""

from __future__ import annotations

import dataclasses as dc
import os
import re
from typing import Any

from .errors import BookError

#: Cell tags that MyST-NB and nbclient give a meaning to; any other tag must name a framework
#: (or be listed in ``d2l_extra_tags``).
KNOWN_TAGS = frozenset(
    {
        "remove-cell",
        "remove-input",
        "remove-output",
        "remove-stderr",
        "remove-stdout",
        "hide-cell",
        "hide-input",
        "hide-output",
        "raises-exception",
        "skip-execution",
        "full-width",
        "margin",
        "scroll-output",
        "scroll-input",
    }
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dc.dataclass(frozen=True)
class Framework:
    """A framework the book can be executed in."""

    name: str
    """Key used in cell tags, tab sync ids and the package module name (``d2l/<name>.py``)."""
    label: str
    """What readers see on the tab."""
    kernel: str = "python3"
    """Jupyter kernel that runs this framework's cells."""
    requires: tuple[str, ...] = ()
    """Importable modules the kernel must have; checked before any execution."""


@dc.dataclass(frozen=True)
class BookConfig:
    """Everything the pipeline needs from ``conf.py``, validated."""

    frameworks: dict[str, Framework]
    """All configured frameworks, in the order tabs are shown."""
    selected: tuple[str, ...]
    """The frameworks this build executes and shows, in configured order."""
    timeout: int = 600
    """Seconds a single cell may run."""
    jobs: int = 1
    """How many kernels run at once."""
    extra_tags: frozenset[str] = frozenset()
    """Cell tags that are neither frameworks nor MyST-NB's own."""
    package_name: str = "d2l"
    keep_going: bool = False
    """Build the site even when cells fail, showing the failures in the pages (for drafting)."""

    @property
    def selected_frameworks(self) -> list[Framework]:
        return [self.frameworks[name] for name in self.selected]

    @property
    def multi(self) -> bool:
        """Whether listings are shown as tabs (more than one framework selected)."""
        return len(self.selected) > 1


def split_names(value: Any) -> list[str]:
    """``"numpy torch"``, ``"numpy,torch"`` or ``["numpy", "torch"]`` -> ``["numpy", "torch"]``."""
    items = [value] if isinstance(value, str) else list(value or [])
    names: list[str] = []
    for item in items:
        names.extend(part for part in re.split(r"[\s,]+", str(item)) if part)
    return names


def _framework(name: str, spec: Any) -> Framework:
    option = f"d2l_frameworks[{name!r}]"
    if not isinstance(name, str) or not _NAME.match(name):
        raise BookError(f"d2l_frameworks: {name!r} is not a valid framework name (lowercase, e.g. 'torch')")
    if isinstance(spec, str):
        spec = {"label": spec}
    if not isinstance(spec, dict):
        raise BookError(f"{option} must be a dict with 'label' (and optionally 'kernel', 'requires')")
    unknown = set(spec) - {"label", "kernel", "requires"}
    if unknown:
        raise BookError(f"{option} has unknown keys {sorted(unknown)}; allowed: label, kernel, requires")
    label = spec.get("label", name)
    kernel = spec.get("kernel", "python3")
    requires = spec.get("requires", [name])
    if not isinstance(label, str) or not isinstance(kernel, str):
        raise BookError(f"{option}: 'label' and 'kernel' must be strings")
    if isinstance(requires, str) or not all(isinstance(m, str) for m in requires):
        raise BookError(f"{option}['requires'] must be a list of module names")
    return Framework(name, label, kernel, tuple(requires))


def load(config: Any) -> BookConfig:
    """Build the validated configuration from a Sphinx ``Config``."""
    raw = config.d2l_frameworks
    if not isinstance(raw, dict) or not raw:
        raise BookError("d2l_frameworks must be a non-empty dict: {'torch': {'label': 'PyTorch'}, ...}")
    frameworks = {name: _framework(name, spec) for name, spec in raw.items()}

    wanted = split_names(config.d2l_selected) or list(frameworks)
    unknown = [name for name in wanted if name not in frameworks]
    if unknown:
        raise BookError(
            f"unknown framework {', '.join(map(repr, unknown))} in FRAMEWORKS / d2l_selected; "
            f"configured in conf.py d2l_frameworks: {', '.join(frameworks)}"
        )
    selected = tuple(name for name in frameworks if name in wanted)

    timeout = config.d2l_timeout
    if not isinstance(timeout, int) or timeout <= 0:
        raise BookError(f"d2l_timeout must be a positive number of seconds, not {timeout!r}")
    jobs = config.d2l_jobs
    if jobs in (None, "", 0, "0"):
        jobs = os.cpu_count() or 1
    try:
        jobs = int(jobs)
    except (TypeError, ValueError):
        raise BookError(f"d2l_jobs (JOBS) must be a positive whole number, not {jobs!r}") from None
    if jobs <= 0:
        raise BookError(f"d2l_jobs (JOBS) must be a positive whole number, not {jobs!r}")

    keep_going = config.d2l_keep_going
    if isinstance(keep_going, str):
        keep_going = keep_going.strip().lower() not in ("", "0", "false", "no")

    return BookConfig(
        keep_going=bool(keep_going),
        frameworks=frameworks,
        selected=selected,
        timeout=timeout,
        jobs=jobs,
        extra_tags=frozenset(split_names(config.d2l_extra_tags)),
        package_name=config.d2l_package_name,
    )


#: Sphinx config values: name -> (default, rebuild).
CONFIG_VALUES: dict[str, tuple[Any, str]] = {
    "d2l_frameworks": ({"python": {"label": "Python", "requires": []}}, "env"),
    "d2l_selected": ([], "env"),
    "d2l_timeout": (600, "env"),
    "d2l_jobs": (0, ""),
    "d2l_extra_tags": ([], "env"),
    "d2l_package_name": ("d2l", "env"),
    "d2l_keep_going": (False, ""),
}
