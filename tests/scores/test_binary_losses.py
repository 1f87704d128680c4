"""Binary losses against torch functional losses, MONAI losses, and SPEC formulas written out
independently in float64 (scipy for the distance maps), on probability maps and on hard masks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from segcli.engine.backend import TorchOps
from segcli.engine.stats import confusion_counts
from segcli.errors import InvalidOption
from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.binary_losses import combo_loss, lovasz_jaccard
from segcli.scores.loss_inputs import LossInputs
from segcli.scores.table import BY_NAME, PRESETS, lookup, parse_combination
from segcli.settings import ScoreOptions
from tests.conftest import smooth_mask

REL = 1e-4


def _probs(rng, shape):
    target = smooth_mask(rng, shape)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), 2)
    prob = 1 / (1 + np.exp(-(3 * (target * 2.0 - 1) + 4 * noise)))
    return np.clip(prob, 1e-4, 1 - 1e-4).astype(np.float32), target


def _hard(rng, shape):
    target = smooth_mask(rng, shape)
    return smooth_mask(rng, shape).astype(np.float32), target


def _mask(rng, shape):
    """A hard prediction as the pipeline hands it over: the bool mask itself (the four-category
    path of the losses), not 0.0/1.0 floats (the per-pixel path). Its fill differs from the
    target's, so FP and FN counts differ."""
    target = smooth_mask(rng, shape)
    return smooth_mask(rng, shape, fill=0.22), target


def _score(name, prob, target, **options):
    pair = BinaryPair(prob=prob, hard=prob >= 0.5, target=target)
    return BY_NAME[name].compute(BinaryBatch([pair], ScoreOptions(**options)))[0]


def _spec_bce_pixels(prob, target):
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


CASES = [(kind, shape) for kind in ("prob", "hard", "mask") for shape in ((48, 61), (7, 20, 22))]
MAKERS = {"prob": _probs, "hard": _hard, "mask": _mask}


@pytest.fixture(params=CASES, ids=[f"{k}-{len(s)}d" for k, s in CASES])
def case(request, rng):
    kind, shape = request.param
    return MAKERS[kind](rng, shape)


def _t(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))


def test_bce_matches_spec_and_torch(case):
    prob, target = case
    expected = _spec_bce_pixels(prob, target).mean()
    assert _score("bce", prob, target) == pytest.approx(expected, rel=REL)
    if prob.min() > 0 and prob.max() < 1:  # torch clamps logs at -100, not 1e-7
        assert _score("bce", prob, target) == pytest.approx(
            F.binary_cross_entropy(_t(prob), _t(target)).item(), rel=REL
        )


def test_balanced_bce_matches_torch_weighted_bce(case):
    prob, target = case
    b = 1 - target.mean()
    weight = np.where(target, b, 1 - b)
    expected = (weight * _spec_bce_pixels(prob, target)).mean()
    assert _score("balanced_bce", prob, target) == pytest.approx(expected, rel=REL)
    if prob.min() > 0 and prob.max() < 1:
        ref = F.binary_cross_entropy(_t(prob), _t(target), weight=_t(weight)).item()
        assert _score("balanced_bce", prob, target) == pytest.approx(ref, rel=REL)


def test_wbce_matches_torch_pos_weight(case):
    prob, target = case
    pos_weight = (~target).sum() / target.sum()
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    ref = F.binary_cross_entropy_with_logits(
        _t(np.log(p / (1 - p))), _t(target), pos_weight=torch.tensor(pos_weight, dtype=torch.float64)
    ).item()
    assert _score("wbce", prob, target) == pytest.approx(ref, rel=REL)
    assert _score("wbce", prob, target, pos_weight=2.0) == pytest.approx(
        (np.where(target, 2.0, 1.0) * _spec_bce_pixels(prob, target)).mean(), rel=REL
    )


def test_focal_loss_matches_monai(case):
    from monai.losses import FocalLoss

    prob, target = case
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    logits = _t(np.log(p / (1 - p)))[None, None]
    ref = FocalLoss(gamma=2.0, alpha=0.25, use_softmax=False)(logits, _t(target)[None, None]).item()
    assert _score("focal_loss", prob, target) == pytest.approx(ref, rel=REL)


