"""Multi-class losses pinned where mutation testing found them loose
(segcli/scores/multiclass_losses.py): a batch of two images, an image without a valid pixel, the
pixel-count weights against the repeated pixels, non-default gamma and smooth. References are
torch's cross_entropy, MONAI's DiceLoss and FocalLoss, and the SPEC formulas written out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segcli.scores.multiclass_losses import cross_entropy, lovasz_softmax, multiclass_dice_loss, multiclass_focal_loss

K = 3


def _batch(rng, n=2, size=40):
    logits = rng.standard_normal((n, K, size)) * 2
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    target = rng.integers(0, K, (n, size))
    valid = rng.random((n, size)) < 0.8
    return prob.astype(np.float32), target, valid


def _t(a, dtype=torch.float64):
    return torch.from_numpy(np.asarray(a)).to(dtype)


def test_cross_entropy_per_image_matches_torch(rng):
    prob, target, valid = _batch(rng)
    w = (0.5, 2.0, 3.0)
    got = cross_entropy(prob, target, valid, class_weights=w)
    for i in range(2):
        labels = np.where(valid[i], target[i], -100)
        ref = F.nll_loss(torch.log(_t(prob[i]).T), _t(labels, torch.int64), weight=_t(w), ignore_index=-100)
        assert got[i] == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0])
def test_multiclass_dice_loss_per_image_matches_monai_and_spec(rng, gamma):
    """gamma 1 and 2 against MONAI (squared_pred), 3 by the formula; smooth 0.5; valid pixels."""
    from monai.losses import DiceLoss

    prob, target, valid = _batch(rng)
    got = multiclass_dice_loss(prob, target, valid, classes=[0, 1, 2], smooth=0.5, gamma=gamma)
    for i in range(2):
        p = prob[i].astype(np.float64) * valid[i]
        g = np.eye(K)[target[i]].T * valid[i]
        if gamma in (1.0, 2.0):
            ref = DiceLoss(squared_pred=gamma == 2.0, smooth_nr=0.5, smooth_dr=0.5)(_t(p)[None], _t(g)[None]).item()
        else:
            ref = np.mean(1 - (2 * (p * g).sum(1) + 0.5) / ((p**3).sum(1) + g.sum(1) + 0.5))
        assert got[i] == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_multiclass_focal_loss_per_image_matches_monai(rng, gamma):
    from monai.losses import FocalLoss

    prob, target, valid = _batch(rng)
    got = multiclass_focal_loss(prob, target, valid, gamma=gamma)
    for i in range(2):
        keep = valid[i]
        logp = torch.log(_t(prob[i][:, keep]))
        onehot = _t(np.eye(K)[target[i][keep]].T)
        # MONAI's softmax focal loss sums over the channels and means over the pixels
        ref = FocalLoss(gamma=gamma, use_softmax=True, reduction="none")(logp[None], onehot[None]).sum(1).mean()
        assert got[i] == pytest.approx(ref.item(), rel=1e-5)


def test_an_image_without_valid_pixels_scores_zero(rng):
    """An image wholly ignored: 0 for cross-entropy, focal and Lovász (nothing to average), the
    other image of the batch unchanged."""
    prob, target, valid = _batch(rng)
    valid[1] = False
    for loss in (cross_entropy, multiclass_focal_loss, lovasz_softmax):
        both = loss(prob, target, valid)
        assert both[1] == 0.0
        assert both[0] == pytest.approx(loss(prob[:1], target[:1], valid[:1])[0], rel=1e-12)


@pytest.mark.parametrize("loss", ["ce", "dice", "focal", "lovasz"])
def test_pixel_count_weights_equal_the_repeated_pixels(rng, loss):
    """``weights``: how many pixels each element stands for; a weight of 0 is no pixel at all."""
    prob, target, valid = _batch(rng, n=1)
    counts = rng.integers(0, 4, prob.shape[-1])
    functions = {
        "ce": lambda *a, **k: cross_entropy(*a, class_weights=(1.0, 0.5, 2.0), **k),
        "dice": lambda *a, **k: multiclass_dice_loss(*a, classes=[0, 2], gamma=2.0, **k),
        "focal": lambda *a, **k: multiclass_focal_loss(*a, gamma=1.5, **k),
        "lovasz": lovasz_softmax,
    }
    f = functions[loss]
    weighted = f(prob, target, valid, weights=counts[None].astype(np.float64))
    repeated = f(np.repeat(prob, counts, axis=2), np.repeat(target, counts, axis=1), np.repeat(valid, counts, axis=1))
    assert weighted[0] == pytest.approx(repeated[0], rel=1e-6)


def test_cross_entropy_with_fewer_pixels_than_classes_and_class_weights_below_one():
    """One valid pixel of class 2 among 3 classes (the class weights are indexed by class, not
    by pixel), and class weights whose valid-pixel total is below 1 (still a weighted mean)."""
    prob = np.array([[[0.2, 0.5], [0.3, 0.25], [0.5, 0.25]]])  # (1, K=3, 2 pixels)
    target = np.array([[2, 0]])
    valid = np.array([[True, False]])
    assert cross_entropy(prob, target, valid)[0] == pytest.approx(-np.log(0.5))
    w = (0.1, 0.2, 0.25)
    got = cross_entropy(prob, target, valid, class_weights=w)[0]
    ref = F.nll_loss(torch.log(_t(prob[0]).T), _t([2, -100], torch.int64), weight=_t(w), ignore_index=-100)
    assert got == pytest.approx(ref.item()) == pytest.approx(-np.log(0.5))


def test_focal_loss_with_fractional_pixel_weights_is_still_a_mean():
    """A weighted mean does not change when every weight is scaled, below 1 included:
    one pixel at p_t = 0.5 gives 0.25 * ln 2 whatever its weight."""
    prob, target, valid = np.array([[[0.5], [0.5]]]), np.array([[0]]), np.ones((1, 1), bool)
    for w in (0.5, 1.0, 3.0):
        got = multiclass_focal_loss(prob, target, valid, weights=np.array([[w]]))
        assert got[0] == pytest.approx(0.25 * np.log(2.0))


def test_lovasz_softmax_hand_worked_asymmetric_case():
    """Two pixels, labels (0, 1), p(class 0) = (0.8, 0.4). Class 0: errors (0.2 fg, 0.4 bg),
    sorted (0.4 bg, 0.2 fg), Lovász gradient (0.5, 0.5) -> 0.3. Class 1: errors (0.2 bg,
    0.4 fg), sorted (0.4 fg, 0.2 bg), gradient (1, 0) -> 0.4. Mean 0.35. A background pixel's
    error is its probability p_c, not 1 - p_c."""
    prob = np.array([[[0.8, 0.4], [0.2, 0.6]]])
    got = lovasz_softmax(prob, np.array([[0, 1]]), np.ones((1, 2), bool))
    assert got[0] == pytest.approx(0.35, abs=1e-6)
