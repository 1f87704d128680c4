"""Region (overlap) scores from hard confusion counts.

Each takes a ``ConfusionCounts`` of (B,) arrays and returns a (B,) float64 array. A 0/0 ratio
is 1 where prediction and GT are identical, else 0 (``segcli.engine.stats.safe_divide``).
"""

from __future__ import annotations

import numpy as np

from segcli.engine.stats import ConfusionCounts, safe_divide
from segcli.settings import default


def tversky_index(counts: ConfusionCounts, *, alpha: float, beta: float) -> np.ndarray:
    """``TP / (TP + alpha FP + beta FN)``; alpha = beta = 0.5 is Dice, alpha = beta = 1 is IoU."""
    tp = counts.tp.astype(np.float64)  # pragma: no mutate (astype(None) is float64 too)
    return safe_divide(tp, tp + alpha * counts.fp + beta * counts.fn, counts.identical)


def dice(counts: ConfusionCounts) -> np.ndarray:
    """Dice (F1): ``2TP / (2TP + FP + FN)``.

    >>> from segcli.engine.stats import confusion_counts
    >>> dice(confusion_counts(np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool)))
    array([0.5])
    """
    return tversky_index(counts, alpha=0.5, beta=0.5)


def iou(counts: ConfusionCounts) -> np.ndarray:
    """Intersection over union (Jaccard): ``TP / (TP + FP + FN)``.

    >>> from segcli.engine.stats import confusion_counts
    >>> iou(confusion_counts(np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool)))
    array([0.33333333])
    """
    return tversky_index(counts, alpha=1.0, beta=1.0)


def fbeta(counts: ConfusionCounts, *, beta: float = default("fbeta_beta")) -> np.ndarray:
    """F-beta: ``(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``, the weighted harmonic mean of
    precision and recall in which recall counts ``beta`` times as much (van Rijsbergen 1979).

    The Tversky index with alpha = 1 / (1 + b^2) and beta = b^2 / (1 + b^2): ``beta=1`` is Dice
    exactly (the same bits), ``beta=2`` the F2 score that weighs missed pixels more, ``beta=0.5``
    one that weighs false alarms more. Parameters: ``beta > 0`` (``--fbeta-beta``, default 1).

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> counts = C(*np.array([[3], [1], [2], [4]]))  # TP 3, FP 1, FN 2
    >>> fbeta(counts, beta=1.0), fbeta(counts, beta=2.0)  # 6/9; 15/(15 + 8 + 1)
    (array([0.66666667]), array([0.625]))
    >>> fbeta(counts, beta=1e200), fbeta(counts, beta=1e-200)  # recall 3/5, precision 3/4
    (array([0.6]), array([0.75]))
    """
    squared = beta * beta  # inf for beta above 1e154, 0 below 1e-162: the weights' limits, recall and precision
    return tversky_index(counts, alpha=1.0 / (1.0 + squared), beta=1.0 / (1.0 + 1.0 / squared) if squared else 0.0)


def precision(counts: ConfusionCounts) -> np.ndarray:
    """``TP / (TP + FP)``.

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> precision(C(*np.array([[3], [1], [0], [4]])))
    array([0.75])
    """
    return safe_divide(counts.tp, counts.tp + counts.fp, counts.identical)


def recall(counts: ConfusionCounts) -> np.ndarray:
    """Sensitivity, ``TP / (TP + FN)``.

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> recall(C(*np.array([[3], [1], [1], [4]])))
    array([0.75])
    """
    return safe_divide(counts.tp, counts.tp + counts.fn, counts.identical)


def specificity(counts: ConfusionCounts) -> np.ndarray:
    """``TN / (TN + FP)``; 1 when GT and prediction are both full.

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> specificity(C(*np.array([[3], [1], [1], [3]])))
    array([0.75])
    """
    return safe_divide(counts.tn, counts.tn + counts.fp, counts.identical)


def accuracy(counts: ConfusionCounts) -> np.ndarray:
    """``(TP + TN) / N``.

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> accuracy(C(*np.array([[3], [1], [1], [3]])))
    array([0.75])
    """
    total = counts.tp + counts.fp + counts.fn + counts.tn
    return safe_divide(counts.tp + counts.tn, total, counts.identical)


def mcc(counts: ConfusionCounts) -> np.ndarray:
    """Matthews correlation ``(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``.

    A zero denominator (a constant prediction or GT) gives 1 when both agree, else 0.

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> mcc(C(*np.array([[3], [1], [1], [3]])))
    array([0.5])
    """
    # no mutate: astype(None) is float64 too
    tp, fp, fn, tn = (x.astype(np.float64) for x in (counts.tp, counts.fp, counts.fn, counts.tn))  # pragma: no mutate
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return safe_divide(tp * tn - fp * fn, denominator, counts.identical)


def volume_similarity(counts: ConfusionCounts) -> np.ndarray:
    """``1 - |FN - FP| / (2TP + FP + FN)``; 1 when both masks are empty.

    Written as ``(2TP + 2 min(FP, FN)) / (2TP + FP + FN)`` so the 0/0 rule applies to one ratio.

    >>> from segcli.engine.stats import ConfusionCounts as C
    >>> volume_similarity(C(*np.array([[2], [3], [1], [4]])))
    array([0.75])
    """
    numerator = 2 * counts.tp + 2 * np.minimum(counts.fp, counts.fn)
    return safe_divide(numerator, 2 * counts.tp + counts.fp + counts.fn, counts.identical)