def test_dice_and_tversky_losses_match_monai(case):
    from monai.losses import DiceLoss, TverskyLoss

    prob, target = case
    x, y = _t(prob)[None, None], _t(target)[None, None]
    dice = DiceLoss(smooth_nr=1e-6, smooth_dr=1e-6)(x, y).item()
    tversky = TverskyLoss(alpha=0.3, beta=0.7, smooth_nr=1e-6, smooth_dr=1e-6)(x, y).item()
    assert _score("dice_loss", prob, target) == pytest.approx(dice, rel=REL, abs=1e-9)
    assert _score("tversky_loss", prob, target) == pytest.approx(tversky, rel=REL, abs=1e-9)
    assert _score("focal_tversky_loss", prob, target) == pytest.approx(tversky**0.75, rel=REL, abs=1e-9)
    bce = F.binary_cross_entropy(_t(np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)), _t(target)).item()
    assert _score("combo_loss", prob, target) == pytest.approx(0.5 * bce + 0.5 * dice, rel=REL)


def _lovasz_hinge_reference(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Berman et al.'s reference lovasz_hinge_flat, written out in torch."""
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, descending=True)
    gt_sorted = labels[perm]
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return torch.dot(F.relu(errors_sorted), jaccard).item()


def test_lovasz_hinge_matches_reference_code(case):
    prob, target = case
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    ref = _lovasz_hinge_reference(_t(np.log(p / (1 - p))).ravel(), _t(target).ravel())
    assert _score("lovasz_hinge", prob, target) == pytest.approx(ref, rel=REL)


def _unet_map_reference(target, w0=10.0, sigma=5.0):
    """Per-instance full-image distance transforms (the slow snippet users copy)."""
    instances, n = ndimage.label(target)
    weights = np.ones(target.shape)
    if n < 2:
        return weights
    distances = np.sort(np.stack([ndimage.distance_transform_edt(instances != i) for i in range(1, n + 1)]), axis=0)
    border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
    return np.where(instances == 0, weights + border, weights)


def test_weighted_bce_losses_match_references(case):
    prob, target = case
    pixel = _spec_bce_pixels(prob, target)
    assert _score("unet_wce", prob, target) == pytest.approx((_unet_map_reference(target) * pixel).mean(), rel=REL)
    # boundary band: city-block distance <= 3 from the ring dilate(G) - erode(G)
    cross = ndimage.generate_binary_structure(target.ndim, 1)
    ring = ndimage.binary_dilation(target, cross) & ~ndimage.binary_erosion(target, cross)
    band = ndimage.distance_transform_cdt(~ring, metric="taxicab") <= 3
    assert _score("boundary_bce", prob, target) == pytest.approx((np.where(band, 5.0, 1.0) * pixel).mean(), rel=REL)
    sdf = ndimage.distance_transform_edt(target) - ndimage.distance_transform_edt(~target)
    assert _score("distmap_bce", prob, target) == pytest.approx((np.exp(-np.abs(sdf) / 5) * pixel).mean(), rel=REL)
    phi = np.where(target, -(ndimage.distance_transform_edt(target) - 1), ndimage.distance_transform_edt(~target))
    assert _score("boundary_loss", prob, target) == pytest.approx((prob * phi).mean(), rel=REL, abs=1e-9)


@pytest.mark.parametrize("as_mask", [False, True], ids=["floats", "mask"])
def test_losses_of_a_perfect_hard_prediction(as_mask):
    """Also the four-category path with two empty categories (no FP, no FN)."""
    target = np.zeros((10, 10), bool)
    target[2:6, 3:8] = True
    prob = target.copy() if as_mask else target.astype(np.float32)
    pixel = _spec_bce_pixels(prob, target)
    sdf = ndimage.distance_transform_edt(target) - ndimage.distance_transform_edt(~target)
    assert _score("distmap_bce", prob, target) == pytest.approx((np.exp(-np.abs(sdf) / 5) * pixel).mean(), rel=REL)
    assert _score("lovasz_hinge", prob, target) == pytest.approx(0.0, abs=1e-9)
    assert _score("bce", prob, target) == pytest.approx(-np.log(1 - 1e-7), rel=1e-3)
    assert _score("dice_loss", prob, target) == pytest.approx(0.0, abs=1e-9)
    assert _score("tversky_loss", prob, target) == pytest.approx(0.0, abs=1e-9)
    # p = 1 on G: phi is <= 0 inside (0 on the inner border), so the boundary loss is its minimum
    assert _score("boundary_loss", prob, target) <= 0


DEGENERATE_HARD_PAIRS = {
    "both empty": (np.zeros((8, 8), bool), np.zeros((8, 8), bool)),
    "prediction empty": (np.zeros((8, 8), bool), np.eye(8, dtype=bool)),
    "target empty": (np.eye(8, dtype=bool), np.zeros((8, 8), bool)),
    "both full": (np.ones((8, 8), bool), np.ones((8, 8), bool)),
}


