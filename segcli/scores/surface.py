"""Surface-distance scores, in spacing units.

Borders are mask XOR its erosion by the cross element (outside the image is background).
``surface_distances`` computes, once per pair, the distance from each border pixel of one mask
to the nearest border pixel of the other, in both directions; every score below is a reduction
of those two arrays. Both masks empty: distances 0 and nsd 1. Exactly one empty: distances inf
and nsd 0, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from segcli.engine.distance import Spacing, SurfaceDistances, directed_distances_of
from segcli.engine.stats import BitMask, border, bounding_box
from segcli.settings import default


def surface_distances(pred: np.ndarray, target: np.ndarray, spacing: Spacing | None = None) -> SurfaceDistances:
    """Both directed border-distance arrays for one pair of spatial boolean masks.

    >>> d = surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 1, 1, 0]], bool))
    >>> d.pred_to_gt.tolist(), d.gt_to_pred.tolist()
    ([1.0, 0.0], [0.0, 1.0])
    """
    # Both borders lie in the box of the two masks, and a mask pixel on the box's edge has a
    # background neighbour outside it: the borders of the crop are the crops of the borders
    # (same pixels, same row-major order), at a fraction of the cost for a small structure in
    # a large volume.
    box = _union_box(pred, target)
    if box is not None:
        pred, target = pred[box], target[box]
    pred_border = border(pred)
    gt_border = border(target)
    pred_pixels, gt_pixels = np.flatnonzero(pred_border), np.flatnonzero(gt_border)
    if not pred_pixels.size or not gt_pixels.size:
        # With the other border empty, every distance from this one is infinite.
        return SurfaceDistances(
            pred_to_gt=np.full(pred_pixels.size, np.inf),  # pragma: no mutate (only the count is read)
            gt_to_pred=np.full(gt_pixels.size, np.inf),  # pragma: no mutate (only the count is read)
        )
    return SurfaceDistances(
        pred_to_gt=directed_distances_of(pred_pixels, gt_border, spacing),
        gt_to_pred=directed_distances_of(gt_pixels, pred_border, spacing),
    )


def _union_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box holding every True pixel of ``a`` and ``b``; None when both are empty."""
    return bounding_box(a | b)


def _reduce(distances: Sequence[SurfaceDistances], reduce_pair) -> np.ndarray:
    """Apply the both-empty / one-empty conventions, then ``reduce_pair`` on the rest."""
    out = np.empty(len(distances))
    for i, d in enumerate(distances):
        if d.pred_empty and d.gt_empty:
            out[i] = 0.0
        elif d.pred_empty or d.gt_empty:
            out[i] = np.inf
        else:
            # no mutate: astype(None) is float64 too
            out[i] = reduce_pair(d.pred_to_gt.astype(np.float64), d.gt_to_pred.astype(np.float64))  # pragma: no mutate
    return out


def percentile_linear(values: np.ndarray, percentile: float) -> float:
    """The ``percentile`` (0-100) of non-empty 1-D ``values`` with linear interpolation between
    the two nearest ranks: ``numpy.percentile``'s default, the same float to the last bit (its
    index ``(n - 1) q / 100`` and its two-sided interpolation), at a quarter of its cost.

    >>> percentile_linear(np.array([10.0, 0.0, 2.0, 1.0]), 50.0)
    1.5
    """
    n = values.size
    position = (n - 1) * (percentile / 100.0)
    below = min(max(math.floor(position), 0), n - 1)
    above = min(below + 1, n - 1)
    ordered = np.partition(values, (below, above) if above != below else below)
    low, high = ordered[below], ordered[above]
    gamma = position - below
    step = high - low
    # as numpy does: from the nearer end, so that the result is exact at both ranks
    return float(high - step * (1.0 - gamma)) if gamma >= 0.5 else float(low + step * gamma)


def hd(distances: Sequence[SurfaceDistances]) -> np.ndarray:
    """Hausdorff distance: the largest border distance in either direction.

    >>> hd([surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 0, 1]], bool))])
    array([3.])
    """
    return _reduce(distances, lambda a, b: max(a.max(), b.max()))


