"""Where saved code says it was defined, and the API reference page built from it."""

from __future__ import annotations

import ast
import re

from conftest import build, copy_book, run_with_package


def docstrings(build_result, framework: str, *names: str) -> dict[str, str]:
    """Docstrings as a reader of the installed package sees them (help(), IDEs)."""
    code = f"import inspect\nfrom d2l import {framework} as d2l\n" + "".join(
        f"print(repr(inspect.getdoc(d2l.{name})))\n" for name in names
    )
    done = run_with_package(code, build_result.package)
    return dict(zip(names, (ast.literal_eval(line) for line in done.stdout.splitlines()), strict=True))


def section_number(page, anchor: str) -> str:
    """The number the site shows for the section an anchor points to."""
    section = page.find(id=anchor)
    section = section if section.name == "section" else section.find_parent("section")
    return section.find(class_="section-number").get_text().strip(". ")


def test_every_definition_says_its_section_number_and_title(basic_build):
    docs = docstrings(basic_build, "torch", "framework_name", "ones", "Timer", "Timer.add")
    # The first block after a heading gets it too (d2l-book's generator misses that one). The
    # site's address is not known (no html_baseurl): no relative address, meaningless in help().
    assert docs["framework_name"] == (
        "The module this function was saved into.\n\nDefined in section 1.1 Helpers of the book"
    )
    assert docs["ones"] == "Defined in section 1.1 Helpers of the book"
    assert docs["Timer"] == "Record running times.\n\nDefined in section 1.2 计时器 of the book"
    assert docs["Timer.add"] == "Record one time; returns it."  # methods are not annotated
    page = basic_build.page("lib")
    for number, anchor in (("1.1", "helpers"), ("1.2", "计时器")):
        assert section_number(page, anchor) == number


def test_numbers_match_the_site_without_warnings(basic_build):
    assert "numbers its sections" not in basic_build.output
    assert "WARNING" not in basic_build.output, basic_build.output


def entries_of(tab) -> dict[str, dict]:
    found = {}
    for description in tab.select("dl.py"):
        signature = description.find("dt")
        link = description.find("dd").find("a", string=re.compile("."), href=re.compile(r"\.html"))
        found[signature["id"]] = {
            "signature": re.sub(r"\s+", "", signature.get_text()).rstrip("¶"),
            "text": description.find("dd").get_text(" ", strip=True),
            "href": link["href"] if link else None,
        }
    return found


def test_api_page_lists_each_frameworks_module_in_synced_tabs(basic_build):
    page = basic_build.page("api")
    [tab_set] = page.select(".sd-tab-set")
    labels = [label.get_text(strip=True) for label in tab_set.select("label")]
    assert labels == ["NumPy", "PyTorch"]
    assert [label["data-sync-group"] for label in tab_set.select("label")] == ["framework"] * 2
    numpy_tab, torch_tab = tab_set.select(".sd-tab-content")
    numpy, torch = entries_of(numpy_tab), entries_of(torch_tab)
    assert list(torch) == ["d2l.torch.framework_name", "d2l.torch.ones", "d2l.torch.Timer", "d2l.torch.Timer.add"]
    assert list(numpy) == [name.replace("torch", "numpy") for name in torch]
    assert torch["d2l.torch.ones"]["signature"] == "d2l.torch.ones(n)"
    assert torch["d2l.torch.Timer"]["signature"] == "classd2l.torch.Timer(unit='s')"
    assert torch["d2l.torch.Timer.add"]["signature"] == "add(seconds)"
    assert "The module this function was saved into." in torch["d2l.torch.framework_name"]["text"]
    assert "Defined in 1.2 计时器" in torch["d2l.torch.Timer"]["text"]
    # The link back lands on the section with that number.
    href = torch["d2l.torch.Timer"]["href"]
    target, _, anchor = href.partition("#")
    assert target == "lib.html"
    assert section_number(basic_build.page("lib"), anchor) == "1.2"


def test_api_page_follows_a_changed_saved_function(tmp_path):
    root = copy_book("basic", tmp_path / "book")
    first = build(root)
    assert first.returncode == 0, first.output
    lib = root / "lib.md"
    lib.write_text(lib.read_text().replace("def ones(n):  #@save", "def ones(n, scale=1):  #@save"))
    second = build(root)
    assert second.returncode == 0, second.output
    text = second.page("api").get_text()
    assert re.search(r"ones\(\s*n\s*,\s*scale\s*=\s*1\s*\)", text), text
