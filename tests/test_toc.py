"""Table-of-contents order, read from the sources."""

import re

from myst_parser.config.main import MdParserConfig

from d2lext.sources.toc import outline, section_numbers, toc_order, toctree_entries


def test_entries_with_titles_options_and_yaml():
    text = (
        "# Book\n\n```{toctree}\n:maxdepth: 2\n:numbered:\n\nintro\nGuide <part/guide>\n```\n\n"
        ":::{toctree}\n---\nmaxdepth: 1\n---\nappendix\n:::\n"
    )
    colon_fence = MdParserConfig(enable_extensions={"colon_fence"})
    assert toctree_entries(text, colon_fence) == [("intro", False), ("part/guide", False), ("appendix", False)]
    assert toctree_entries(text) == [("intro", False), ("part/guide", False)]  # ::: is plain text without it


def test_depth_first_order_then_the_rest():
    texts = {
        "index": "```{toctree}\nb/index\na\n```\n",
        "b/index": "```{toctree}\nsecond\nfirst\n../c\n```\n",
        "a": "",
        "b/first": "",
        "b/second": "",
        "c": "",
        "orphan": "",
    }
    order = toc_order("index", set(texts), lambda d: outline(texts[d]) if d in texts else None)
    assert order == ["index", "b/index", "b/second", "b/first", "c", "a", "orphan"]


def test_glob_entries():
    texts = {"index": "```{toctree}\n:glob:\n\nch/*\n```\n", "ch/b": "", "ch/a": ""}
    order = toc_order("index", set(texts), lambda d: outline(texts[d]) if d in texts else None)
    assert order == ["index", "ch/a", "ch/b"]


def numbers_of(texts: dict[str, str]) -> dict[str, list[str]]:
    outlines = {name: outline(text, MdParserConfig(heading_anchors=2)) for name, text in texts.items()}
    order = toc_order("index", set(texts), outlines.get)
    found = section_numbers(order, outlines.get)
    return {name: [".".join(map(str, n)) for _, n in sorted(found.get(name, {}).items())] for name in order}


# Chapters with sections, a toctree inside a subsection, a depth-limited numbered toctree, an
# unnumbered one, and headings inside code fences (not sections).
STRUCTURE = {
    "index": (
        "# Book\n\n```{toctree}\n:numbered:\n\nch1/index\nch2\n```\n\n"
        "```{toctree}\n:numbered: 1\n\napp\n```\n\n```{toctree}\nrefs\n```\n"
    ),
    "ch1/index": "# One\n\nIntro.\n\n```{toctree}\nfirst\nsecond\n```\n\n## Closing words\n",
    "ch1/first": "# First\n\n## A\n\n```python\n# not a heading\n```\n\n### A.1\n\n## B\n",
    "ch1/second": "# Second\n\n## Parts\n\n```{toctree}\n../part\n```\n\n## After\n",
    "part": "# Part\n\n## Inside\n",
    "ch2": "# Two\n\n### Skipped level\n",
    "app": "# Appendix\n\n## Not numbered at depth 1\n",
    "refs": "# References\n",
}


def test_section_numbers_follow_sphinx_rules():
    assert numbers_of(STRUCTURE) == {
        "index": [],
        "ch1/index": ["1", "1.3"],
        "ch1/first": ["1.1", "1.1.1", "1.1.1.1", "1.1.2"],
        "ch1/second": ["1.2", "1.2.1", "1.2.2"],
        "part": ["1.2.1.1", "1.2.1.1.1"],
        "ch2": ["2", "2.1"],
        "app": ["1"],
        "refs": [],
    }


def test_section_numbers_agree_with_the_built_site(tmp_path):
    """The same structure built by Sphinx shows the same numbers, heading by heading."""
    from bs4 import BeautifulSoup
    from conftest import BOOKS, build

    (tmp_path / "conf.py").write_text((BOOKS / "basic" / "conf.py").read_text())
    for name, text in STRUCTURE.items():
        (tmp_path / f"{name}.md").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{name}.md").write_text(text)
    result = build(tmp_path)
    assert result.returncode == 0, result.output
    shown = {}
    for name in STRUCTURE:
        page = BeautifulSoup((result.html / f"{name}.html").read_text(), "html.parser")
        body = page.find(attrs={"role": "main"}) or page.body
        shown[name] = [
            heading.find(class_="section-number").get_text().strip(". ")
            for heading in body.find_all(re.compile(r"^h[1-6]$"))
            if heading.find(class_="section-number")
        ]
    assert shown == numbers_of(STRUCTURE)


def test_options_are_read_as_sphinx_reads_them_from_either_form():
    def options(body: str) -> tuple[int, list[tuple[str, bool]]]:
        (toctree,) = outline(f"# Book\n\n```{{toctree}}\n{body}```\n").toctrees
        return toctree.numbered, list(toctree.entries)

    assert options("---\nmaxdepth: 2\nnumbered: 2\nglob:\n---\nch/*\n") == (2, [("ch/*", True)])
    assert options("---\nnumbered:\n---\n\nintro\n") == (999, [("intro", False)])  # every level, as Sphinx
    assert options(":numbered: 3\n:glob:\n\nintro\n") == (3, [("intro", True)])
    assert options(":numbered:\nintro\n") == (999, [("intro", False)])  # the options end at the first entry
    # A value Sphinx's directive rejects (it warns): nothing numbered, as on the site.
    assert options(":numbered: true\n\nintro\n") == (0, [("intro", False)])
    assert options("---\nnumbered: false\n---\nintro\n") == (0, [("intro", False)])