@pytest.mark.parametrize("case", DEGENERATE_HARD_PAIRS)
def test_hard_mask_losses_with_empty_categories_match_the_spec(case):
    """Mask predictions with whole categories missing: finite, no warnings, equal to the SPEC
    formulas (BCE written out; Lovász by the reference code)."""
    pred, target = DEGENERATE_HARD_PAIRS[case]
    pixel = _spec_bce_pixels(pred, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = {name: _score(name, pred, target) for name, s in BY_NAME.items() if s.group == "losses"}
    assert all(np.isfinite(v) for v in values.values()), values
    assert values["bce"] == pytest.approx(pixel.mean(), rel=REL)
    p = np.clip(pred.astype(np.float64), 1e-7, 1 - 1e-7)
    ref = _lovasz_hinge_reference(_t(np.log(p / (1 - p))).ravel(), _t(target).ravel())
    assert values["lovasz_hinge"] == pytest.approx(ref, rel=REL, abs=1e-9)


def test_hard_mask_wrong_pixel_costs_log_1e7():
    target = np.array([[True, False]])
    prob = np.array([[0.0, 0.0]], np.float32)
    # pixel 1: -log(1e-7) = 16.118; pixel 2: -log(1 - 1e-7) ~ 1e-7
    assert _score("bce", prob, target) == pytest.approx(-np.log(1e-7) / 2, rel=1e-6)


def test_empty_target_losses_are_finite():
    target = np.zeros((8, 8), bool)
    prob = np.full((8, 8), 0.2, np.float32)
    for name in (
        "bce",
        "balanced_bce",
        "wbce",
        "focal_loss",
        "dice_loss",
        "tversky_loss",
        "lovasz_hinge",
        "unet_wce",
        "boundary_bce",
        "distmap_bce",
        "boundary_loss",
    ):
        assert np.isfinite(_score(name, prob, target)), name
    # no GT border: weights 1, so distmap_bce is plain bce; boundary loss has phi = 0
    assert _score("distmap_bce", prob, target) == pytest.approx(_score("bce", prob, target), rel=1e-6)
    assert _score("boundary_loss", prob, target) == 0.0


# Binary losses (segcli/scores/binary_losses.py): the
# weights of wbce, balanced_bce and nearest_cell_bce when a class is missing or fills the image,
# non-default parameters (focal alpha/gamma, Tversky alpha/beta, squared Dice gamma, combo alpha),
# the torch path of the Lovász hinge on tiny inputs and weighted Lovász sums. References are torch,
# MONAI and the SPEC formulas written out in float64.

REL5 = 1e-5


def _loss(name, prob, target, ops=None, **options):
    pair = BinaryPair(prob=prob, hard=prob >= 0.5, target=target)
    batch = (
        BinaryBatch([pair], ScoreOptions(**options))
        if ops is None
        else BinaryBatch([pair], ScoreOptions(**options), ops=ops)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return float(BY_NAME[name].compute(batch)[0])


def _pixel_bce(prob, target):
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


FULL = np.ones((4, 5), bool)

EMPTY = np.zeros((4, 5), bool)

PROB = np.linspace(0.05, 0.95, 20, dtype=np.float32).reshape(4, 5)


@pytest.mark.parametrize("target", [FULL, EMPTY], ids=["all positive", "no positive"])
@pytest.mark.parametrize("pred", ["prob", "mask"])
def test_class_weighted_bces_when_one_class_is_missing(target, pred):
    """negatives / positives has no value with a class missing: wbce's weight is then 1 (plain
    BCE), balanced_bce's b (the share of negatives) is 0 or 1 (a zero loss), nearest_cell_bce's weight is
    negatives/positives + 1 = 1 on an all-positive image."""
    prob = PROB if pred == "prob" else np.eye(4, 5, dtype=bool)
    pixel = _pixel_bce(prob, target)
    assert _loss("wbce", prob, target) == pytest.approx(pixel.mean(), rel=REL5)
    assert _loss("nearest_cell_bce", prob, target) == pytest.approx(pixel.mean(), rel=REL5)
    # b = 0 weighs the positives of an all-positive image by 0; b = 1 the negatives of an empty one
    assert _loss("balanced_bce", prob, target) == 0.0


@pytest.mark.parametrize("positives", [3, 19], ids=["3 positives", "one negative"])
@pytest.mark.parametrize("pred", ["prob", "mask"])
def test_nearest_cell_and_wbce_weights_with_both_classes(positives, pred, rng):
    """Hand-worked weights: k positives in 20 pixels -> wbce weight (20 - k) / k, nearest_cell
    (20 - k) / k + 1; torch's pos_weight as the reference of wbce."""
    target = np.zeros(20, bool)
    target[1 : 1 + positives] = True
    target = target.reshape(4, 5)
    ratio = (20 - positives) / positives
    prob = PROB if pred == "prob" else smooth_mask(rng, (4, 5), fill=0.4)
    pixel = _pixel_bce(prob, target)
    for name, w in (("wbce", ratio), ("nearest_cell_bce", ratio + 1)):
        expected = (np.where(target, w, 1.0) * pixel).mean()
        assert _loss(name, prob, target) == pytest.approx(expected, rel=REL5), name
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    ref = F.binary_cross_entropy_with_logits(
        _t(np.log(p / (1 - p))), _t(target), pos_weight=torch.tensor(ratio, dtype=torch.float64)
    ).item()
    assert _loss("wbce", prob, target) == pytest.approx(ref, rel=REL5)


@pytest.mark.parametrize("alpha,gamma", [(-1.0, 2.0), (0.6, 1.5), (0.0, 0.0)])
@pytest.mark.parametrize("pred", ["prob", "mask"])
def test_focal_loss_parameters_match_monai(alpha, gamma, pred, rng):
    """alpha < 0 turns the class weighting off (MONAI's alpha=None); gamma other than 2."""
    from monai.losses import FocalLoss

    target = smooth_mask(rng, (20, 23))
    prob = (rng.random((20, 23)) * 0.9 + 0.05).astype(np.float32) if pred == "prob" else smooth_mask(rng, (20, 23))
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    logits = _t(np.log(p / (1 - p)))[None, None]
    ref = FocalLoss(gamma=gamma, alpha=None if alpha < 0 else alpha, use_softmax=False)(
        logits, _t(target)[None, None]
    ).item()
    got = _loss("focal_loss", prob, target, focal_alpha=alpha, focal_gamma=gamma)
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("pred", ["prob", "mask"])
def test_dice_family_with_non_default_parameters_match_monai(pred, rng):
    from monai.losses import DiceLoss, TverskyLoss

    target = smooth_mask(rng, (21, 19))
    prob = (rng.random((21, 19)) * 0.9 + 0.05).astype(np.float32) if pred == "prob" else smooth_mask(rng, (21, 19))
    x, y = _t(prob)[None, None], _t(target)[None, None]
    squared = DiceLoss(squared_pred=True, smooth_nr=1e-6, smooth_dr=1e-6)(x, y).item()
    assert _loss("squared_dice_loss", prob, target) == pytest.approx(squared, rel=REL5)
    # gamma 3: the SPEC formula written out (a binary target has g^3 = g)
    p = np.asarray(prob, np.float64)
    cubed = 1 - (2 * (p * target).sum() + 0.5) / ((p**3).sum() + target.sum() + 0.5)
    assert _loss("squared_dice_loss", prob, target, dice_gamma=3.0, smooth=0.5) == pytest.approx(cubed, rel=REL5)
    linear = 1 - (2 * (p * target).sum() + 0.5) / (p.sum() + target.sum() + 0.5)
    assert _loss("squared_dice_loss", prob, target, dice_gamma=1.0, smooth=0.5) == pytest.approx(linear, rel=REL5)
    assert _loss("dice_loss", prob, target, smooth=0.5) == pytest.approx(linear, rel=REL5)
    tversky = TverskyLoss(alpha=0.8, beta=0.1, smooth_nr=2.0, smooth_dr=2.0)(x, y).item()
    opts = {"tversky_alpha": 0.8, "tversky_beta": 0.1, "smooth": 2.0}
    assert _loss("tversky_loss", prob, target, **opts) == pytest.approx(tversky, rel=REL5)
    got = _loss("focal_tversky_loss", prob, target, focal_tversky_gamma=1.7, **opts)
    assert got == pytest.approx(tversky**1.7, rel=REL5)
    dice = DiceLoss(smooth_nr=1e-6, smooth_dr=1e-6)(x, y).item()
    bce = _pixel_bce(prob, target).mean()
    assert _loss("combo_loss", prob, target, combo_alpha=0.3) == pytest.approx(0.3 * bce + 0.7 * dice, rel=REL5)


TINY = {
    # a positive error needs p < 0.731 on a positive pixel, p > 0.269 on a negative one
    "one error, a positive": (np.array([[0.99, 0.3, 0.01]], np.float32), np.array([[True, True, False]])),
    "one error, a negative": (np.array([[0.99, 0.6, 0.01]], np.float32), np.array([[True, False, False]])),
    "no error": (np.array([[0.9999, 0.0001]], np.float32), np.array([[True, False]])),
    "all wrong": (np.array([[0.2, 0.9, 0.6, 0.1]], np.float32), np.array([[True, False, False, True]])),
}


@pytest.mark.parametrize("case", TINY)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_lovasz_hinge_on_tiny_images_matches_reference_code(case, backend):
    """A single pixel with a positive error (the one-element Lovász gradient), none, or all."""
    prob, target = TINY[case]
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    ref = _lovasz_hinge_reference(_t(np.log(p / (1 - p))).ravel(), _t(target).ravel())
    ops = TorchOps("cpu") if backend == "torch" else None
    assert _loss("lovasz_hinge", prob, target, ops=ops) == pytest.approx(ref, rel=REL5, abs=1e-9)


def test_weighted_lovasz_jaccard_equals_the_repeated_elements(rng):
    """weights = how many pixels an element stands for: the same as repeating it, and the same
    as the reference code on the repeated errors; total_positive adds positives of error 0."""
    errors = rng.random(9).astype(np.float32)
    positive = rng.random(9) < 0.5
    counts = rng.integers(1, 4, 9)
    expanded_e, expanded_g = np.repeat(errors, counts), np.repeat(positive, counts)
    got = lovasz_jaccard(errors, positive, weights=counts)
    assert got == pytest.approx(lovasz_jaccard(expanded_e, expanded_g), rel=1e-9)
    order = np.argsort(-expanded_e, kind="stable")
    g = _t(expanded_g[order])
    gts = g.sum()
    jac = 1.0 - (gts - g.cumsum(0)) / (gts + (1 - g).cumsum(0))
    jac[1:] = jac[1:] - jac[:-1]
    assert got == pytest.approx(torch.dot(_t(expanded_e[order]), jac).item(), rel=1e-6)
    extra = lovasz_jaccard(errors, positive, weights=counts, total_positive=float((counts * positive).sum() + 2))
    with_zeros = lovasz_jaccard(np.r_[expanded_e, 0.0, 0.0], np.r_[expanded_g, True, True])
    assert extra == pytest.approx(with_zeros, rel=1e-9)


def test_combo_loss_default_weighs_bce_and_dice_equally():
    """combo_loss's default alpha is 0.5 (Taghanaki et al.): p = (0.5, 0.5), g = (1, 0) gives
    bce = log 2 and dice_loss = 1 - (1 + s) / (2 + s), so (log 2 + 1/2) / 2 with s = 0."""
    x = LossInputs(np.array([[0.5, 0.5]]), np.array([[True, False]]))
    assert combo_loss(x, smooth=0.0)[0] == pytest.approx((np.log(2) + 0.5) / 2, rel=1e-6)


def test_weights_are_refused_on_a_torch_device_by_name():
    with pytest.raises(ValueError, match=r"^weights: the weighted form is computed with numpy"):
        LossInputs(np.array([[0.5, 0.2]]), np.array([[True, False]]), TorchOps("cpu"), weights=np.ones((1, 2)))


def _hard_inputs(pred, target, *, on_device=False):
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    masks = (lambda: (torch.from_numpy(pred), torch.from_numpy(target))) if on_device else None
    return LossInputs.of_hard_masks(pred, target, confusion_counts(pred, target), device_masks=masks)


# One image: TP, TN, FP, FP, FN, FN pixels, a map with values 2**24 next to small ones (summed
# in float32, 2**24 + 1 rounds to 2**24 and 2**24 + 3 to 2**24 + 4).
CATEGORY_PRED_ROW = [[True, False, True, True, False, False]]

CATEGORY_TARGET_ROW = [[True, False, False, False, True, True]]

BIG_MAP = np.array([[2.0**24, 1.0, 2.0**24, 1.0, 3.0, 2.0**24]], np.float32)

# per-category means (TN, FN, FP, TP) worked by hand
BIG_MAP_MEANS = [1.0, (3.0 + 2.0**24) / 2.0, (2.0**24 + 1.0) / 2.0, 2.0**24]


@pytest.mark.parametrize("on_device", [False, True], ids=["numpy", "torch"])
def test_category_means_of_a_map_are_summed_in_float64(on_device):
    """The four-category form of hard predictions takes a map's mean over TN, FN, FP and TP
    pixels: exact with large values, on numpy and on a torch device alike."""
    x = _hard_inputs(CATEGORY_PRED_ROW, CATEGORY_TARGET_ROW, on_device=on_device)
    values = torch.from_numpy(BIG_MAP) if on_device else BIG_MAP
    assert x.per_element(values)[0].tolist() == BIG_MAP_MEANS


@pytest.mark.parametrize("on_device", [False, True], ids=["numpy", "torch"])
def test_an_empty_category_has_mean_zero(on_device):
    """A perfect prediction has no FP and no FN pixel: their means are 0 (not whatever memory held),
    and the map-weighted losses stay finite."""
    for _ in range(20):  # leave freed blocks full of NaN where the result may be allocated
        np.full((1, 4), np.nan)
    pred = np.array([[True, True, False, False, False]])
    x = _hard_inputs(pred, pred, on_device=on_device)
    weights = np.array([[2.0, 3.0, 5.0, 7.0, 11.0]], np.float32)
    means = x.per_element(torch.from_numpy(weights) if on_device else weights)
    assert means[0].tolist() == [(5.0 + 7.0 + 11.0) / 3.0, 0.0, 0.0, 2.5]


def test_lovasz_hinge_on_a_torch_device_scores_every_image_of_a_batch():
    """Each image of a batch gets its own loss on the torch path too (the reference code, one image
    at a time)."""
    prob = np.array([[0.99, 0.3, 0.01], [0.2, 0.9, 0.6]], np.float32)
    target = np.array([[True, True, False], [True, False, True]])
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    logits = np.log(p / (1 - p))
    expected = [_lovasz_hinge_reference(_t(logits[i]), _t(target[i])) for i in range(2)]
    pairs = [BinaryPair(prob=prob[i : i + 1], hard=prob[i : i + 1] >= 0.5, target=target[i : i + 1]) for i in range(2)]
    batch = BinaryBatch(pairs, ScoreOptions(), ops=TorchOps("cpu"))
    np.testing.assert_allclose(BY_NAME["lovasz_hinge"].compute(batch), expected, rtol=REL5)


# squared_dice_loss, nearest_cell_bce, the smooth term and degenerate images against the sources' formulas
# written out in float64 (MONAI's squared_pred, scipy's EDT); the options' checks.

NEW_LOSSES = ("squared_dice_loss", "nearest_cell_bce", *PRESETS)


def _probs_unclipped(rng, shape):
    target = smooth_mask(rng, shape)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), 2)
    prob = 1 / (1 + np.exp(-(3 * (target * 2.0 - 1) + 4 * noise)))
    return prob.astype(np.float32), target


