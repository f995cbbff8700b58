"""Build-speed benchmark: our builds against the bare code and a plain Sphinx + MyST-NB build.

Run by `make bench`. Every repetition measures every scenario and both baselines side by side, so
the ratios compare figures taken under the same machine conditions; medians are reported.

Books:
- seed:  this repository's book (the preliminaries and section 11.1), NumPy and PyTorch;
- large: a generated book of 40 sections, each with small NumPy and PyTorch cells;
- cluster: the large book, cold, on the local pool of 2 kernels (`JOBS=2`) against a Dask cluster
  of this machine (`EXECUTOR=dask-local:1` and `dask-local:2`): the cluster's overhead, and
  whether the execution wall falls with the number of workers;
- every: this repository's book with every framework (`FRAMEWORKS=all`: MXNet, PyTorch,
  TensorFlow, Paddle, NumPy, JAX), the frameworks with environments of their own running in the
  repository's `.venvs` (made by the first build that needs them).

Scenarios (ours): cold build; no-op rebuild; prose edit; one-framework code edit; a cold partial
build of one section (`ONLY=`); for the large book also the cold build with one worker (the
serial reference for the parallel speed-up).
Baselines: (a) bare code: each framework's cells of the whole book as one plain `python` script
(Agg backend, figures saved as SVG), the frameworks' scripts run side by side; (b) plain Sphinx +
MyST-NB with execution off, same pages: cold and no-op; (c) on the seed book, the peer: MyST-NB
executing in cache mode (jupyter-cache), the same two pages with their PyTorch cells only, the
same theme and language, against our build of PyTorch alone, in all four scenarios.

A measurement that fails is reported with its output and left out; the others are kept.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECTIONS = 40

PLAIN_CONF = """
project = {project!r}
extensions = ["myst_nb", "sphinx_design"{bibtex}{site}]
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
nb_execution_mode = "off"
{extra}
"""


# ---------------------------------------------------------------- books


EVERY = ("mxnet", "torch", "tensorflow", "paddle", "numpy", "jax")


def every_book(root: Path, venvs: Path) -> dict:
    book = seed_book(root)
    book["options"] = ["-D", "d2l_selected=all", "-D", f"d2l_environments={venvs}"]
    book["frameworks"] = EVERY
    book["pythons"] = {name: venvs / name / "bin" / "python" for name in EVERY if (venvs / name).is_dir()}
    return book


def seed_book(root: Path) -> dict:
    shutil.copytree(REPO / "source", root / "source")
    shutil.copytree(REPO / "d2lext" / "environments", root / "d2lext" / "environments")
    shutil.copy(REPO / "conf.py", root / "conf.py")
    return {
        "root": root,
        "src": "source",
        "prose": (root / "source/chapter_optimization/optimization-intro.md", "本节将讨论优化与深度学习之间的关系"),
        "code": (root / "source/chapter_optimization/optimization-intro.md", "x = torch.arange(-2.0, 5.0, 0.01)"),
        "only": "chapter_optimization/optimization-intro",
        "plain_conf": PLAIN_CONF.format(
            project="plain",
            bibtex=', "sphinxcontrib.bibtex"',
            # The same site as ours, without the extension: theme, copy buttons, Chinese search.
            site=', "sphinx_copybutton"',
            extra='bibtex_bibfiles = ["source/references.bib"]\nbibtex_reference_style = "author_year"\n'
            'language = "zh_CN"\nhtml_theme = "sphinx_book_theme"',
        ),
    }


PEER_CONF = """
project = "peer"
extensions = ["myst_nb", "sphinx_design", "sphinxcontrib.bibtex", "sphinx_copybutton"]
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_timeout = 600
bibtex_bibfiles = ["source/references.bib"]
bibtex_reference_style = "author_year"
language = "zh_CN"
html_theme = "sphinx_book_theme"
"""

_CELL = re.compile(r"```\{code-cell\}[^\n]*\n(:tags: \[([^\]]*)\]\n)?.*?\n```\n", re.S)
_FRAMEWORK_BLOCK = re.compile(r":::\{framework\} ([^\n]*)\n(.*?)\n:::\n", re.S)


def one_framework(text: str, framework: str) -> str:
    """A chapter of ours as a plain MyST-NB notebook of one framework: the other frameworks' cells
    and prose blocks left out, the framework's own tag taken off its cells."""

    def cell(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)
        tags = [tag.strip() for tag in match.group(2).split(",")]
        named = [tag for tag in tags if tag in EVERY]
        if named and framework not in named:
            return ""
        kept = [tag for tag in tags if tag not in EVERY]
        return match.group(0).replace(match.group(1), f":tags: [{', '.join(kept)}]\n" if kept else "", 1)

    def block(match: re.Match) -> str:
        return match.group(2) + "\n" if framework in match.group(1).split() else ""

    return _FRAMEWORK_BLOCK.sub(block, _CELL.sub(cell, text))


