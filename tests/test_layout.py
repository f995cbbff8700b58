"""The code's layout: the pipeline's stages as packages, and a core that never needs Sphinx."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "d2lext"
#: The stages and shared modules that make the book without Sphinx (MyST-NB's ``core/`` in spirit).
CORE_PACKAGES = ("sources", "plan", "execute", "package", "site", "authoring")
CORE_MODULES = ("build", "config", "errors", "files", "lock", "report")
#: What runs inside Sphinx: the wiring and the rendering.
SPHINX_SIDE = ("extension", "state", "messages", "lib", "pdf", "render")


def core_files() -> list[Path]:
    files = [PACKAGE / f"{name}.py" for name in CORE_MODULES]
    for name in CORE_PACKAGES:
        files += sorted((PACKAGE / name).glob("*.py"))
    return files


def test_every_module_is_in_a_stage_or_the_wiring():
    top = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
    assert top == sorted(set(CORE_MODULES) | set(SPHINX_SIDE) - {"render"})
    packages = sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))
    assert packages == sorted((*CORE_PACKAGES, "render"))
    for package in packages:  # each says what goes in and what comes out
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert doc and "In:" in doc and "Out:" in doc, package


def test_no_core_module_imports_sphinx_or_docutils():
    found = []
    for path in core_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(PACKAGE)}: {name}" for name in names if name.split(".")[0] in ("sphinx", "docutils")
            ]
    assert found == []


def test_importing_the_whole_core_loads_no_sphinx():
    """Not even through another library: the core runs where Sphinx is not set up (make lib's
    planning, a cluster's workers)."""
    modules = [
        "d2lext." + str(path.relative_to(PACKAGE).with_suffix("")).replace("/", ".").removesuffix(".__init__")
        for path in core_files()
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(sorted({n.split('.')[0] for n in sys.modules if n.split('.')[0] == 'sphinx'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(modules) > 25 and done.stdout.strip() == "[]"
