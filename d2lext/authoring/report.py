"""The report for authors: ``d2l-book-report.json`` and ``d2l-book-report.html`` in the build
folder, written by every build, and its one-line summary.

Per section of the book (each document with code, in the table of contents' order): the
listings each selected framework lacks (``parity.py``), the outputs that show warnings, stderr or
the build machine's paths (``outputcheck.py``), and the cells that failed; for the whole book,
the slowest runs. It covers every run of the book, not only those this build executed: the others
are read from the execution cache, and what was found in a run is remembered by its key
(``.d2l-cache/authors.json``), so a no-op build reads no output again.

``d2l-report.json`` (``report.py``) stays what it is: how this build's execution went.
"""

from __future__ import annotations

import dataclasses as dc
import html
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..config import BookConfig
from ..execute.runs import Failure, Result, Run
from ..files import write_atomic
from ..plan import Plan
from ..sources.cells import Chapter
from .outputcheck import KINDS, Finding, check_outputs, shown
from .parity import MissingListing, missing_listings, parity_message

JSON_NAME, HTML_NAME = "d2l-book-report.json", "d2l-book-report.html"
#: Bump when what is remembered of a run changes.
FORMAT = 1
#: How many of the slowest runs the report lists.
SLOWEST = 10


@dc.dataclass
class RunFacts:
    """What the report needs of one run: its time, its failure, what its outputs show."""

    seconds: float = 0.0
    failure: Failure | None = None
    findings: list[Finding] = dc.field(default_factory=list)
    status: str = "not run"
    """``executed`` (in this build), ``cached``, ``failed``, ``interrupted`` or ``not run`` (its
    result is neither in this build nor in the cache: a partial build, or a build that stopped)."""
    cached: bool = False
    """Read from the cache, not executed in this build (a failure then is an earlier build's)."""

    @classmethod
    def of(cls, result: Result) -> RunFacts:
        cells = result.run.chapter.cells_for(result.run.framework.name)
        findings = [
            finding
            for position, cell in enumerate(cells)
            for finding in check_outputs(position, result.outputs.get(cell.index, []))
        ]
        return cls(result.seconds, result.failure, findings, result.status, result.cached)

    def stored(self) -> dict:
        return {
            "seconds": self.seconds,
            "failure": dc.asdict(self.failure) if self.failure else None,
            "findings": [dc.astuple(finding) for finding in self.findings],
        }

    @classmethod
    def restored(cls, entry: dict) -> RunFacts:
        failure = Failure(**entry["failure"]) if entry.get("failure") else None
        findings = [Finding(*fields) for fields in entry.get("findings", [])]
        return cls(float(entry.get("seconds", 0.0)), failure, findings, "failed" if failure else "cached", True)


class Memo:
    """What was found in each run, by its cache key: the cache holds the outputs, this file what the
    report needs of them."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = {}
        try:
            stored = json.loads(path.read_text(encoding="utf8"))
            if stored.get("format") == FORMAT:
                self.entries = stored["runs"]
        except Exception:  # missing, damaged or of another version: read the cache again
            pass
        self.before = dict(self.entries)

    def save(self, keys: Iterable[str]) -> None:
        keep = set(keys)
        self.entries = {key: entry for key, entry in self.entries.items() if key in keep}
        if self.entries != self.before:
            write_atomic(self.path, json.dumps({"format": FORMAT, "runs": self.entries}))


def run_facts(
    plan: Plan,
    this_build: Iterable[Result],
    load: Callable[[Run, str], Result | None],
    memo: Memo,
) -> dict[tuple[str, str], RunFacts]:
    """Every run of the plan: from this build's results, else the memo, else the cache (``load``)."""
    found: dict[tuple[str, str], RunFacts] = {}
    for result in this_build:
        name = (result.run.chapter.docname, result.run.framework.name)
        key = plan.keys.get(name)
        if key is None:
            continue
        facts = found[name] = RunFacts.of(result)
        if result.cached or (result.failure is None or result.failure.lasting) and not result.interrupted:
            memo.entries[_memo_key(name, key)] = facts.stored()
    for name, key in plan.keys.items():
        if name in found:
            continue
        entry = memo.entries.get(_memo_key(name, key))
        if entry is not None:
            found[name] = RunFacts.restored(entry)
            continue
        docname, framework = name
        result = load(Run(plan.chapters[docname], plan.config.frameworks[framework]), key)
        if result is None:
            found[name] = RunFacts()
            continue
        facts = found[name] = RunFacts.of(result)
        facts.status, facts.cached = ("failed" if result.failure else "cached"), True
        memo.entries[_memo_key(name, key)] = facts.stored()
    memo.save(_memo_key(name, key) for name, key in plan.keys.items())
    return found


def _memo_key(name: tuple[str, str], key: str) -> str:
    return f"{name[0]}|{name[1]}|{key}"


def _section(plan: Plan, chapter: Chapter) -> tuple[str, str]:
    """A document's number and title, as the site numbers it ("" when it has none)."""
    outline = plan.book.outlines.get(chapter.docname)
    if outline is None or not outline.headings:
        return "", chapter.docname
    heading = outline.headings[0]
    number = ".".join(map(str, plan.book.numbers.get(chapter.docname, {}).get(heading.line, ())))
    return number, heading.title


