"""The extension's configuration, declared once.

Each field of ``BookConfig`` is one ``conf.py`` option (``d2l_<field>``): its Sphinx default, when
a change forces documents to be read again, what it means, and how its raw value is validated and
converted. The Sphinx options are registered from these fields, and the values are validated
once per build into one ``BookConfig`` that every stage reads.
"""

from __future__ import annotations

import dataclasses as dc
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BookError
from .sources import d2lbook

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
    environment: Environment | None = None
    """The framework's own Python environment, made by the build on first use; ``None``: the
    kernel named by ``kernel`` (by default the one Sphinx runs in)."""
    requirements: tuple[str, ...] = ()
    """The book's own requirements files for this framework, as ``conf.py`` names them (relative
    to its folder), existing or not: those that exist are installed into its environment
    (``environment.book``); a package a saved import lacks is said to belong in them."""
    resources: tuple[tuple[str, float], ...] = ()
    """Dask worker resources each of its runs needs on a cluster (``{"GPU": 1}``): its runs go
    only to workers that offer them. Ignored by the local executor."""


@dc.dataclass(frozen=True)
class Environment:
    """How a framework's own Python environment is made."""

    requirements: str
    """The framework's pip requirements file, relative to the folder of ``conf.py``; "" for a
    framework that would otherwise run in the build's own environment: the versions installed
    there of the framework's packages (its ``requires``, numpy, matplotlib, the kernel's)."""
    python: str = ""
    """The Python that makes it (a command or a path); "" for the one running the build."""
    book: tuple[str, ...] = ()
    """The book's requirements files that exist (relative to the folder of ``conf.py``), installed
    with the framework's in one pip call; the environment's folder is then named by their content."""


PREFIX = "d2l_"


def option(sphinx_default: Any, parse: Callable[[Any, dict], Any], doc: str, rebuild: str = "env", **field) -> Any:
    """A field that is also a ``conf.py`` option: ``parse(raw, fields_parsed_so_far)`` validates it."""
    return dc.field(metadata={"default": sphinx_default, "parse": parse, "doc": doc, "rebuild": rebuild}, **field)


def split_names(value: Any) -> list[str]:
    """``"numpy torch"``, ``"numpy,torch"`` or ``["numpy", "torch"]`` -> ``["numpy", "torch"]``."""
    items = [value] if isinstance(value, str) else list(value or [])
    names: list[str] = []
    for item in items:
        names.extend(part for part in re.split(r"[\s,]+", str(item)) if part)
    return names


def _framework(name: str, spec: Any, conf_dir: Path) -> Framework:
    option_name = f"d2l_frameworks[{name!r}]"
    if not isinstance(name, str) or not _NAME.match(name) or name == "all":
        raise BookError(
            f"d2l_frameworks: {name!r} is not a valid framework name (lowercase, e.g. 'torch'; 'all' is reserved)"
        )
    if isinstance(spec, str):
        spec = {"label": spec}
    if not isinstance(spec, dict):
        raise BookError(
            f"{option_name} must be a dict with 'label' (and optionally 'kernel', 'requires', 'environment', "
            f"'requirements')"
        )
    unknown = set(spec) - {"label", "kernel", "requires", "environment", "requirements", "resources"}
    if unknown:
        raise BookError(
            f"{option_name} has unknown keys {sorted(unknown)}; allowed: label, kernel, requires, environment, "
            f"requirements, resources"
        )
    for made in ("environment", "requirements"):
        if "kernel" in spec and made in spec:
            raise BookError(
                f"{option_name}: give either 'kernel' (an existing kernel) or {made!r} (installed into an "
                f"environment the build makes)"
            )
    environment = _environment(option_name, spec["environment"]) if "environment" in spec else None
    requirements = _book_requirements(option_name, spec.get("requirements", ()))
    existing = tuple(path for path in requirements if (conf_dir / path).is_file())
    if existing:  # the framework runs in an environment made with the book's requirements too
        environment = dc.replace(environment or Environment(""), book=existing)
    label = spec.get("label", name)
    kernel = spec.get("kernel", f"d2l-{name}" if environment else "python3")
    requires = spec.get("requires", [name])
    if not isinstance(label, str) or not isinstance(kernel, str):
        raise BookError(f"{option_name}: 'label' and 'kernel' must be strings")
    if isinstance(requires, str) or not all(isinstance(m, str) for m in requires):
        raise BookError(f"{option_name}['requires'] must be a list of module names")
    resources = _resources(option_name, spec.get("resources", {}))
    return Framework(name, label, kernel, tuple(requires), environment, requirements, resources)