def _mask_apart(rng, shape):
    """A bool prediction (the four-category path), its fill away from the target's: FP != FN."""
    return smooth_mask(rng, shape, fill=0.22), smooth_mask(rng, shape)


def _floats(rng, shape):
    """The same kind of hard prediction as 0.0/1.0 floats (the per-pixel path)."""
    pred, target = _mask_apart(rng, shape)
    return pred.astype(np.float32), target


FORMULA_MAKERS = {"prob": _probs_unclipped, "mask": _mask_apart, "floats": _floats}

FORMULA_CASES = [(kind, shape) for kind in FORMULA_MAKERS for shape in ((41, 57), (7, 19, 23))]


@pytest.fixture(params=FORMULA_CASES, ids=[f"{k}-{len(s)}d" for k, s in FORMULA_CASES])
def formula_case(request, rng):
    kind, shape = request.param
    return FORMULA_MAKERS[kind](rng, shape)


def _batch(prob, target, **options):
    hard = prob if prob.dtype == bool else prob >= 0.5
    return BinaryBatch([BinaryPair(prob=prob, hard=hard, target=target)], ScoreOptions(**options))


def _value(name, prob, target, **options):
    return float(lookup(name).compute(_batch(prob, target, **options))[0])


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


def _t4d(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))[None, None]


