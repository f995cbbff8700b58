"""The package's dependencies: a requirements file's pins, and the requirements declared from them."""

from __future__ import annotations

from d2lext.package.dependencies import declare, imported, pins

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
    common, extras = declare(modules, lambda name, names: installed[name], pinned.get)
    assert extras == {
        "torch": ["matplotlib-inline==0.2.2", "pil", "torch==2.13.0"],
        "mxnet": ["matplotlib-inline==0.2.2", "mxnet==1.9.1"],  # its requirements' pins, not its kernel's
    }
    assert common == ["matplotlib-inline"]  # what both modules import; torch and PIL only in torch's extra


def test_what_every_framework_imports_is_common_and_the_rest_is_in_its_extra():
    """The saved imports of 动手学深度学习's preface: pandas and requests for every tab, torch,
    torchvision and PIL for PyTorch alone (MXNet's environment not made here: its pins)."""
    modules = {
        "torch": imported(
            "import sys\nimport pandas as pd\nimport requests\nimport torch\nimport torchvision\n"
            "from torch import nn\nfrom PIL import Image\n",
            "d2l",
        ),
        "mxnet": imported("import pandas as pd\nimport requests\nfrom mxnet import np\n", "d2l"),
    }
    versions = {
        "numpy": "2.4.6", "matplotlib": "3.11.2", "matplotlib_inline": "0.2.2", "IPython": "9.18.1",
        "pandas": "3.0.1", "requests": "2.34.2", "torch": "2.14.1", "torchvision": "0.29.1",
    }  # fmt: skip
    distribution = {"PIL": ("pillow", "12.2.0"), "matplotlib_inline": ("matplotlib-inline", "0.2.2")}
    installed = {
        "torch": {name: [distribution.get(name, (name, versions.get(name)))] for name in modules["torch"]},
        "mxnet": {},
    }
    pinned = {"torch": {}, "mxnet": {"mxnet": "1.9.1", "numpy": "1.23.5", "pandas": "2.2.3"}}
    common, extras = declare(modules, lambda name, names: installed[name], pinned.get)
    assert common == ["ipython", "matplotlib", "matplotlib-inline", "numpy", "pandas", "requests"]
    assert extras["torch"] == [
        "ipython==9.18.1",
        "matplotlib-inline==0.2.2",
        "matplotlib==3.11.2",
        "numpy==2.4.6",
        "pandas==3.0.1",
        "pillow==12.2.0",
        "requests==2.34.2",
        "torch==2.14.1",
        "torchvision==0.29.1",
    ]
    assert extras["mxnet"] == ["mxnet==1.9.1", "numpy==1.23.5", "pandas==2.2.3"]
