"""`make lib`: write the saved package and build its wheel, without building the site.

    python -m d2lext.lib [--conf DIR] [--source DIR] [--build DIR]

Reads conf.py and the sources exactly as the build does (the same table-of-contents order, the
same `#@save` rules), writes `<build>/d2l` for every configured framework, reports the package's
problems, and builds `<build>/dist/d2l-<release>-py3-none-any.whl` with pip.
"""

from __future__ import annotations

import argparse
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from myst_parser.config.main import MdParserConfig

from .book import read_book
from .config import defaults
from .config import load as load_config
from .errors import BookError
from .package import write_package
from .package_check import package_report


def book_config(conf_dir: Path) -> SimpleNamespace:
    """conf.py's values, with the extension's defaults for what it does not set."""
    values = defaults()
    values.update(
        {
            "project": "book",
            "release": "0",
            "root_doc": "index",
            "myst_enable_extensions": [],
            "myst_heading_anchors": 0,
            "myst_heading_slug_func": None,
            "html_baseurl": "",
            "html_file_suffix": None,
        }
    )
    values.update({k: v for k, v in runpy.run_path(str(conf_dir / "conf.py")).items() if not k.startswith("__")})
    return SimpleNamespace(**values)


def write(conf_dir: Path, source: Path, build: Path) -> tuple[Path, list[str]]:
    """Write the package; returns its folder and the problems found in it."""
    conf = book_config(conf_dir)
    config = load_config(conf, conf_dir)
    md_config = MdParserConfig(
        enable_extensions=set(conf.myst_enable_extensions),
        heading_anchors=conf.myst_heading_anchors,
        heading_slug_func=conf.myst_heading_slug_func,
    )
    docs = {
        str(path.relative_to(source).with_suffix("")): path
        for path in sorted(source.rglob("*.md"))
        if "_build" not in path.relative_to(source).parts
    }

    book = read_book(conf.root_doc, docs, config, md_config)
    target = build / config.package_name
    places = book.places(conf.html_baseurl, conf.html_file_suffix or ".html")
    write_package(target, config, book.blocks, places, conf.project, conf.release)
    return target, [str(problem) for problem in package_report(config, book.blocks)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lext.lib", description=__doc__.splitlines()[0])
    parser.add_argument("--conf", type=Path, default=Path("."), help="folder holding conf.py")
    parser.add_argument("--source", type=Path, default=Path("source"), help="the book's sources")
    parser.add_argument("--build", type=Path, default=Path("_build"), help="build folder")
    args = parser.parse_args(argv)
    try:
        package, problems = write(args.conf, args.source, args.build)
    except BookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"warning: saved package: {problem}", file=sys.stderr)
    dist = args.build / "dist"
    with tempfile.TemporaryDirectory() as scratch:
        # Built from a copy: setuptools' build/ folder would keep modules the package no longer has.
        source = Path(scratch) / package.name
        shutil.copytree(package, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        for old in dist.glob(f"{package.name}-*.whl"):
            old.unlink()
        wheel = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(dist.resolve()),
                str(source),
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
