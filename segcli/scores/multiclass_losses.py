"""Multi-class losses on K-channel probabilities, one value per image.

Inputs are batch-first: ``prob`` float (B, K, ...) summing to 1 over K, ``target`` int labels
(B, ...), ``valid`` bool (B, ...) False on ignore-index pixels, which take part in nothing.
Inside logs p is clamped to >= 1e-7. ``weights`` (B, ...), optional: how many pixels each
element stands for. A label-map prediction needs only one element per (predicted, true) label
pair, weighted by its pixel count (``segcli.scores.batch.MulticlassBatch``): exact, and no pixel pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segcli.scores.binary_losses import lovasz_jaccard
from segcli.scores.loss_inputs import EPSILON
from segcli.settings import SMOOTH, default


def _flat(prob: np.ndarray, target: np.ndarray, valid: np.ndarray, weights: np.ndarray | None = None):
    """(B, K, N) prob, (B, N) target, (B, N) valid, (B, N) float64 weights (ones by default)."""
    batch, classes = prob.shape[:2]
    weights = np.ones(target.shape) if weights is None else weights
    return (
        prob.reshape(batch, classes, -1),  # pragma: no mutate (numpy takes any negative size as the unknown one)
        target.reshape(batch, -1),  # pragma: no mutate (numpy takes any negative size as the unknown one)
        valid.reshape(batch, -1),  # pragma: no mutate (numpy takes any negative size as the unknown one)
        # equivalent mutants on the next line: pixel counts: any dtype gives float64 sums; negative size as above
        np.asarray(weights, np.float64).reshape(batch, -1),  # pragma: no mutate
    )


def _true_class_prob(prob: np.ndarray, target: np.ndarray) -> np.ndarray:
    """p of the GT class at each pixel, (B, N)."""
    return np.take_along_axis(prob, target[:, None, :], axis=1)[:, 0, :]


def cross_entropy(
    prob: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray,
    *,
    class_weights: Sequence[float] | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """``sum_i w[g_i] (-log p_i[g_i]) / sum_i w[g_i]`` over valid pixels (torch ``cross_entropy``
    with ``weight`` and ``ignore_index``, mean reduction); 0 for an image without valid pixels.

    >>> cross_entropy(np.array([[[0.5, 0.25], [0.5, 0.75]]]), np.array([[0, 1]]), np.ones((1, 2), bool)).round(4)
    array([0.4904])
    """
    prob, target, valid, weights = _flat(prob, target, valid, weights)
    nll = -np.log(np.clip(_true_class_prob(prob, target), EPSILON, None))
    # mutmut: its dtype mutants are equivalent (README): the product with float64 weights is float64 anyway
    per_class = np.ones(prob.shape[1]) if class_weights is None else np.asarray(class_weights, np.float64)
    pixel_weight = np.where(valid, per_class[target] * weights, 0.0)
    total = pixel_weight.sum(axis=1)
    loss = (pixel_weight * nll).sum(axis=1)
    # equivalent mutants on the next line: total == 0 only where loss == 0
    return np.where(total > 0, loss / np.where(total > 0, total, 1.0), 0.0)  # pragma: no mutate


def multiclass_dice_loss(
    prob: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray,
    *,
    classes: Sequence[int],
    smooth: float = SMOOTH,
    gamma: float = 1.0,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Mean over ``classes`` of ``1 - (2 sum p_c g_c + s) / (sum p_c^gamma + sum g_c + s)``, valid
    pixels only (MONAI DiceLoss with one-hot targets, softmax already applied; gamma = 2 is its
    ``squared_pred=True``, the squared Dice of V-Net).

    >>> prob, target = np.array([[[1.0, 0.0], [0.0, 1.0]]]), np.array([[0, 1]])
    >>> multiclass_dice_loss(prob, target, np.ones((1, 2), bool), classes=[0, 1]).round(6)
    array([0.])
    """
    prob, target, valid, weights = _flat(prob, target, valid, weights)
    per_class = []
    for c in classes:
        p_c = prob[:, c, :]
        p = np.where(valid, p_c * weights, 0.0)
        # mutmut: equivalent mutants here (README): p ** 1 is p, a shortcut; astype(None) is float64
        p_power = p if gamma == 1.0 else np.where(valid, p_c.astype(np.float64) ** gamma * weights, 0.0)
        g = (target == c) & valid
        intersection = np.where(g, p, 0.0).sum(axis=1)
        denominator = p_power.sum(axis=1) + (g * weights).sum(axis=1) + smooth
        per_class.append(1.0 - (2.0 * intersection + smooth) / denominator)
    return np.mean(per_class, axis=0)


def multiclass_focal_loss(
    prob: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray,
    *,
    gamma: float = default("focal_gamma"),
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Softmax focal loss, mean over valid pixels of ``-(1 - p_t)^gamma log p_t``, p_t the GT-class
    probability (Lin et al. 2017, no class weighting).

    >>> multiclass_focal_loss(np.array([[[0.5], [0.5]]]), np.array([[0]]), np.ones((1, 1), bool)).round(5)
    array([0.17329])
    """
    prob, target, valid, weights = _flat(prob, target, valid, weights)
    p_true = _true_class_prob(prob, target).astype(np.float64)  # pragma: no mutate (astype(None) is float64)
    pixel = -((1.0 - p_true) ** gamma) * np.log(np.clip(p_true, EPSILON, None))
    count = np.where(valid, weights, 0.0).sum(axis=1)
    total = np.where(valid, pixel * weights, 0.0).sum(axis=1)
    # equivalent mutants on the next line: count == 0 only where total == 0
    return np.where(count > 0, total / np.where(count > 0, count, 1.0), 0.0)  # pragma: no mutate


def lovasz_softmax(
    prob: np.ndarray, target: np.ndarray, valid: np.ndarray, *, weights: np.ndarray | None = None
) -> np.ndarray:
    """Lovász-softmax (Berman et al. 2018), per image, averaged over the classes present in the GT
    (the reference code's ``classes='present'``); ignore pixels removed; 0 with no class present.

    >>> lovasz_softmax(np.array([[[0.5, 0.5], [0.5, 0.5]]]), np.array([[0, 1]]), np.ones((1, 2), bool)).round(4)
    array([0.5])
    """
    plain = weights is None  # pragma: no mutate (weights of ones give the same sum; only the faster sort)
    prob, target, valid, weights = _flat(prob, target, valid, weights)
    out = np.zeros(prob.shape[0])
    for i in range(prob.shape[0]):
        keep = valid[i] & (weights[i] > 0)
        # equivalent mutants on the next line: only read; lovasz_jaccard takes float32 anyway
        p = prob[i][:, keep].astype(np.float32, copy=False)  # pragma: no mutate
        g = target[i][keep]
        # equivalent mutants on the next line: weights of ones give the same sum; only the faster sort
        w = None if plain else weights[i][keep]  # pragma: no mutate
        losses = []
        for c in np.unique(g):
            foreground = g == c
            errors = np.abs(np.where(foreground, np.float32(1.0), np.float32(0.0)) - p[c])
            losses.append(lovasz_jaccard(errors, foreground, weights=w))
        out[i] = np.mean(losses) if losses else 0.0
    return out
