"""The overlap table of a pair's GT and predicted objects (one pass over the pixels) and their
one-to-one matching at an IoU threshold; the object scores (``segcli.scores.objects``, whose
docstring gives the matching rule) and the per-object rows (``segcli.scores.object_errors``) both
start from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from segcli.scores.object_labels import DIRECT_BINS, as_label_map, compact_ids
from segcli.settings import default


@dataclass(frozen=True)
class OverlapTable:
    """Objects of a GT and a predicted label map and every pair that shares pixels.

    ``gt_ids``/``pred_ids`` are the label values (sorted), ``gt_areas``/``pred_areas`` their pixel
    counts; pair k joins object ``gt_ids[pair_gt[k]]`` and ``pred_ids[pair_pred[k]]`` (indices into
    the id arrays) over ``pair_count[k]`` pixels. All arrays are int64, but ids above 2**63 - 1
    (uint64 maps) stay uint64.
    """

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    gt_areas: np.ndarray
    pred_areas: np.ndarray
    pair_gt: np.ndarray
    pair_pred: np.ndarray
    pair_count: np.ndarray

    @property
    def pair_iou(self) -> np.ndarray:
        """IoU of every pair: ``count / (area_gt + area_pred - count)``, float64."""
        union = self.gt_areas[self.pair_gt] + self.pred_areas[self.pair_pred] - self.pair_count
        return self.pair_count / union


@dataclass(frozen=True)
class Matching:
    """One-to-one matches: ``gt_index[k]`` and ``pred_index[k]`` (indices into the table's ids) with ``iou[k]``."""

    gt_index: np.ndarray
    pred_index: np.ndarray
    iou: np.ndarray


def check_iou_threshold(iou_threshold: float) -> float:
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float, np.number)):
        raise TypeError(f"iou_threshold: expected a number, got {iou_threshold!r}")
    threshold = float(iou_threshold)
    if not (math.isfinite(threshold) and 0 <= threshold < 1):
        raise ValueError(f"iou_threshold: expected a number in [0, 1), got {iou_threshold}")
    return threshold


def overlap_table(gt_labels: np.ndarray, pred_labels: np.ndarray) -> OverlapTable:
    """Every (GT object, predicted object) pair that shares pixels, and the object areas.

    One pass over the pixels where either map is non-zero: each pixel's (gt id, pred id) becomes
    one integer key, counted by a histogram (or a sort, for sparse huge ids). Labels need not be
    compact; ids up to the dtype's range are fine.

    Parameters
    ----------
    gt_labels, pred_labels : ndarray
        Instance label maps of the same shape (0 = background), as ``label_objects`` returns.

    Returns
    -------
    OverlapTable

    Examples
    --------
    >>> t = overlap_table(np.array([[1, 1, 0, 2]]), np.array([[5, 0, 5, 5]]))
    >>> t.gt_ids.tolist(), t.pred_ids.tolist(), t.gt_areas.tolist(), t.pred_areas.tolist()
    ([1, 2], [5], [2, 1], [3])
    >>> t.pair_gt.tolist(), t.pair_pred.tolist(), t.pair_count.tolist()
    ([0, 1], [0, 0], [1, 1])
    """
    gt = as_label_map(gt_labels, "gt_labels")
    pred = as_label_map(pred_labels, "pred_labels")
    if gt.shape != pred.shape:
        raise ValueError(f"gt_labels and pred_labels: shapes differ, {gt.shape} and {pred.shape}")
    foreground = (gt != 0) | (pred != 0)
    g, p = gt[foreground], pred[foreground]
    gt_ids, g = compact_ids(g)
    pred_ids, p = compact_ids(p)
    width = pred_ids.size + 1
    bins = (gt_ids.size + 1) * width
    if bins >= 2**63:
        raise ValueError(
            f"gt_labels and pred_labels: {gt_ids.size} and {pred_ids.size} objects are too many to pair in int64"
        )
    key = g.astype(np.int64) * width + p
    if bins <= max(DIRECT_BINS, 4 * key.size):
        histogram = np.bincount(key, minlength=bins)
        keys = np.flatnonzero(histogram)
        counts = histogram[keys]
    else:
        keys, counts = np.unique(key, return_counts=True)
    row, col = keys // width, keys % width
    counts = counts.astype(np.int64)
    gt_areas = np.bincount(row, weights=counts, minlength=gt_ids.size + 1)[1:].astype(np.int64)
    pred_areas = np.bincount(col, weights=counts, minlength=width)[1:].astype(np.int64)
    both = (row != 0) & (col != 0)
    return OverlapTable(gt_ids, pred_ids, gt_areas, pred_areas, row[both] - 1, col[both] - 1, counts[both])


def _assign(table: OverlapTable, candidates: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """Pairs (indices into ``candidates``) of the most matches, then the largest summed IoU."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, cols = table.pair_gt[candidates], table.pair_pred[candidates]
    n_gt = table.gt_ids.size
    size = n_gt + table.pred_ids.size
    graph = coo_matrix((np.ones(rows.size), (rows, n_gt + cols)), shape=(size, size))
    _, component = connected_components(graph, directed=False)
    edge_component = component[rows]
    order = np.argsort(edge_component, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(edge_component[order]) != 0])
    chosen = []
    for edges in np.split(order, starts[1:]):
        if edges.size == 1:
            chosen.append(edges)
            continue
        gts, r = np.unique(rows[edges], return_inverse=True)
        preds, c = np.unique(cols[edges], return_inverse=True)
        n_matched = min(gts.size, preds.size)
        # Each match is worth 1 plus its IoU / (2 n): the IoU terms add up to at most 1/2, so they
        # only decide between matchings with equally many matches.
        cost = np.zeros((gts.size, preds.size))
        cost[r, c] = -1.0 - iou[edges] / (2 * n_matched)
        edge_of = np.full((gts.size, preds.size), -1)
        edge_of[r, c] = edges
        picked = edge_of[linear_sum_assignment(cost)]
        chosen.append(picked[picked >= 0])
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)


def match(table: OverlapTable, *, iou_threshold: float = default("iou_threshold")) -> Matching:
    """One-to-one matching of GT and predicted objects at ``IoU > iou_threshold``.

    For ``iou_threshold >= 0.5`` every pair above it is a match (no object can have two). Below
    0.5 the matching with the most matches, then the largest summed IoU, is found by
    ``scipy.optimize.linear_sum_assignment`` on each connected group of candidate pairs.

    Examples
    --------
    >>> gt, pred = np.array([[1, 1, 1, 0, 2, 2]]), np.array([[3, 3, 0, 4, 4, 4]])
    >>> m = match(overlap_table(gt, pred))
    >>> m.gt_index.tolist(), m.pred_index.tolist(), m.iou.round(3).tolist()
    ([0, 1], [0, 1], [0.667, 0.667])
    >>> match(overlap_table(gt, pred), iou_threshold=0.7).iou.tolist()
    []
    """
    threshold = check_iou_threshold(iou_threshold)
    iou = table.pair_iou
    candidates = np.flatnonzero(iou > threshold)
    if threshold < 0.5 and candidates.size:  # pragma: no mutate (a shortcut: above 1/2 already one-to-one)
        candidates = candidates[_assign(table, candidates, iou[candidates])]
        candidates.sort()
    return Matching(table.pair_gt[candidates], table.pair_pred[candidates], iou[candidates])