def hd95(distances: Sequence[SurfaceDistances], *, percentile: float = 95.0) -> np.ndarray:
    """Max of the two directed 95th percentiles, linear interpolation (MONAI, MetricsReloaded).

    >>> hd95([surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 0, 1]], bool))])
    array([2.95])
    """
    return _reduce(distances, lambda a, b: max(percentile_linear(a, percentile), percentile_linear(b, percentile)))


def hd95_pooled(distances: Sequence[SurfaceDistances], *, percentile: float = 95.0) -> np.ndarray:
    """95th percentile of both directions pooled, linear interpolation (MedPy, seg-metrics).

    >>> hd95_pooled([surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 0, 1]], bool))])
    array([2.9])
    """
    return _reduce(distances, lambda a, b: percentile_linear(np.concatenate([a, b]), percentile))


def assd(distances: Sequence[SurfaceDistances]) -> np.ndarray:
    """Average symmetric surface distance: mean of both directions pooled (MONAI symmetric, MedPy).

    >>> assd([surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 0, 1]], bool))])
    array([2.33333333])
    """
    return _reduce(distances, lambda a, b: (a.sum() + b.sum()) / (a.size + b.size))


def masd(distances: Sequence[SurfaceDistances]) -> np.ndarray:
    """Mean average surface distance: mean of the two directed means (MetricsReloaded).

    >>> masd([surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 0, 1]], bool))])
    array([2.25])
    """
    return _reduce(distances, lambda a, b: 0.5 * (a.mean() + b.mean()))


def nsd(distances: Sequence[SurfaceDistances], *, tolerance: float = default("nsd_tolerance")) -> np.ndarray:
    """Normalised surface distance (surface Dice, Nikolov et al. 2021): the share of border pixels
    of both masks within ``tolerance`` of the other border (MONAI SurfaceDiceMetric).

    >>> nsd([surface_distances(np.array([[1, 1, 0, 0]], bool), np.array([[0, 0, 0, 1]], bool))], tolerance=2)
    array([0.66666667])
    """
    # Distances that equal the tolerance in exact arithmetic (sqrt(0.6^2 + 0.8^2) = 1) may land
    # an ulp above it in floating point; a relative slack of 1e-9 counts them as within.
    limit = tolerance * (1.0 + 1e-9)
    out = np.empty(len(distances))
    for i, d in enumerate(distances):
        if d.pred_empty and d.gt_empty:
            out[i] = 1.0
        elif d.pred_empty or d.gt_empty:  # pragma: no mutate (with "and", the else branch gives 0 too)
            out[i] = 0.0
        else:
            within = np.count_nonzero(d.pred_to_gt <= limit) + np.count_nonzero(d.gt_to_pred <= limit)
            out[i] = within / (d.pred_to_gt.size + d.gt_to_pred.size)
    return out


def boundary_region(mask: np.ndarray, *, width: int = 2) -> np.ndarray:
    """Mask pixels within ``width`` px of its contour: mask minus its erosion by a 3x3(x3) square,
    ``width`` times, outside the image counting as background (Cheng et al. 2021)."""
    packed = BitMask.pack(mask)
    return packed.and_not(packed.erode_square(width)).unpack()


def boundary_iou(pred: np.ndarray, target: np.ndarray, *, width: int = 2) -> np.ndarray:
    """Boundary IoU (Cheng et al. 2021): IoU of the two masks' boundary regions of ``width`` px;
    1 when both are empty, 0 when one is.

    >>> boundary_iou(np.ones((1, 6, 6), bool), np.pad(np.ones((1, 6, 5), bool), ((0, 0), (0, 0), (0, 1))))
    array([0.76470588])
    """
    out = np.empty(pred.shape[0])
    for i in range(pred.shape[0]):
        a = boundary_region(pred[i], width=width)
        b = boundary_region(target[i], width=width)
        union = np.count_nonzero(a | b)
        out[i] = np.count_nonzero(a & b) / union if union else 1.0
    return out
