"""What the saved package needs installed: its common dependencies, and one extra per framework.

``pip install d2l-2.0.0.tar.gz`` installs what every framework's module imports (unpinned, so any
framework's extra can pin it); ``pip install "d2l-2.0.0.tar.gz[torch]"`` adds what ``d2l.torch``
imports, at the versions the book was built with (read from the environment that framework runs
in, or from the pins of its requirements when that environment has not been made here). A module
only some frameworks import (``torch``, ``torchvision``) is in their extras alone. The same look-up
says which saved imports a framework's environment cannot import (``Dependencies.missing``).
"""

from __future__ import annotations

import ast
import dataclasses as dc
import json
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..config import BookConfig, Framework
from ..files import write_if_changed

#: Run in a framework's Python: the distribution and version providing each module named, and
#: the modules it cannot find.
_QUERY = (
    "import importlib.metadata as m, importlib.util as u, json, sys\n"
    "found, names = m.packages_distributions(), sys.argv[1:]\n"
    "print(json.dumps({'distributions': {name: [(d, m.version(d)) for d in found.get(name, [])] for name in names},"
    " 'missing': [name for name in names if u.find_spec(name) is None]}))"
)
#: The version of the answers kept in the store (``_QUERY``'s output).
_STORE_VERSION = "2"
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


def distributions(python: str, modules: list[str]) -> dict:
    """``{"distributions": {module: [(distribution, version)]}, "missing": [module]}`` as the
    given Python has them installed (empty when it cannot be asked)."""
    done = subprocess.run([python, "-c", _QUERY, *modules], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {}
    return json.loads(done.stdout)


def pins(requirements: Path) -> dict[str, str]:
    """``distribution -> version`` of a requirements file's pinned (``name==version``) requirements;
    pip's options (``-r``, ``--index-url`` ...) and what is not a requirement are passed over."""
    return pinned_in(requirements.read_text(encoding="utf8"))


def pinned_in(text: str) -> dict[str, str]:
    """``distribution -> version`` of the pinned requirements of a requirements file's text."""
    from packaging.utils import canonicalize_name  # here: 10 ms a build spared

    found = {}
    for line in text.splitlines():
        requirement = requirement_in(line)
        if requirement is None:
            continue
        pinned = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if pinned:
            found[canonicalize_name(requirement.name)] = pinned[0]
    return found


def requirement_in(line: str):
    """The requirement on a line of a requirements file (a ``packaging`` ``Requirement``), or
    ``None`` for a comment, one of pip's options or what is not a requirement."""
    from packaging.requirements import InvalidRequirement, Requirement

    line = _COMMENT.sub("", line).strip()
    if not line or line.startswith("-"):
        return None
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def declare(
    modules: dict[str, list[str]],
    installed: Callable[[str, list[str]], dict[str, list[tuple[str, str]]]],
    pinned: Callable[[str], dict[str, str]],
) -> tuple[list[str], dict[str, list[str]]]:
    """``(common, extras)`` for ``modules`` (framework -> modules its module imports).

    ``installed(framework, modules)`` says which distributions provide them where the framework
    runs (empty when unknown there); ``pinned(framework)`` gives the pins of its requirements.
    The common dependencies are the distributions of the modules every framework's module
    imports, unpinned; each extra pins what its framework's module imports.
    """
    from packaging.utils import canonicalize_name

    extras: dict[str, list[str]] = {}
    provider: dict[str, str] = {}  # module -> its distribution, where some framework has it installed
    for framework, names in modules.items():
        found = installed(framework, names)
        pins_here = pinned(framework)
        if not found and pins_here:  # its environment is not made here: what its requirements pin
            kept = {name: version for name, version in pins_here.items() if name not in KERNEL_ONLY}
            extras[framework] = sorted((f"{name}=={version}" for name, version in kept.items()), key=str.lower)
            continue
        requirements = []
        for name in names:
            provided = found.get(name) or [(name, "")]
            for distribution, version in provided:
                distribution = canonicalize_name(distribution)
                if found.get(name):
                    provider.setdefault(name, distribution)
                version = (version or pins_here.get(distribution, "")).split("+")[0]  # no +cpu
                requirements.append(f"{distribution}=={version}" if version else distribution)
        extras[framework] = sorted(dict.fromkeys(requirements), key=str.lower)
    everywhere = set.intersection(*(set(names) for names in modules.values())) if modules else set()
    common = {provider.get(name) or canonicalize_name(name) for name in everywhere}
    return sorted(common), extras


@dc.dataclass(frozen=True)
class Dependencies:
    """What the package needs, and what the frameworks' environments lack."""

    common: list[str]
    extras: dict[str, list[str]]
    missing: dict[str, list[str]]
    """Framework -> the modules its module imports that its Python cannot find (frameworks whose
    Python is known here)."""

    @property
    def declared(self) -> tuple[list[str], dict[str, list[str]]]:
        """``(common, extras)``, as the package declares them."""
        return self.common, self.extras


def package_dependencies(
    config: BookConfig,
    code: dict[str, str],
    python_of: Callable[[Framework], str | None],
    pinned_of: Callable[[Framework], dict[str, str]],
    fingerprint: Callable[[str], str],
    store: Path,
) -> Dependencies:
    """What the package whose modules are ``code`` (framework -> module code) needs.

    Each framework's imports are looked up in the Python it runs in (``python_of``; ``None`` for
    a framework not to ask, as one whose environment has not been made here), once per state of
    that environment (``fingerprint``): the answers are kept in ``store`` (JSON). Frameworks that
    share a Python are asked together, and different Pythons at the same time. A framework not
    asked pins what its requirements pin (``pinned_of``).
    """
    modules = {name: imported(text, config.package_name) for name, text in code.items()}
    try:
        cached = json.loads(store.read_text(encoding="utf8"))
        assert isinstance(cached, dict)
    except Exception:  # missing or damaged: ask the environments again
        cached = {}
    pythons = {name: python_of(config.frameworks[name]) for name in modules}
    wanted: dict[str, list[str]] = {}  # Python -> every module its frameworks import
    for name, python in pythons.items():
        if python is not None:
            wanted[python] = list(dict.fromkeys([*wanted.get(python, []), *modules[name]]))

    def key(python: str) -> str:
        return f"{_STORE_VERSION} {python} {fingerprint(python)} {' '.join(sorted(wanted[python]))}"

    keys = {python: key(python) for python in wanted}
    unknown = [python for python in wanted if keys[python] not in cached]
    with ThreadPoolExecutor(max_workers=max(1, len(unknown))) as pool:  # each a subprocess
        answers = pool.map(lambda python: distributions(python, wanted[python]), unknown)
        cached.update(zip((keys[python] for python in unknown), answers, strict=True))

    def answer(name: str) -> dict:
        python = pythons[name]
        return cached[keys[python]] if python is not None else {}

    def installed(name: str, names: list[str]) -> dict:
        found = answer(name).get("distributions", {})
        return {module: [tuple(pair) for pair in found[module]] for module in names if module in found}

    def pinned(name: str) -> dict[str, str]:
        return pinned_of(config.frameworks[name])

    try:
        common, extras = declare(modules, installed, pinned)
    except OSError:  # a requirements file went missing: its framework's extra stays unpinned
        common, extras = declare(modules, installed, lambda name: {})
    missing = {name: [m for m in answer(name).get("missing", []) if m in names] for name, names in modules.items()}
    write_if_changed(store, json.dumps(cached, indent=1, sort_keys=True))
    return Dependencies(common, extras, {name: found for name, found in missing.items() if found})