def peer_book(seed: dict, root: Path) -> dict:
    """The seed book's pages for MyST-NB in cache mode, PyTorch only (without our API page, which
    only our extension can make); the saved package comes from our build, on the kernel's path."""
    shutil.copytree(seed["root"] / "source", root / "source")
    (root / "source" / "api.md").unlink()
    index = root / "source" / "index.md"
    index.write_text(index.read_text(encoding="utf8").replace("\napi\n", "\n"), encoding="utf8")
    for page in (root / "source").rglob("*.md"):
        page.write_text(one_framework(page.read_text(encoding="utf8"), "torch"), encoding="utf8")
    (root / "conf.py").write_text(PEER_CONF)
    return {
        "root": root,
        "src": "source",
        "prose": (root / "source/chapter_optimization/optimization-intro.md", seed["prose"][1]),
        "code": (root / "source/chapter_optimization/optimization-intro.md", seed["code"][1]),
        "package": root / "package",
    }


def large_book(root: Path) -> dict:
    src = root / "source"
    src.mkdir(parents=True)
    (root / "conf.py").write_text(
        'project = "Large"\nextensions = ["d2lext"]\nexclude_patterns = ["_build"]\n'
        'myst_enable_extensions = ["colon_fence"]\n'
        'd2l_frameworks = {"torch": {"label": "PyTorch"}, "numpy": {"label": "NumPy"}}\n'
    )
    header = "---\nfile_format: mystnb\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
    names = [f"section_{i:02d}" for i in range(SECTIONS)]
    (src / "index.md").write_text("# Large book\n\n```{toctree}\n:numbered:\n\n" + "\n".join(names) + "\n```\n")
    for i, name in enumerate(names):
        saved = "\n```{code-cell} ipython3\ndef scaled(x, k):  #@save\n    return x * k\n```\n" if i == 0 else ""
        plot = f"\n```{{code-cell}} ipython3\nd2l.plt.plot([0, 1, 2], [0, {i}, 0]);\n```\n" if i % 5 == 0 else ""
        (src / f"{name}.md").write_text(
            header + f"# Section {i}\n\nProse of section {i}.\n\n"
            "```{code-cell} ipython3\n:tags: [numpy]\n%matplotlib inline\n#@save\nimport numpy as np\n"
            "from matplotlib import pyplot as plt\n\nfrom d2l import numpy as d2l\n```\n\n"
            "```{code-cell} ipython3\n:tags: [torch]\n%matplotlib inline\n#@save\nimport torch\n"
            "from matplotlib import pyplot as plt\n\nfrom d2l import torch as d2l\n```\n"
            + saved
            + f"\nSome more prose.\n\n```{{code-cell}} ipython3\n:tags: [numpy]\nx = np.arange(10) * {i}\n"
            "print(x.sum())\n```\n\n"
            f"```{{code-cell}} ipython3\n:tags: [torch]\nx = torch.arange(10) * {i}\nprint(int(x.sum()))\n```\n\n"
            f"```{{code-cell}} ipython3\nprint('section', {i}, d2l.scaled(2, 3))\n```\n" + plot
        )
    return {
        "root": root,
        "src": "source",
        "prose": (src / "section_07.md", "Prose of section 7."),
        "code": (src / "section_07.md", "x = torch.arange(10) * 7"),
        "only": "section_07",
        "plain_conf": PLAIN_CONF.format(project="plain", bibtex="", site="", extra=""),
        "serial": True,
    }


# ---------------------------------------------------------------- measuring


