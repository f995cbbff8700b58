"""`make pdf`: one PDF of the book per selected framework.

For each framework, Sphinx's LaTeX builder with only that framework selected (so its listings are
plain, with its outputs and figures, and other frameworks' prose is left out; see
``render/latex.py`` for the LaTeX settings), then latexmk with xelatex. Runs come from the same
execution cache as ``make html`` (``<build>/.d2l-cache``): a framework the site was built with
executes nothing. Each framework has its own LaTeX folder and doctrees
(``<build>/latex/<framework>``), and its PDF is copied to ``<build>/pdf/<name>-<framework>.pdf``,
which the next ``make html`` offers under every page's title (``render/pdf_links.py``).

    python -m d2lext.pdf --conf . --source source --build _build [--frameworks "torch numpy"] [sphinx options]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from sphinx.config import Config
from sphinx.util.tags import Tags

from . import config as options
from .errors import BookError
from .files import display_path

#: What the PDF needs beside Python: Debian packages named by ``make latex-tools``.
TOOLS = {"xelatex": "texlive-xetex", "latexmk": "latexmk", "rsvg-convert": "librsvg2-bin"}
PDF_FOLDER = "pdf"


def book_config(conf_dir: Path, frameworks: str) -> options.BookConfig:
    """``conf.py``'s settings; the frameworks selected are ``frameworks`` (FRAMEWORKS=) if given."""
    raw = Config.read(conf_dir, overrides={}, tags=Tags())._raw_config
    values = options.defaults() | {name: value for name, value in raw.items() if name.startswith(options.PREFIX)}
    if frameworks.strip():
        values["d2l_selected"] = frameworks
    return options.load(SimpleNamespace(**values), conf_dir)


def post_process(script: Path, folder: Path, framework: options.Framework) -> None:
    """Run the book's ``d2l_post_latex`` script on each ``.tex`` file of the LaTeX folder, as
    d2l-book runs ``[pdf] post_latex``: ``python SCRIPT FILE.tex``; its failure is a ``BookError``."""
    for tex in sorted(folder.glob("*.tex")):
        done = subprocess.run([sys.executable, str(script), str(tex)], cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit status {done.returncode}"]
            raise BookError(
                f"{display_path(script)} (d2l_post_latex) failed on the {framework.label} PDF's {tex.name}: {lines[-1]}"
            )


def missing_tools() -> list[str]:
    return [f"{tool} ({package})" for tool, package in TOOLS.items() if shutil.which(tool) is None]


def latex_error(folder: Path) -> str:
    """The first LaTeX error of the folder's logs, with the line after it."""
    for log in sorted(folder.glob("*.log")):
        lines = log.read_text(encoding="utf8", errors="replace").splitlines()
        for index, line in enumerate(lines):
            if line.startswith("! "):
                return f"{line[2:]} {' '.join(lines[index + 1 : index + 2]).strip()} (see {display_path(log)})"
    return "see the .log files in " + display_path(folder)


def build_pdf(
    framework: options.Framework,
    source: Path,
    conf: Path,
    build: Path,
    extra: list[str],
    post_latex: Path | None = None,
) -> list[Path]:
    """One framework's PDF(s), copied into ``<build>/pdf``; a failure is a ``BookError``."""
    out = build / "latex" / framework.name
    command = [sys.executable, "-m", "sphinx", "build", "-b", "latex", str(source), str(out)]
    command += ["-d", str(build / f"doctrees-latex-{framework.name}"), "-c", str(conf)]
    command += ["-D", f"d2l_selected={framework.name}", *extra]
    done = subprocess.run(command)
    if done.returncode != 0:
        raise BookError(
            f"the LaTeX of the {framework.label} PDF could not be written (sphinx-build exit status {done.returncode})"
        )
    if post_latex is not None:
        post_process(post_latex, out, framework)
    started = time.perf_counter()
    done = subprocess.run(
        ["make", "-C", str(out), "all-pdf", "LATEXMKOPTS=-interaction=nonstopmode -halt-on-error -quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    if done.returncode != 0:
        error = latex_error(out)
        if "fontspec Error" in error:  # d2l-zh's config.ini names Source Han and Inconsolata
            error += (
                "; install the font, or name one fc-list shows in latex_elements "
                "(conf.py, or config.ini's sphinx_configs)"
            )
        raise BookError(f"xelatex failed on the {framework.label} PDF: {error}")
    made = []
    for tex in sorted(out.glob("*.tex")):
        pdf = tex.with_suffix(".pdf")
        if pdf.is_file():
            target = build / PDF_FOLDER / f"{tex.stem}-{framework.name}.pdf"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(pdf, target)
            made.append(target)
    print(
        f"PDF for {framework.label}: {', '.join(map(display_path, made))} (LaTeX {time.perf_counter() - started:.0f} s)"
    )
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2lext.pdf", description=__doc__.splitlines()[0])
    parser.add_argument("--conf", type=Path, required=True, help="the folder of conf.py")
    parser.add_argument("--source", type=Path, required=True, help="the book's sources")
    parser.add_argument("--build", type=Path, required=True, help="the build folder (_build)")
    parser.add_argument("--frameworks", default="", help="FRAMEWORKS: one PDF for each (default: conf.py's selection)")
    args, extra = parser.parse_known_args(argv)
    try:
        missing = missing_tools()
        if missing:
            raise BookError(f"make pdf needs {', '.join(missing)}: `make latex-tools` installs them with apt (as root)")
        book = book_config(args.conf.resolve(), args.frameworks)
        post_latex = (args.conf.resolve() / book.post_latex) if book.post_latex else None
        if post_latex is not None and not post_latex.is_file():
            raise BookError(f"d2l_post_latex names {display_path(post_latex)}, which is not a file")
        for framework in book.selected_frameworks:
            build_pdf(framework, args.source, args.conf, args.build, extra, post_latex)
    except BookError as error:
        print(f"ERROR: {error.category}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