@pytest.mark.parametrize("smooth", [1e-6, 1.0])
def test_squared_dice_loss_matches_monai_squared_pred(formula_case, smooth):
    from monai.losses import DiceLoss

    prob, target = formula_case
    ref = DiceLoss(squared_pred=True, smooth_nr=smooth, smooth_dr=smooth)(_t4d(prob), _t4d(target)).item()
    got = _value("squared_dice_loss", prob, target, smooth=smooth)
    assert got == pytest.approx(ref, rel=REL5, abs=1e-9)
    if not np.isin(prob, (0, 1)).all():  # a probability map: squaring changes the value
        assert got != pytest.approx(_value("dice_loss", prob, target, smooth=smooth), rel=1e-3)


@pytest.mark.parametrize("gamma", [1.0, 1.5, 3.0])
def test_squared_dice_loss_follows_dice_gamma(formula_case, gamma):
    prob, target = formula_case
    p, g = prob.astype(np.float64), target.astype(np.float64)
    ref = 1 - (2 * (p * g).sum() + 1e-6) / ((p**gamma).sum() + (g**gamma).sum() + 1e-6)
    assert _value("squared_dice_loss", prob, target, dice_gamma=gamma) == pytest.approx(ref, rel=REL5, abs=1e-9)


def test_smooth_1_reproduces_the_dice_of_smoothing_1(formula_case):
    """``--smooth 1``: 1 - (2 sum pg + 1) / (sum p + sum g + 1), as MONAI with smooth 1; the
    Tversky losses take the same smoothing."""
    from monai.losses import DiceLoss, TverskyLoss

    prob, target = formula_case
    assert _value("dice_loss", prob, target, smooth=1.0) == pytest.approx(_ref_dice_loss(prob, target, 1.0), rel=REL5)
    monai = DiceLoss(smooth_nr=1.0, smooth_dr=1.0)(_t4d(prob), _t4d(target)).item()
    assert _value("dice_loss", prob, target, smooth=1.0) == pytest.approx(monai, rel=REL5, abs=1e-9)
    tversky = TverskyLoss(alpha=0.3, beta=0.7, smooth_nr=1.0, smooth_dr=1.0)(_t4d(prob), _t4d(target)).item()
    assert _value("tversky_loss", prob, target, smooth=1.0) == pytest.approx(tversky, rel=REL5, abs=1e-9)
    assert _value("focal_tversky_loss", prob, target, smooth=1.0) == pytest.approx(tversky**0.75, rel=REL5, abs=1e-9)
    combo = 0.5 * _ref_bce(prob, target) + 0.5 * _ref_dice_loss(prob, target, 1.0)
    assert _value("combo_loss", prob, target, smooth=1.0) == pytest.approx(combo, rel=REL5)


