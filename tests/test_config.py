"""Configuration: validated, with messages naming the option."""

from types import SimpleNamespace

import pytest

from d2lext.config import defaults, load, split_names
from d2lext.errors import BookError


def conf(**overrides):
    values = defaults()
    values["d2l_frameworks"] = {"torch": {"label": "PyTorch"}, "numpy": "NumPy"}
    values.update(overrides)
    return SimpleNamespace(**values)


def test_selection_keeps_configured_order_and_accepts_make_syntax():
    assert split_names(["numpy torch"]) == ["numpy", "torch"]
    assert load(conf(d2l_selected=["numpy torch"])).selected == ("torch", "numpy")
    assert load(conf(d2l_selected="numpy")).selected == ("numpy",)
    assert load(conf()).selected == ("torch", "numpy")  # nothing selected: all


def test_labels_and_defaults():
    config = load(conf())
    assert config.frameworks["numpy"].label == "NumPy"
    assert config.frameworks["torch"].requires == ("torch",)
    assert config.multi and config.jobs >= 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"d2l_selected": "jax"}, "unknown framework 'jax' in FRAMEWORKS / d2l_selected"),
        ({"d2l_frameworks": {}}, "d2l_frameworks must be a non-empty dict"),
        ({"d2l_frameworks": {"torch": {"lable": "x"}}}, r"d2l_frameworks\['torch'\] has unknown keys \['lable'\]"),
        ({"d2l_frameworks": {"Torch": "x"}}, "not a valid framework name"),
        ({"d2l_timeout": 0}, "d2l_timeout must be a positive number"),
        ({"d2l_jobs": "many"}, r"d2l_jobs \(JOBS\) must be a positive whole number"),
    ],
)
def test_bad_configuration_names_the_option(overrides, message):
    with pytest.raises(BookError, match=message):
        load(conf(**overrides))