def _resources(option_name: str, raw: Any) -> tuple[tuple[str, float], ...]:
    """``{"GPU": 1}`` -> ``(("GPU", 1),)``: Dask worker resources, each a positive amount."""
    if not isinstance(raw, dict) or not all(
        isinstance(name, str) and name and positive_seconds(amount) is not None for name, amount in raw.items()
    ):
        raise BookError(
            f"{option_name}['resources'] must map Dask worker resources to positive amounts, e.g. {{'GPU': 1}}, "
            f"not {raw!r}"
        )
    return tuple(sorted((name, positive_seconds(amount)) for name, amount in raw.items()))


def _book_requirements(option_name: str, raw: Any) -> tuple[str, ...]:
    files = [raw] if isinstance(raw, str) else raw
    if not isinstance(files, (list, tuple)) or not all(isinstance(path, str) and path.strip() for path in files):
        raise BookError(
            f"{option_name}['requirements'] must be a requirements file or a list of them "
            f"(relative to conf.py's folder), e.g. ['requirements.txt']"
        )
    return tuple(files)


def _environment(option_name: str, spec: Any) -> Environment:
    if isinstance(spec, str):
        spec = {"requirements": spec}
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("requirements"), str)
        or set(spec)
        - {
            "requirements",
            "python",
        }
    ):
        raise BookError(
            f"{option_name}['environment'] must be a requirements file, or "
            f"{{'requirements': 'requirements/<name>.txt', 'python': 'python3.11'}}"
        )
    python = spec.get("python", "")
    if not isinstance(python, str):
        raise BookError(f"{option_name}['environment']['python'] must be a command or a path")
    return Environment(spec["requirements"], python)


def _frameworks(raw: Any, parsed: dict) -> dict[str, Framework]:
    if not isinstance(raw, dict) or not raw:
        raise BookError("d2l_frameworks must be a non-empty dict: {'torch': {'label': 'PyTorch'}, ...}")
    return {name: _framework(name, spec, parsed["conf_dir"]) for name, spec in raw.items()}


def _selected(raw: Any, parsed: dict) -> tuple[str, ...]:
    frameworks = parsed["frameworks"]
    if raw is None:  # not set: every configured framework
        return tuple(frameworks)
    wanted = split_names(raw)
    if wanted == ["all"]:
        return tuple(frameworks)
    if not wanted:
        raise BookError(
            f"the selection of frameworks (FRAMEWORKS / d2l_selected) is empty; "
            f"name one or more of: {', '.join(frameworks)} (or leave d2l_selected unset for all)"
        )
    unknown = [name for name in wanted if name not in frameworks]
    if unknown:
        raise BookError(
            f"unknown framework {', '.join(map(repr, unknown))} in FRAMEWORKS / d2l_selected; "
            f"configured in conf.py d2l_frameworks: {', '.join(frameworks)}"
        )
    return tuple(name for name in frameworks if name in wanted)


def positive_seconds(raw: Any) -> float | None:
    """``raw`` as a positive number of seconds (``1.5``, ``"1.5"``, ``600``), or ``None`` if it is not one."""
    if isinstance(raw, bool):
        return None
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return None
    if not seconds > 0 or seconds == float("inf"):
        return None
    return int(seconds) if seconds.is_integer() else seconds


#: Seconds a cell may run unless conf.py or the chapter says otherwise.
DEFAULT_TIMEOUT = 600


def _timeout(raw: Any, parsed: dict) -> float:
    seconds = DEFAULT_TIMEOUT if raw is None else positive_seconds(raw)
    if seconds is None:
        raise BookError(f"d2l_timeout must be a positive number of seconds, not {raw!r}")
    return seconds


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)


def _size(raw: Any, parsed: dict) -> int:
    """Bytes, from a number of bytes or a size such as ``"1GB"`` or ``"500 MB"``."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    match = _SIZE.match(str(raw)) if isinstance(raw, str) else None
    if not match or float(match.group(1)) <= 0:
        raise BookError(f"d2l_cache_size must be a size such as '1GB' or '500MB', or a number of bytes, not {raw!r}")
    return int(float(match.group(1)) * 1024 ** "_KMGT".index(match.group(2).upper() or "_"))


def _jobs(raw: Any, parsed: dict) -> int:
    jobs = (os.cpu_count() or 1) if raw in (None, "", 0, "0") else raw
    try:
        jobs = int(jobs)
    except (TypeError, ValueError):
        raise BookError(f"d2l_jobs (JOBS) must be a positive whole number, not {raw!r}") from None
    if jobs <= 0:
        raise BookError(f"d2l_jobs (JOBS) must be a positive whole number, not {raw!r}")
    return jobs


@dc.dataclass(frozen=True)
class Executor:
    """Where the runs execute: this machine's pool of kernels, or a Dask cluster."""

    kind: str = "local"
    """``local`` (this machine's kernels), ``dask`` (an existing scheduler at ``address``), or
    ``dask-local`` (a ``distributed.LocalCluster`` of ``workers`` processes started by the build)."""
    address: str = ""
    workers: int = 0

    def __str__(self) -> str:
        if self.kind == "dask":
            return self.address
        return f"dask-local:{self.workers}" if self.kind == "dask-local" else "local"