def test_nearest_cell_bce_matches_the_formula_with_scipy_edt(formula_case):
    prob, target = formula_case
    spacing = (2.0, 0.7, 1.3)[-target.ndim :]
    ref = _ref_nearest_cell_bce(prob, target, spacing)
    assert _value("nearest_cell_bce", prob, target, spacing=spacing) == pytest.approx(ref, rel=REL5)
    # the distance term adds exactly 1 to the weight of the positives: wbce with negatives/positives + 1
    pos_weight = (~target).sum() / target.sum() + 1
    assert _value("nearest_cell_bce", prob, target) == pytest.approx(
        _value("wbce", prob, target, pos_weight=pos_weight), rel=REL5
    )


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
    assert _value("nearest_cell_bce", prob, target) == pytest.approx(_ref_nearest_cell_bce(prob, target), rel=REL5)
    for name in PRESETS:
        assert _value(name, prob, target) == pytest.approx(_ref_preset(name, prob, target), rel=REL5, abs=1e-9), name


def test_mask_predictions_take_the_four_category_path(rng):
    """A bool prediction is scored on four values per image (no per-pixel pass, no distance
    transform for nearest_cell_bce), with the values of its 0.0/1.0 float copy."""
    pred, target = _mask_apart(rng, (64, 80))
    as_mask = _batch(pred, target)
    as_floats = _batch(pred.astype(np.float32), target)
    assert as_mask.loss_inputs.weights.shape == (1, 4)  # TN, FN, FP, TP, weighted by their counts
    for name in NEW_LOSSES:
        assert lookup(name).compute(as_mask)[0] == pytest.approx(lookup(name).compute(as_floats)[0], rel=1e-6), name
    assert "gt_edts" not in as_mask.__dict__ and "unet_weights" not in as_mask.__dict__


