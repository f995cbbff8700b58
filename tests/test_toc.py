"""Table-of-contents order, read from the sources."""

from myst_parser.config.main import MdParserConfig

from d2lext.toc import toc_order, toctree_entries


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
    order = toc_order("index", set(texts), texts.get)
    assert order == ["index", "b/index", "b/second", "b/first", "c", "a", "orphan"]


def test_glob_entries():
    texts = {"index": "```{toctree}\n:glob:\n\nch/*\n```\n", "ch/b": "", "ch/a": ""}
    assert toc_order("index", set(texts), texts.get) == ["index", "ch/a", "ch/b"]
