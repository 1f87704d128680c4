"""Exact Euclidean distance transforms and the distance maps built on them.

``edt`` computes, for every True pixel, the Euclidean distance (in spacing units) to the nearest
False pixel, exactly, using the ``edt`` package (Felzenszwalb-Huttenlocher; 2-3x faster than
scipy here, same values to float32 precision). Pixels outside the image do not count as False,
as in ``scipy.ndimage.distance_transform_edt``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from segcli.stats import bounding_box

Spacing = Sequence[float]


class DegenerateMaskWarning(UserWarning):
    """A signed distance was asked of an all-empty or all-full mask."""


def edt(mask: np.ndarray, spacing: Spacing | None = None) -> np.ndarray:
    """Distance from each True pixel to the nearest False pixel, float32; 0 on False pixels.

    The caller guarantees at least one False pixel (else every value would be infinite).

    >>> edt(np.array([[0, 1, 1, 1, 0]], bool)).tolist()
    [[0.0, 1.0, 2.0, 1.0, 0.0]]
    """
    import edt as edt_package

    mask = np.ascontiguousarray(mask, dtype=bool)
    anisotropy = tuple(float(s) for s in spacing) if spacing is not None else None
    return edt_package.edt(mask, anisotropy=anisotropy, black_border=False, parallel=1)


def distance_to(mask: np.ndarray, spacing: Spacing | None = None) -> np.ndarray:
    """Distance from every pixel to the nearest True pixel of ``mask`` (0 on it); mask non-empty."""
    return edt(~mask, spacing)


def signed_distance(target: np.ndarray, spacing: Spacing | None = None) -> np.ndarray:
    """``EDT(G) - EDT(not G)``: positive inside, negative outside; zeros for an empty or full mask.

    >>> signed_distance(np.array([[0, 1, 1, 1, 0, 0]], bool)).tolist()
    [[-1.0, 1.0, 2.0, 1.0, -1.0, -2.0]]
    """
    if not target.any() or target.all():
        return np.zeros(target.shape, np.float32)
    return edt(target, spacing) - edt(~target, spacing)


def kervadec_sdf(target: np.ndarray, spacing: Spacing | None = None, *, warn: bool = True) -> np.ndarray:
    """Kervadec et al. (2019) signed distance: ``EDT(not G)`` outside, ``-(EDT(G) - 1)`` inside.

    Zero on the inner border, negative deeper inside, positive outside, in spacing units (the
    ``- 1`` is one pixel, as in the paper's code). An all-empty or all-full mask has no boundary:
    zeros, and a ``DegenerateMaskWarning`` when ``warn``.

    >>> kervadec_sdf(np.array([[0, 1, 1, 1, 0]], bool)).tolist()
    [[1.0, -0.0, -1.0, -0.0, 1.0]]
    """
    if not target.any() or target.all():
        if warn:
            warnings.warn(
                "signed distance of an all-empty or all-full mask is taken as zeros",
                DegenerateMaskWarning,
                stacklevel=2,
            )
        return np.zeros(target.shape, np.float32)
    outside = edt(~target, spacing)
    inside = edt(target, spacing)
    return np.where(target, -(inside - 1.0), outside).astype(np.float32)


def directed_border_distances(
    from_border: np.ndarray, to_border: np.ndarray, spacing: Spacing | None = None
) -> np.ndarray:
    """Distances from each True pixel of ``from_border`` to the nearest of ``to_border``.

    Both must be non-empty. The transform runs only on the bounding box of both borders: every
    target pixel lies inside it, so the distances are exact.
    """
    box = bounding_box(from_border | to_border)
    field = distance_to(to_border[box], spacing)
    return field[from_border[box]]
