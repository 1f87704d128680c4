"""Numeric arguments may be numpy scalars, 0-dim arrays or 0-dim tensors: the numbers they hold.

``np.float32(0.5)`` as a threshold scores exactly as ``0.5``; a bool stays refused (True is no
1.0), and every refusal names its argument. Expectations are worked by hand on a 6x6 square and
the same square shifted by 2 rows (overlap 4x6 = 24 of 36 pixels each).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import segcli
import segcli.losses
import segcli.metrics
from benchmarks.synth import label_map
from segcli.engine.backend import NUMPY
from segcli.errors import InvalidOption
from segcli.settings import ScoreOptions, ScoreSettings


def _pair():
    gt = np.zeros((16, 16), bool)
    gt[3:9, 3:9] = True
    return np.roll(gt, 2, axis=0), gt


NUMPY_KINDS = [np.float32, np.float64, np.float16, np.array]
INTEGER_KINDS = [np.int64, np.int32, np.uint8, np.array]


@pytest.mark.parametrize("kind", NUMPY_KINDS)
def test_threshold_as_a_numpy_number(kind):
    pred, gt = _pair()
    prob = pred * 0.6 + 0.2  # 0.8 inside, 0.2 outside
    assert segcli.score(prob, gt, "dice", threshold=kind(0.5))["dice"] == pytest.approx(24 / 36)
    assert segcli.score(prob, gt, "dice", threshold=kind(0.5)) == segcli.score(prob, gt, "dice", threshold=0.5)
    assert segcli.metrics.dice(prob, gt, threshold=kind(0.5)) == pytest.approx(24 / 36)


@pytest.mark.parametrize("kind", INTEGER_KINDS)
def test_nsd_tolerance_as_a_numpy_integer(kind):
    pred, gt = _pair()
    # borders 2 rows apart: nothing within 1, everything within 2 (20 border pixels each side, 8 within 1)
    assert segcli.score(pred, gt, "nsd", nsd_tolerance=kind(2))["nsd"] == 1.0
    assert segcli.score(pred, gt, "nsd", nsd_tolerance=kind(1))["nsd"] == pytest.approx(12 / 20)
    assert segcli.metrics.normalized_surface_dice(pred, gt, tolerance=kind(2)) == 1.0


@pytest.mark.parametrize("kind", NUMPY_KINDS)
def test_smooth_as_a_numpy_number(kind):
    pred, gt = _pair()
    # dice loss 1 - (2 * 24 + s) / (36 + 36 + s) with s = 1
    expected = 1 - 49 / 73
    assert segcli.score(pred, gt, "dice_loss", smooth=kind(1))["dice_loss"] == pytest.approx(expected)
    assert segcli.losses.dice_loss(pred, gt, smooth=kind(1)) == pytest.approx(expected)
    assert segcli.losses.dice_loss(pred, gt, smooth=kind(1)) == segcli.losses.dice_loss(pred, gt, smooth=1.0)


@pytest.mark.parametrize("kind", NUMPY_KINDS)
def test_empty_distance_as_a_numpy_number(kind):
    _, gt = _pair()
    empty = np.zeros_like(gt)
    assert segcli.score(empty, gt, "hd", empty_distance=kind(3))["hd"] == 3.0
    assert segcli.metrics.hausdorff_distance(empty, gt, empty_distance=kind(3)) == 3.0


def test_focal_options_as_numpy_numbers_equal_python_numbers():
    pred, gt = _pair()
    prob = pred * 0.6 + 0.2
    numpy_options = {"focal_alpha": np.float64(0.25), "focal_gamma": np.float32(3.0), "w0": np.int64(10)}
    python_options = {"focal_alpha": 0.25, "focal_gamma": 3.0, "w0": 10}
    metrics = "focal_loss,unet_wce"
    assert segcli.score(prob, gt, metrics, **numpy_options) == segcli.score(prob, gt, metrics, **python_options)


def test_a_zero_dim_torch_tensor_is_its_number():
    torch = pytest.importorskip("torch")
    pred, gt = _pair()
    prob = pred * 0.6 + 0.2
    assert segcli.score(prob, gt, "dice", threshold=torch.tensor(0.5))["dice"] == pytest.approx(24 / 36)
    assert segcli.losses.dice_loss(pred, gt, smooth=torch.tensor(1.0, requires_grad=True)) == pytest.approx(1 - 49 / 73)
    with pytest.raises(ValueError, match=r"^threshold: expected a finite number"):
        segcli.score(prob, gt, "dice", threshold=torch.tensor([0.5]))  # not one number
    with pytest.raises(ValueError, match=r"^threshold: expected a finite number"):
        segcli.score(prob, gt, "dice", threshold=torch.tensor(0.5, device="meta"))  # no value to read
    with pytest.raises(ValueError, match=r"^threshold: expected a finite number"):
        segcli.score(prob, gt, "dice", threshold=torch.tensor(True))
    from segcli.settings import plain_number

    for refused in (torch.tensor(True), torch.tensor(1 + 2j), torch.tensor([0.5])):  # come back as they are
        assert plain_number(refused) is refused


@pytest.mark.parametrize("value", [True, False, np.True_, np.array(True)])
@pytest.mark.parametrize("name", ["threshold", "nsd_tolerance", "smooth", "empty_distance", "focal_gamma"])
def test_bool_stays_refused_naming_the_argument(name, value):
    pred, gt = _pair()
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        segcli.score(pred, gt, "dice", **{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("threshold", np.float32(1.5)), ("smooth", np.float32(0)), ("nsd_tolerance", np.float64("nan")),
     ("empty_distance", np.int64(-1)), ("threshold", np.array([0.5])), ("smooth", np.complex64(1))],
)  # fmt: skip
def test_bad_numpy_values_are_refused_naming_the_argument(name, value):
    pred, gt = _pair()
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        segcli.score(pred, gt, "dice", **{name: value})


def test_settings_hold_python_numbers():
    options = ScoreOptions(smooth=np.float32(1), nsd_tolerance=np.int64(2), empty_distance=np.array(3.5))
    assert (type(options.smooth), type(options.nsd_tolerance), type(options.empty_distance)) == (float, int, float)
    settings = ScoreSettings(metrics=("dice",), threshold=np.float32(0.25), thresholds=(np.float64(0.5),))
    assert type(settings.threshold) is float and settings.threshold == 0.25
    assert type(settings.thresholds[0]) is float
    with pytest.raises(InvalidOption) as caught:
        ScoreOptions(smooth=np.bool_(True))
    assert caught.value.option == "smooth"


def test_plain_number():
    from segcli.settings import plain_number

    assert plain_number(np.float32(0.5)) == 0.5 and type(plain_number(np.float32(0.5))) is float
    assert type(plain_number(np.int64(2))) is int and type(plain_number(np.array(2, np.uint8))) is int
    assert plain_number(np.array(2.5)) == 2.5
    for refused in (True, np.False_, np.array(True), np.array([1.0]), "1", None):
        assert plain_number(refused) is refused
    assert math.isnan(plain_number(np.float32("nan")))


def test_numpy_scalar_in_a_where_keeps_float32():
    condition = np.array([True, False])
    values = np.array([0.5, 0.25], np.float32)
    assert NUMPY.where(condition, np.float64(1.0), values).dtype == np.float32
    assert NUMPY.where(condition, np.array(1.0), values).dtype == np.float32


def test_summarize_counts_numpy_scores():
    summary = segcli.summarize([{"name": "a", "dice": np.float32(0.5)}, {"name": "b", "dice": np.float32(1.0)}])
    assert summary["dice"]["mean"] == 0.75 and summary["dice"]["max"] == 1.0  # not left out


# --smooth, --dice-gamma and --combine: a bad value is exit 2 naming the option.


def _png(path: Path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


@pytest.fixture
def label_pairs(tmp_path, rng):
    for i in range(2):
        gt = label_map(rng, (16, 18), num_classes=3)
        _png(tmp_path / "gt" / f"{i}.png", gt)
        _png(tmp_path / "pred" / f"{i}.png", np.roll(np.where(gt == 255, 0, gt), i + 1, axis=1))
    return tmp_path


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--smooth", "nan"),
        ("--smooth", "-1"),
        ("--smooth", "0"),
        ("--dice-gamma", "inf"),
        ("--dice-gamma", "-2"),
        ("--combine", "0.3*bce + 0.7*dicee"),
        ("--combine", "0.3*bce; rm"),
    ],
)
def test_cli_rejects_bad_values_naming_the_option(label_pairs, option, value):
    result = CliRunner().invoke(_app(), ["score", str(label_pairs / "pred"), str(label_pairs / "gt"), option, value])
    assert result.exit_code == 2, result.output
    assert option in result.stderr


def _app():
    from segcli.cli.main import app

    return app
