"""The per-pixel terms every binary loss shares, computed once per batch: ``LossInputs``.

Inputs are batch-first: ``prob`` float (B, ...) in [0, 1], ``target`` bool (B, ...). A hard mask
is a probability in {0, 1}. Inside logs p is clamped to [1e-7, 1 - 1e-7]. ``LossInputs`` holds
log p, log(1 - p), the pixel BCE and the soft counts on one backend (numpy, or torch on a GPU), or
the exact four-element form of hard predictions; the losses (``segcli.scores.binary_losses``)
read them, whichever are asked for.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from segcli.engine.backend import NUMPY, NumpyOps, TorchOps, TwoLevelMap

EPSILON = 1e-7
FLOAT32_ABOVE_UPPER = 1.0 - 2.0**-24  # the smallest float32 above 1 - EPSILON
LOG_1M_EPSILON = np.float32(np.log1p(-EPSILON))
# The four (prediction, target) categories of a hard binary pair, in the element order of
# ``LossInputs.of_hard_masks``: TN, FN, FP, TP.
CATEGORY_PRED = np.array([False, False, True, True])
CATEGORY_TARGET = np.array([False, True, False, True])


class LossInputs:
    """Shared per-pixel terms of a batch of (probability, target) pairs, on one backend.

    Per-pixel arrays live on the backend (numpy, or torch on a GPU); reductions come back as
    float64 numpy arrays of one value per image. ``weights`` (numpy only; None: one pixel per
    element) says how many pixels each element stands for: the exact compact form of hard
    predictions (``of_hard_masks``), as the multi-class label-map path does.

    >>> x = LossInputs(np.array([[0.9, 0.2]]), np.array([[1, 0]], bool))
    >>> x.pixel_bce.astype(float).round(4).tolist()
    [[0.1054, 0.2231]]
    >>> LossInputs(np.array([[0.9, 0.2]]), np.array([[1, 0]], bool), weights=np.array([[3, 1]])).n_pixels
    array([4.])
    """

    def __init__(
        self,
        prob: np.ndarray,
        target: np.ndarray,
        ops: NumpyOps | TorchOps = NUMPY,
        *,
        weights: np.ndarray | None = None,
    ) -> None:
        self.ops = ops
        self.prob = ops.asarray(prob, "float32")
        self.target = ops.asarray(target, "bool")
        self.batch = self.prob.shape[0]
        if weights is not None:
            if isinstance(ops, TorchOps):
                raise ValueError("weights: the weighted form is computed with numpy, not on a torch device")
            weights = np.asarray(weights, np.float64)
            if weights.shape != tuple(self.prob.shape) or not np.all(weights >= 0):
                raise ValueError(f"weights: expected {tuple(self.prob.shape)} counts >= 0, got {weights.shape}")
        self.weights = weights
        self._masks: tuple[np.ndarray, np.ndarray] | None = None
        self._device_masks = None  # pragma: no mutate (read only once of_hard_masks has set it)

    @classmethod
    def of_hard_masks(cls, pred: np.ndarray, target: np.ndarray, counts, *, device_masks=None) -> LossInputs:
        """The exact four-element form of hard (bool) predictions: with p in {0, 1} every per-pixel
        term is a function of (prediction, target) alone, so an image's pixels fall into four
        categories (TN, FN, FP, TP), one element each, weighted by its pixel count (``counts``,
        the batch's ``ConfusionCounts``). A full-size map (``per_element``) enters as its mean
        over each category, which keeps every mean of (category term) x (map) exact: the form
        of every weighted loss. No pass over the pixels but for such maps. ``device_masks``: a
        function giving (pred, target) as bool tensors on the torch device where maps are made
        (``--device``): the category sums of such a map are taken there, and only they come back.

        >>> from segcli.engine.stats import confusion_counts
        >>> p, g = np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 0, 0]], bool)
        >>> x = LossInputs.of_hard_masks(p, g, confusion_counts(p, g))
        >>> x.weights.tolist(), float(x.mean(x.per_element(np.array([[4.0, 2.0, 1.0, 1.0]])))[0])
        ([[2.0, 0.0, 1.0, 1.0]], 2.0)
        """
        batch = pred.shape[0]
        x = cls(
            # no mutate: the constructor casts the probabilities to float32 whatever comes in
            np.broadcast_to(CATEGORY_PRED.astype(np.float32), (batch, 4)).copy(),  # pragma: no mutate
            np.broadcast_to(CATEGORY_TARGET, (batch, 4)).copy(),
            weights=np.stack([counts.tn, counts.fn, counts.fp, counts.tp], axis=1),
        )
        x._masks = (pred, target)
        x._device_masks = device_masks
        return x

    def multiplicity(self, i: int) -> np.ndarray | None:
        """How many pixels each element of image ``i`` stands for; None: one each."""
        return None if self.weights is None else self.weights[i]

    def per_element(self, pixel_map):
        """A per-pixel map of the batch's shape (weights, signed distances) in the elements'
        layout: on the backend as it is, or, for ``of_hard_masks``, its mean over each category
        (an empty category weighs nothing; its value is its sum: 0, up to rounding)."""
        if self._masks is None:
            return self.ops.pixel_map(pixel_map)
        two_level = isinstance(pixel_map, TwoLevelMap)  # count its mask pixels
        values = pixel_map.mask if two_level else pixel_map
        if isinstance(values, np.ndarray):
            layouts = self._category_layout
            sums = np.stack([_category_sums(m, *layouts[i]) for i, m in enumerate(values)])
        else:  # a torch tensor, made on the device: summed there
            sums = _category_sums_on_device(values, *self._device_masks())
        # An empty category sums nothing (its sum is 0, or a rounding residue of the difference it
        # is taken as) and weighs nothing: divided by 1, it stays finite.
        means = sums / np.maximum(self.weights, 1.0)
        return pixel_map.outside + (pixel_map.inside - pixel_map.outside) * means if two_level else means

    @cached_property
    def _category_layout(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per image: the flat target, the flat indices of the wrong pixels and their target,
        found once and shared by every map."""
        layout = []
        for pred, target in zip(*self._masks, strict=True):
            pred, target = np.ravel(pred), np.ravel(target)
            wrong = np.flatnonzero(pred ^ target)
            layout.append((target, wrong, target[wrong]))
        return layout

    def _sum(self, values) -> np.ndarray:
        """(B,) float64 sums over each image's pixels."""
        if self.weights is None:
            return self.ops.sum(values)
        return np.sum(self.weights * values, axis=1)  # float64 weights: float64 products

    def _clamped_log(self, p):
        """log(p) with p clamped to [1e-7, 1 - 1e-7]. Clamping naively in float32 would round
        1 - 1e-7 to 1 - 1.19e-7 and miss log(1 - 1e-7); the two ends are handled separately."""
        ops = self.ops
        # p is float32 (the constructor casts the probabilities): the values above 1 - 1e-7 are
        # exactly those >= 1 - 2**-24 (1 - 1e-7 itself would round down to 1 - 2**-23, a value
        # that must keep its own log).
        return ops.where(p >= FLOAT32_ABOVE_UPPER, LOG_1M_EPSILON, ops.log(ops.clamp_min(p, EPSILON)))

    @cached_property
    def logits(self):
        """log(p) - log(1 - p), both clamped."""
        return self._clamped_log(self.prob) - self._clamped_log(1.0 - self.prob)

    @cached_property
    def pixel_bce(self):
        # -log of the probability given to the true class: one log per pixel instead of two.
        return -self._clamped_log(self.ops.where(self.target, self.prob, 1.0 - self.prob))

    @cached_property
    def n_positive(self) -> np.ndarray:
        if self.weights is None:
            return self.ops.count(self.target).astype(np.float64)
        return np.sum(self.weights * self.target, axis=1)

    @cached_property
    def n_pixels(self) -> np.ndarray:
        if self.weights is None:
            return self.ops.pixel_count(self.target).astype(np.float64)
        return self.weights.sum(axis=1)

    @cached_property
    def soft_tp(self) -> np.ndarray:
        return self._sum(self.ops.where(self.target, self.prob, 0.0))

    @cached_property
    def soft_sum_p(self) -> np.ndarray:
        return self._sum(self.prob)

    def soft_sum_p_power(self, gamma: float) -> np.ndarray:
        """sum(p^gamma) per image."""
        if gamma == 1.0:
            return self.soft_sum_p
        # equivalent mutants: p * p is numpy's p**2.0
        return self._sum(self.prob * self.prob if gamma == 2.0 else self.prob**gamma)  # pragma: no mutate

    def mean(self, pixel_values) -> np.ndarray:
        """(B,) float64 means over each image's pixels."""
        if self.weights is None:
            return self.ops.mean(pixel_values)
        return self._sum(pixel_values) / self.n_pixels

    def per_image(self, values: np.ndarray):
        """(B,) values shaped to broadcast against the batch, on its backend."""
        return self.ops.per_image(values, self.prob)


