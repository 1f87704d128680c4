"""Losses of one prediction against its ground truth, one function per loss, as ``segcli score``
computes them (mean over pixels; probabilities clamped to [1e-7, 1 - 1e-7] inside logs).

``prob`` is one 2-D or 3-D probability map (floats in [0, 1]), logits (floats with negative
values), or a mask; with ``num_classes``, K channels first (or a label map). Numpy arrays or torch
tensors, no batch axis. Distances (``unet_wce``, ``distmap_bce``, ``boundary_loss``,
``nearest_cell_bce``) are in the units of ``spacing``.
"""

from __future__ import annotations

from segcli.api import score
from segcli.settings import default

__all__ = [
    "bce",
    "balanced_bce",
    "wbce",
    "focal_loss",
    "dice_loss",
    "squared_dice_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "lovasz_hinge",
    "combo_loss",
    "unet_wce",
    "boundary_bce",
    "distmap_bce",
    "boundary_loss",
    "nearest_cell_bce",
    "cross_entropy",
    "lovasz_softmax",
]


def _one(name: str, prob, target, **options) -> float:
    return score(prob, target, name, **{k: v for k, v in options.items() if v is not None})[name]


def bce(prob, target) -> float:
    """Binary cross entropy ``mean(-(g log p + (1 - g) log(1 - p)))`` (torch's binary_cross_entropy).

    Examples
    --------
    >>> import numpy as np
    >>> round(bce(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.164252
    """
    return _one("bce", prob, target)


def balanced_bce(prob, target) -> float:
    """BCE with positives weighted b and negatives 1 - b, b the share of negative pixels.

    Examples
    --------
    >>> import numpy as np
    >>> round(balanced_bce(np.array([[0.9, 0.2, 0.1, 0.3]]), np.array([[1, 0, 0, 0]])), 6)
    0.062579
    """
    return _one("balanced_bce", prob, target)


def wbce(prob, target, *, pos_weight: float | None = default("pos_weight")) -> float:
    """BCE with positives weighted ``pos_weight`` (default: negatives / positives of the image).

    Examples
    --------
    >>> import numpy as np
    >>> round(wbce(np.array([[0.9, 0.2]]), np.array([[1, 0]]), pos_weight=2.0), 6)
    0.216932
    """
    return _one("wbce", prob, target, pos_weight=pos_weight)


def focal_loss(
    prob,
    target,
    *,
    alpha: float = default("focal_alpha"),
    gamma: float = default("focal_gamma"),
    num_classes: int | None = None,
) -> float:
    """Focal loss ``mean(a_t (1 - p_t)^gamma bce)`` (MONAI's FocalLoss; a negative alpha: no
    class weighting); with ``num_classes`` the softmax focal loss over the scored classes.

    Examples
    --------
    >>> import numpy as np
    >>> round(focal_loss(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.003479
    """
    return _one("focal_loss", prob, target, focal_alpha=alpha, focal_gamma=gamma, num_classes=num_classes)


def dice_loss(prob, target, *, smooth: float = default("smooth"), num_classes: int | None = None) -> float:
    """Soft Dice loss ``1 - (2 sum(p g) + s) / (sum p + sum g + s)`` (MONAI's DiceLoss).

    Examples
    --------
    >>> import numpy as np
    >>> round(dice_loss(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.142857
    """
    return _one("dice_loss", prob, target, smooth=smooth, num_classes=num_classes)


def squared_dice_loss(
    prob,
    target,
    *,
    gamma: float = default("dice_gamma"),
    smooth: float = default("smooth"),
    num_classes: int | None = None,
) -> float:
    """``1 - (2 sum(p g) + s) / (sum p^gamma + sum g^gamma + s)`` (V-Net; MONAI squared_pred).

    Examples
    --------
    >>> import numpy as np
    >>> round(squared_dice_loss(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.027027
    """
    return _one("squared_dice_loss", prob, target, dice_gamma=gamma, smooth=smooth, num_classes=num_classes)


def tversky_loss(
    prob,
    target,
    *,
    alpha: float = default("tversky_alpha"),
    beta: float = default("tversky_beta"),
    smooth: float = default("smooth"),
) -> float:
    """``1 - (TP + s) / (TP + alpha FP + beta FN + s)`` on soft counts (MONAI's TverskyLoss).

    Examples
    --------
    >>> import numpy as np
    >>> round(tversky_loss(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.126213
    """
    return _one("tversky_loss", prob, target, tversky_alpha=alpha, tversky_beta=beta, smooth=smooth)


