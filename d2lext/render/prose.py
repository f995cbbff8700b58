"""The ``{framework}`` directive: prose shown only for some frameworks."""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from ..config import split_names
from ..messages import note_reading_error
from ..sources.cells import display_path
from ..state import book_build


class FrameworkDirective(SphinxDirective):
    """``{framework} torch`` (or ``torch, numpy``): the body is for those frameworks' readers only.

    Not selected: dropped. One framework selected: shown as ordinary prose. Several: kept in a block
    that the page shows while one of its frameworks is the chosen tab.
    """

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self) -> list[nodes.Node]:
        build = book_build(self.env)
        if build is None:
            return []
        config = build.config
        names = split_names(self.arguments[0])
        unknown = [name for name in names if name not in config.frameworks]
        if unknown:
            where = f"{display_path(self.env.doc2path(self.env.docname))}:{self.lineno}"
            note_reading_error(
                self.env,
                f"{where}: unknown framework {', '.join(map(repr, unknown))} in the framework directive; "
                f"known frameworks: {', '.join(config.frameworks)}",
            )
            return []
        shown = [name for name in config.selected if name in names]
        if not shown:
            return []
        content = self.parse_content_to_nodes()
        if not config.multi:
            return content
        labels = " / ".join(config.frameworks[name].label for name in shown)
        block = nodes.container(classes=["d2l-framework-only", *(f"d2l-framework-{name}" for name in shown)])
        block += nodes.paragraph("", labels, classes=["d2l-framework-label"])
        block.extend(content)
        return [block]


def setup_prose(app: Sphinx) -> None:
    app.add_directive("framework", FrameworkDirective)
