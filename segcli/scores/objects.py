"""Object-level scores: cells and lesions counted one by one.

Objects are the non-zero values of an instance label map (0 = background), or the connected
components of a mask (``label_objects``). All overlaps of a pair come from one pass over the pixels
where either map has an object (``overlap_table``); every score below is then computed from that
table of (GT object, predicted object, shared pixels) and the object areas, never from the images.

Definitions (``G`` a GT object, ``P`` a predicted object, ``|.|`` a pixel count,
``IoU(G, P) = |G & P| / |G | P|``, t the IoU threshold, default 0.5):

* Matching: G and P may match when ``IoU(G, P) > t`` (strictly: an IoU exactly at t does not
  match), each object at most once. For t >= 0.5 this is unique (an object can have an IoU above
  1/2 with at most one object of the other side). For t < 0.5 the one-to-one matching with the most
  matches is taken, and among those the one with the largest summed IoU (StarDist's rule, solved
  with ``scipy.optimize.linear_sum_assignment``).
* ``obj_tp`` matched pairs, ``obj_fp`` unmatched predicted objects, ``obj_fn`` unmatched GT
  objects; ``obj_count_gt``, ``obj_count_pred`` the object counts.
* ``obj_precision`` = TP / (TP + FP), ``obj_recall`` = TP / (TP + FN), ``obj_f1`` = ``rq`` =
  2TP / (2TP + FP + FN), ``obj_ap`` = TP / (TP + FP + FN) (the "average precision" of StarDist,
  cellpose and the 2018 Data Science Bowl at one threshold).
* ``obj_ap_mean``: the mean of ``obj_ap`` over t = 0.50, 0.55, ..., 0.95 (Data Science Bowl 2018),
  whatever ``iou_threshold`` is.
* ``pq`` = (sum of matched IoUs) / (TP + FP/2 + FN/2), ``sq`` = (sum of matched IoUs) / TP,
  ``pq = sq * rq`` (Kirillov et al. 2019, panoptic quality of one class).
* ``aji`` (Kumar et al. 2017): each G is paired with the P of largest IoU among those it overlaps
  (ties: the smaller id; a P may serve several G); AJI = sum of |G & P| / (sum of |G | P| over the
  pairs + areas of the G overlapping nothing + areas of the P paired with no G).
* ``seg`` (Cell Tracking Challenge SEG): the mean over GT objects of IoU(G, P) for the P covering
  more than half of G (``|G & P| > |G| / 2``; at most one does), 0 for a G that no P covers.

Conventions: when neither map has an object, every ratio is 1 (the maps agree); when exactly one
has none, every ratio is 0; ``sq`` with objects but no match is 0.

References: Kumar et al. 2017, IEEE TMI 36(7) (AJI); Kirillov et al. 2019, CVPR (panoptic quality);
Ulman et al. 2017, Nature Methods 14 (SEG); Schmidt et al. 2018, MICCAI (StarDist matching);
Caicedo et al. 2019, Nature Methods 16 (Data Science Bowl 2018).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from segcli.engine.stats import safe_divide

ObjectMode = Literal["instances", "components"]
ObjectKind = Literal["matched", "missed", "false", "split", "merged"]

SCORE_NAMES = (
    "obj_tp",
    "obj_fp",
    "obj_fn",
    "obj_precision",
    "obj_recall",
    "obj_f1",
    "obj_ap",
    "obj_ap_mean",
    "pq",
    "sq",
    "rq",
    "aji",
    "seg",
    "obj_count_gt",
    "obj_count_pred",
)
# Rounded so that each equals the decimal literal (0.55, not 0.5 + 0.05): an IoU of exactly 11/20
# must not pass 0.55.
AP_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))

# Integers beyond 2**53 are not all representable in float64: such float labels cannot be told apart.
_FLOAT_EXACT = 2**53
# A direct histogram of (gt id, pred id) keys is used while it has at most this many bins (or
# 4 per counted pixel); beyond that the keys are sorted (np.unique).
_DIRECT_BINS = 1 << 22


class BinaryInstancesWarning(UserWarning):
    """A map read as instances holds one value over several separate regions: one object, not many."""


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


def _as_label_map(array: object, name: str) -> np.ndarray:
    """``array`` as non-negative integer labels (bool and integral floats accepted); errors name it."""
    labels = np.asarray(array)
    if labels.dtype == bool:
        return labels.view(np.uint8)
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected an integer label map, got dtype {labels.dtype}")
    if labels.ndim == 0:
        raise ValueError(f"{name}: expected a 2-D or 3-D label map, got a scalar")
    if labels.size == 0:
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.floor(labels)):
            raise ValueError(f"{name}: expected integer labels, got non-integer or non-finite values")
        if labels.max() > _FLOAT_EXACT:
            raise ValueError(
                f"{name}: float labels above 2**53 ({labels.max():.17g}) cannot all be told apart; "
                "store the labels as integers"
            )
    low = labels.min()
    if low < 0:
        raise ValueError(f"{name}: expected labels >= 0, got {low}")
    return labels.astype(np.int64) if labels.dtype.kind == "f" else labels


def _check_threshold(iou_threshold: float) -> float:
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float, np.number)):
        raise TypeError(f"iou_threshold: expected a number, got {iou_threshold!r}")
    threshold = float(iou_threshold)
    if not (math.isfinite(threshold) and 0 <= threshold < 1):
        raise ValueError(f"iou_threshold: expected a number in [0, 1), got {iou_threshold}")
    return threshold


def _compact(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, index)``: the sorted non-zero values and, per value, 1 + its place in ``ids`` (0 for 0)."""
    top = int(values.max()) if values.size else 0
    if top <= max(_DIRECT_BINS, 4 * values.size):
        if values.dtype == np.uint64:
            values = values.astype(np.int64)
        present = np.bincount(values.ravel(), minlength=top + 1) > 0
        present[0] = False
        ids = np.flatnonzero(present)
        lookup = np.zeros(top + 1, np.int64)
        lookup[ids] = np.arange(1, ids.size + 1)
        return ids.astype(np.int64), lookup[values]
    unique, inverse = np.unique(values, return_inverse=True)
    # uint64 ids above 2**63 - 1 stay uint64; every other id is int64.
    ids = unique if unique[-1] > np.iinfo(np.int64).max else unique.astype(np.int64)
    if unique[0] == 0:
        return ids[1:], inverse.reshape(values.shape)
    return ids, inverse.reshape(values.shape) + 1