def sphinx(book: dict, build: str, conf_dir: Path, *options: str, env: dict | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(BIN / "sphinx-build"),
            "-M",
            "html",
            book["src"],
            build,
            "-c",
            str(conf_dir),
            "-q",
            "--no-color",
            *book.get("options", []),
            *options,
        ],
        cwd=book["root"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise Failed(f"sphinx-build ({build}, {' '.join(options) or 'no options'}) failed", done.stdout + done.stderr)
    return seconds, done.stdout + done.stderr


class Failed(Exception):
    """A measurement that failed: what was measured, and the end of what it printed."""

    def __init__(self, what: str, output: str):
        super().__init__(what)
        self.what, self.output = what, output[-3000:]


def report(book: dict) -> dict:
    return json.loads((book["root"] / "_build" / "d2l-report.json").read_text())


def edit(path: Path, anchor: str, addition: str) -> None:
    text = path.read_text(encoding="utf8")
    assert anchor in text, anchor
    path.write_text(text.replace(anchor, anchor + addition, 1), encoding="utf8")


def bare_scripts(book: dict, folder: Path) -> dict[str, Path]:
    """Each framework's cells of the whole book, in table-of-contents order, as one script."""
    code = (
        "import sys, json\nfrom pathlib import Path\n"
        "from d2lext.sources.cells import read_chapter\nfrom d2lext.config import BookConfig, Framework\n"
        "from d2lext.sources.toc import outline, toc_order\n"
        "src, framework = Path(sys.argv[1]), sys.argv[2]\n"
        "config = BookConfig({f: Framework(f, f) for f in ('torch', 'numpy', 'mxnet', 'tensorflow', 'paddle', 'jax')},"
        " (framework,))\n"
        "docs = {str(p.relative_to(src).with_suffix('')): p for p in src.rglob('*.md')}\n"
        "text = lambda d: outline(docs[d].read_text()) if d in docs else None\n"
        "cells = []\n"
        "for d in toc_order('index', set(docs), text):\n"
        "    ch = read_chapter(docs[d], d, config)\n"
        "    if ch: cells += [c.source for c in ch.cells_for(framework)]\n"
        "print(json.dumps(cells))\n"
    )
    scripts = {}
    for framework in book.get("frameworks", ("numpy", "torch")):
        found = subprocess.run(
            [sys.executable, "-c", code, str(book["root"] / book["src"]), framework],
            capture_output=True,
            text=True,
            check=True,
        )
        body = [
            "import io\nimport matplotlib\nmatplotlib.use('Agg')\nfrom matplotlib import pyplot as _plt\n",
            "def _figures():\n    for n in _plt.get_fignums():\n"
            "        _plt.figure(n).savefig(io.BytesIO(), format='svg')\n    _plt.close('all')\n",
        ]
        for source in json.loads(found.stdout):
            lines = [line for line in source.splitlines() if not line.lstrip().startswith("%")]
            body.append("\n".join(lines) + "\n_figures()\n")
        scripts[framework] = folder / f"bare_{framework}.py"
        scripts[framework].write_text("\n".join(body))
    return scripts


def bare_run(book: dict, scripts: dict[str, Path]) -> float:
    """The frameworks' scripts side by side, each in its framework's Python; the wall time of all."""
    env = {**os.environ, "PYTHONPATH": str(book["root"] / "_build" / "d2l"), "MPLBACKEND": "Agg"}
    logs = {framework: script.with_suffix(".stderr") for framework, script in scripts.items()}
    started = time.perf_counter()
    processes = {}
    for framework, script in scripts.items():
        with open(logs[framework], "w") as log:
            processes[framework] = subprocess.Popen(
                [str(book.get("pythons", {}).get(framework, sys.executable)), str(script)],
                cwd=book["root"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
    failed = [framework for framework, process in processes.items() if process.wait() != 0]
    seconds = time.perf_counter() - started
    if failed:
        output = "".join(f"--- {name}:\n{logs[name].read_text()}" for name in failed)
        raise Failed(f"the bare-code script of {', '.join(failed)} failed", output)
    return seconds


def measure(book: dict, repetitions: int, work: Path) -> dict:
    root = book["root"]
    plain_conf = work / f"plain-conf-{root.name}"
    plain_conf.mkdir()
    (plain_conf / "conf.py").write_text(book["plain_conf"])
    figures: dict[str, list[float]] = {}
    checks: dict[str, list] = {}
    failures: list[str] = []
    ours_alone = peer = None
    if book.get("peer"):  # our build of PyTorch alone, beside MyST-NB's of the same pages
        ours_alone = seed_book(work / f"{root.name}-torch")
        ours_alone["options"] = ["-D", "d2l_selected=torch"]
        peer = peer_book(ours_alone, work / f"{root.name}-peer")

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    def attempt(repetition: int, what: str, measurement) -> None:
        attempted(failures, repetition, what, measurement)

    def ours() -> None:
        seconds, _ = sphinx(book, "_build", root)
        cold = report(book)
        book["runs"] = cold["runs"]
        note("cold", seconds)
        note("cold: sum of the runs' own times", cold["execution_seconds"])
        note("cold: execution wall, after warm-up", cold["wall_seconds"] - cold["warm_up_wait_seconds"])
        note("cold: waiting for warm-up", cold["warm_up_wait_seconds"])
        if len(book.get("frameworks", ())) > 2:
            for framework in book["frameworks"]:
                own = [run["seconds"] for run in cold["details"] if run["framework"] == framework]
                note(f"cold: {framework} runs' own times", sum(own))
        if book.get("serial"):
            shutil.rmtree(root / "_build")
            note("cold, one worker (serial)", sphinx(book, "_build", root, "-D", "d2l_jobs=1")[0])

        seconds, output = sphinx(book, "_build", root)
        note("no-op", seconds)
        checks.setdefault("no-op kernels started", []).append(report(book)["executed"] + report(book)["failed"])

        edit(*book["prose"], f" (prose edit {repetition})")
        seconds, output = sphinx(book, "_build", root)
        note("prose edit", seconds)
        checks.setdefault("prose edit kernels started", []).append(report(book)["executed"])

        edit(*book["code"], f"  # code edit {repetition}")
        seconds, output = sphinx(book, "_build", root)
        note("torch code edit", seconds)
        checks.setdefault("torch code edit runs executed", []).append(report(book)["executed"])

    def partial() -> None:  # one section, cold: no cache, no earlier build
        shutil.rmtree(root / "_build")
        note(
            "cold partial build of one section (ONLY=)",
            sphinx(book, "_build", root, "-D", f"d2l_only={book['only']}")[0],
        )
        checks.setdefault("cold partial build runs executed", []).append(report(book)["executed"])

    def plain() -> None:
        note("plain Sphinx cold", sphinx(book, "_plain", plain_conf)[0])
        note("plain Sphinx no-op", sphinx(book, "_plain", plain_conf)[0])

    def bare() -> None:
        nonlocal scripts
        scripts = scripts or bare_scripts(book, work)
        note("bare code (frameworks side by side)", bare_run(book, scripts))

    def side_by_side() -> None:
        """Ours (PyTorch alone) and MyST-NB in cache mode, each scenario in turn."""
        for build in (ours_alone, peer):
            shutil.rmtree(build["root"] / "_build", ignore_errors=True)
        if not peer["package"].exists():  # MyST-NB's kernels import the package our build saved
            sphinx(ours_alone, "_build", ours_alone["root"])
            shutil.copytree(ours_alone["root"] / "_build" / "d2l", peer["package"])
            shutil.rmtree(ours_alone["root"] / "_build")
        env = {**os.environ, "PYTHONPATH": str(peer["package"])}
        for scenario in ("cold", "no-op", "prose edit", "torch code edit"):
            if scenario == "prose edit":
                for build in (ours_alone, peer):
                    edit(*build["prose"], f" (prose edit {repetition})")
            if scenario == "torch code edit":
                for build in (ours_alone, peer):
                    edit(*build["code"], f"  # code edit {repetition}")
            note(f"ours, PyTorch alone: {scenario}", sphinx(ours_alone, "_build", ours_alone["root"])[0])
            note(f"MyST-NB cache mode: {scenario}", sphinx(peer, "_build", peer["root"], env=env)[0])

    scripts = None
    for repetition in range(repetitions):
        shutil.rmtree(root / "_build", ignore_errors=True)
        shutil.rmtree(root / "_plain", ignore_errors=True)
        attempt(repetition, "our builds", ours)
        if book.get("only"):
            attempt(repetition, "partial build", partial)
        attempt(repetition, "plain Sphinx", plain)
        attempt(repetition, "bare code", bare)
        if peer is not None:
            attempt(repetition, "ours and MyST-NB side by side", side_by_side)

    return summary(book, figures, checks, repetitions, failures)


def attempted(failures: list[str], repetition: int, what: str, measurement) -> None:
    """One group of measurements; a failure is printed and noted, and the others go on."""
    try:
        measurement()
    except Failed as failure:
        failures.append(f"repetition {repetition + 1}, {what}: {failure.what}")
        print(f"*** {what}: {failure.what}\n{failure.output}", file=sys.stderr, flush=True)


def summary(book: dict, figures: dict, checks: dict, repetitions: int, failures: list[str], **more) -> dict:
    """Medians of what was measured, the checks, and the measurements that failed."""
    medians = {name: statistics.median(values) for name, values in figures.items()}
    return {
        "medians": medians,
        "checks": checks,
        "runs": book.get("runs", "?"),
        "repetitions": repetitions,
        "failures": failures,
        **more,
    }


CLUSTER_SETUPS = {
    "local pool, 2 kernels": ["-D", "d2l_jobs=2"],
    "dask-local:1": ["-D", "d2l_executor=dask-local:1"],
    "dask-local:2": ["-D", "d2l_executor=dask-local:2"],
}


def measure_cluster(book: dict, repetitions: int, work: Path) -> dict:
    """The large book built cold on the local pool and on Dask clusters of 1 and 2 workers, in turn."""
    root = book["root"]
    figures: dict[str, list[float]] = {}
    checks: dict[str, list] = {}
    failures: list[str] = []
    for repetition in range(repetitions):
        for name, options in CLUSTER_SETUPS.items():

            def cold_build(name: str = name, options: list[str] = options) -> None:
                shutil.rmtree(root / "_build", ignore_errors=True)
                seconds, _ = sphinx(book, "_build", root, *options)
                cold = report(book)
                book["runs"] = cold["runs"]
                figures.setdefault(f"cold, {name}", []).append(seconds)
                wall = cold["wall_seconds"] - cold["warm_up_wait_seconds"]
                figures.setdefault(f"cold: execution wall, {name}", []).append(wall)
                figures.setdefault(f"cold: sum of the runs' own times, {name}", []).append(cold["execution_seconds"])
                checks.setdefault(f"runs executed, {name}", []).append(cold["executed"])
                if name.startswith("dask"):
                    workers = {run["worker"] for run in cold["details"]}
                    checks.setdefault(f"workers that ran, {name}", []).append(len(workers))

            attempted(failures, repetition, name, cold_build)
    return summary(book, figures, checks, repetitions, failures, cluster=True)


def cluster_ratios(m: dict, ratio) -> None:
    local = "cold, local pool, 2 kernels"
    ratio("cold, dask-local:2 / local pool of 2 kernels", "cold, dask-local:2", [local], "<= 1.15")
    ratio("cold, dask-local:1 / local pool of 2 kernels", "cold, dask-local:1", [local], "(info)")
    ratio(
        "execution wall, dask-local:2 / dask-local:1",
        "cold: execution wall, dask-local:2",
        ["cold: execution wall, dask-local:1"],
        "< 1",
    )


# ---------------------------------------------------------------- report


def ratios(m: dict) -> list[tuple[str, float, str, bool]]:
    med = m["medians"]
    rows = []

    def ratio(name: str, numerator: str, denominator: list[str], target: str) -> None:
        if numerator in med and all(key in med for key in denominator):  # else a measurement failed
            rows.append((name, med[numerator] / sum(med[key] for key in denominator), target))

    if m.get("cluster"):
        cluster_ratios(m, ratio)

    ratio(
        "cold / (bare code + plain Sphinx cold)",
        "cold",
        ["bare code (frameworks side by side)", "plain Sphinx cold"],
        m.get("cold target", "<= 1.3"),
    )
    ratio("no-op / plain Sphinx no-op", "no-op", ["plain Sphinx no-op"], m.get("no-op target", "<= 1.15"))
    ratio("prose edit / plain Sphinx no-op", "prose edit", ["plain Sphinx no-op"], m.get("prose target", "(info)"))
    ratio(
        "execution wall / sum of the runs' own times",
        "cold: execution wall, after warm-up",
        ["cold: sum of the runs' own times"],
        "<= 0.6",
    )
    ratio(
        "cold partial build of one section (ONLY=) / cold",
        "cold partial build of one section (ONLY=)",
        ["cold"],
        "(info)",
    )
    ratio("whole cold build, 2 workers / one worker", "cold", ["cold, one worker (serial)"], "(info)")
    for scenario in ("cold", "no-op", "prose edit", "torch code edit"):
        ratio(
            f"ours, PyTorch alone / MyST-NB cache mode: {scenario}",
            f"ours, PyTorch alone: {scenario}",
            [f"MyST-NB cache mode: {scenario}"],
            "< 1",
        )
    out = []
    for name, value, target in rows:
        limit = re.match(r"(<=|<) ([\d.]+)", target)
        met = True
        if limit:
            met = value <= float(limit.group(2)) if limit.group(1) == "<=" else value < float(limit.group(2))
        out.append((name, value, target, met))
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def markdown(results: dict[str, dict]) -> str:
    lines = [
        f"## {datetime.date.today().isoformat()}: {machine()}",
        "",
        "Medians of the repetitions; every repetition measures all rows side by side.",
        "",
    ]
    for name, m in results.items():
        lines += [
            f"### {name} book ({m['runs']} runs, {m['repetitions']} repetitions)",
            "",
            "| measurement | seconds |",
            "|---|---|",
        ]
        lines += [f"| {key} | {value:.2f} |" for key, value in m["medians"].items()]
        lines += ["", "| ratio | value | target | met |", "|---|---|---|---|"]
        lines += [f"| {n} | {v:.2f} | {t} | {'yes' if ok else 'NO'} |" for n, v, t, ok in ratios(m)]
        lines += ["", "| check (each repetition) | values |", "|---|---|"]
        lines += [f"| {key} | {values} |" for key, values in m["checks"].items()]
        if m["failures"]:
            lines += ["", "Measurements that failed (left out of the medians):", ""]
            lines += [f"- {failure}" for failure in m["failures"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    books = ["seed", "large", "cluster", "every"]
    parser.add_argument("--books", nargs="+", default=books, choices=books)
    parser.add_argument("--large-repetitions", type=int, default=3)
    parser.add_argument("--cluster-repetitions", type=int, default=3)
    parser.add_argument("--every-repetitions", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="prepend the results to BENCHMARKS.md")
    parser.add_argument(
        "--environments",
        type=Path,
        default=Path(os.environ.get("D2L_ENVIRONMENTS") or REPO / ".venvs"),
        help="where the every book's framework environments are (made there by its first build if "
        "missing); default: $D2L_ENVIRONMENTS, else the repository's .venvs",
    )
    parser.add_argument("--no-peer", action="store_true", help="leave MyST-NB out of the seed book's measurements")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="d2l-bench-") as folder:
        work = Path(folder)
        for name in args.books:
            root = work / name
            root.mkdir()
            book = seed_book(root) if name == "seed" else large_book(root) if name in ("large", "cluster") else None
            book = book or every_book(root, args.environments.resolve())
            if name == "seed":  # the peer and plain Sphinx pay jieba's dictionary twice; we need not
                book.update({"peer": not args.no_peer, "cold target": "<= 1.1", "no-op target": "<= 0.8"})
                book["prose target"] = "<= 1.0"
            repetitions = {
                "seed": args.repetitions,
                "large": args.large_repetitions,
                "cluster": args.cluster_repetitions,
                "every": args.every_repetitions,
            }[name]
            print(f"measuring the {name} book, {repetitions} repetitions ...", flush=True)
            results[name] = (measure_cluster if name == "cluster" else measure)(book, repetitions, work)
            results[name].update(
                {key: book[key] for key in ("cold target", "no-op target", "prose target") if key in book}
            )
    text = markdown(results)
    print(text)
    if args.write:
        path = REPO / "BENCHMARKS.md"
        old = path.read_text(encoding="utf8") if path.exists() else ""
        head, _, rest = old.partition("\n## ")
        intro = head if old else "# Benchmarks\n\nMade by `make bench` (`benchmarks/bench.py`); newest first.\n"
        path.write_text(intro.rstrip() + "\n\n" + text + ("\n## " + rest if rest else ""), encoding="utf8")


if __name__ == "__main__":
    main()
