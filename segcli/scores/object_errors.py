"""Per-object rows of a pair for error analysis (``--objects-out``): every GT and predicted object
with its area, centroid, match, best partner and kind (matched, missed, false, split, merged), from
the same overlap table as the object scores (``segcli.scores.objects``)."""

from __future__ import annotations

import numpy as np

from segcli.scores.object_labels import as_label_map
from segcli.scores.object_matching import OverlapTable, check_iou_threshold, match, overlap_table
from segcli.settings import default


def _best(index: np.ndarray, other: np.ndarray, iou: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per object (0..size-1 by ``index``): the other side's index of largest IoU (-1: none) and that IoU."""
    best, best_iou = np.full(size, -1), np.zeros(size)
    order = np.lexsort((other, -iou, index))
    if order.size:
        first = order[np.r_[True, np.diff(index[order]) != 0]]
        best[index[first]], best_iou[index[first]] = other[first], iou[first]
    return best, best_iou


def _centroids(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(n, ndim) mean pixel coordinates of each id, in array axis order."""
    flat = np.flatnonzero(labels)
    index = np.searchsorted(ids, labels.ravel()[flat])
    counts = np.bincount(index, minlength=ids.size)
    coords = np.unravel_index(flat, labels.shape)
    sums = [np.bincount(index, weights=axis, minlength=ids.size) for axis in coords]
    return np.stack(sums, axis=1) / np.maximum(counts, 1)[:, None] if ids.size else np.zeros((0, labels.ndim))


def object_table(
    gt_labels: np.ndarray,
    pred_labels: np.ndarray,
    *,
    iou_threshold: float = default("iou_threshold"),
    table: OverlapTable | None = None,
) -> list[dict[str, object]]:
    """One row per GT object, then one per predicted object, for error analysis.

    Row keys: ``side`` ("gt" or "pred"), ``id`` (the label value), ``area`` (pixels), ``centroid``
    (mean pixel coordinates, array axis order), ``matched_id`` and ``iou`` (the object matched at
    ``IoU > iou_threshold``; 0 and 0.0 when none), ``best_id`` and ``best_iou`` (the object of the
    other side with the largest IoU, ties to the smaller id; 0 and 0.0 when it touches none),
    ``kind``.

    Kinds. P *lies in* G when more than half of P's pixels are in G (each P lies in at most one G);
    G is *split* when two or more predictions lie in it; P is a *merger* when two or more GT
    objects lie in it. A GT object is ``matched``, else ``merged`` (it lies in a merger), else
    ``split``, else ``missed``. A prediction is ``matched``, else ``merged`` (it is a merger), else
    ``split`` (it lies in a split GT object: a fragment), else ``false``. So the GT rows not
    matched number ``obj_fn`` and the prediction rows not matched ``obj_fp``.

    Parameters
    ----------
    gt_labels, pred_labels : ndarray
        Instance label maps as for ``object_scores``.
    iou_threshold : float
        t in [0, 1) of the matching (default 0.5).
    table : OverlapTable, optional
        ``overlap_table(gt_labels, pred_labels)`` when already computed (it is not checked).

    Examples
    --------
    >>> gt = np.array([[1, 1, 1, 1, 0, 2, 0, 3]])
    >>> pred = np.array([[4, 4, 5, 5, 0, 6, 6, 6]])
    >>> [(r["id"], r["kind"]) for r in object_table(gt, pred)]
    [(1, 'split'), (2, 'merged'), (3, 'merged'), (4, 'split'), (5, 'split'), (6, 'merged')]
    """
    threshold = check_iou_threshold(iou_threshold)
    gt = as_label_map(gt_labels, "gt_labels")
    pred = as_label_map(pred_labels, "pred_labels")
    if table is None:
        table = overlap_table(gt, pred)
    matching = match(table, iou_threshold=threshold)
    gt_merged, split_gt, merger, pred_split = _split_and_merged(table)
    iou = table.pair_iou
    flags = {"gt": (gt_merged, split_gt), "pred": (merger, pred_split)}
    sides = (
        ("gt", gt, table.gt_ids, table.gt_areas, table.pred_ids, matching.gt_index, matching.pred_index),
        ("pred", pred, table.pred_ids, table.pred_areas, table.gt_ids, matching.pred_index, matching.gt_index),
    )
    rows: list[dict[str, object]] = []
    for side, labels, ids, areas, other_ids, mine, theirs in sides:
        matched = np.full(ids.size, -1)
        matched[mine] = theirs
        matched_iou = np.zeros(ids.size)
        matched_iou[mine] = matching.iou
        pair_mine, pair_theirs = (table.pair_gt, table.pair_pred) if side == "gt" else (table.pair_pred, table.pair_gt)
        best, best_iou = _best(pair_mine, pair_theirs, iou, ids.size)
        first, second = flags[side]
        kinds = np.where(matched >= 0, "matched", np.where(first, "merged", np.where(second, "split", "")))
        kinds[kinds == ""] = "missed" if side == "gt" else "false"
        centroids = _centroids(labels, ids)
        for k in range(ids.size):
            partners = (matched[k], matched_iou[k], best[k], best_iou[k])
            rows.append(_row(side, ids[k], areas[k], centroids[k], other_ids, *partners, kinds[k]))
    return rows


def _row(side, object_id, area, centroid, other_ids, matched, matched_iou, best, best_iou, kind) -> dict[str, object]:
    """One object's row of ``object_table``, as Python values."""
    return {
        "side": side,
        "id": int(object_id),
        "area": int(area),
        "centroid": tuple(float(c) for c in centroid),
        "matched_id": int(other_ids[matched]) if matched >= 0 else 0,
        "iou": float(matched_iou),
        "best_id": int(other_ids[best]) if best >= 0 else 0,
        "best_iou": float(best_iou),
        "kind": str(kind),
    }


def _split_and_merged(table: OverlapTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per GT object: merged (it lies in a merger), split (two or more predictions lie in it); per
    predicted object: a merger (two or more GT objects lie in it), a fragment of a split GT object.
    P lies in G when more than half of P's pixels are in G."""
    n_gt, n_pred = table.gt_ids.size, table.pred_ids.size
    pred_in_gt = 2 * table.pair_count > table.pred_areas[table.pair_pred]
    gt_in_pred = 2 * table.pair_count > table.gt_areas[table.pair_gt]
    split_gt = np.bincount(table.pair_gt[pred_in_gt], minlength=n_gt) >= 2
    merger = np.bincount(table.pair_pred[gt_in_pred], minlength=n_pred) >= 2
    gt_merged = np.zeros(n_gt, bool)
    gt_merged[table.pair_gt[gt_in_pred & merger[table.pair_pred]]] = True
    pred_split = np.zeros(n_pred, bool)
    pred_split[table.pair_pred[pred_in_gt & split_gt[table.pair_gt]]] = True
    return gt_merged, split_gt, merger, pred_split