def _heading(plan: Plan, chapter: Chapter, read_line: int) -> str:
    """The numbered heading a line of the document falls under: "2.1.3 Title"."""
    outline = plan.book.outlines.get(chapter.docname)
    heading = outline.heading_before(read_line) if outline else None
    if heading is None:
        return ""
    number = ".".join(map(str, plan.book.numbers.get(chapter.docname, {}).get(heading.line, ())))
    return f"{number} {heading.title}".strip()


def build_report(
    plan: Plan,
    facts: dict[tuple[str, str], RunFacts],
    missing: dict[str, list[MissingListing]],
    *,
    page_of: Callable[[str], str | None] = lambda docname: None,
    status: str = "finished",
) -> dict:
    """The report's content (what the JSON holds and the HTML shows)."""
    config: BookConfig = plan.config
    labels = {name: framework.label for name, framework in config.frameworks.items()}
    sections = []
    for chapter in plan.chapters.values():
        number, title = _section(plan, chapter)
        cells = {name: chapter.cells_for(name) for name in config.selected}
        outputs, failed, runs = [], [], []
        for framework in config.selected:
            run = facts.get((chapter.docname, framework))
            if run is None:
                continue  # no cell runs in this framework
            runs.append({"framework": framework, "status": run.status, "seconds": round(run.seconds, 3)})
            for finding in run.findings:
                if finding.position >= len(cells[framework]):
                    continue
                cell = cells[framework][finding.position]
                if not shown(finding, cell.tags):
                    continue
                outputs.append(
                    {
                        "where": chapter.where(cell.line),
                        "line": chapter.source_line(cell.line),
                        "framework": framework,
                        "kind": finding.kind,
                        "stream": "stderr" if finding.stderr else "",
                        "excerpt": finding.excerpt,
                        "heading": _heading(plan, chapter, cell.line),
                    }
                )
            if run.failure is not None:
                failed.append(
                    {
                        "where": run.failure.where,
                        "framework": framework,
                        "error": run.failure.summary,
                        "traceback": run.failure.traceback,
                        "earlier_build": run.cached,
                    }
                )
        outputs.sort(key=lambda item: (item["line"], config.selected.index(item["framework"])))
        sections.append(
            {
                "document": chapter.docname,
                "path": chapter.display_path,
                "number": number,
                "title": title,
                "page": page_of(chapter.docname),
                "missing_listings": [
                    {
                        "where": item.where,
                        "line": item.line,
                        "missing": list(item.missing),
                        "present": list(item.present),
                        "message": parity_message(item, labels),
                        "heading": _heading(plan, chapter, item.read_line),
                    }
                    for item in missing.get(chapter.docname, [])
                ],
                "outputs": outputs,
                "failed": failed,
                "runs": runs,
            }
        )
    ranked = sorted(
        ((name, run) for name, run in facts.items() if run.status != "not run"),
        key=lambda item: -item[1].seconds,
    )
    slowest = [
        {"document": docname, "framework": framework, "seconds": round(run.seconds, 3), "status": run.status}
        for (docname, framework), run in ranked[:SLOWEST]
    ]
    lacking = {name: 0 for name in config.selected}
    for items in missing.values():
        for item in items:
            for name in item.missing:
                lacking[name] += 1
    by_kind = {kind: sum(1 for s in sections for o in s["outputs"] if o["kind"] == kind) for kind in KINDS}
    return {
        "status": status,
        "frameworks": {name: labels[name] for name in config.selected},
        "counts": {
            "sections": len(sections),
            "missing_listings": sum(len(items) for items in missing.values()),
            "missing_by_framework": lacking,
            "outputs": sum(by_kind.values()),
            "outputs_by_kind": by_kind,
            "failed": sum(len(section["failed"]) for section in sections),
            "not_run": sum(1 for run in facts.values() if run.status == "not run"),
        },
        "slowest": slowest,
        "sections": sections,
    }


def summary_line(report: dict, where: str) -> str:
    """The report in one line, for the end of the build's console output."""
    counts, labels = report["counts"], report["frameworks"]
    lacking = [f"{labels[name]} {count}" for name, count in counts["missing_by_framework"].items() if count]
    missing = _count(counts["missing_listings"], "listing") + " missing" + _parts(lacking)
    kinds = [f"{count} {kind}" for kind, count in counts["outputs_by_kind"].items() if count]
    outputs = _count(counts["outputs"], "output") + " to check" + _parts(kinds)
    slowest = report["slowest"][0] if report["slowest"] else None
    slow = f"; slowest run {slowest['document']} [{slowest['framework']}] {slowest['seconds']:.1f} s" if slowest else ""
    not_run = f", {_count(counts['not_run'], 'run')} not run" if counts["not_run"] else ""
    failed = _count(counts["failed"], "failed cell")
    return f"authors' report: {missing}, {outputs}, {failed}{not_run}{slow}; see {where}"


def _parts(parts: list[str]) -> str:
    return f" ({', '.join(parts)})" if parts else ""


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" + ("" if number == 1 else "s")


