"""Outputs readers should not see: warnings, stderr, and paths of the build machine.

Read from the outputs as pages show them (``execute/outputs.py`` has cleaned them: a machine's
folders read ``<venv>/...``, ``<book>/...``). A cell tagged ``remove-output`` (or
``remove-cell``) shows none of its outputs, one tagged ``remove-stderr`` no stderr: what readers
do not see is not reported. Tracebacks (error outputs) are not either: a cell that raises is a
lesson (``raises-exception``) or a failure, which the report lists apart.

Findings are kept by the cell's position among the run's cells, so they can be stored with the
run's cache key and placed at the cell's current line (prose edits move it, not the outputs).
"""

from __future__ import annotations

import dataclasses as dc
import re

from ..execute.outputs import stream_text

WARNING, STDERR, PATH = "warning", "stderr", "path"
KINDS = (WARNING, STDERR, PATH)

#: A Python warning as ``warnings`` prints it: ``file.py:3: UserWarning: ...``, or one a library
#: prints itself (``DeprecationWarning: ...``).
_WARNING = re.compile(r"\b[A-Z]\w*Warning\b:?")
#: Folders of the build machine: as the cleaned outputs name them, or an absolute path the
#: cleaning does not know (a home folder, a temporary folder, a Windows user folder).
_PATH = re.compile(
    r"<(?:venv|python|book|build)>/\S*"
    r"|(?<![\w.:/~-])/(?:home|Users|root|tmp|var/folders|private/var)/[^\s'\"<>:,)]+"
    r"|\b[A-Za-z]:\\(?:Users|Documents and Settings)\\[^\s'\"]+"
    r"|~/[^\s'\"<>:,)]+"
)
#: Characters of an excerpt.
EXCERPT = 160


@dc.dataclass(frozen=True)
class Finding:
    """Something readers would see in one output of a cell."""

    position: int
    """The cell's position among the run's cells (``Chapter.cells_for``)."""
    kind: str
    """``warning``, ``stderr`` or ``path``."""
    excerpt: str
    """The line that shows it."""
    stderr: bool = False
    """Whether it is in the cell's stderr (which ``remove-stderr`` hides)."""


def _texts(output: dict) -> list[tuple[str, str]]:
    """``(stream name or "", text)`` of an output a reader sees as text."""
    kind = output.get("output_type")
    if kind == "stream":
        return [(output.get("name", "stdout"), stream_text(output.get("text")))]
    if kind in ("execute_result", "display_data"):
        data = output.get("data") or {}
        return [("", stream_text(data.get("text/plain")))] if "text/plain" in data else []
    return []


def _line_of(text: str, match: re.Match) -> str:
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    line = text[start : end if end >= 0 else len(text)].strip()
    return line if len(line) <= EXCERPT else line[: EXCERPT - 1] + "…"


_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def check_outputs(position: int, outputs: list) -> list[Finding]:
    """What one cell's outputs show that readers should not see: for each kind, the first line
    showing it in stderr and the first elsewhere."""
    found: dict[tuple[str, bool], Finding] = {}

    def note(kind: str, text: str, match: re.Match, stderr: bool) -> None:
        found.setdefault((kind, stderr), Finding(position, kind, _line_of(text, match), stderr))

    for output in outputs:
        for stream, text in _texts(output):
            text = _SGR.sub("", text)
            if not text.strip():
                continue
            stderr = stream == "stderr"
            warning = _WARNING.search(text)
            if warning:
                note(WARNING, text, warning, stderr)
            elif stderr:
                note(STDERR, text, re.search(r"\S.*", text), stderr)
            path = _PATH.search(text)
            if path:
                note(PATH, text, path, stderr)
    return sorted(found.values(), key=lambda finding: (KINDS.index(finding.kind), finding.stderr))


def shown(finding: Finding, tags: tuple[str, ...]) -> bool:
    """Whether readers see what a finding reports, given the cell's current tags."""
    if {"remove-output", "remove-cell"} & set(tags):
        return False
    return not (finding.stderr and "remove-stderr" in tags)