def focal_tversky_loss(
    prob,
    target,
    *,
    alpha: float = default("tversky_alpha"),
    beta: float = default("tversky_beta"),
    gamma: float = default("focal_tversky_gamma"),
    smooth: float = default("smooth"),
) -> float:
    """``tversky_loss ^ gamma``.

    Examples
    --------
    >>> import numpy as np
    >>> round(focal_tversky_loss(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.211753
    """
    return _one(
        "focal_tversky_loss", prob, target, tversky_alpha=alpha, tversky_beta=beta, focal_tversky_gamma=gamma,
        smooth=smooth,
    )  # fmt: skip


def lovasz_hinge(prob, target) -> float:
    """Lovász hinge on ``logit(p)`` (Berman et al. 2018).

    Examples
    --------
    >>> import numpy as np
    >>> lovasz_hinge(np.array([[0.9, 0.1]]), np.array([[1, 0]])) < 0.1
    True
    """
    return _one("lovasz_hinge", prob, target)


def combo_loss(prob, target, *, smooth: float = default("smooth")) -> float:
    """``0.5 bce + 0.5 dice_loss``.

    Examples
    --------
    >>> import numpy as np
    >>> round(combo_loss(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.153555
    """
    return _one("combo_loss", prob, target, smooth=smooth)


def unet_wce(prob, target, *, w0: float = default("w0"), sigma: float = default("sigma"), spacing=None) -> float:
    """``mean(w bce)`` with w the U-Net weight map of the ground truth (Ronneberger et al. 2015).

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((8, 8)); gt[1:3, 1:3] = 1; gt[1:3, 5:7] = 1
    >>> unet_wce(gt * 0.8 + 0.1, gt) > bce(gt * 0.8 + 0.1, gt)
    True
    """
    return _one("unet_wce", prob, target, w0=w0, sigma=sigma, spacing=spacing)


def boundary_bce(prob, target) -> float:
    """``mean(w bce)``, w = 5 within 3 pixels of the ground truth's border, else 1.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((12, 12)); gt[3:9, 3:9] = 1
    >>> boundary_bce(gt, gt) < 1e-5
    True
    """
    return _one("boundary_bce", prob, target)


def distmap_bce(prob, target, *, spacing=None) -> float:
    """``mean(exp(-|sdf| / 5) bce)``, sdf the ground truth's signed distance.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((12, 12)); gt[3:9, 3:9] = 1
    >>> distmap_bce(gt * 0.8 + 0.1, gt) < bce(gt * 0.8 + 0.1, gt)
    True
    """
    return _one("distmap_bce", prob, target, spacing=spacing)


def boundary_loss(prob, target, *, spacing=None) -> float:
    """``mean(p phi)``, phi the Kervadec signed distance of the ground truth (Kervadec et al. 2019).

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((12, 12)); gt[3:9, 3:9] = 1
    >>> boundary_loss(gt, gt) < 0
    True
    """
    return _one("boundary_loss", prob, target, spacing=spacing)


def nearest_cell_bce(prob, target, *, spacing=None) -> float:
    """``mean(-(w g log p + (1 - g) log(1 - p)))``, ``w = b / (1 - b) + exp(-d^2)``, b the share of
    negative pixels, d the distance to the nearest ground-truth pixel (0 inside it).

    Examples
    --------
    >>> import numpy as np
    >>> round(nearest_cell_bce(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.216932
    """
    return _one("nearest_cell_bce", prob, target, spacing=spacing)


def cross_entropy(
    prob, target, *, num_classes: int, class_weights=None, ignore_index: int = default("ignore_index")
) -> float:
    """Multi-class cross entropy ``sum w[g] (-log p_g) / sum w[g]`` over the pixels that are not
    ``ignore_index`` (torch's cross_entropy); ``prob`` holds K channels first.

    Examples
    --------
    >>> import numpy as np
    >>> prob = np.array([[[0.8, 0.3]], [[0.2, 0.7]]])
    >>> round(cross_entropy(prob, np.array([[0, 1]]), num_classes=2), 6)
    0.289909
    """
    return _one("ce", prob, target, num_classes=num_classes, class_weights=class_weights, ignore_index=ignore_index)


def lovasz_softmax(prob, target, *, num_classes: int, ignore_index: int = default("ignore_index")) -> float:
    """Lovász-softmax over the classes present in the ground truth (Berman et al. 2018).

    Examples
    --------
    >>> import numpy as np
    >>> prob = np.array([[[0.8, 0.3]], [[0.2, 0.7]]])
    >>> lovasz_softmax(prob, np.array([[0, 1]]), num_classes=2) < 0.5
    True
    """
    return _one("lovasz_softmax", prob, target, num_classes=num_classes, ignore_index=ignore_index)
