"""What the saved package needs installed: its common dependencies, and one extra per framework.

``pip install d2l-2.0.0.tar.gz`` installs what every framework's module imports (unpinned, so any
framework's extra can pin it); ``pip install "d2l-2.0.0.tar.gz[torch]"`` adds what ``d2l.torch``
imports, at the versions the book was built with (read from the environment that framework runs
in, or from the pins of its requirements file when that environment has not been made here).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..config import BookConfig, Framework
from ..files import write_if_changed

#: Run in a framework's Python: the distribution and version providing each module named.
_QUERY = (
    "import importlib.metadata as m, json, sys\n"
    "found = m.packages_distributions()\n"
    "print(json.dumps({name: [(d, m.version(d)) for d in found.get(name, [])] for name in sys.argv[1:]}))"
)
#: A comment in a requirements file: from a ``#`` at the start of a line or after a space.
_COMMENT = re.compile(r"(^|\s)#.*")


#: What every framework's figures and arrays rest on, imported or not by its module: each extra
#: pins them at the versions its environment has (MXNet's needs numpy 1.23, the others numpy 2).
#: matplotlib-inline imports IPython without declaring it.
BASE_MODULES = ("numpy", "matplotlib", "matplotlib_inline", "IPython")


#: In a requirements file for a kernel, but not what the package needs.
KERNEL_ONLY = frozenset({"ipykernel"})


def imported(module_text: str, package: str) -> list[str]:
    """The top-level modules a saved module imports at its top level (not the standard library,
    not the package itself), in order, and ``BASE_MODULES``."""
    names = []
    for node in ast.parse(module_text).body:
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    names += BASE_MODULES
    return [name for name in dict.fromkeys(names) if name not in sys.stdlib_module_names and name != package]


def distributions(python: str, modules: list[str]) -> dict[str, list[tuple[str, str]]]:
    """``module -> [(distribution, version)]`` as the given Python has them installed."""
    done = subprocess.run([python, "-c", _QUERY, *modules], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {}
    return {name: [tuple(pair) for pair in pairs] for name, pairs in json.loads(done.stdout).items()}


def pins(requirements: Path) -> dict[str, str]:
    """``distribution -> version`` of a requirements file's pinned (``name==version``) requirements;
    pip's options (``-r``, ``--index-url`` ...) and what is not a requirement are passed over."""
    from packaging.requirements import InvalidRequirement, Requirement  # here: 10 ms a build spared
    from packaging.utils import canonicalize_name

    found = {}
    for line in requirements.read_text(encoding="utf8").splitlines():
        line = _COMMENT.sub("", line).strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        pinned = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if pinned:
            found[canonicalize_name(requirement.name)] = pinned[0]
    return found


def declare(
    modules: dict[str, list[str]],
    installed: Callable[[str, list[str]], dict[str, list[tuple[str, str]]]],
    pinned: Callable[[str], dict[str, str]],
    shared: set[str] | None = None,
) -> tuple[list[str], dict[str, list[str]]]:
    """``(common, extras)`` for ``modules`` (framework -> modules its module imports).

    ``installed(framework, modules)`` says which distributions provide them where the framework
    runs (empty when unknown there); ``pinned(framework)`` gives its requirements file's pins.
    The common dependencies are what every framework of ``shared`` (those running in the book's
    own environment, which can be installed together; all when none) needs, unpinned.
    """
    from packaging.utils import canonicalize_name

    extras: dict[str, list[str]] = {}
    needed: dict[str, set[str]] = {}
    for framework, names in modules.items():
        found = installed(framework, names)
        pins_here = pinned(framework)
        if not found and pins_here:  # its environment is not made here: what its requirements pin
            kept = {name: version for name, version in pins_here.items() if name not in KERNEL_ONLY}
            extras[framework] = sorted((f"{name}=={version}" for name, version in kept.items()), key=str.lower)
            needed[framework] = set(kept)
            continue
        requirements = []
        for name in names:
            provided = found.get(name) or [(name, "")]
            for distribution, version in provided:
                distribution = canonicalize_name(distribution)
                version = (version or pins_here.get(distribution, "")).split("+")[0]  # no +cpu
                requirements.append(f"{distribution}=={version}" if version else distribution)
                needed.setdefault(framework, set()).add(distribution)
        extras[framework] = sorted(dict.fromkeys(requirements), key=str.lower)
    together = [needed[name] for name in needed if not shared or name in shared]
    common = set.intersection(*together) if together else set()
    return sorted(common), extras


def package_dependencies(
    config: BookConfig,
    code: dict[str, str],
    python_of: Callable[[Framework], str | None],
    requirements_of: Callable[[Framework], Path | None],
    fingerprint: Callable[[str], str],
    store: Path,
) -> tuple[list[str], dict[str, list[str]]]:
    """``(common, extras)`` of the package whose modules are ``code`` (framework -> module code).

    Each framework's imports are looked up in the Python it runs in (``python_of``), once per
    state of that environment (``fingerprint``): the answers are kept in ``store`` (JSON). A
    framework whose environment the build makes pins what its requirements file pins
    (``requirements_of``) when that environment has not been made here.
    """
    modules = {name: imported(text, config.package_name) for name, text in code.items()}
    try:
        cached = json.loads(store.read_text(encoding="utf8"))
        assert isinstance(cached, dict)
    except Exception:  # missing or damaged: ask the environments again
        cached = {}

    def installed(name: str, names: list[str]) -> dict:
        python = python_of(config.frameworks[name])
        if python is None:
            return {}
        key = f"{python} {fingerprint(python)} {' '.join(names)}"
        if key not in cached:
            cached[key] = distributions(python, names)
        return {module: [tuple(pair) for pair in pairs] for module, pairs in cached[key].items()}

    def pinned(name: str) -> dict[str, str]:
        requirements = requirements_of(config.frameworks[name])
        return pins(requirements) if requirements is not None else {}

    shared = {name for name, framework in config.frameworks.items() if framework.environment is None}
    try:
        found = declare(modules, installed, pinned, shared)
    except OSError:  # a requirements file went missing: its framework's extra stays unpinned
        found = declare(modules, installed, lambda name: {}, shared)
    write_if_changed(store, json.dumps(cached, indent=1, sort_keys=True))
    return found