def _compact_map(labels: np.ndarray) -> np.ndarray:
    """Relabel to 1..n in the order of the old values; int32 (int64 past 2**31 - 1 objects)."""
    ids, index = _compact(labels)
    dtype = np.int32 if ids.size < 2**31 else np.int64
    if labels.dtype == dtype and (ids.size == 0 or ids[-1] == ids.size):
        return labels
    return index.astype(dtype)


def _components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    output = np.int32 if mask.size < 2**31 else np.int64
    labels, count = ndimage.label(mask, structure=structure, output=output)
    return labels, count


def label_objects(
    mask_or_labels: np.ndarray,
    mode: ObjectMode = "instances",
    *,
    connectivity: int | None = None,
    keep_ids: bool = False,
) -> np.ndarray:
    """The objects of a map as labels 1..n on background 0.

    Parameters
    ----------
    mask_or_labels : ndarray
        A 2-D or 3-D map of non-negative integers (bool, and floats that hold integers, accepted).
    mode : {"instances", "components"}
        ``"instances"``: each non-zero value is one object. A map with one non-zero value over
        several separate regions warns (``BinaryInstancesWarning``): it is one object here, and
        probably a binary mask meant for ``"components"``. ``"components"``: every non-zero pixel
        is foreground and each connected component is one object.
    connectivity : int, optional
        Components mode: neighbours are pixels at most this many axes apart, 1..ndim (1 = 4/6
        neighbours, ndim = 8/26); default ndim (full).
    keep_ids : bool
        Instances mode: return the values unchanged (validated) instead of relabelling them
        1..n, so per-object rows name the ids of the file.

    Returns
    -------
    ndarray
        Labels 1..n in the order of the old values (int32; int64 past 2**31 - 1 objects), or the
        validated input with ``keep_ids``.

    Raises
    ------
    TypeError
        A non-numeric map.
    ValueError
        Negative, non-integer or non-finite values, float labels above 2**53, a bad ``mode`` or
        ``connectivity``.

    Examples
    --------
    >>> label_objects(np.array([[7, 7, 0, 40]])).tolist()
    [[1, 1, 0, 2]]
    >>> label_objects(np.array([[1, 0, 1], [0, 0, 1]]), "components", connectivity=1).tolist()
    [[1, 0, 2], [0, 0, 2]]
    >>> int(label_objects(np.array([[1, 0, 1], [0, 1, 0]]), "components").max())
    1
    """
    labels = _as_label_map(mask_or_labels, "mask_or_labels")
    if mode == "components":
        if connectivity is None:
            connectivity = labels.ndim
        if isinstance(connectivity, bool) or not isinstance(connectivity, (int, np.integer)):
            raise TypeError(f"connectivity: expected an integer 1..{labels.ndim}, got {connectivity!r}")
        if not 1 <= connectivity <= labels.ndim:
            raise ValueError(f"connectivity: expected 1..{labels.ndim} for a {labels.ndim}-D map, got {connectivity}")
        return _components(labels != 0, int(connectivity))[0]
    if mode != "instances":
        raise ValueError(f"mode: expected 'instances' or 'components', got {mode!r}")
    if connectivity is not None:
        warnings.warn("connectivity applies only to mode='components'; ignored", UserWarning, stacklevel=2)
    ids, _ = _compact(labels)
    if ids.size == 1:
        regions = _components(labels != 0, labels.ndim)[1]
        if regions > 1:
            warnings.warn(
                f"mask_or_labels: one non-zero value ({ids[0]}) over {regions} separate regions is read as one "
                "object (instances: one object per value); use mode='components' to count the regions",
                BinaryInstancesWarning,
                stacklevel=2,
            )
    return labels if keep_ids else _compact_map(labels)


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
    gt = _as_label_map(gt_labels, "gt_labels")
    pred = _as_label_map(pred_labels, "pred_labels")
    if gt.shape != pred.shape:
        raise ValueError(f"gt_labels and pred_labels: shapes differ, {gt.shape} and {pred.shape}")
    foreground = (gt != 0) | (pred != 0)
    g, p = gt[foreground], pred[foreground]
    gt_ids, g = _compact(g)
    pred_ids, p = _compact(p)
    width = pred_ids.size + 1
    bins = (gt_ids.size + 1) * width
    if bins >= 2**63:
        raise ValueError(
            f"gt_labels and pred_labels: {gt_ids.size} and {pred_ids.size} objects are too many to pair in int64"
        )
    key = g.astype(np.int64) * width + p
    if bins <= max(_DIRECT_BINS, 4 * key.size):
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


