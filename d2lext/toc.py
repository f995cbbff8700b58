"""Table-of-contents order, read statically from the sources' ``{toctree}`` directives.

The saved package must be written before any chapter is read or executed, so the order cannot come
from Sphinx's own toctree collection (which exists only after reading).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable

from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

_TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<ref>[^<>]+)>$")


def toctree_entries(text: str, md_config: MdParserConfig | None = None) -> list[tuple[str, bool]]:
    """``(entry, glob)`` pairs of every ``{toctree}`` in a MyST document, in order."""
    if "{toctree}" not in text:
        return []
    parser = create_md_parser(md_config or MdParserConfig(), RendererHTML)
    entries = []
    for token in parser.parse(text):
        if token.type not in ("fence", "colon_fence") or not token.info.strip().startswith("{toctree}"):
            continue
        lines = token.content.splitlines()
        glob = False
        if lines and lines[0].strip() == "---":  # YAML options block
            end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), len(lines))
            glob = any(line.strip().startswith("glob:") for line in lines[1:end])
            lines = lines[end + 1 :]
        for line in lines:
            line = line.strip()
            if line.startswith(":"):
                glob = glob or line.startswith(":glob:")
                continue
            if line:
                match = _TITLED.match(line)
                entries.append((match.group("ref") if match else line, glob))
    return entries


def toc_order(
    root: str, docnames: set[str], read_text: Callable[[str], str | None], md_config: MdParserConfig | None = None
) -> list[str]:
    """All ``docnames``: depth first from ``root`` through the toctrees, then the rest sorted."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(docname: str) -> None:
        if docname in seen or docname not in docnames:
            return
        seen.add(docname)
        order.append(docname)
        text = read_text(docname)
        if text is None:
            return
        base = posixpath.dirname(docname)
        for entry, glob in toctree_entries(text, md_config):
            if "://" in entry or entry == "self":
                continue
            target = entry.lstrip("/") if entry.startswith("/") else posixpath.join(base, entry)
            target = posixpath.normpath(target)
            for suffix in (".md", ".ipynb", ".rst"):
                if target.endswith(suffix):
                    target = target[: -len(suffix)]
            if glob and any(ch in target for ch in "*?["):
                for match in sorted(fnmatch.filter(docnames, target)):
                    visit(match)
            else:
                visit(target)

    visit(root)
    order.extend(sorted(docnames - seen))
    return order
