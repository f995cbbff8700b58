"""The package's dependencies: a requirements file's pins, and the requirements declared from them."""

from __future__ import annotations

from d2lext.package.dependencies import declare, pins

REQUIREMENTS = """\
# MXNet's environment: a comment, then pins
--extra-index-url https://example.org/simple
-r base.txt
MXNet==1.9.1
numpy == 1.23.5  # numpy 2 breaks it
Matplotlib_Inline==0.2.2 ; python_version >= "3.8"
scikit-learn[extras]==1.5.0
torch==2.13.0+cpu
jax>=0.4
not a requirement ==
"""


def test_pins_are_the_pinned_requirements_by_normalised_name(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text(REQUIREMENTS)
    assert pins(path) == {
        "mxnet": "1.9.1",
        "numpy": "1.23.5",
        "matplotlib-inline": "0.2.2",
        "scikit-learn": "1.5.0",
        "torch": "2.13.0+cpu",
    }


def test_declared_requirements_use_normalised_names_and_public_versions():
    modules = {"torch": ["torch", "matplotlib_inline", "PIL"], "mxnet": ["mxnet", "matplotlib_inline"]}
    installed = {
        "torch": {"torch": [("torch", "2.13.0+cpu")], "matplotlib_inline": [("matplotlib_inline", "0.2.2")]},
        "mxnet": {},
    }
    pinned = {"torch": {}, "mxnet": {"mxnet": "1.9.1", "matplotlib-inline": "0.2.2", "ipykernel": "7.4.0"}}
    common, extras = declare(modules, lambda name, names: installed[name], pinned.get, shared={"torch"})
    assert extras == {
        "torch": ["matplotlib-inline==0.2.2", "pil", "torch==2.13.0"],
        "mxnet": ["matplotlib-inline==0.2.2", "mxnet==1.9.1"],  # its requirements' pins, not its kernel's
    }
    assert common == ["matplotlib-inline", "pil", "torch"]