_EXECUTOR_FORMS = "'local', 'dask://HOST:PORT' (or 'tcp://HOST:PORT'), or 'dask-local:N' (N worker processes)"


def _executor(raw: Any, parsed: dict) -> Executor:
    text = raw.strip() if isinstance(raw, str) else None
    if raw is None or text in ("", "local"):
        return Executor()
    if text and text.startswith("dask-local:"):
        count = text.partition(":")[2]
        if count.isdigit() and int(count) > 0:
            return Executor("dask-local", workers=int(count))
    elif text:
        scheme, _, rest = text.partition("://")
        host, _, port = rest.rpartition(":")
        if scheme in ("dask", "tcp", "tls") and host and port.isdigit():
            return Executor("dask", ("tls" if scheme == "tls" else "tcp") + "://" + rest)
    raise BookError(f"d2l_executor (EXECUTOR) must be {_EXECUTOR_FORMS}, not {raw!r}")


def _retries(raw: Any, parsed: dict) -> int:
    try:
        retries = int(raw) if not isinstance(raw, bool) and str(raw).strip().isdigit() else -1
    except (TypeError, ValueError):
        retries = -1
    if retries < 0:
        raise BookError(f"d2l_retries must be a whole number of retries (0 or more), not {raw!r}")
    return retries


def _tags(raw: Any, parsed: dict) -> frozenset[str]:
    return frozenset(split_names(raw))


def _package_name(raw: Any, parsed: dict) -> str:
    if not isinstance(raw, str) or not raw.isidentifier():
        raise BookError(f"d2l_package_name must be a Python package name, not {raw!r}")
    return raw


def _folder(raw: Any, parsed: dict) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise BookError(f"d2l_environments must be a folder, not {raw!r}")
    return raw


def _script(raw: Any, parsed: dict) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise BookError(f"d2l_post_latex must be the path of a Python script, not {raw!r}")
    return raw.strip()


def _d2lbook(raw: Any, parsed: dict) -> d2lbook.Settings | None:
    """``"config.ini"`` or ``{"config": "config.ini", "frameworks": {"pytorch": "torch"}}``."""
    if raw in (None, ""):
        return None
    spec = {"config": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), str) or set(spec) - {"config", "frameworks"}:
        raise BookError(
            "d2l_d2lbook must be the path of a d2l-book config.ini, or "
            "{'config': 'config.ini', 'frameworks': {'pytorch': 'torch'}}"
        )
    frameworks = spec.get("frameworks", {})
    if not isinstance(frameworks, dict) or not all(isinstance(v, str) for v in frameworks.values()):
        raise BookError("d2l_d2lbook['frameworks'] maps d2l-book tab names to framework names")
    path = parsed["conf_dir"] / spec["config"]
    if not path.is_file():
        raise BookError(f"d2l_d2lbook: {path} does not exist")
    return d2lbook.settings_from(d2lbook.read_config(path), frameworks)


_FORMATS = ("auto", "myst", "d2lbook")


def _format(raw: Any, parsed: dict) -> str:
    if raw not in _FORMATS:
        raise BookError(f"d2l_source_format must be one of {', '.join(_FORMATS)}, not {raw!r}")
    return raw


_BOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _book_name(raw: Any, parsed: dict) -> str:
    if raw in (None, ""):
        return ""
    if not isinstance(raw, str) or not _BOOK_NAME.fullmatch(raw):
        raise BookError(f"d2l_book_name must be a short name of letters, digits, '-', '_' and '.', not {raw!r}")
    return raw


@dc.dataclass(frozen=True)
class Launch:
    """A service that opens a page's notebook from a repository of notebooks (Colab)."""

    label: str
    """What the link says: "Colab"."""
    url: str
    """The address, with ``{repo}`` (``owner/name``) and ``{path}`` (``chapter/page.ipynb``)."""
    repos: dict[str, str]
    """framework -> the repository holding its notebooks."""

    def address(self, framework: str, path: str) -> str | None:
        repo = self.repos.get(framework)
        return self.url.format(repo=repo, path=path) if repo else None


