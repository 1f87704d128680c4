"""The seeds' losses: squared Dice against MONAI, nearest-cell BCE and the four presets against the
sources' formulas written out in numpy (scipy's EDT for the distances), --smooth, --combine and its
parser, multi-class presets, degenerate images, and the four-category path of mask predictions."""

from __future__ import annotations

import csv
import inspect
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from typer.testing import CliRunner

from benchmarks.synth import label_map
from segcli.errors import InvalidOption
from segcli.inputs.images import Image as SegImage
from segcli.inputs.interpret import BinaryPair
from segcli.run.per_class import columns, score_multiclass_pair
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME, MULTICLASS_BY_NAME, PRESETS, SCORES, lookup, parse_combination
from segcli.settings import ScoreOptions, ScoreSettings
from tests.conftest import smooth_mask

REL = 1e-5
NEW_LOSSES = ("squared_dice_loss", "nearest_cell_bce", *PRESETS)
README = Path(__file__).resolve().parents[2] / "README.md"


def _probs(rng, shape):
    target = smooth_mask(rng, shape)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), 2)
    prob = 1 / (1 + np.exp(-(3 * (target * 2.0 - 1) + 4 * noise)))
    return prob.astype(np.float32), target


def _mask(rng, shape):
    """A bool prediction (the four-category path), its fill away from the target's: FP != FN."""
    return smooth_mask(rng, shape, fill=0.22), smooth_mask(rng, shape)


def _floats(rng, shape):
    """The same kind of hard prediction as 0.0/1.0 floats (the per-pixel path)."""
    pred, target = _mask(rng, shape)
    return pred.astype(np.float32), target


MAKERS = {"prob": _probs, "mask": _mask, "floats": _floats}
CASES = [(kind, shape) for kind in MAKERS for shape in ((41, 57), (7, 19, 23))]


@pytest.fixture(params=CASES, ids=[f"{k}-{len(s)}d" for k, s in CASES])
def case(request, rng):
    kind, shape = request.param
    return MAKERS[kind](rng, shape)


def _batch(prob, target, **options):
    hard = prob if prob.dtype == bool else prob >= 0.5
    return BinaryBatch([BinaryPair(prob=prob, hard=hard, target=target)], ScoreOptions(**options))


def _score(name, prob, target, **options):
    return float(lookup(name).compute(_batch(prob, target, **options))[0])


# -- the sources' formulas, written out in float64 ----------------------------------------------


def _clamped(prob):
    return np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)


def _ref_bce_pixels(prob, target):
    p = _clamped(prob)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def _ref_bce(prob, target):
    return _ref_bce_pixels(prob, target).mean()


def _ref_dice_loss(prob, target, smooth=1e-6):
    p, g = prob.astype(np.float64), target.astype(np.float64)
    return 1 - (2 * (p * g).sum() + smooth) / (p.sum() + g.sum() + smooth)


def _ref_focal(prob, target, alpha=0.25, gamma=2.0):
    p = prob.astype(np.float64)
    p_t = np.where(target, p, 1 - p)
    a_t = np.where(target, alpha, 1 - alpha)
    return (a_t * (1 - p_t) ** gamma * _ref_bce_pixels(prob, target)).mean()


def _ref_tversky(prob, target, alpha=0.3, beta=0.7, smooth=1e-6):
    p, g = prob.astype(np.float64), target.astype(np.float64)
    tp, fp, fn = (p * g).sum(), (p * (1 - g)).sum(), ((1 - p) * g).sum()
    return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def _ref_boundary_bce(prob, target):
    cross = ndimage.generate_binary_structure(target.ndim, 1)
    ring = ndimage.binary_dilation(target, cross) & ~ndimage.binary_erosion(target, cross)
    if not ring.any():  # an empty or full GT has no border (scipy's transform has nothing to measure to)
        return _ref_bce(prob, target)
    band = ndimage.distance_transform_cdt(~ring, metric="taxicab") <= 3
    return (np.where(band, 5.0, 1.0) * _ref_bce_pixels(prob, target)).mean()


