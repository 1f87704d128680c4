"""The objects of a map: the non-zero values of an instance label map (0 = background), or the
connected components of a mask, as labels 1..n (``label_objects``); the checks of a label map and
the compact renumbering of its ids that the overlap table (``segcli.scores.object_matching``) reuses.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

ObjectMode = Literal["instances", "components"]

# Integers beyond 2**53 are not all representable in float64: such float labels cannot be told apart.
_FLOAT_EXACT = 2**53
# A direct histogram of (gt id, pred id) keys is used while it has at most this many bins (or
# 4 per counted pixel); beyond that the keys are sorted (np.unique).
DIRECT_BINS = 1 << 22


class BinaryInstancesWarning(UserWarning):
    """A map read as instances holds one value over several separate regions: one object, not many."""


def as_label_map(array: object, name: str) -> np.ndarray:
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


def compact_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, index)``: the sorted non-zero values and, per value, 1 + its place in ``ids`` (0 for 0)."""
    top = int(values.max()) if values.size else 0
    if top <= max(DIRECT_BINS, 4 * values.size):
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
    ids, index = compact_ids(labels)
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


def _check_connectivity(connectivity: int | None, ndim: int) -> int:
    """``connectivity`` of components in an ``ndim``-D map, 1..ndim (None: ndim); errors name it."""
    if connectivity is None:
        return ndim
    if isinstance(connectivity, bool) or not isinstance(connectivity, (int, np.integer)):
        raise TypeError(f"connectivity: expected an integer 1..{ndim}, got {connectivity!r}")
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"connectivity: expected 1..{ndim} for a {ndim}-D map, got {connectivity}")
    return int(connectivity)


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
    labels = as_label_map(mask_or_labels, "mask_or_labels")
    if mode == "components":
        return _components(labels != 0, _check_connectivity(connectivity, labels.ndim))[0]
    if mode != "instances":
        raise ValueError(f"mode: expected 'instances' or 'components', got {mode!r}")
    if connectivity is not None:
        warnings.warn("connectivity applies only to mode='components'; ignored", UserWarning, stacklevel=2)
    ids, _ = compact_ids(labels)
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
