"""Merge the per-framework runs of a chapter into the one notebook MyST-NB renders.

Each code cell carries ``metadata.d2l`` telling the tab transform what it is:

- ``{"framework": "torch"}``: a framework's own cell (one copy per framework it is tagged with);
- ``{"shared": true}``: a shared cell whose outputs are the same in every framework (shown once);
- ``{"shared": <index>, "framework": "torch"}``: one framework's copy of a shared cell whose outputs
  differ; the copies sit next to each other and are shown as one listing with tabbed outputs.
"""

from __future__ import annotations

import copy
import json
import re

import nbformat

from ..config import BookConfig
from ..sources.cells import Chapter
from .outputs import stream_text
from .runs import Result

METADATA_KEY = "d2l"


def readable(outputs: list) -> list[dict]:
    """Outputs as a reader sees them, to compare across frameworks.

    Execution counts do not matter, and neither do the chunks a kernel split a stream into:
    consecutive pieces of one stream read as one text.
    """
    seen: list[dict] = []
    for output in outputs:
        output = dict(output)
        output.pop("execution_count", None)
        if output.get("output_type") == "stream" and seen and seen[-1].get("output_type") == "stream":
            if seen[-1].get("name") == output.get("name"):
                seen[-1] = {**seen[-1], "text": stream_text(seen[-1].get("text")) + stream_text(output.get("text"))}
                continue
        if output.get("output_type") == "stream":
            output["text"] = stream_text(output.get("text"))
        seen.append(output)
    return seen


def comparable(outputs: list) -> str:
    """Outputs as a reader sees them, as one text (equal texts: the same outputs)."""
    return json.dumps(readable(outputs), sort_keys=True)


_SVG = "image/svg+xml"
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)
_SVG_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REFERENCE = re.compile(r'(\bid="|#)([A-Za-z_][\w.:-]*)')
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: How far apart (in the SVG's units: matplotlib's points, 1.33 CSS pixels) two figures' numbers
#: may be and the figures still show the same: text measured a little differently by another
#: matplotlib moves the axes a third of a point.
SVG_TOLERANCE = 1.0


def svg_shape(svg: str) -> tuple[str, list[float]]:
    """What an SVG draws: its markup without metadata (matplotlib's version, the date), comments
    and the names of its ids (numbered in order of appearance), its numbers apart."""
    text = _SVG_COMMENT.sub("", _SVG_METADATA.sub("", svg))
    names: dict[str, str] = {}
    for name in _SVG_ID.findall(text):
        names.setdefault(name, f"id-{len(names)}-")
    text = _SVG_REFERENCE.sub(lambda found: found[1] + names.get(found[2], found[2]), text)
    return _NUMBER.sub("#", text), [float(number) for number in _NUMBER.findall(text)]


def same_svg(first: str, second: str) -> bool:
    """Whether two SVG figures draw the same: the same shapes and texts, at places less than
    ``SVG_TOLERANCE`` apart (two matplotlib releases write the same figure differently)."""
    if first == second:
        return True
    (skeleton, numbers), (other_skeleton, other_numbers) = svg_shape(first), svg_shape(second)
    return skeleton == other_skeleton and all(
        abs(a - b) <= SVG_TOLERANCE for a, b in zip(numbers, other_numbers, strict=True)
    )


def same_outputs(first: list, second: list) -> bool:
    """Whether a cell's outputs in two frameworks look the same to a reader: the same text, and
    figures that draw the same (``same_svg``), whatever the bytes of their files."""
    mine, theirs = readable(first), readable(second)
    if len(mine) != len(theirs):
        return False
    for one, other in zip(mine, theirs, strict=True):
        if one == other:
            continue
        data, other_data = one.get("data") or {}, other.get("data") or {}
        if _SVG not in data or _SVG not in other_data or set(data) != set(other_data):
            return False
        rest = {key: value for key, value in one.items() if key not in ("data", "metadata")}
        other_rest = {key: value for key, value in other.items() if key not in ("data", "metadata")}
        if rest != other_rest or any(data[kind] != other_data[kind] for kind in data if kind != _SVG):
            return False
        if not same_svg(_text(data[_SVG]), _text(other_data[_SVG])):
            return False
    return True


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def merge(chapter: Chapter, config: BookConfig, results: dict[str, Result]) -> nbformat.NotebookNode:
    """The chapter's notebook with the selected frameworks' cells and outputs. ``#@save`` markers
    stay, as the published book shows them: they tell readers what the package holds."""
    source = chapter.notebook
    source_map = source.metadata.get("source_map") or [0] * len(source.cells)
    code_cells = {cell.index: cell for cell in chapter.cells}
    cells, lines = [], []

    def add(cell_index, cell, line, marks, framework=None):
        new = copy.deepcopy(cell)
        new.metadata[METADATA_KEY] = marks
        if framework is not None and "framework" in marks:  # copies need ids of their own
            new.id = f"{cell.get('id', cell_index)}-{framework}"[:64]
        if framework is not None:
            result = results[framework]
            new.outputs = result.outputs.get(cell_index, [])
            new.execution_count = result.execution_counts.get(cell_index)
        cells.append(new)
        lines.append(line)

    for cell_index, cell in enumerate(source.cells):
        line = source_map[cell_index]
        info = code_cells.get(cell_index)
        if info is None:
            cells.append(copy.deepcopy(cell))
            lines.append(line)
            continue
        if info.shared:
            variants = list(config.selected)
            first = results[variants[0]].outputs.get(cell_index, [])
            same = all(same_outputs(first, results[fw].outputs.get(cell_index, [])) for fw in variants[1:])
            if same or not config.multi:
                add(cell_index, cell, line, {"shared": True}, variants[0])
            else:
                for framework in variants:
                    add(cell_index, cell, line, {"shared": cell_index, "framework": framework}, framework)
            continue
        for framework in config.selected:
            if framework in info.frameworks:
                add(cell_index, cell, line, {"framework": framework}, framework)

    merged = nbformat.v4.new_notebook(metadata=copy.deepcopy(source.metadata), cells=cells)
    merged.metadata["source_map"] = lines
    merged.metadata.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    return merged