def _ref_nearest_cell_bce(prob, target, spacing=None, eps=1e-7):
    """The source's per-pixel form: pos_weight = beta/(1-beta) + exp(-d^2), beta clipped."""
    g = target.astype(np.float64)
    beta = np.clip(1 - g.mean(), eps, 1 - eps)
    if target.any():
        d = ndimage.distance_transform_edt(~target, sampling=spacing)
    else:  # no foreground: no nearest cell, the distance is infinite
        d = np.full(target.shape, np.inf)
    pos_weight = beta / (1 - beta) + np.exp(-(d**2))
    p = _clamped(prob)
    return np.mean(-(pos_weight * g * np.log(p) + (1 - g) * np.log(1 - p)))


def _ref_preset(name, prob, target, *, focal_alpha=0.25, focal_gamma=2.0, alpha=0.3, beta=0.7, smooth=1e-6):
    bce, dice = _ref_bce(prob, target), _ref_dice_loss(prob, target, smooth)
    if name == "loss_balanced":
        return 0.5 * bce + 0.5 * dice
    if name == "loss_imbalanced":
        return 0.5 * dice + 0.5 * _ref_focal(prob, target, focal_alpha, focal_gamma)
    if name == "loss_boundary":
        return 0.3 * bce + 0.4 * dice + 0.3 * _ref_boundary_bce(prob, target)
    if name == "loss_medical":
        return 0.5 * dice + 0.5 * _ref_tversky(prob, target, alpha, beta, smooth)
    raise ValueError(name)


def _t(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))[None, None]


# -- binary losses --------------------------------------------------------------------------------


@pytest.mark.parametrize("smooth", [1e-6, 1.0])
def test_squared_dice_loss_matches_monai_squared_pred(case, smooth):
    from monai.losses import DiceLoss

    prob, target = case
    ref = DiceLoss(squared_pred=True, smooth_nr=smooth, smooth_dr=smooth)(_t(prob), _t(target)).item()
    got = _score("squared_dice_loss", prob, target, smooth=smooth)
    assert got == pytest.approx(ref, rel=REL, abs=1e-9)
    if not np.isin(prob, (0, 1)).all():  # a probability map: squaring changes the value
        assert got != pytest.approx(_score("dice_loss", prob, target, smooth=smooth), rel=1e-3)


@pytest.mark.parametrize("gamma", [1.0, 1.5, 3.0])
def test_squared_dice_loss_follows_dice_gamma(case, gamma):
    prob, target = case
    p, g = prob.astype(np.float64), target.astype(np.float64)
    ref = 1 - (2 * (p * g).sum() + 1e-6) / ((p**gamma).sum() + (g**gamma).sum() + 1e-6)
    assert _score("squared_dice_loss", prob, target, dice_gamma=gamma) == pytest.approx(ref, rel=REL, abs=1e-9)


def test_smooth_1_reproduces_the_dice_of_smoothing_1(case):
    """``--smooth 1``: 1 - (2 sum pg + 1) / (sum p + sum g + 1), as MONAI with smooth 1; the
    Tversky losses take the same smoothing."""
    from monai.losses import DiceLoss, TverskyLoss

    prob, target = case
    assert _score("dice_loss", prob, target, smooth=1.0) == pytest.approx(_ref_dice_loss(prob, target, 1.0), rel=REL)
    monai = DiceLoss(smooth_nr=1.0, smooth_dr=1.0)(_t(prob), _t(target)).item()
    assert _score("dice_loss", prob, target, smooth=1.0) == pytest.approx(monai, rel=REL, abs=1e-9)
    tversky = TverskyLoss(alpha=0.3, beta=0.7, smooth_nr=1.0, smooth_dr=1.0)(_t(prob), _t(target)).item()
    assert _score("tversky_loss", prob, target, smooth=1.0) == pytest.approx(tversky, rel=REL, abs=1e-9)
    assert _score("focal_tversky_loss", prob, target, smooth=1.0) == pytest.approx(tversky**0.75, rel=REL, abs=1e-9)
    combo = 0.5 * _ref_bce(prob, target) + 0.5 * _ref_dice_loss(prob, target, 1.0)
    assert _score("combo_loss", prob, target, smooth=1.0) == pytest.approx(combo, rel=REL)


