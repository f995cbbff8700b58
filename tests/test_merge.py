"""Merging per-framework runs into the notebook MyST-NB renders."""

from __future__ import annotations

import nbformat

from d2lext.config import BookConfig, Framework
from d2lext.execute.merge import comparable, merge, same_outputs
from d2lext.execute.runs import Result, Run
from d2lext.sources.cells import read_chapter

FRAMEWORKS = {name: Framework(name, name.title()) for name in ("torch", "numpy", "mxnet")}
TEXT = (
    "---\nfile_format: mystnb\n---\n\n# T\n\n"
    "```{code-cell} ipython3\nprint(1)\n```\n\n"  # cell 1, shared, same output
    "```{code-cell} ipython3\nprint(fw)\n```\n\n"  # cell 2, shared, different output
    "```{code-cell} ipython3\n:tags: [torch]\ndef f():  #@save\n    pass\n```\n\n"  # cell 3
    "```{code-cell} ipython3\n:tags: [mxnet]\nfrom mxnet import np\n```\n"  # cell 4, not selected
)


def stream(text):
    return [nbformat.v4.new_output("stream", name="stdout", text=text)]


def chapter_and_results(tmp_path, selected):
    config = BookConfig(frameworks=FRAMEWORKS, selected=selected)
    path = tmp_path / "c.md"
    path.write_text(TEXT)
    chapter = read_chapter(path, "c", config)
    results = {}
    for name in selected:
        result = Result(Run(chapter, FRAMEWORKS[name]))
        result.outputs = {1: stream("1\n"), 2: stream(f"{name}\n"), 3: []}
        results[name] = result
    return chapter, config, results


def marks(notebook):
    return [cell.metadata.get("d2l") for cell in notebook.cells if cell.cell_type == "code"]


def test_two_frameworks(tmp_path):
    merged = merge(*chapter_and_results(tmp_path, ("torch", "numpy")))
    assert marks(merged) == [
        {"shared": True},
        {"shared": 2, "framework": "torch"},
        {"shared": 2, "framework": "numpy"},
        {"framework": "torch"},
    ]
    code = [cell for cell in merged.cells if cell.cell_type == "code"]
    assert code[0].outputs[0]["text"] == "1\n"
    assert [c.outputs[0]["text"] for c in code[1:3]] == ["torch\n", "numpy\n"]
    assert code[3].source == "def f():  #@save\n    pass"  # the marker stays, as the published book shows it
    assert len({cell.id for cell in merged.cells}) == len(merged.cells)
    assert len(merged.metadata["source_map"]) == len(merged.cells)
    nbformat.validate(merged)


def test_one_framework_has_no_copies(tmp_path):
    merged = merge(*chapter_and_results(tmp_path, ("numpy",)))
    assert marks(merged) == [{"shared": True}, {"shared": True}]


def test_streams_split_into_different_chunks_compare_equal():
    one = [nbformat.v4.new_output("stream", name="stdout", text="0 1 2 3\n")]
    split = [nbformat.v4.new_output("stream", name="stdout", text=part) for part in ("0 1", " 2 ", "3\n")]
    assert comparable(one) == comparable(split)
    listed = [nbformat.v4.new_output("stream", name="stdout", text=["0 1 ", "2 3\n"])]
    assert comparable(one) == comparable(listed)
    # What a reader would see differently still differs: another stream, another order, other text.
    stderr = [nbformat.v4.new_output("stream", name="stderr", text="0 1 2 3\n")]
    assert comparable(one) != comparable(stderr)
    assert comparable(one) != comparable([*split[:2], nbformat.v4.new_output("stream", name="stdout", text="4\n")])
    interleaved = [split[0], stderr[0], split[1]]
    assert comparable(interleaved) != comparable([split[0], split[1], stderr[0]])


def drawn(xs, ys) -> str:
    """An SVG figure as matplotlib writes it, with the fixed hash salt builds use."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "d2l"
    figure, axes = plt.subplots(figsize=(3.5, 2.5))
    axes.plot(xs, ys)
    axes.set_xlabel("x")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    return buffer.getvalue()


def as_another_release(svg: str, shift: float) -> str:
    """The same figure as another matplotlib writes it: its version in the metadata, other ids,
    every coordinate moved a little (text measured differently)."""
    import re

    svg = svg.replace("<dc:title>Matplotlib v", "<dc:title>Matplotlib v9.")
    svg = re.sub(r'(\bid="|#)(DejaVuSans-)(\w+)', lambda m: m[1] + m[2] + "x" + m[3], svg)
    svg = re.sub(r'(\bid="|#)(p[0-9a-f]{10})\b', lambda m: m[1] + "q" + m[2][1:], svg)
    return re.sub(r"(?<=[ \"(])(\d+\.\d+)(?=[ \"),])", lambda m: f"{float(m[1]) + shift:.6f}", svg)


def figure_output(svg: str):
    return nbformat.v4.new_output(
        "display_data", data={"image/svg+xml": svg, "text/plain": "<Figure size 350x250 with 1 Axes>"}
    )


def test_figures_are_compared_by_what_they_draw_not_by_their_bytes():
    svg = drawn([0, 1, 2], [0, 1, 4])
    other_release = as_another_release(svg, 0.3)
    assert other_release != svg and "Matplotlib v9." in other_release
    assert same_outputs([figure_output(svg)], [figure_output(other_release)])
    # Another curve, or the same one moved where a reader sees it, is another figure.
    assert not same_outputs([figure_output(svg)], [figure_output(drawn([0, 1, 2], [0, 1, 3]))])
    assert not same_outputs([figure_output(svg)], [figure_output(as_another_release(svg, 3.0))])
    # The text beside a figure still has to be the same.
    assert not same_outputs([*stream("1\n"), figure_output(svg)], [*stream("2\n"), figure_output(other_release)])
    assert same_outputs([*stream("1\n"), figure_output(svg)], [*stream("1\n"), figure_output(svg)])
