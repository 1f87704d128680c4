"""Per-pair sufficient statistics shared by many scores.

Confusion counts (hard), soft counts (on probabilities), borders, and the one safe division that
carries SPEC.md's 0/0 rule. Every array function is batch-first: axis 0 indexes images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def safe_divide(numerator: np.ndarray, denominator: np.ndarray, identical: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, with 0/0 = 1 where prediction and GT are identical, else 0.

    >>> safe_divide(np.array([1.0, 0.0, 0.0]), np.array([2.0, 0.0, 0.0]), np.array([False, True, False]))
    array([0.5, 1. , 0. ])
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    zero = denominator == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / np.where(zero, 1.0, denominator)
    return np.where(zero, np.where(identical, 1.0, 0.0), ratio)


@dataclass(frozen=True)
class ConfusionCounts:
    """Hard confusion counts per image, each of shape (B,), int64."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @property
    def identical(self) -> np.ndarray:
        """True where prediction and GT agree on every counted pixel."""
        return (self.fp == 0) & (self.fn == 0)


def confusion_counts(pred: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None) -> ConfusionCounts:
    """Count TP, FP, FN, TN per image for boolean ``pred`` and ``target`` of shape (B, ...).

    ``valid`` (same shape, optional) marks the pixels that take part; the rest are ignored.

    >>> c = confusion_counts(np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool))
    >>> int(c.tp[0]), int(c.fp[0]), int(c.fn[0]), int(c.tn[0])
    (1, 1, 1, 1)
    """
    batch = pred.shape[0]
    pred = pred.reshape(batch, -1)
    target = target.reshape(batch, -1)
    if valid is None:
        n = np.full(batch, pred.shape[1], dtype=np.int64)
        tp = np.count_nonzero(pred & target, axis=1)
        n_pred = np.count_nonzero(pred, axis=1)
        n_target = np.count_nonzero(target, axis=1)
    else:
        valid = valid.reshape(batch, -1)
        n = np.count_nonzero(valid, axis=1)
        tp = np.count_nonzero(pred & target & valid, axis=1)
        n_pred = np.count_nonzero(pred & valid, axis=1)
        n_target = np.count_nonzero(target & valid, axis=1)
    fp = n_pred - tp
    fn = n_target - tp
    tn = n - tp - fp - fn
    return ConfusionCounts(*(np.asarray(x, dtype=np.int64) for x in (tp, fp, fn, tn)))


def cross_structure(ndim: int) -> np.ndarray:
    """The cross (face-connected) structuring element: 4-neighbourhood in 2D, 6 in 3D."""
    from scipy import ndimage

    return ndimage.generate_binary_structure(ndim, 1)


def border(mask: np.ndarray) -> np.ndarray:
    """Border of one spatial mask: mask XOR its erosion by the cross element.

    Pixels outside the image count as background, so a mask touching the image edge has a
    border there.

    >>> border(np.ones((3, 4), bool)).astype(int)
    array([[1, 1, 1, 1],
           [1, 0, 0, 1],
           [1, 1, 1, 1]])
    """
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, structure=cross_structure(mask.ndim), border_value=0)


def bounding_box(mask: np.ndarray, *, pad: int | tuple[int, ...] = 0) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every True pixel, grown by ``pad`` and clipped to the
    image; None for an empty mask."""
    pads = (pad,) * mask.ndim if isinstance(pad, int) else pad
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        if hits.size == 0:
            return None
        box.append(slice(max(hits[0] - pads[axis], 0), min(hits[-1] + 1 + pads[axis], mask.shape[axis])))
    return tuple(box)
