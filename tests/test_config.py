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
        ({"d2l_selected": ","}, r"the selection of frameworks \(FRAMEWORKS / d2l_selected\) is empty"),
        ({"d2l_selected": []}, r"the selection of frameworks \(FRAMEWORKS / d2l_selected\) is empty"),
        ({"d2l_timeout": True}, "d2l_timeout must be a positive number"),
        ({"d2l_cache_size": "lots"}, "d2l_cache_size must be a size such as '1GB'"),
    ],
)
def test_bad_configuration_names_the_option(overrides, message):
    with pytest.raises(BookError, match=message):
        load(conf(**overrides))


def test_timeouts_and_cache_sizes_in_the_units_people_write():
    assert load(conf(d2l_timeout=1.5)).timeout == 1.5
    assert load(conf(d2l_timeout="1.5")).timeout == 1.5  # as `-D d2l_timeout=1.5` gives it
    assert load(conf(d2l_timeout=600)).timeout == 600
    assert load(conf()).cache_size == 2**30
    assert load(conf(d2l_cache_size="500MB")).cache_size == 500 * 2**20
    assert load(conf(d2l_cache_size=4096)).cache_size == 4096