def test_nearest_cell_bce_matches_the_formula_with_scipy_edt(case):
    prob, target = case
    spacing = (2.0, 0.7, 1.3)[-target.ndim :]
    ref = _ref_nearest_cell_bce(prob, target, spacing)
    assert _score("nearest_cell_bce", prob, target, spacing=spacing) == pytest.approx(ref, rel=REL)
    # the distance term adds exactly 1 to the weight of the positives: wbce with negatives/positives + 1
    pos_weight = (~target).sum() / target.sum() + 1
    assert _score("nearest_cell_bce", prob, target) == pytest.approx(
        _score("wbce", prob, target, pos_weight=pos_weight), rel=REL
    )


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_match_their_formulas(case, name):
    prob, target = case
    assert _score(name, prob, target) == pytest.approx(_ref_preset(name, prob, target), rel=REL)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_follow_their_components_options(case, name):
    prob, target = case
    options = {"focal_alpha": 0.6, "focal_gamma": 1.5, "tversky_alpha": 0.8, "tversky_beta": 0.2, "smooth": 1.0}
    ref = _ref_preset(name, prob, target, focal_alpha=0.6, focal_gamma=1.5, alpha=0.8, beta=0.2, smooth=1.0)
    assert _score(name, prob, target, **options) == pytest.approx(ref, rel=REL)


DEGENERATE = {
    "all background": np.zeros((9, 11), bool),
    "all foreground": np.ones((9, 11), bool),
}


@pytest.mark.parametrize("target_kind", sorted(DEGENERATE))
@pytest.mark.parametrize("pred_kind", ["empty mask", "full mask", "probabilities"])
def test_degenerate_images_give_finite_values_equal_to_the_formulas(target_kind, pred_kind, rng):
    target = DEGENERATE[target_kind]
    prob = {
        "empty mask": np.zeros(target.shape, bool),
        "full mask": np.ones(target.shape, bool),
        "probabilities": rng.random(target.shape).astype(np.float32),
    }[pred_kind]
    batch = _batch(prob, target, combine=parse_combination("0.3*bce + 0.4*dice_loss + 0.3*boundary_loss"))
    for name in (*NEW_LOSSES, "combined"):
        assert np.isfinite(lookup(name).compute(batch)[0]), name
    assert _score("nearest_cell_bce", prob, target) == pytest.approx(_ref_nearest_cell_bce(prob, target), rel=REL)
    for name in PRESETS:
        assert _score(name, prob, target) == pytest.approx(_ref_preset(name, prob, target), rel=REL, abs=1e-9), name


def test_mask_predictions_take_the_four_category_path(rng):
    """A bool prediction is scored on four values per image (no per-pixel pass, no distance
    transform for nearest_cell_bce), with the values of its 0.0/1.0 float copy."""
    pred, target = _mask(rng, (64, 80))
    as_mask = _batch(pred, target)
    as_floats = _batch(pred.astype(np.float32), target)
    assert as_mask.loss_inputs.weights.shape == (1, 4)  # TN, FN, FP, TP, weighted by their counts
    for name in NEW_LOSSES:
        assert lookup(name).compute(as_mask)[0] == pytest.approx(lookup(name).compute(as_floats)[0], rel=1e-6), name
    assert "gt_edts" not in as_mask.__dict__ and "unet_weights" not in as_mask.__dict__


def test_presets_reuse_the_component_values_of_the_batch(rng):
    """A preset computes each component once per batch, shared with that component's column."""
    pred, target = _mask(rng, (30, 40))
    batch = _batch(pred, target)
    boundary_bce = BY_NAME["boundary_bce"].compute(batch)
    BY_NAME["loss_boundary"].compute(batch)
    assert set(batch.score_values) == {"bce", "dice_loss", "boundary_bce", "loss_boundary"}
    assert batch.score_values["boundary_bce"] is boundary_bce


def test_combined_is_the_weighted_sum_of_its_columns(case):
    prob, target = case
    terms = parse_combination("0.3*bce + 0.4*dice_loss + 0.3*boundary_loss - 0.25 * squared_dice_loss")
    batch = _batch(prob, target, combine=terms, spacing=(1.0,) * target.ndim)
    expected = sum(w * BY_NAME[name].compute(batch)[0] for w, name in terms)
    assert lookup("combined").compute(batch)[0] == pytest.approx(expected, abs=1e-7)
    assert terms == ((0.3, "bce"), (0.4, "dice_loss"), (0.3, "boundary_loss"), (-0.25, "squared_dice_loss"))


