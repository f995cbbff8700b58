"""Per-framework Jupyter notebooks of each executed page, for readers to download and run.

A framework's notebook has the page's prose (framework-only prose of other frameworks removed,
its own kept as plain prose) and that framework's code cells only, with the outputs the build
produced. ``#@save`` markers stay: they tell the reader what the ``d2l`` package holds.
"""

from __future__ import annotations

import copy

import nbformat
from markdown_it.renderer import RendererHTML
from markdown_it.tree import SyntaxTreeNode
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from .cells import Chapter
from .config import Framework, split_names
from .runs import Result

#: Where a page's notebooks go in the site: ``notebooks/<framework>/<docname>.ipynb``.
FOLDER = "notebooks"


def site_path(docname: str, framework: str) -> str:
    return f"{FOLDER}/{framework}/{docname}.ipynb"


def framework_prose(text: str, framework: str, md_config: MdParserConfig | None = None) -> str:
    """Markdown with ``{framework}`` blocks resolved for one framework: its own unwrapped, others dropped."""
    if "{framework}" not in text:
        return text
    parser = create_md_parser(md_config or MdParserConfig(), RendererHTML)
    lines = text.splitlines()
    edits = []
    for node in SyntaxTreeNode(parser.parse(text)).children:
        if node.type in ("fence", "colon_fence") and node.info.strip().startswith("{framework}"):
            names = split_names(node.info.strip()[len("{framework}") :])
            start, end = node.map
            body = node.content.rstrip("\n").splitlines() if framework in names else []
            edits.append((start, end, body))
    for start, end, body in reversed(edits):
        lines[start:end] = body
    return "\n".join(lines).strip("\n") + "\n"


def framework_notebook(
    chapter: Chapter, framework: Framework, result: Result, md_config: MdParserConfig | None = None
) -> nbformat.NotebookNode:
    """The chapter as a notebook for one framework, with that framework's outputs."""
    code = {cell.index: cell for cell in chapter.cells}
    cells = []
    for index, cell in enumerate(chapter.notebook.cells):
        if cell.cell_type == "markdown":
            text = framework_prose(cell.source, framework.name, md_config)
            if text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text.rstrip("\n")))
        elif cell.cell_type == "code" and code[index].runs_in(framework.name):
            new = nbformat.v4.new_code_cell(cell.source, metadata=copy.deepcopy(dict(cell.metadata)))
            new.outputs = copy.deepcopy(result.outputs.get(index, []))
            new.execution_count = result.execution_counts.get(index)
            cells.append(new)
        elif cell.cell_type == "raw":
            cells.append(nbformat.v4.new_raw_cell(cell.source))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
            "d2l": {"framework": framework.name, "source": f"{chapter.docname}{chapter.path.suffix}"},
        }
    )
    nbformat.validate(notebook)
    return notebook