@pytest.mark.parametrize("field", ["smooth", "dice_gamma"])
@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, -1.0])
def test_options_reject_meaningless_values(field, value):
    with pytest.raises(InvalidOption) as raised:
        ScoreOptions(**{field: value})
    assert raised.value.option == field


# Losses whose terms differ (Tversky's FP and FN), options away from their defaults against MONAI,
# the squared Dice with gamma 3 by hand, the torch Lovasz hinge's sort against the reference code.


def _binary(name, pred, target, prob=None, **options):
    prob = pred if prob is None else prob
    pair = BinaryPair(prob=prob, hard=pred, target=target)
    return float(BY_NAME[name].compute(BinaryBatch([pair], ScoreOptions(**options)))[0])


def test_tversky_loss_weights_fp_by_alpha_and_fn_by_beta():
    """Guards against alpha and beta exchanged in the Tversky losses: a hard prediction with only
    false positives, then only false negatives (hand-worked: TP = 4, FP or FN = 2)."""
    target = np.zeros((1, 8), bool)
    target[0, :4] = True
    over = np.zeros((1, 8), bool)
    over[0, :6] = True
    # FP only: 1 - 4 / (4 + 0.3 * 2) ; FN only: 1 - 2 / (2 + 0.7 * 2)
    assert _binary("tversky_loss", over, target, smooth=1e-12) == pytest.approx(1 - 4 / 4.6, rel=1e-9)
    assert _binary("tversky_loss", target, over, smooth=1e-12) == pytest.approx(1 - 4 / (4 + 0.7 * 2), rel=1e-9)