def match(table: OverlapTable, *, iou_threshold: float = 0.5) -> Matching:
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
    threshold = _check_threshold(iou_threshold)
    iou = table.pair_iou
    candidates = np.flatnonzero(iou > threshold)
    if threshold < 0.5 and candidates.size:  # pragma: no mutate (a shortcut: above 1/2 already one-to-one)
        candidates = candidates[_assign(table, candidates, iou[candidates])]
        candidates.sort()
    return Matching(table.pair_gt[candidates], table.pair_pred[candidates], iou[candidates])


def _ratio(numerator: float, denominator: float, identical: bool) -> float:
    return float(safe_divide(numerator, denominator, np.asarray(identical)))


def _aji(table: OverlapTable, iou: np.ndarray) -> tuple[float, float]:
    """(sum of intersections, sum of unions) of Kumar's AJI."""
    # Per GT object, the pair of largest IoU (ties: the smaller predicted id) comes first.
    order = np.lexsort((table.pair_pred, -iou, table.pair_gt))
    first = order[np.r_[True, np.diff(table.pair_gt[order]) != 0]] if order.size else order
    best_gt, best_pred, shared = table.pair_gt[first], table.pair_pred[first], table.pair_count[first]
    union = np.sum(table.gt_areas[best_gt] + table.pred_areas[best_pred] - shared)
    lonely_gt = np.ones(table.gt_ids.size, bool)
    lonely_gt[best_gt] = False
    unused_pred = np.ones(table.pred_ids.size, bool)
    unused_pred[best_pred] = False
    union += table.gt_areas[lonely_gt].sum() + table.pred_areas[unused_pred].sum()
    return float(shared.sum()), float(union)


