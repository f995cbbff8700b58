"""The API reference: every saved function and class, per framework, read from the saved blocks.

The ``{d2l-api}`` directive renders the selected frameworks' modules as the package has them (a
name saved again shows its last definition), with signatures and docstrings taken from the code
itself, so building the page imports no framework. Each entry links back to the section that
defines it; with several frameworks the entries sit in framework tabs like the code.
"""

from __future__ import annotations

import ast
import dataclasses as dc
import html
import os
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

from ..messages import SphinxLog
from ..package.write import module_path
from ..sources.d2lbook import mapped_line
from ..sources.saved import Place, SavedBlock, added_to
from ..state import book_build
from .tabs import tab_item, tab_set


@dc.dataclass(frozen=True)
class Entry:
    kind: str
    """``function`` or ``class``."""
    name: str
    signature: str
    """Parameters as written, without ``self`` for a class."""
    doc: str
    place: Place
    docname: str
    methods: tuple[Entry, ...] = ()


def entries(framework: str, blocks: list[SavedBlock], places: dict[SavedBlock, Place]) -> list[Entry]:
    """The public functions and classes of a framework's module, in module order. A function
    decorated ``@d2l.add_to_class(Class)`` is a method of that class (the English edition builds
    its classes over several cells so), listed with the class's own."""
    found: dict[str, Entry] = {}
    for block in blocks:
        if block.imports_only or not (block.frameworks is None or framework in block.frameworks):
            continue
        for node in ast.parse(block.code).body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            owner = added_to(node)
            if owner is not None:
                if owner in found and found[owner].kind == "class" and not node.name.startswith("_"):
                    method = _entry(node, places[block], block.docname, method=True)
                    kept = tuple(m for m in found[owner].methods if m.name != node.name)
                    found[owner] = dc.replace(found[owner], methods=(*kept, method))
            elif not node.name.startswith("_"):
                found[node.name] = _entry(node, places[block], block.docname)
    return list(found.values())


def _entry(node: ast.stmt, place: Place, docname: str, method: bool = False) -> Entry:
    doc = ast.get_docstring(node) or ""
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        methods = tuple(
            _entry(n, place, docname, method=True)
            for n in node.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")
        )
        return Entry(
            "class", node.name, _parameters(init, skip_first=True) if init else "", doc, place, docname, methods
        )
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    return Entry("function", node.name, _parameters(node, skip_first=method and not static), doc, place, docname)


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef, skip_first: bool = False) -> str:
    arguments = node.args
    if skip_first:
        arguments = ast.arguments(**{field: getattr(arguments, field) for field in arguments._fields})
        if arguments.posonlyargs:
            arguments.posonlyargs = arguments.posonlyargs[1:]
        elif arguments.args:
            arguments.args = arguments.args[1:]
            extra = len(arguments.defaults) - len(arguments.args)
            if extra > 0:
                arguments.defaults = arguments.defaults[extra:]
    return ast.unparse(arguments)


def markup(entry: Entry, module: str, fence: str = "````", defined_in: str = "Defined in") -> str:
    """MyST markup of one entry: a Python-domain description with its docstring and where it is defined."""
    if entry.kind == "class":
        lines = [f"{fence}{{py:class}} {entry.name}({entry.signature})", f":module: {module}", ""]
    elif entry.kind == "method":
        lines = [f"{fence}{{py:method}} {entry.name}({entry.signature})", ""]
    else:
        lines = [f"{fence}{{py:function}} {entry.name}({entry.signature})", f":module: {module}", ""]
    if entry.doc:
        lines += [_escape(entry.doc), ""]
    if entry.kind != "method":
        name = " ".join(part for part in (entry.place.number, entry.place.title) if part) or entry.docname
        anchor = entry.place.url.partition("#")[2]
        target = f"/{entry.docname}.md" + (f"#{anchor}" if anchor else "")
        lines += [f"{defined_in} [{_escape(name)}]({target})", ""]
    for method in entry.methods:
        lines += [markup(dc.replace(method, kind="method"), module, fence[:-1], defined_in), ""]
    lines.append(fence)
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Docstrings are plain text: keep Markdown from reading structure into them."""
    special = "\\`*_[]<>#|{}$"
    return "".join("\\" + ch if ch in special else ch for ch in text)


#: What the page says, in the book's language.
WORDS = {
    "": {
        "download": "Download: {{download}}`{archive} <{path}>` (`pip install {archive}` installs what every "
        "framework's module imports)",
        "install": '`pip install "{archive}[{framework}]"` installs {label} too, with the versions the book '
        "was built with; then `from {package} import {framework} as d2l`",
        "defined in": "Defined in",
        "nothing": "(nothing saved)",
    },
    "zh": {
        "download": "下载:{{download}}`{archive} <{path}>`(`pip install {archive}` 安装各框架模块共同导入的包)",
        "install": '`pip install "{archive}[{framework}]"` 同时安装 {label},版本与构建本书时相同;然后 '
        "`from {package} import {framework} as d2l`",
        "defined in": "定义于",
        "nothing": "(没有保存的代码)",
    },
}


class ApiDirective(SphinxDirective):
    """``{d2l-api}``: the saved package's reference, one tab per selected framework."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        build = book_build(self.env)
        if build is None or build.plan is None:
            return []
        pages = getattr(self.env, API_PAGES, set())
        pages.add(self.env.docname)
        setattr(self.env, API_PAGES, pages)
        plan = build.plan
        here = Path(self.env.doc2path(self.env.docname)).parent
        archive = os.path.relpath(plan.archive, here)
        words = _words(self.config)
        name, package = plan.archive.name, plan.config.package_name
        download = words["download"].format(archive=name, path=archive, package=package)
        heading = nodes.container("", *self.parse_text_to_nodes(download), classes=["d2l-api-download"])
        items = []
        for framework in plan.config.selected_frameworks:
            # Read again whenever the module changes (the planning step rewrites it only then).
            self.env.note_dependency(str(module_path(plan.package, plan.config, framework.name)))
            module = f"{plan.config.package_name}.{framework.name}"
            found = list(_saved(plan, framework.name).values())
            text = "\n\n".join(markup(entry, module, defined_in=words["defined in"]) for entry in found)
            text = text or words["nothing"]
            # How to install the package for this framework: in its tab, so it follows the choice.
            install = words["install"].format(
                archive=name, framework=framework.name, label=framework.label, package=package
            )
            hint = nodes.container("", *self.parse_text_to_nodes(install), classes=["d2l-api-install"])
            body = nodes.container("", hint, *self.parse_text_to_nodes(text), classes=["d2l-api"])
            items.append((framework, body))
        return [heading, *_in_tabs(items)]


