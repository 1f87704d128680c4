"""weightmap's and classweights' option checks live in the library: ``InvalidOption`` naming the
option as the API spells it (``str``), which the CLI spells as its flag (``--wc`` for weightmap's
``class_weights``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from segcli import classweights as cw
from segcli.errors import InvalidOption, UsageError
from segcli.settings import default, flag
from segcli.weightmaps import check_map_options, check_out_dir, map_class_weights

MAP_DEFAULTS = {
    "w0": default("w0"),
    "sigma": default("sigma"),
    "class_weights": default("class_weights", "weightmap"),
    "class_weight_scheme": default("class_weight_scheme"),
    "connectivity": default("connectivity", "weightmap"),
}


@pytest.mark.parametrize(
    ("given", "name", "api", "cli"),
    [
        ({"connectivity": 3}, "connectivity", "connectivity: expected 1 or 2, got 3",
         "--connectivity: expected 1 or 2, got 3"),
        ({"connectivity": 0}, "connectivity", "connectivity: expected 1 or 2, got 0",
         "--connectivity: expected 1 or 2, got 0"),
        ({"sigma": 0.0}, "sigma", "sigma: expected a finite number > 0, got 0.0",
         "--sigma: expected a finite number > 0, got 0.0"),
        ({"w0": -1.0}, "w0", "w0: expected a finite number >= 0, got -1.0",
         "--w0: expected a finite number >= 0, got -1.0"),
        ({"class_weights": "1,-2"}, "class_weights",
         "class_weights: expected two finite weights >= 0 (background, foreground), got '1,-2'",
         "--wc: expected two finite weights >= 0 (background, foreground), got '1,-2'"),
        ({"workers": 0}, "workers", "workers: expected >= 1, got 0", "--workers: expected >= 1, got 0"),
    ],
)  # fmt: skip
def test_weight_map_options_are_checked_in_the_library(given, name, api, cli):
    with pytest.raises(InvalidOption) as caught:
        check_map_options(**{**MAP_DEFAULTS, **given})
    assert caught.value.option == name
    assert str(caught.value) == api
    assert caught.value.spelled(lambda n: flag(n, "weightmap")) == cli


def test_weight_map_class_terms():
    assert check_map_options(**MAP_DEFAULTS) == "uniform"
    assert check_map_options(**{**MAP_DEFAULTS, "class_weights": "0.5,2"}) == (0.5, 2.0)
    assert map_class_weights("balanced", "inverse") == "balanced"
    with pytest.raises(UsageError) as caught:
        map_class_weights("1,2,3", "inverse")
    assert str(caught.value) == "class_weights: 3 weights for 2 classes"
    assert caught.value.spelled(lambda n: flag(n, "weightmap")) == "--wc: 3 weights for 2 classes"
    with pytest.raises(UsageError, match="overwrite and skip_existing contradict each other"):
        check_map_options(**MAP_DEFAULTS, overwrite=True, skip_existing=True)


def test_an_out_dir_inside_the_masks_is_refused(tmp_path):
    check_out_dir(tmp_path / "masks", tmp_path / "out")
    with pytest.raises(UsageError, match="is the input directory"):
        check_out_dir(tmp_path, tmp_path)
    with pytest.raises(UsageError, match="is inside the input directory"):
        check_out_dir(tmp_path, tmp_path / "sub" / "out")
    check_out_dir(tmp_path / "masks", Path(str(tmp_path / "masks") + "2"))  # a sibling with a longer name


@pytest.mark.parametrize(
    ("given", "name", "message"),
    [
        ({"scheme": "foo"}, "scheme", "scheme: unknown 'foo'; known: inverse, balanced, median, enet, effective, all"),
        ({"scheme": " , "}, "scheme", "scheme: unknown ' , '; known: inverse, balanced, median, enet, effective, all"),
        ({"beta": 1.0}, "beta", "beta: expected 0 <= beta < 1, got 1.0"),
        ({"beta": float("nan")}, "beta", "beta: expected 0 <= beta < 1, got nan"),
        ({"beta": -0.1}, "beta", "beta: expected 0 <= beta < 1, got -0.1"),
        ({"num_classes": 1}, "num_classes",
         "num_classes: expected 2..65536 (weights balance two or more classes), got 1"),
        ({"workers": 0}, "workers", "workers: expected >= 1, got 0"),
    ],
)  # fmt: skip
def test_class_weight_options_are_checked_in_the_library(given, name, message):
    with pytest.raises(InvalidOption) as caught:
        cw.check_options(**given)
    assert caught.value.option == name and str(caught.value) == message


def test_class_weight_schemes():
    assert cw.check_options() == list(cw.SCHEMES)
    assert cw.check_options(scheme=" all ", beta=0.0, num_classes=2, workers=1) == list(cw.SCHEMES)
    assert cw.check_options(scheme="median, enet,") == ["median", "enet"]