def scores_from_table(table: OverlapTable, *, iou_threshold: float = 0.5) -> dict[str, float]:
    """Every object score (``SCORE_NAMES``) from an ``overlap_table``; see ``object_scores``."""
    matching = match(table, iou_threshold=iou_threshold)
    n_gt, n_pred = table.gt_ids.size, table.pred_ids.size
    identical = n_gt == 0 and n_pred == 0
    tp = matching.iou.size
    fp, fn = n_pred - tp, n_gt - tp
    # fsum: exactly rounded, so the scores do not depend on the order of the ids.
    matched_iou = math.fsum(matching.iou.tolist())
    iou = table.pair_iou
    ap = [_ratio(tp_t, n_gt + n_pred - tp_t, identical) for tp_t in (np.count_nonzero(iou > t) for t in AP_THRESHOLDS)]
    covering = 2 * table.pair_count > table.gt_areas[table.pair_gt]
    aji_shared, aji_union = _aji(table, iou)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn, identical)
    return {
        "obj_tp": float(tp),
        "obj_fp": float(fp),
        "obj_fn": float(fn),
        "obj_precision": _ratio(tp, tp + fp, identical),
        "obj_recall": _ratio(tp, tp + fn, identical),
        "obj_f1": f1,
        "obj_ap": _ratio(tp, tp + fp + fn, identical),
        "obj_ap_mean": float(np.mean(ap)),
        "pq": _ratio(matched_iou, tp + fp / 2 + fn / 2, identical),
        "sq": _ratio(matched_iou, tp, identical),
        "rq": f1,
        "aji": _ratio(aji_shared, aji_union, identical),
        "seg": _ratio(math.fsum(iou[covering].tolist()), n_gt, identical),
        "obj_count_gt": float(n_gt),
        "obj_count_pred": float(n_pred),
    }


def object_scores(gt_labels: np.ndarray, pred_labels: np.ndarray, *, iou_threshold: float = 0.5) -> dict[str, float]:
    """Object-level scores of a predicted instance map against its GT.

    Parameters
    ----------
    gt_labels, pred_labels : ndarray
        Instance label maps of the same shape, 2-D or 3-D (0 = background, each other value one
        object; ``label_objects`` makes them from masks). Ids need not be compact.
    iou_threshold : float
        t in [0, 1): objects match when IoU > t (default 0.5).

    Returns
    -------
    dict
        ``SCORE_NAMES`` -> float; the definitions are in this module's docstring.

    Examples
    --------
    >>> gt = np.array([[1, 1, 1, 1, 0, 2, 2, 0, 3]])
    >>> pred = np.array([[4, 4, 4, 0, 0, 5, 0, 0, 0]])
    >>> s = object_scores(gt, pred)
    >>> s["obj_tp"], s["obj_fp"], s["obj_fn"], s["obj_ap"], s["pq"], s["seg"]
    (1.0, 1.0, 2.0, 0.25, 0.3, 0.25)
    >>> object_scores(np.zeros((2, 2), int), np.zeros((2, 2), int))["pq"]
    1.0
    """
    return scores_from_table(overlap_table(gt_labels, pred_labels), iou_threshold=iou_threshold)