class EntryDirective(SphinxDirective):
    """``{d2l-autoclass} Module`` (``:members:``) and ``{d2l-autofunction} plot``: one saved class
    or function, as the ``{d2l-api}`` page shows it, one tab per selected framework that saves it.
    What d2l-book sources' ``.. autoclass::`` and ``.. autofunction::`` become (Sphinx autodoc
    in d2l-book, which imports the installed package): read from the saved code, nothing imported.
    ``d2l.torch.Module`` names one framework's."""

    required_arguments = 1
    option_spec = {"members": directives.flag}
    kind = "class"

    def run(self) -> list[nodes.Node]:
        build = book_build(self.env)
        if build is None or build.plan is None:
            return []
        plan = build.plan
        parts = self.arguments[0].split(".")
        name = parts[-1]
        only = parts[1] if len(parts) == 3 and parts[0] == plan.config.package_name else None
        words = _words(self.config)
        items = []
        for framework in plan.config.selected_frameworks:
            if only is not None and framework.name != only:
                continue
            self.env.note_dependency(str(module_path(plan.package, plan.config, framework.name)))
            entry = _saved(plan, framework.name).get((self.kind, name))
            if entry is None:
                continue
            if "members" not in self.options:
                entry = dc.replace(entry, methods=())
            module = f"{plan.config.package_name}.{framework.name}"
            text = markup(entry, module, defined_in=words["defined in"])
            items.append((framework, nodes.container("", *self.parse_text_to_nodes(text), classes=["d2l-api"])))
        if not items:
            SphinxLog().warning(
                f"{self.name.removeprefix('d2l-')}:: {self.arguments[0]}: no selected framework saves a "
                f"{self.kind} of that name (shown as nothing)",
                subtype="package",
                docname=self.env.docname,
                line=mapped_line(build.line_map(self.env.docname), self.lineno),
            )
            return []
        return _in_tabs(items)


def _words(config) -> dict[str, str]:
    return WORDS["zh" if (config.language or "").startswith("zh") else ""]


def _in_tabs(items: list[tuple]) -> list[nodes.Node]:
    """Each framework's entries in its tab, or alone for one framework."""
    if len(items) == 1:
        return [items[0][1]]
    return [tab_set([tab_item(framework, [body]) for framework, body in items], "api")]


class FunctionEntryDirective(EntryDirective):
    kind = "function"


_SAVED: dict[str, tuple[object, dict[tuple[str, str], Entry]]] = {}
"""By framework: the plan they were read from (this build's), and its functions and classes."""


def _saved(plan, framework: str) -> dict[tuple[str, str], Entry]:
    """A framework's saved functions and classes by (kind, name), made once per plan."""
    cached = _SAVED.get(framework)
    if cached is None or cached[0] is not plan:
        found = {(entry.kind, entry.name): entry for entry in entries(framework, plan.book.blocks, plan.places)}
        cached = _SAVED[framework] = (plan, found)
    return cached[1]


#: Environment attribute: the documents holding a ``{d2l-api}`` reference.
API_PAGES = "d2l_api_pages"


def _purge(app: Sphinx, env, docname: str) -> None:
    getattr(env, API_PAGES, set()).discard(docname)


def _merge(app: Sphinx, env, docnames, other) -> None:
    pages = getattr(env, API_PAGES, set())
    pages |= getattr(other, API_PAGES, set()) & set(docnames)
    setattr(env, API_PAGES, pages)


def link_markers(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Tell the page's script where the API reference is, so each ``#@save`` links to its entry."""
    pages = sorted(getattr(app.env, API_PAGES, set()))
    build = book_build(app.env)
    if not pages or build is None or doctree is None:
        return
    address = relative_uri(app.builder.get_target_uri(pagename), app.builder.get_target_uri(pages[0]))
    tags = {
        "d2l-api": address,
        "d2l-package": build.config.package_name,
        "d2l-frameworks": " ".join(build.config.selected),
    }
    context["metatags"] = context.get("metatags", "") + "".join(
        f'\n<meta name="{name}" content="{html.escape(value)}">' for name, value in tags.items()
    )


def setup_api(app: Sphinx) -> None:
    app.add_directive("d2l-api", ApiDirective)
    app.add_directive("d2l-autoclass", EntryDirective)
    app.add_directive("d2l-autofunction", FunctionEntryDirective)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("html-page-context", link_markers)
