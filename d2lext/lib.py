"""`make lib`: write the saved package and build its wheel, without building the site.

    python -m d2lext.lib [--conf DIR] [--source DIR] [--build DIR]

It runs the build's own planner (``BookBuild.make_plan``) on the configuration Sphinx reads
(``conf.py``, with the extension's and MyST's options and their defaults) and on the documents
Sphinx finds (``exclude_patterns`` honoured): the same table-of-contents order, the same `#@save`
rules, the same package with the same dependencies and extras as the source archive `make html`
writes. It then builds `<build>/dist/d2l-<release>-py3-none-any.whl` with pip. A d2l-book project
is read with the generated configuration (`make lib BOOK=...`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from myst_parser.config.main import MdParserConfig
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.project import Project
from sphinx.util.tags import Tags

from . import config as options
from .build import BookBuild, Site
from .errors import BookError

#: Source files MyST-NB reads, besides reStructuredText (it registers them when it is set up).
SUFFIXES = {".md": "myst-nb", ".ipynb": "myst-nb"}


#: The HTML builder's options the package and the sources depend on, with Sphinx's defaults.
HTML_OPTIONS = {"html_baseurl": "", "html_file_suffix": None, "html_static_path": [], "html_extra_path": []}


class PrintLog:
    """The build's ``Log`` for a command line: information and warnings on stderr."""

    def info(self, message: str) -> None:
        print(message, file=sys.stderr)

    def warning(self, message: str, *, subtype: str, docname: str | None = None, line: int | None = None) -> None:
        where = f"{docname}:{line}: " if docname and line else f"{docname}: " if docname else ""
        print(f"warning: {where}{message}", file=sys.stderr)


def read_configuration(conf_dir: Path) -> Config:
    """conf.py as Sphinx reads it, with this extension's and MyST's options registered."""
    config = Config.read(conf_dir, overrides={}, tags=Tags())
    for name, default in HTML_OPTIONS.items():  # registered by the HTML builder in a Sphinx build
        config.add(name, default, "html", Any)
    for name, default, rebuild, doc in options.options():
        config.add(name, default, rebuild, Any, doc)
    for name, default, field in MdParserConfig().as_triple():
        if "sphinx" not in field.metadata.get("omit", []):
            config.add(f"myst_{name}", default, "env", Any)
    return config


def myst_config(config: Config) -> MdParserConfig:
    """MyST's configuration, made from the same options as MyST makes it in a Sphinx build."""
    return MdParserConfig(
        **{
            name: config[f"myst_{name}"]
            for name, _, field in MdParserConfig().as_triple()
            if "sphinx" not in field.metadata.get("omit", [])
        }
    )


def sources(config: Config, source: Path, excluded: list[str]) -> dict[str, Path]:
    """The documents Sphinx finds in ``source`` (``exclude_patterns`` and ``include_patterns``)."""
    suffixes = {**dict(config.source_suffix), **SUFFIXES}
    project = Project(source, suffixes)
    exclude = [*config.exclude_patterns, *config.templates_path, *excluded]
    docnames = project.discover(exclude_paths=exclude, include_paths=config.include_patterns)
    return {docname: Path(project.doc2path(docname, absolute=True)) for docname in sorted(docnames)}


def write(conf_dir: Path, source: Path, build_dir: Path) -> Path:
    """Plan the book as a build does and write its package (with its dependencies and source
    archive); returns the package's folder. The package's problems are printed as warnings."""
    try:
        config = read_configuration(conf_dir)
    except ConfigError as error:
        raise BookError(f"cannot read {conf_dir / 'conf.py'}: {error}") from None
    book_config = options.load(config, conf_dir)
    log = PrintLog()
    for warning in book_config.d2lbook.warnings if book_config.d2lbook else ():  # what config.ini leaves out
        log.warning(warning.message, subtype="config", docname=warning.path, line=warning.line)
    site = Site(config.project, config.release, config.html_baseurl, config.html_file_suffix or ".html")
    build = BookBuild(book_config, build_dir, source, site, log, conf_dir)
    build.take()  # one build of this folder at a time, as `make html` does
    try:
        excluded = [pattern for pattern in [build.environments_pattern()] if pattern]
        documents = sources(config, source, [*excluded, *config.html_static_path, *config.html_extra_path])
        build.make_plan(config.root_doc, documents, myst_config(config))
    finally:
        build.release()
    return build.package_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lext.lib", description=__doc__.splitlines()[0])
    parser.add_argument("--conf", type=Path, default=Path("."), help="folder holding conf.py")
    parser.add_argument("--source", type=Path, default=Path("source"), help="the book's sources")
    parser.add_argument("--build", type=Path, default=Path("_build"), help="build folder")
    args = parser.parse_args(argv)
    try:
        package = write(args.conf.resolve(), args.source.resolve(), args.build.resolve())
    except BookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    dist = args.build / "dist"
    with tempfile.TemporaryDirectory() as scratch:
        # Built from a copy: setuptools' build/ folder would keep modules the package no longer has.
        copy = Path(scratch) / package.name
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        for old in dist.glob(f"{package.name}-*.whl"):
            old.unlink()
        wheel = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",  # the wheel of the package alone; its metadata names its dependencies
                "--no-build-isolation",
                "-w",
                str(dist.resolve()),
                str(copy),
            ],
            check=False,
        )
    if wheel.returncode != 0:
        print("error: pip could not build the wheel", file=sys.stderr)
        return 1
    for path in sorted(dist.glob(f"{package.name}-*.whl")):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
