"""Binary losses pinned where mutation testing found them loose (segcli/scores/binary_losses.py): the
weights of wbce, balanced_bce and nearest_cell_bce when a class is missing or fills the image,
non-default parameters (focal alpha/gamma, Tversky alpha/beta, squared Dice gamma, combo alpha),
the torch path of the Lovász hinge on tiny inputs and weighted Lovász sums. References are torch,
MONAI and the SPEC formulas written out in float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segcli.engine.backend import TorchOps
from segcli.engine.stats import confusion_counts
from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.binary_losses import LossInputs, combo_loss, lovasz_jaccard
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions
from tests.conftest import smooth_mask

REL = 1e-5


def _score(name, prob, target, ops=None, **options):
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


def _t(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))


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
    assert _score("wbce", prob, target) == pytest.approx(pixel.mean(), rel=REL)
    assert _score("nearest_cell_bce", prob, target) == pytest.approx(pixel.mean(), rel=REL)
    # b = 0 weighs the positives of an all-positive image by 0; b = 1 the negatives of an empty one
    assert _score("balanced_bce", prob, target) == 0.0


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
        assert _score(name, prob, target) == pytest.approx(expected, rel=REL), name
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    ref = F.binary_cross_entropy_with_logits(
        _t(np.log(p / (1 - p))), _t(target), pos_weight=torch.tensor(ratio, dtype=torch.float64)
    ).item()
    assert _score("wbce", prob, target) == pytest.approx(ref, rel=REL)


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
    got = _score("focal_loss", prob, target, focal_alpha=alpha, focal_gamma=gamma)
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("pred", ["prob", "mask"])
def test_dice_family_with_non_default_parameters_match_monai(pred, rng):
    from monai.losses import DiceLoss, TverskyLoss

    target = smooth_mask(rng, (21, 19))
    prob = (rng.random((21, 19)) * 0.9 + 0.05).astype(np.float32) if pred == "prob" else smooth_mask(rng, (21, 19))
    x, y = _t(prob)[None, None], _t(target)[None, None]
    squared = DiceLoss(squared_pred=True, smooth_nr=1e-6, smooth_dr=1e-6)(x, y).item()
    assert _score("squared_dice_loss", prob, target) == pytest.approx(squared, rel=REL)
    # gamma 3: the SPEC formula written out (a binary target has g^3 = g)
    p = np.asarray(prob, np.float64)
    cubed = 1 - (2 * (p * target).sum() + 0.5) / ((p**3).sum() + target.sum() + 0.5)
    assert _score("squared_dice_loss", prob, target, dice_gamma=3.0, smooth=0.5) == pytest.approx(cubed, rel=REL)
    linear = 1 - (2 * (p * target).sum() + 0.5) / (p.sum() + target.sum() + 0.5)
    assert _score("squared_dice_loss", prob, target, dice_gamma=1.0, smooth=0.5) == pytest.approx(linear, rel=REL)
    assert _score("dice_loss", prob, target, smooth=0.5) == pytest.approx(linear, rel=REL)
    tversky = TverskyLoss(alpha=0.8, beta=0.1, smooth_nr=2.0, smooth_dr=2.0)(x, y).item()
    opts = {"tversky_alpha": 0.8, "tversky_beta": 0.1, "smooth": 2.0}
    assert _score("tversky_loss", prob, target, **opts) == pytest.approx(tversky, rel=REL)
    got = _score("focal_tversky_loss", prob, target, focal_tversky_gamma=1.7, **opts)
    assert got == pytest.approx(tversky**1.7, rel=REL)
    dice = DiceLoss(smooth_nr=1e-6, smooth_dr=1e-6)(x, y).item()
    bce = _pixel_bce(prob, target).mean()
    assert _score("combo_loss", prob, target, combo_alpha=0.3) == pytest.approx(0.3 * bce + 0.7 * dice, rel=REL)


def _lovasz_hinge_reference(logits, labels):
    """Berman et al.'s reference lovasz_hinge_flat (the one test_scores_losses writes out)."""
    from tests.scores.test_binary_losses import _lovasz_hinge_reference as reference

    return reference(logits, labels)


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
    assert _score("lovasz_hinge", prob, target, ops=ops) == pytest.approx(ref, rel=REL, abs=1e-9)


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
    np.testing.assert_allclose(BY_NAME["lovasz_hinge"].compute(batch), expected, rtol=REL)