def _category_sums(values: np.ndarray, target: np.ndarray, wrong: np.ndarray, wrong_target: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (numbers, or a bool mask: counts) over the TN, FN, FP and TP pixels of
    one image, in float64, given its flat target and its wrong pixels (few, for a useful
    prediction: gathered; the rest come from two dense reductions)."""
    if values.dtype == bool:
        values = np.ravel(values)
        total = float(np.count_nonzero(values))
        in_target = float(np.count_nonzero(values & target))
    else:
        values = np.ravel(values).astype(np.float32, copy=False)
        total = np.sum(values, dtype=np.float64)
        in_target = np.sum(values * target, dtype=np.float64)
    wrong_values = values[wrong]
    fn = np.sum(wrong_values[wrong_target], dtype=np.float64)
    fp = np.sum(wrong_values[~wrong_target], dtype=np.float64)
    return np.array([total - in_target - fp, fn, fp, in_target - fn])


def _category_sums_on_device(values, pred, target) -> np.ndarray:
    """(B, 4) float64 sums of a torch map (numbers, or a bool mask: counts) over the TN, FN, FP
    and TP pixels of each image, computed on the map's device; only the sums come back."""
    import torch

    values = values.flatten(1).to(torch.float64)
    pred, target = pred.flatten(1), target.flatten(1)
    fn = (values * (target & ~pred)).sum(dim=1)
    fp = (values * (pred & ~target)).sum(dim=1)
    tp = (values * (pred & target)).sum(dim=1)
    tn = values.sum(dim=1) - fn - fp - tp
    return torch.stack([tn, fn, fp, tp], dim=1).cpu().numpy()
