"""Binary losses on probabilities, one value per image.

Inputs are batch-first: ``prob`` float (B, ...) in [0, 1], ``target`` bool (B, ...). A hard mask
is a probability in {0, 1}. Inside logs p is clamped to [1e-7, 1 - 1e-7]. The per-pixel terms
every loss shares (log p, log(1 - p), the pixel BCE, soft counts) live in ``LossInputs``
(``segcli.scores.loss_inputs``) and are computed once per batch, whichever losses are asked for.
Each option's default is the settings' (``segcli.settings.default``).
"""

from __future__ import annotations

import numpy as np

from segcli.engine.backend import NUMPY, NumpyOps, TorchOps
from segcli.scores.loss_inputs import LossInputs
from segcli.settings import SMOOTH, default


def bce(x: LossInputs) -> np.ndarray:
    """Binary cross-entropy, ``mean(-(g log p + (1 - g) log(1 - p)))``.

    >>> bce(LossInputs(np.array([[0.9, 0.2]]), np.array([[1, 0]], bool))).round(4)
    array([0.1643])
    """
    return x.mean(x.pixel_bce)


def balanced_bce(x: LossInputs) -> np.ndarray:
    """``mean(-(b g log p + (1 - b)(1 - g) log(1 - p)))``, b = share of negatives in the image.

    >>> balanced_bce(LossInputs(np.array([[0.9, 0.2, 0.1, 0.3]]), np.array([[1, 0, 0, 0]], bool))).round(4)
    array([0.0626])
    """
    b = x.per_image(1.0 - x.n_positive / x.n_pixels)
    return x.mean(x.pixel_bce * x.ops.where(x.target, b, 1.0 - b))


def default_pos_weight(x: LossInputs) -> np.ndarray:
    """negatives / positives per image; 1 where either count is zero (the weight then has no
    meaningful value: with no positives it multiplies nothing)."""
    negatives = x.n_pixels - x.n_positive
    valid = (x.n_positive > 0) & (negatives > 0)
    # equivalent mutants: the inner 1.0 is a safe divisor whose quotient the outer where discards
    return np.where(valid, negatives / np.where(valid, x.n_positive, 1.0), 1.0)  # pragma: no mutate


def wbce(x: LossInputs, *, pos_weight: float | None = None) -> np.ndarray:
    """BCE with positives weighted: ``mean(-(w g log p + (1 - g) log(1 - p)))``.

    ``pos_weight`` default: negatives / positives of each image (as torch's ``pos_weight``).

    >>> wbce(LossInputs(np.array([[0.9, 0.2, 0.1, 0.3]]), np.array([[1, 0, 0, 0]], bool))).round(4)
    array([0.2503])
    """
    weight = default_pos_weight(x) if pos_weight is None else np.full(x.batch, float(pos_weight))
    return x.mean(x.pixel_bce * x.ops.where(x.target, x.per_image(weight), 1.0))


def nearest_cell_bce(x: LossInputs) -> np.ndarray:
    """BCE with a per-pixel positive weight ``w = beta / (1 - beta) + exp(-d^2)``:
    ``mean(-(w g log p + (1 - g) log(1 - p)))``, beta the share of negative pixels of the image
    and d the distance of the pixel to the nearest GT foreground pixel (0 inside it, spacing units).

    The weight multiplies only GT pixels, where d = 0, so for hard labels (a binary GT) the
    distance term adds exactly 1: w = negatives / positives + 1 on every positive pixel, and no
    distance transform is needed. (``unet_wce`` is the form that weights the gaps between cells.)
    With no positive pixel (beta = 1) the weight multiplies nothing and the loss is the plain BCE
    of the negatives; with no negative pixel (beta = 0) w = 1. Both are finite without the
    clipping of beta that a per-pixel implementation needs to avoid ``inf * 0``.

    >>> nearest_cell_bce(LossInputs(np.array([[0.9, 0.2, 0.1, 0.3]]), np.array([[1, 0, 0, 0]], bool))).round(4)
    array([0.2767])
    """
    negatives = x.n_pixels - x.n_positive
    has_positive = x.n_positive > 0
    # equivalent mutants: with no positive pixel the divisor and the ratio multiply nothing
    ratio = np.where(has_positive, negatives / np.where(has_positive, x.n_positive, 1.0), 0.0)  # pragma: no mutate
    return x.mean(x.pixel_bce * x.ops.where(x.target, x.per_image(ratio + 1.0), 1.0))