def _prob_case(seed=7, shape=(30, 34)):
    rng = np.random.default_rng(seed)
    target = smooth_mask(rng, shape)
    prob = np.clip(rng.random(shape) * 0.7 + 0.3 * target, 1e-3, 1 - 1e-3).astype(np.float32)
    return prob, target


@pytest.mark.parametrize("gamma,alpha", [(0.5, 0.25), (3.0, 0.6), (1.0, -1.0)])
def test_focal_loss_away_from_gamma_2_matches_monai(gamma, alpha):
    """Guards focal loss's general branch (gamma 2 takes its own) and alpha: MONAI FocalLoss with
    gamma 0.5, 3 and 1, alpha 0.25, 0.6 and off."""
    from monai.losses import FocalLoss

    prob, target = _prob_case()
    logits = np.log(prob.astype(np.float64) / (1 - prob))
    ref = FocalLoss(gamma=gamma, alpha=None if alpha < 0 else alpha, use_softmax=False)(_t4d(logits), _t4d(target))
    got = _binary("focal_loss", prob >= 0.5, target, prob=prob, focal_gamma=gamma, focal_alpha=alpha)
    assert got == pytest.approx(ref.item(), rel=1e-4)


def test_dice_and_tversky_options_away_from_defaults_match_monai():
    """Guards --smooth, --tversky-alpha/beta, the focal Tversky exponent and combo's alpha."""
    from monai.losses import DiceLoss, TverskyLoss

    prob, target = _prob_case(seed=3)
    x, y = _t4d(prob), _t4d(target)
    dice = DiceLoss(smooth_nr=1.0, smooth_dr=1.0)(x, y).item()
    tversky = TverskyLoss(alpha=0.6, beta=0.4, smooth_nr=1.0, smooth_dr=1.0)(x, y).item()
    options = dict(smooth=1.0, tversky_alpha=0.6, tversky_beta=0.4, focal_tversky_gamma=1.5, combo_alpha=0.2)
    hard = prob >= 0.5
    assert _binary("dice_loss", hard, target, prob=prob, **options) == pytest.approx(dice, rel=1e-5)
    assert _binary("tversky_loss", hard, target, prob=prob, **options) == pytest.approx(tversky, rel=1e-5)
    assert _binary("focal_tversky_loss", hard, target, prob=prob, **options) == pytest.approx(tversky**1.5, rel=1e-5)
    bce = F.binary_cross_entropy(_t4d(prob), _t4d(target)).item()
    assert _binary("combo_loss", hard, target, prob=prob, **options) == pytest.approx(0.2 * bce + 0.8 * dice, rel=1e-5)


def test_squared_dice_loss_with_gamma_3_hand_formula():
    """Guards --dice-gamma away from 2 (MONAI has only 2): 1 - (2 sum pg + s) / (sum p^3 + sum g + s)."""
    prob, target = _prob_case(seed=5)
    p = prob.astype(np.float64)
    expected = 1 - (2 * (p * target).sum() + 0.5) / ((p**3).sum() + target.sum() + 0.5)
    got = _binary("squared_dice_loss", prob >= 0.5, target, prob=prob, dice_gamma=3.0, smooth=0.5)
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kind", ["distinct", "tied"])
def test_torch_lovasz_hinge_sort_matches_the_reference(kind):
    """Guards the torch backend's Lovász hinge (its own descending sort and gradient), on
    distinct errors and on errors with many ties, against the reference code."""
    from segcli.engine.backend import TorchOps

    prob, target = _prob_case(seed=11, shape=(17, 19))
    if kind == "tied":
        prob = np.round(prob * 4) / 4
        prob = np.clip(prob, 0.05, 0.95).astype(np.float32)
    pair = BinaryPair(prob=prob, hard=prob >= 0.5, target=target)
    got = float(BY_NAME["lovasz_hinge"].compute(BinaryBatch([pair], ScoreOptions(), ops=TorchOps("cpu")))[0])
    p = torch.from_numpy(prob.astype(np.float64)).clamp(1e-7, 1 - 1e-7).ravel()
    ref = _lovasz_hinge_reference(torch.log(p) - torch.log1p(-p), torch.from_numpy(target.ravel()).double())
    assert got == pytest.approx(ref, rel=1e-5)
