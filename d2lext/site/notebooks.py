"""Per-framework Jupyter notebooks of each executed page, for readers to download and run.

A framework's notebook has the page's prose (framework-only prose of other frameworks removed,
its own kept as plain prose) and that framework's code cells only, with the outputs the build
produced. ``#@save`` markers stay: they tell the reader what the ``d2l`` package holds.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

import nbformat
from markdown_it.renderer import RendererHTML
from markdown_it.tree import SyntaxTreeNode
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from ..config import Framework, split_names
from ..execute.runs import Result
from ..sources.cells import Chapter

#: Where a page's notebooks go in the site: ``notebooks/<framework>/<docname>.ipynb``.
FOLDER = "notebooks"


def site_path(docname: str, framework: str) -> str:
    return f"{FOLDER}/{framework}/{docname}.ipynb"


def short_name(text: str) -> str:
    """``"Dive into Deep Learning"`` -> ``"dive-into-deep-learning"``; "" when no ASCII letter or digit."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def archive_name(book: str, framework: Framework) -> str:
    """The archive of a framework's notebooks, named after the book and the framework as readers
    know it (its label): ``d2l-zh-pytorch-notebooks.zip``."""
    return f"{book}-{short_name(framework.label) or framework.name}-notebooks.zip"


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


_TARGET = re.compile(r"^\(([^)\s]+)\)=\s*$", re.M)
_MATH_LABEL = re.compile(r"\$\$[ \t]*\([^)\s]+\)[ \t]*$", re.M)
_FIGURE = re.compile(r"^```\{figure\}\s+(?P<path>\S+)\n(?::[\w-]+:.*\n)*\n?(?P<caption>(?:(?!```).*\n)*?)```", re.M)
_ROLE = re.compile(r"\{(?P<role>numref|ref|eq|cite:p|cite:t|cite)\}`(?P<target>[^`]+)`")
#: Outputs a cell's tags keep off the page, and so out of its notebook.
_REMOVED = {"remove-stderr": {"stderr"}, "remove-stdout": {"stdout"}}


def plain_markdown(text: str, resolve: Callable[[str, str], str | None] | None = None) -> str:
    """MyST prose as plain Markdown that Jupyter shows as the page does: targets ``(x)=`` dropped,
    roles replaced by what ``resolve(role, target)`` gives (a link, "(Wigner, 1958)"), or their target."""
    text = _TARGET.sub("", text)
    text = _MATH_LABEL.sub("$$", text)
    text = _FIGURE.sub(lambda match: f"![{match.group('caption').strip()}]({match.group('path')})", text)

    def role(match: re.Match) -> str:
        found = resolve(match.group("role"), match.group("target")) if resolve else None
        return found if found is not None else match.group("target")

    return re.sub(r"\n{3,}", "\n\n", _ROLE.sub(role, text)).strip("\n")


def shown_outputs(outputs: list, tags) -> list:
    """The outputs a reader sees on the page: without the streams its tags remove."""
    if "remove-output" in tags:
        return []
    dropped = set().union(*(_REMOVED.get(tag, set()) for tag in tags))
    return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") in dropped)]


def notebook_name(docname: str, framework: str) -> str:
    """The file name a download gets: two frameworks' notebooks of a page never collide."""
    return f"{docname.rsplit('/', 1)[-1]}-{framework}.ipynb"


def framework_notebook(
    chapter: Chapter,
    framework: Framework,
    result: Result,
    md_config: MdParserConfig | None = None,
    resolve: Callable[[str, str], str | None] | None = None,
) -> nbformat.NotebookNode:
    """The chapter as a notebook for one framework, with that framework's outputs, its prose as
    plain Markdown, and execution counts from 1 as a reader's own run would number them."""
    code = {cell.index: cell for cell in chapter.cells}
    cells = []
    count = 0
    for index, cell in enumerate(chapter.notebook.cells):
        if cell.cell_type == "markdown":
            text = plain_markdown(framework_prose(cell.source, framework.name, md_config), resolve)
            if text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text))
        elif cell.cell_type == "code" and code[index].runs_in(framework.name):
            new = nbformat.v4.new_code_cell(cell.source, metadata=copy.deepcopy(dict(cell.metadata)))
            new.outputs = shown_outputs(copy.deepcopy(result.outputs.get(index, [])), code[index].tags)
            if result.execution_counts.get(index) is not None:
                count += 1
                new.execution_count = count
                for output in new.outputs:
                    if "execution_count" in output:
                        output["execution_count"] = count
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