# -- the --combine parser -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("bce", ((1.0, "bce"),)),
        ("-bce + dice_loss*2", ((-1.0, "bce"), (2.0, "dice_loss"))),
        (" .5*focal_loss-1e-1*loss_medical ", ((0.5, "focal_loss"), (-0.1, "loss_medical"))),
    ],
)
def test_parse_combination_accepts_weighted_sums(text, terms):
    assert parse_combination(text) == terms


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("0.3*bce + 0.7*dice", "'dice'"),  # a region score, not a loss
        ("0.3*bce + 0.7*foo", "'foo'"),
        ("0.3*bce 0.7*dice_loss", "'0.7'"),
        ("0.3 bce", "'bce'"),
        ("bce**2", "'*'"),
        ("bce*dice_loss", "'dice_loss'"),
        ("2*bce*3", "'*'"),
        ("bce + + dice_loss", "'+'"),
        ("bce;", "';'"),
        ("__import__('os').system('true')", "'('"),
        ("1e999*bce", "1e999"),
        ("nan*bce", "'nan'"),
        ("bce +", "ends"),
        ("", "empty"),
    ],
)
def test_parse_combination_names_the_bad_token(text, named):
    with pytest.raises(InvalidOption) as raised:
        parse_combination(text)
    assert raised.value.option == "combine" and named in str(raised.value)


def test_parse_combination_checks_the_mode():
    assert parse_combination("0.5*ce + 0.5*dice_loss", multiclass=True) == ((0.5, "ce"), (0.5, "dice_loss"))
    with pytest.raises(InvalidOption, match="'bce'.*multi-class form is ce"):
        parse_combination("bce", multiclass=True)
    with pytest.raises(InvalidOption, match="'ce'"):
        parse_combination("ce")


@pytest.mark.parametrize("field", ["smooth", "dice_gamma"])
@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, -1.0])
def test_options_reject_meaningless_values(field, value):
    with pytest.raises(InvalidOption) as raised:
        ScoreOptions(**{field: value})
    assert raised.value.option == field


# -- multi-class mode -----------------------------------------------------------------------------

K = 4


def _mc_values(pred, gt, metrics, **options):
    settings = ScoreSettings(metrics=tuple(metrics), num_classes=K, options=ScoreOptions(**options))
    return score_multiclass_pair(
        SegImage(pred, None, Path("p")), SegImage(gt, None, Path("g")), settings, settings.options
    )


@pytest.mark.parametrize("prediction", ["logits", "labels"])
def test_multiclass_presets_use_the_multiclass_components(rng, prediction):
    gt = label_map(rng, (30, 33), num_classes=K)
    logits = rng.standard_normal((K, 30, 33)).astype(np.float32)
    pred = logits if prediction == "logits" else np.where(gt == 255, 0, logits.argmax(0)).astype(np.uint8)
    components = ("ce", "dice_loss", "focal_loss")
    with pytest.warns(UserWarning) as caught:
        values = _mc_values(pred, gt, (*components, *PRESETS), focal_gamma=1.5, smooth=0.5)
    assert values["loss_balanced"] == pytest.approx(0.5 * values["ce"] + 0.5 * values["dice_loss"], abs=1e-9)
    assert values["loss_imbalanced"] == pytest.approx(0.5 * values["dice_loss"] + 0.5 * values["focal_loss"], abs=1e-9)
    assert values["loss_boundary"] == pytest.approx(0.3 * values["ce"] + 0.4 * values["dice_loss"], abs=1e-9)
    assert values["loss_medical"] == pytest.approx(0.5 * values["dice_loss"], abs=1e-9)
    messages = {str(w.message) for w in caught}
    assert any("loss_boundary" in m and "boundary_bce" in m for m in messages), messages
    assert any("loss_medical" in m and "tversky_loss" in m for m in messages), messages
    assert not any("loss_balanced" in m or "loss_imbalanced" in m for m in messages), messages


def test_multiclass_squared_dice_matches_monai(rng):
    from monai.losses import DiceLoss

    gt = label_map(rng, (30, 33), num_classes=K, ignore_share=0.0)
    logits = rng.standard_normal((K, 30, 33)).astype(np.float32)
    values = _mc_values(logits, gt, ["squared_dice_loss"], smooth=0.5)
    ref = DiceLoss(
        include_background=False, softmax=True, to_onehot_y=True, squared_pred=True, smooth_nr=0.5, smooth_dr=0.5
    )(torch.from_numpy(logits)[None].double(), torch.from_numpy(gt.astype(np.int64))[None, None])
    assert values["squared_dice_loss"] == pytest.approx(ref.item(), rel=REL)


