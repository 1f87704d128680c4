"""Object-level scores: cells and lesions counted one by one.

Objects are the non-zero values of an instance label map (0 = background), or the connected
components of a mask (``segcli.scores.object_labels.label_objects``). All overlaps of a pair come
from one pass over the pixels where either map has an object (``overlap_table``, matched by
``match``: ``segcli.scores.object_matching``); every score below is then computed from that table
of (GT object, predicted object, shared pixels) and the object areas, never from the images.

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
from typing import Literal

import numpy as np

from segcli.engine.stats import safe_divide
from segcli.scores.object_matching import OverlapTable, match, overlap_table
from segcli.settings import default

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


def scores_from_table(table: OverlapTable, *, iou_threshold: float = default("iou_threshold")) -> dict[str, float]:
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


def object_scores(
    gt_labels: np.ndarray, pred_labels: np.ndarray, *, iou_threshold: float = default("iou_threshold")
) -> dict[str, float]:
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
