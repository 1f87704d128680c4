"""Binary losses against torch functional losses, MONAI losses, and SPEC formulas written out
independently in float64 (scipy for the distance maps), on probability maps and on hard masks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
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
