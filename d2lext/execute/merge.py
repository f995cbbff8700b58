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

import nbformat

from ..config import BookConfig
from ..sources.cells import Chapter
from .outputs import stream_text
from .runs import Result

METADATA_KEY = "d2l"


def comparable(outputs: list) -> str:
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
    return json.dumps(seen, sort_keys=True)


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
            distinct = {comparable(results[fw].outputs.get(cell_index, [])) for fw in variants}
            if len(distinct) <= 1 or not config.multi:
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
