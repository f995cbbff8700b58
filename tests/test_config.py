"""Configuration: validated, with messages naming the option."""

from types import SimpleNamespace

import pytest

from d2lext.config import Environment, defaults, load, split_names
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


def test_a_framework_may_name_its_own_environment():
    frameworks = {
        "torch": {"label": "PyTorch"},
        "mxnet": {"label": "MXNet", "environment": "requirements/mxnet.txt"},
        "old": {"label": "Old", "environment": {"requirements": "old.txt", "python": "python3.11"}},
        "custom": {"label": "Custom", "kernel": "my-kernel"},
    }
    config = load(conf(d2l_frameworks=frameworks))
    assert config.frameworks["torch"].environment is None and config.frameworks["torch"].kernel == "python3"
    assert config.frameworks["mxnet"].environment == Environment("requirements/mxnet.txt", "")
    assert config.frameworks["mxnet"].kernel == "d2l-mxnet"  # the kernel the build registers
    assert config.frameworks["old"].environment == Environment("old.txt", "python3.11")
    assert config.frameworks["custom"].kernel == "my-kernel" and config.frameworks["custom"].environment is None
    assert load(conf(d2l_frameworks=frameworks, d2l_selected="all")).selected == ("torch", "mxnet", "old", "custom")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"environment": "a.txt", "kernel": "k"}, "give either 'kernel' .* or 'environment'"),
        ({"environment": {"python": "python3.11"}}, r"\['environment'\] must be a requirements file"),
        ({"environment": {"requirements": "a.txt", "pip": "x"}}, r"\['environment'\] must be a requirements file"),
        ({"environment": {"requirements": "a.txt", "python": 3}}, r"\['python'\] must be a command or a path"),
        ({"environment": 5}, r"\['environment'\] must be a requirements file"),
    ],
)
def test_bad_environments_name_the_option(spec, message):
    with pytest.raises(BookError, match=message):
        load(conf(d2l_frameworks={"mxnet": {"label": "MXNet", **spec}}))