def focal_loss(
    x: LossInputs, *, alpha: float = default("focal_alpha"), gamma: float = default("focal_gamma")
) -> np.ndarray:
    """Focal loss (Lin et al. 2017), ``mean(a_t (1 - p_t)^gamma * bce)``, a_t = alpha on positives,
    1 - alpha on negatives; alpha < 0 turns the class weighting off.

    >>> focal_loss(LossInputs(np.array([[0.5]]), np.array([[1]], bool))).round(5)
    array([0.04332])
    """
    miss = x.ops.where(x.target, 1.0 - x.prob, x.prob)
    modulating = miss**gamma if gamma != 2.0 else miss * miss  # pragma: no mutate (x**2.0 is x*x; only faster)
    if alpha >= 0:
        modulating = modulating * x.ops.where(x.target, alpha, 1.0 - alpha)
    return x.mean(modulating * x.pixel_bce)


def dice_loss(x: LossInputs, *, smooth: float = SMOOTH) -> np.ndarray:
    """Soft Dice loss, ``1 - (2 sum(p g) + s) / (sum p + sum g + s)``.

    >>> dice_loss(LossInputs(np.array([[1.0, 0.0]]), np.array([[1, 0]], bool))).round(6)
    array([0.])
    """
    return 1.0 - (2.0 * x.soft_tp + smooth) / (x.soft_sum_p + x.n_positive + smooth)


def squared_dice_loss(x: LossInputs, *, gamma: float = default("dice_gamma"), smooth: float = SMOOTH) -> np.ndarray:
    """Squared Dice loss (Milletari et al. 2016, V-Net), ``1 - (2 sum(p g) + s) / (sum(p^gamma) +
    sum(g^gamma) + s)``; gamma = 2 is MONAI's ``DiceLoss(squared_pred=True)``. For a binary target
    g^gamma = g.

    >>> squared_dice_loss(LossInputs(np.array([[0.5, 0.0]]), np.array([[1, 0]], bool)), smooth=0.0).round(4)
    array([0.2])
    """
    return 1.0 - (2.0 * x.soft_tp + smooth) / (x.soft_sum_p_power(gamma) + x.n_positive + smooth)


def tversky_loss(
    x: LossInputs,
    *,
    alpha: float = default("tversky_alpha"),
    beta: float = default("tversky_beta"),
    smooth: float = SMOOTH,
) -> np.ndarray:
    """Tversky loss (Salehi et al. 2017), ``1 - (TP + s) / (TP + alpha FP + beta FN + s)`` on soft
    counts TP = sum(p g), FP = sum(p (1 - g)), FN = sum((1 - p) g).

    >>> tversky_loss(LossInputs(np.array([[0.5, 0.5]]), np.array([[1, 0]], bool))).round(4)
    array([0.5])
    """
    fp = x.soft_sum_p - x.soft_tp
    fn = x.n_positive - x.soft_tp
    return 1.0 - (x.soft_tp + smooth) / (x.soft_tp + alpha * fp + beta * fn + smooth)


def focal_tversky_loss(
    x: LossInputs,
    *,
    alpha: float = default("tversky_alpha"),
    beta: float = default("tversky_beta"),
    gamma: float = default("focal_tversky_gamma"),
    smooth: float = SMOOTH,
) -> np.ndarray:
    """Focal Tversky loss (Abraham & Khan 2019), ``tversky_loss ** gamma``.

    >>> focal_tversky_loss(LossInputs(np.array([[0.5, 0.5]]), np.array([[1, 0]], bool))).round(4)
    array([0.5946])
    """
    return tversky_loss(x, alpha=alpha, beta=beta, smooth=smooth) ** gamma


def lovasz_grad_with_total(sorted_target, total: float, *, ops: NumpyOps | TorchOps = NUMPY):
    """Gradient of the Lovász extension of the Jaccard loss (Berman et al.'s ``lovasz_grad``) at a
    prefix of the ground truth sorted by decreasing error, ``total`` positives in all of it."""
    if sorted_target.shape[0] == 0:
        return sorted_target
    intersection = total - ops.cumsum(sorted_target)
    union = total + ops.cumsum(1.0 - sorted_target)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_jaccard(
    errors: np.ndarray,
    positive: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    total_positive: float | None = None,
) -> float:
    """Lovász extension of the Jaccard loss (Berman et al. 2018) at non-negative ``errors``, 1-D
    float32, with ``positive`` marking the ground-truth pixels: ``errors sorted decreasingly .
    the Lovász gradient of the ground truth in that order``. ``weights``: how many pixels of
    that error and label each element stands for (default 1).

    Written as its equal ``sum_j J_j (e_j - e_(j-1))`` over the errors in increasing order, J_j the
    Jaccard loss of the set of errors >= e_j, so one integer sort of (error bits, label) keys does
    it: a non-negative float32 sorts as its bit pattern. Ties may come in any order (the sum of a
    run of equal errors telescopes). About 4x faster than an argsort of the errors.

    >>> float(lovasz_jaccard(np.array([0.5, 0.5], np.float32), np.array([True, False])))
    0.5
    """
    errors = np.ascontiguousarray(errors, dtype=np.float32)  # pragma: no mutate (callers pass float32)
    keys = (errors.view(np.uint32) << np.uint32(1)) | positive.astype(np.uint32)
    if weights is None:
        keys = np.sort(keys)
        counts = np.ones(keys.size)
    else:
        order = np.argsort(keys, kind="stable")  # pragma: no mutate (ties are equal keys: any order)
        keys, counts = keys[order], np.asarray(weights, np.float64)[order]
    labels = (keys & np.uint32(1)).astype(np.float64) * counts
    given = float(labels.sum())
    total = given if total_positive is None else float(total_positive)
    # positives among this error and the larger ones (F), and all pixels there (F + B);
    # J = 1 - (G - F) / (G + B)
    at_least = given - np.cumsum(labels) + labels
    pixels_at_least = counts.sum() - np.cumsum(counts) + counts
    union = total - at_least + pixels_at_least
    jaccard = 1.0 - (total - at_least) / union
    steps = np.diff((keys >> np.uint32(1)).view(np.float32).astype(np.float64), prepend=0.0)
    return float(np.dot(jaccard, steps))