def test_multiclass_combined_column(rng):
    gt = label_map(rng, (20, 21), num_classes=K)
    logits = rng.standard_normal((K, 20, 21)).astype(np.float32)
    terms = parse_combination("0.3*ce + 0.7*squared_dice_loss", multiclass=True)
    settings = ScoreSettings(metrics=("dice", "ce", "combined"), num_classes=K, options=ScoreOptions(combine=terms))
    assert columns(settings)[-2:] == ["ce", "combined"]
    values = _mc_values(logits, gt, ["ce", "squared_dice_loss", "combined"], combine=terms)
    assert values["combined"] == pytest.approx(0.3 * values["ce"] + 0.7 * values["squared_dice_loss"], abs=1e-7)


def test_multiclass_degenerate_images_are_finite():
    for gt in (np.zeros((6, 7), np.uint8), np.full((6, 7), 2, np.uint8)):
        for pred in (np.zeros_like(gt), np.full_like(gt, 3)):
            with pytest.warns(UserWarning):
                values = _mc_values(pred, gt, (*MULTICLASS_BY_NAME,))
            assert all(np.isfinite(values[name]) for name in ("squared_dice_loss", *PRESETS)), values


# -- the CLI, the table, the README ----------------------------------------------------------------


def _png(path: Path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _rows(stdout: str) -> list[dict]:
    return [r for r in csv.DictReader(io.StringIO(stdout)) if not r["name"].startswith("summary:")]


@pytest.fixture
def label_pairs(tmp_path, rng):
    for i in range(2):
        gt = label_map(rng, (16, 18), num_classes=3)
        _png(tmp_path / "gt" / f"{i}.png", gt)
        _png(tmp_path / "pred" / f"{i}.png", np.roll(np.where(gt == 255, 0, gt), i + 1, axis=1))
    return tmp_path


def test_cli_combine_multiclass_column_and_preset_warnings(label_pairs):
    args = ["score", str(label_pairs / "pred"), str(label_pairs / "gt"), "--num-classes", "3", "--format", "csv"]
    result = CliRunner().invoke(
        _app(), [*args, "--metrics", "ce,dice_loss,loss_boundary", "--combine", "0.25*ce + 0.75*dice_loss"]
    )
    assert result.exit_code == 0, result.output
    for row in _rows(result.stdout):
        expected = 0.25 * float(row["ce"]) + 0.75 * float(row["dice_loss"])
        assert float(row["combined"]) == pytest.approx(expected, abs=1e-7)
    assert "loss_boundary in multi-class mode is 0.3 ce + 0.4 dice_loss" in result.stderr
    assert "boundary_bce" in result.stderr
    bad = CliRunner().invoke(_app(), [*args, "--combine", "0.5*bce + 0.5*dice_loss"])
    assert bad.exit_code == 2 and "--combine" in bad.stderr and "'bce'" in bad.stderr


def test_cli_combine_binary_column(tmp_path, rng):
    for i in range(2):
        _png(tmp_path / "gt" / f"{i}.png", smooth_mask(rng, (20, 24)) * 255)
        _png(tmp_path / "pred" / f"{i}.png", smooth_mask(rng, (20, 24)) * 255)
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--format", "csv", "--metrics", "bce,dice_loss"]
    result = CliRunner().invoke(_app(), [*args, "--combine", "0.3*bce + 0.7*dice_loss"])
    assert result.exit_code == 0, result.output
    for row in _rows(result.stdout):
        expected = 0.3 * float(row["bce"]) + 0.7 * float(row["dice_loss"])
        assert float(row["combined"]) == pytest.approx(expected, abs=1e-7)


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


def test_cli_defaults_are_the_options_defaults():
    from segcli.cli.score import score

    parameters = inspect.signature(score).parameters
    assert parameters["smooth"].default == ScoreOptions().smooth
    assert parameters["dice_gamma"].default == ScoreOptions().dice_gamma


def test_metrics_command_and_readme_list_the_new_losses():
    result = CliRunner().invoke(_app(), ["metrics"])
    assert result.exit_code == 0
    table_rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for name in (*NEW_LOSSES, "combined"):
        assert name in result.stdout, name
        assert any(name in row.split("|")[1] for row in table_rows), name
    formulas = {s.formula for s in SCORES if s.name in NEW_LOSSES}
    assert "0.3 bce + 0.4 dice_loss + 0.3 boundary_bce" in formulas


def _app():
    from segcli.cli.main import app

    return app