def _launch(raw: Any, parsed: dict) -> tuple[Launch, ...]:
    if not raw:
        return ()
    if not isinstance(raw, dict):
        raise BookError(
            f"d2l_launch must be a dict {{label: {{'url': ..., 'repos': {{framework: repo}}}}}}, not {raw!r}"
        )
    found = []
    known = parsed.get("frameworks", {})
    for label, spec in raw.items():
        where = f"d2l_launch[{label!r}]"
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("url"), str)
            or not isinstance(spec.get("repos"), dict)
        ):
            raise BookError(f"{where} must be {{'url': ..., 'repos': {{framework: 'owner/name'}}}}, not {spec!r}")
        url = spec["url"]
        if not url.startswith(("https://", "http://")) or "{path}" not in url:
            raise BookError(f"{where}['url'] must be an http(s) address with {{repo}} and {{path}}, not {url!r}")
        try:
            url.format(repo="owner/name", path="page.ipynb")
        except (KeyError, IndexError, ValueError) as error:
            raise BookError(f"{where}['url'] may name only {{repo}} and {{path}} ({error}): {url!r}") from None
        repos = {}
        for framework, repo in spec["repos"].items():
            if framework not in known:
                raise BookError(f"{where}['repos'] names {framework!r}, which is not a framework of d2l_frameworks")
            if not isinstance(repo, str) or not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
                raise BookError(f"{where}['repos'][{framework!r}] must be a repository as owner/name, not {repo!r}")
            repos[framework] = repo
        found.append(Launch(str(label), url, repos))
    return tuple(found)


_MATH = ("build", "browser")


def _math(raw: Any, parsed: dict) -> str:
    if raw not in _MATH:
        raise BookError(f"d2l_math must be one of {', '.join(_MATH)}, not {raw!r}")
    return raw


def _only(raw: Any, parsed: dict) -> tuple[str, ...]:
    """``"chapter_optimization/gd chapter_optimization/sgd"`` (or a list) -> the names, in order;
    checked against the book's documents once they are found (``plan/partial.py``)."""
    return tuple(dict.fromkeys(split_names(raw)))


def _keep_warm(raw: Any, parsed: dict) -> float:
    if raw in (None, ""):
        raw = os.environ.get("D2L_KEEP_WARM") or 0
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise BookError(f"d2l_keep_warm (D2L_KEEP_WARM) must be a number of seconds (0 or more), not {raw!r}")
    return seconds


def _flag(raw: Any, parsed: dict) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower() not in ("", "0", "false", "no")
    return bool(raw)