def lovasz_hinge(x: LossInputs) -> np.ndarray:
    """Lovász hinge (Berman et al. 2018) per image, on logits ``log(p) - log(1 - p)``.

    errors = 1 - logit * (2g - 1), sorted decreasingly; loss = relu(errors) . Lovász gradient of g sorted.

    >>> lovasz_hinge(LossInputs(np.array([[0.5, 0.5]]), np.array([[1, 0]], bool))).round(4)
    array([1.])
    """
    # Sorted decreasingly, pixels with error <= 0 come last and add relu(error) = 0; the Jaccard
    # gradient of a position depends only on the pixels before it. So only the pixels with a
    # positive error need sorting: few of them for a good prediction.
    # On the CPU, ``lovasz_jaccard`` (an integer sort of float32 errors) does the rest; torch
    # sorts on its device.
    ops = x.ops
    logits = ops.flat(x.logits)
    target = ops.flat(x.target)
    losses = np.empty(x.batch)
    for i in range(x.batch):
        if isinstance(ops, TorchOps):
            errors = 1.0 - ops.to_float64(logits[i]) * ops.to_float64(ops.where(target[i], 1.0, -1.0))
            positive = errors > 0
            errors_sorted, order = ops.sort_descending(errors[positive])
            sorted_target = ops.to_float64(target[i][positive][order])
            losses[i] = ops.dot(errors_sorted, lovasz_grad_with_total(sorted_target, float(x.n_positive[i]), ops=ops))
            continue
        errors = np.float32(1.0) - np.where(target[i], logits[i], -logits[i]).astype(np.float32, copy=False)
        positive = errors > 0
        multiplicity = x.multiplicity(i)
        if multiplicity is not None:
            positive &= multiplicity > 0  # an empty category is no pixel at all
            multiplicity = multiplicity[positive]
        losses[i] = lovasz_jaccard(
            errors[positive], target[i][positive], weights=multiplicity, total_positive=float(x.n_positive[i])
        )
    return losses


def combo_loss(x: LossInputs, *, alpha: float = default("combo_alpha"), smooth: float = SMOOTH) -> np.ndarray:
    """Combo loss (Taghanaki et al. 2019) as ``alpha bce + (1 - alpha) dice_loss``.

    >>> combo_loss(LossInputs(np.array([[1.0, 0.0]]), np.array([[1, 0]], bool))).round(5)
    array([0.])
    """
    return alpha * bce(x) + (1.0 - alpha) * dice_loss(x, smooth=smooth)


def weighted_bce(x: LossInputs, weight_map: np.ndarray) -> np.ndarray:
    """``mean(w * bce)`` for a per-pixel weight map of the batch's shape: the form of unet_wce
    (U-Net weight map), boundary_bce (border band) and distmap_bce (distance weights).

    >>> weighted_bce(LossInputs(np.array([[0.5, 0.5]]), np.array([[1, 0]], bool)), np.array([[2.0, 0.0]])).round(4)
    array([0.6931])
    """
    return x.mean(x.pixel_bce * x.per_element(weight_map))


def boundary_loss(x: LossInputs, phi: np.ndarray) -> np.ndarray:
    """Boundary loss (Kervadec et al. 2019), ``mean(p * phi)``, phi the Kervadec signed distance.

    >>> boundary_loss(LossInputs(np.array([[0.5, 1.0]]), np.array([[1, 0]], bool)), np.array([[0.0, 1.0]]))
    array([0.5])
    """
    return x.mean(x.prob * x.per_element(phi))
