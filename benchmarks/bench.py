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
MyST-NB with execution off, same pages: cold and no-op.
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


def every_book(root: Path) -> dict:
    book = seed_book(root)
    venvs = REPO / ".venvs"
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


def sphinx(book: dict, build: str, conf_dir: Path, *options: str) -> tuple[float, str]:
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
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"build failed in {book['root']}:\n{done.stdout}{done.stderr}")
    return seconds, done.stdout + done.stderr


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
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [str(book.get("pythons", {}).get(framework, sys.executable)), str(script)],
            cwd=book["root"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for framework, script in scripts.items()
    ]
    if any(process.wait() != 0 for process in processes):
        raise SystemExit("a bare-code script failed")
    return time.perf_counter() - started


def measure(book: dict, repetitions: int, work: Path) -> dict:
    root = book["root"]
    plain_conf = work / f"plain-conf-{root.name}"
    plain_conf.mkdir()
    (plain_conf / "conf.py").write_text(book["plain_conf"])
    figures: dict[str, list[float]] = {}
    checks: dict[str, list] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    scripts = None
    for repetition in range(repetitions):
        shutil.rmtree(root / "_build", ignore_errors=True)
        shutil.rmtree(root / "_plain", ignore_errors=True)

        seconds, _ = sphinx(book, "_build", root)
        cold = report(book)
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

        if book.get("only"):  # one section, cold: no cache, no earlier build
            shutil.rmtree(root / "_build")
            note(
                "cold partial build of one section (ONLY=)",
                sphinx(book, "_build", root, "-D", f"d2l_only={book['only']}")[0],
            )
            checks.setdefault("cold partial build runs executed", []).append(report(book)["executed"])

        note("plain Sphinx cold", sphinx(book, "_plain", plain_conf)[0])
        note("plain Sphinx no-op", sphinx(book, "_plain", plain_conf)[0])

        scripts = scripts or bare_scripts(book, work)
        note("bare code (frameworks side by side)", bare_run(book, scripts))

    medians = {name: statistics.median(values) for name, values in figures.items()}
    return {"medians": medians, "checks": checks, "runs": cold["runs"], "repetitions": repetitions}


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
    for _ in range(repetitions):
        for name, options in CLUSTER_SETUPS.items():
            shutil.rmtree(root / "_build", ignore_errors=True)
            seconds, _ = sphinx(book, "_build", root, *options)
            cold = report(book)
            figures.setdefault(f"cold, {name}", []).append(seconds)
            wall = cold["wall_seconds"] - cold["warm_up_wait_seconds"]
            figures.setdefault(f"cold: execution wall, {name}", []).append(wall)
            figures.setdefault(f"cold: sum of the runs' own times, {name}", []).append(cold["execution_seconds"])
            checks.setdefault(f"runs executed, {name}", []).append(cold["executed"])
            if name.startswith("dask"):
                workers = {run["worker"] for run in cold["details"]}
                checks.setdefault(f"workers that ran, {name}", []).append(len(workers))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    return {"medians": medians, "checks": checks, "runs": cold["runs"], "repetitions": repetitions, "cluster": True}


def cluster_ratios(m: dict) -> list[tuple[str, float, str]]:
    med = m["medians"]
    local = "local pool, 2 kernels"
    return [
        ("cold, dask-local:2 / local pool of 2 kernels", med["cold, dask-local:2"] / med[f"cold, {local}"], "<= 1.15"),
        ("cold, dask-local:1 / local pool of 2 kernels", med["cold, dask-local:1"] / med[f"cold, {local}"], "(info)"),
        (
            "execution wall, dask-local:2 / dask-local:1",
            med["cold: execution wall, dask-local:2"] / med["cold: execution wall, dask-local:1"],
            "< 1",
        ),
    ]


# ---------------------------------------------------------------- report


def ratios(m: dict) -> list[tuple[str, float, str, bool]]:
    med = m["medians"]
    if m.get("cluster"):
        out = []
        for name, value, target in cluster_ratios(m):
            limit = re.match(r"(<=|<) ([\d.]+)", target)
            bound = float(limit.group(2)) if limit else 0.0
            met = not limit or (value <= bound if limit.group(1) == "<=" else value < bound)
            out.append((name, value, target, met))
        return out
    rows = [
        (
            "cold / (bare code + plain Sphinx cold)",
            med["cold"] / (med["bare code (frameworks side by side)"] + med["plain Sphinx cold"]),
            "<= 1.3",
        ),
        ("no-op / plain Sphinx no-op", med["no-op"] / med["plain Sphinx no-op"], "<= 1.15"),
        ("prose edit / plain Sphinx no-op", med["prose edit"] / med["plain Sphinx no-op"], "(info)"),
    ]
    execution = med["cold: execution wall, after warm-up"] / med["cold: sum of the runs' own times"]
    rows.append(("execution wall / sum of the runs' own times", execution, "<= 0.6"))
    if "cold partial build of one section (ONLY=)" in med:
        rows.append(
            (
                "cold partial build of one section (ONLY=) / cold",
                med["cold partial build of one section (ONLY=)"] / med["cold"],
                "(info)",
            )
        )
    if "cold, one worker (serial)" in med:
        serial = med["cold"] / med["cold, one worker (serial)"]
        rows.append(("whole cold build, 2 workers / one worker", serial, "(info)"))
    out = []
    for name, value, target in rows:
        limit = re.match(r"<= ([\d.]+)", target)
        out.append((name, value, target, value <= float(limit.group(1)) if limit else True))
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
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="d2l-bench-") as folder:
        work = Path(folder)
        for name in args.books:
            root = work / name
            root.mkdir()
            book = {"seed": seed_book, "large": large_book, "cluster": large_book, "every": every_book}[name](root)
            repetitions = {
                "seed": args.repetitions,
                "large": args.large_repetitions,
                "cluster": args.cluster_repetitions,
                "every": args.every_repetitions,
            }[name]
            print(f"measuring the {name} book, {repetitions} repetitions ...", flush=True)
            results[name] = (measure_cluster if name == "cluster" else measure)(book, repetitions, work)
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