@dc.dataclass(frozen=True)
class BookConfig:
    """Everything the pipeline needs from ``conf.py``, validated."""

    frameworks: dict[str, Framework] = option(
        {"python": {"label": "Python", "requires": []}},
        _frameworks,
        "{name: {'label': ..., 'kernel': 'python3', 'requires': [modules], 'requirements': [the book's "
        "requirements files]}}, in tab order",
    )
    """All configured frameworks, in the order tabs are shown."""
    selected: tuple[str, ...] = option(
        None, _selected, "the frameworks executed and shown (default: all); FRAMEWORKS= overrides"
    )
    """The frameworks this build executes and shows, in configured order."""
    # Sphinx's default is None so that `-D d2l_timeout=1.5` reaches the validation as text.
    timeout: float = option(None, _timeout, "seconds one cell may run (default 600)", default=DEFAULT_TIMEOUT)
    jobs: int = option(0, _jobs, "kernels at once (default: cores); JOBS= overrides", rebuild="", default=1)
    extra_tags: frozenset[str] = option(
        [], _tags, "cell tags that are neither frameworks nor MyST-NB's", default=frozenset()
    )
    package_name: str = option("d2l", _package_name, "the saved package's name", default="d2l")
    environments: str = option(
        ".venvs",
        _folder,
        "folder (relative to conf.py's) holding the frameworks' own environments",
        default=".venvs",
    )
    d2lbook: d2lbook.Settings | None = option(
        None, _d2lbook, "a d2l-book config.ini whose tabs and aliases d2l-book sources are read with", default=None
    )
    source_format: str = option(
        "auto",
        _format,
        "how Markdown sources are read: auto (d2l-book ones by their content), myst, d2lbook",
        default="auto",
    )
    cache_size: int = option(
        "1GB",
        _size,
        "the execution cache's size bound; least recently used entries go first",
        rebuild="",
        default=2**30,
    )
    keep_going: bool = option(
        False, _flag, "build the site even when cells fail (failures shown in the pages)", rebuild="", default=False
    )
    only: tuple[str, ...] = option(
        None,
        _only,
        "a partial build: only these documents (or folders of documents) are executed and written, "
        "with the pages that index them; the whole book is still read for the package, section "
        "numbers and references (ONLY=; default: every document)",
        rebuild="",
        default=(),
    )
    """The documents a partial build executes and writes, as named (``ONLY=``); empty: all."""
    book_name: str = option(
        "",
        _book_name,
        "a short name of the book for its downloads: <name>-<framework>-notebooks.zip (default: from the "
        "project's name when it is one, else the package's)",
        rebuild="html",
        default="",
    )
    launch: tuple[Launch, ...] = option(
        None,
        _launch,
        "services that open a page's notebook, linked under its title: {label: {'url': "
        "'https://colab.research.google.com/github/{repo}/blob/master/{path}', 'repos': {framework: "
        "'owner/name'}}}",
        rebuild="html",
        default=(),
    )
    math: str = option(
        "build",
        _math,
        "where math is typeset: build (when pages are written, by MathJax in Node; readers load no math "
        "script) or browser (by MathJax in the reader's browser)",
        rebuild="html",
        default="build",
    )
    retry_failed: bool = option(
        False,
        _flag,
        "run again the runs whose cells raised in an earlier build (RETRY=1); otherwise such a failure "
        "is remembered until the run's code or inputs change",
        rebuild="",
        default=False,
    )

    executor: Executor = option(
        "local",
        _executor,
        "where the runs execute: local (this machine's kernels), dask://HOST:PORT (a Dask scheduler), "
        "dask-local:N (a Dask cluster of N worker processes on this machine); EXECUTOR= overrides",
        rebuild="",
        default=Executor(),
    )
    retries: int = option(
        2,
        _retries,
        "on a Dask cluster: how many times a run whose worker was lost (killed, out of memory) is tried "
        "again on another worker",
        rebuild="",
        default=2,
    )
    post_latex: str = option(
        "",
        _script,
        "a Python script run on each PDF's .tex file before LaTeX (python SCRIPT BOOK.tex, in the LaTeX "
        "folder), as d2l-book's [pdf] post_latex; relative to conf.py's folder",
        rebuild="",
        default="",
    )
    keep_warm: float = option(
        None,
        _keep_warm,
        "seconds the frameworks' fork servers (each framework imported, ready to fork a chapter's kernel) "
        "stay after a build for the next one to use, as make livehtml keeps them (default 0: they end "
        "with the build; D2L_KEEP_WARM sets it)",
        rebuild="",
        default=0.0,
    )
    require_parity: bool = option(
        False,
        _flag,
        "warn at its path:line about every listing a selected framework lacks (so -W fails the build); "
        "the authors' report lists them either way",
        rebuild="",
        default=False,
    )

    @property
    def selected_frameworks(self) -> list[Framework]:
        return [self.frameworks[name] for name in self.selected]

    def aliases(self, framework: str) -> str:
        """The code a d2l-book ``config.ini`` adds to a framework's module ("" without one)."""
        return self.d2lbook.module_code(framework) if self.d2lbook else ""

    @property
    def multi(self) -> bool:
        """Whether listings are shown as tabs (more than one framework selected)."""
        return len(self.selected) > 1


def options() -> list[tuple[str, Any, str, str]]:
    """``(name, Sphinx default, rebuild, documentation)`` of every option, to register them."""
    return [
        (PREFIX + field.name, field.metadata["default"], field.metadata["rebuild"], field.metadata["doc"])
        for field in dc.fields(BookConfig)
    ]


def defaults() -> dict[str, Any]:
    """Every option's default, by its ``conf.py`` name."""
    return {name: default for name, default, _, _ in options()}


def load(config: Any, conf_dir: Path | None = None) -> BookConfig:
    """The validated configuration from anything holding the options as attributes (Sphinx's
    ``Config``); paths in options are relative to ``conf_dir`` (the folder of ``conf.py``)."""
    parsed: dict[str, Any] = {"conf_dir": conf_dir or Path.cwd()}
    # A d2l-book config.ini first: the other options may come from it (`make html BOOK=...`), so
    # when it cannot be read, that is the error to report.
    for field in sorted(dc.fields(BookConfig), key=lambda field: field.name != "d2lbook"):
        parsed[field.name] = field.metadata["parse"](getattr(config, PREFIX + field.name), parsed)
    del parsed["conf_dir"]
    return BookConfig(**parsed)
