"""Overlap and surface scores of one prediction against its ground truth, one function per family.

Each takes one 2-D or 3-D prediction and ground truth (numpy arrays or torch tensors, no batch
axis), reads the prediction as ``segcli score`` does (a mask; probabilities or logits are cut at
``threshold``), and returns a float. Distances are in the units of ``spacing`` (default 1 per
axis). Both masks empty: overlap scores 1, distances 0; exactly one empty: overlap 0, distances
inf (see ``empty_distance`` in :func:`segcli.score`). With ``num_classes`` the value is the mean
over the foreground classes present, as the CLI's ``<score>`` column.
"""

from __future__ import annotations

from segcli.api import score
from segcli.settings import default

__all__ = [
    "dice",
    "iou",
    "precision",
    "recall",
    "specificity",
    "accuracy",
    "mcc",
    "volume_similarity",
    "hausdorff_distance",
    "average_surface_distance",
    "normalized_surface_dice",
    "boundary_iou",
]


def _one(name: str, pred, target, **options) -> float:
    return score(pred, target, name, **options)[name]


def dice(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """Dice coefficient ``2TP / (2TP + FP + FN)`` (scikit-learn's F1, MONAI's DiceMetric).

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.array([[1, 1, 0, 0]]); pred = np.array([[1, 0, 1, 0]])
    >>> dice(pred, gt)
    0.5
    """
    return _one("dice", pred, target, threshold=threshold, num_classes=num_classes)


def iou(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """Intersection over union (Jaccard) ``TP / (TP + FP + FN)``.

    Examples
    --------
    >>> import numpy as np
    >>> round(iou(np.array([[1, 0, 1, 0]]), np.array([[1, 1, 0, 0]])), 4)
    0.3333
    """
    return _one("iou", pred, target, threshold=threshold, num_classes=num_classes)


def precision(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """``TP / (TP + FP)``; 1 when both masks are empty.

    Examples
    --------
    >>> import numpy as np
    >>> precision(np.array([[1, 1, 1, 0]]), np.array([[1, 0, 0, 0]]))
    0.3333333333333333
    """
    return _one("precision", pred, target, threshold=threshold, num_classes=num_classes)


def recall(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """Sensitivity ``TP / (TP + FN)``.

    Examples
    --------
    >>> import numpy as np
    >>> recall(np.array([[1, 0, 0, 0]]), np.array([[1, 1, 0, 0]]))
    0.5
    """
    return _one("recall", pred, target, threshold=threshold, num_classes=num_classes)


def specificity(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """``TN / (TN + FP)``; 1 when both masks are full.

    Examples
    --------
    >>> import numpy as np
    >>> specificity(np.array([[1, 1, 0, 0]]), np.array([[1, 0, 0, 0]]))
    0.6666666666666666
    """
    return _one("specificity", pred, target, threshold=threshold, num_classes=num_classes)


def accuracy(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """``(TP + TN) / N``.

    Examples
    --------
    >>> import numpy as np
    >>> accuracy(np.array([[1, 1, 0, 0]]), np.array([[1, 0, 0, 0]]))
    0.75
    """
    return _one("accuracy", pred, target, threshold=threshold, num_classes=num_classes)


def mcc(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """Matthews correlation ``(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``.

    Examples
    --------
    >>> import numpy as np
    >>> round(mcc(np.array([[1, 1, 0, 0]]), np.array([[1, 0, 0, 0]])), 4)
    0.5774
    """
    return _one("mcc", pred, target, threshold=threshold, num_classes=num_classes)


def volume_similarity(
    pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None
) -> float:
    """``1 - |FN - FP| / (2TP + FP + FN)`` (Taha and Hanbury 2015).

    Examples
    --------
    >>> import numpy as np
    >>> volume_similarity(np.array([[1, 1, 0, 0]]), np.array([[1, 0, 0, 0]]))
    0.6666666666666666
    """
    return _one("volume_similarity", pred, target, threshold=threshold, num_classes=num_classes)


def hausdorff_distance(
    pred, target, *, percentile: float | None = None, pooled: bool = False, spacing=None,
    threshold: float = default("threshold"), num_classes: int | None = None, empty_distance=default("empty_distance"),
) -> float:  # fmt: skip
    """Hausdorff distance between the borders of ``pred`` and ``target``.

    Parameters
    ----------
    percentile : None or 95
        None: the largest border distance (``hd``); 95: the larger of the two directed 95th
        percentiles (``hd95``, MONAI, MetricsReloaded), or with ``pooled=True`` the 95th
        percentile of both directions pooled (``hd95_pooled``, MedPy, seg-metrics).
    spacing : float or sequence of float, optional
        Voxel spacing in array axis order.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((10, 10), bool); gt[2:6, 2:6] = True
    >>> hausdorff_distance(np.roll(gt, 2, axis=0), gt)
    2.0
    >>> hausdorff_distance(np.roll(gt, 2, axis=0), gt, spacing=(0.5, 1.0))
    1.0
    """
    if percentile is None:
        if pooled:
            raise ValueError("pooled: applies to percentile=95 only")
        name = "hd"
    elif percentile == 95:
        name = "hd95_pooled" if pooled else "hd95"
    else:
        raise ValueError(f"percentile: expected None or 95, got {percentile!r}")
    return _one(name, pred, target, spacing=spacing, threshold=threshold, num_classes=num_classes,
                empty_distance=empty_distance)  # fmt: skip


def average_surface_distance(
    pred, target, *, symmetric: str = "pooled", spacing=None, threshold: float = default("threshold"),
    num_classes: int | None = None, empty_distance=default("empty_distance"),
) -> float:  # fmt: skip
    """Average distance between the borders.

    Parameters
    ----------
    symmetric : {"pooled", "mean"}
        ``pooled``: the mean of both directions' distances pooled (``assd``; MONAI symmetric,
        MedPy); ``mean``: the mean of the two directed means (``masd``, MetricsReloaded).

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((10, 10), bool); gt[2:6, 2:6] = True
    >>> average_surface_distance(np.roll(gt, 1, axis=1), gt)
    0.5
    """
    names = {"pooled": "assd", "mean": "masd"}
    if symmetric not in names:
        raise ValueError(f"symmetric: expected 'pooled' or 'mean', got {symmetric!r}")
    return _one(names[symmetric], pred, target, spacing=spacing, threshold=threshold, num_classes=num_classes,
                empty_distance=empty_distance)  # fmt: skip


def normalized_surface_dice(
    pred,
    target,
    *,
    tolerance: float = default("nsd_tolerance"),
    spacing=None,
    threshold: float = default("threshold"),
    num_classes: int | None = None,
) -> float:
    """Share of border pixels within ``tolerance`` (spacing units) of the other border (``nsd``,
    MONAI's SurfaceDiceMetric); a distance equal to the tolerance counts as within.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((10, 10), bool); gt[2:6, 2:6] = True
    >>> normalized_surface_dice(np.roll(gt, 1, axis=1), gt, tolerance=1.0)
    1.0
    """
    return _one("nsd", pred, target, spacing=spacing, threshold=threshold, num_classes=num_classes,
                nsd_tolerance=tolerance)  # fmt: skip


def boundary_iou(pred, target, *, threshold: float = default("threshold"), num_classes: int | None = None) -> float:
    """IoU of the regions within 2 pixels of each contour (Cheng et al. 2021).

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((10, 10), bool); gt[2:8, 2:8] = True
    >>> boundary_iou(gt, gt)
    1.0
    """
    return _one("boundary_iou", pred, target, threshold=threshold, num_classes=num_classes)