def write_report(root: Path, report: dict) -> tuple[Path, Path]:
    """Write the JSON and the HTML report into the build folder ``root``."""
    json_path, html_path = root / JSON_NAME, root / HTML_NAME
    write_atomic(json_path, json.dumps(report, indent=2, ensure_ascii=False))
    write_atomic(html_path, render_html(report))
    return json_path, html_path


def collect_missing(plan: Plan) -> dict[str, list[MissingListing]]:
    """The listings each selected framework lacks, by document."""
    found = {}
    for chapter in plan.chapters.values():
        items = missing_listings(chapter, plan.config.selected)
        if items:
            found[chapter.docname] = items
    return found


def relative_page(root: Path, outdir: Path | None, suffix: str) -> Callable[[str], str | None]:
    """The address of a document's page from the report's folder, ``None`` without a site."""
    if outdir is None:
        return lambda docname: None
    base = os.path.relpath(outdir, root).replace(os.sep, "/")
    return lambda docname: f"{base}/{docname}{suffix}"


# ---------------------------------------------------------------------- HTML

_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; margin: .2rem 0; }
.kind { font-weight: 600; } .none { color: #666; } .failed { color: #a00; }
.counts li { margin: .1rem 0; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _link(section: dict) -> str:
    title = _e(f"{section['number']} {section['title']}".strip())
    return f'<a href="{_e(section["page"])}">{title}</a>' if section.get("page") else title


def render_html(report: dict) -> str:
    """A page an author opens beside the book: what to fix, section by section."""
    labels = report["frameworks"]
    counts = report["counts"]
    lacking = [f"{labels[name]} {count}" for name, count in counts["missing_by_framework"].items() if count]
    kinds = [f"{count} {kind}" for kind, count in counts["outputs_by_kind"].items() if count]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Authors' report</title><style>{_STYLE}</style></head><body>",
        "<h1>Authors' report</h1>",
        f"<p>Frameworks: {_e(', '.join(labels.values()))}. Build {_e(report['status'])}.</p>",
        '<ul class="counts">',
        f"<li>{_count(counts['missing_listings'], 'listing')} missing{_e(_parts(lacking))}</li>",
        f"<li>{_count(counts['outputs'], 'output')} to check{_e(_parts(kinds))}</li>",
        f"<li>{_count(counts['failed'], 'failed cell')}</li>",
    ]
    if counts["not_run"]:
        parts.append(f"<li>{_count(counts['not_run'], 'run')} not run (not in the cache)</li>")
    parts.append("</ul>")
    if report["slowest"]:
        parts.append("<h2>Slowest runs</h2><table><tr><th>document</th><th>framework</th><th>seconds</th>")
        parts.append("<th>run</th></tr>")
        for run in report["slowest"]:
            parts.append(
                f"<tr><td>{_e(run['document'])}</td><td>{_e(labels.get(run['framework'], run['framework']))}</td>"
                f"<td>{run['seconds']:.1f}</td><td>{_e(run['status'])}</td></tr>"
            )
        parts.append("</table>")
    quiet = 0
    for section in report["sections"]:
        if not (section["missing_listings"] or section["outputs"] or section["failed"]):
            quiet += 1
            continue
        parts.append(f'<h2 id="{_e(section["document"])}">{_link(section)}</h2>')
        parts.append(f"<p><code>{_e(section['path'])}</code></p>")
        if section["missing_listings"]:
            parts.append("<h3>Missing listings</h3><table><tr><th>where</th><th>under</th><th>lacking</th></tr>")
            for item in section["missing_listings"]:
                lacking = ", ".join(labels.get(name, name) for name in item["missing"])
                having = ", ".join(labels.get(name, name) for name in item["present"])
                parts.append(
                    f"<tr><td><code>{_e(item['where'])}</code></td><td>{_e(item['heading'])}</td>"
                    f"<td>{_e(lacking)} (has: {_e(having)})</td></tr>"
                )
            parts.append("</table>")
        if section["outputs"]:
            parts.append("<h3>Outputs to check</h3><table><tr><th>where</th><th>framework</th><th>shows</th>")
            parts.append("<th>excerpt</th></tr>")
            for item in section["outputs"]:
                kind = item["kind"] + (" (stderr)" if item["stream"] and item["kind"] != "stderr" else "")
                parts.append(
                    f"<tr><td><code>{_e(item['where'])}</code></td><td>{_e(labels.get(item['framework'], ''))}</td>"
                    f'<td class="kind">{_e(kind)}</td><td><code>{_e(item["excerpt"])}</code></td></tr>'
                )
            parts.append("</table>")
        if section["failed"]:
            parts.append("<h3>Failed cells</h3>")
            for item in section["failed"]:
                parts.append(
                    f'<p class="failed"><code>{_e(item["where"])}</code> [{_e(item["framework"])}] '
                    f"{_e(item['error'])}</p>"
                )
                if item["traceback"]:
                    parts.append(f"<details><summary>traceback</summary><pre>{_e(item['traceback'])}</pre></details>")
    if quiet:
        parts.append(f'<p class="none">{quiet} sections with code have nothing to report.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
