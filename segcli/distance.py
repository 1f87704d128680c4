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

# Costs in nanoseconds, measured here (benchmarks/bench_surface.py shapes): a k-d tree query,
# a tree point, listing a crop's coordinates (per pixel), and a distance transform per pixel in
# 2D and 3D. Used only to pick the cheaper of two exact methods.
KDTREE_NS_PER_QUERY = 1200
KDTREE_NS_PER_POINT = 200
COORDINATES_NS_PER_PIXEL = 10
EDT_NS_PER_PIXEL = {2: 35, 3: 90}


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


class InsideOutside:
    """``EDT(G)`` and ``EDT(not G)`` of one mask, computed once and shared by the signed distance
    maps; both None for an all-empty or all-full mask (no boundary)."""

    def __init__(self, target: np.ndarray, spacing: Spacing | None = None) -> None:
        self.target = target
        self.degenerate = not target.any() or target.all()
        self.inside = None if self.degenerate else edt(target, spacing)
        self.outside = None if self.degenerate else edt(~target, spacing)


def signed_distance(target: np.ndarray | InsideOutside, spacing: Spacing | None = None) -> np.ndarray:
    """``EDT(G) - EDT(not G)``: positive inside, negative outside; zeros for an empty or full mask.

    >>> signed_distance(np.array([[0, 1, 1, 1, 0, 0]], bool)).tolist()
    [[-1.0, 1.0, 2.0, 1.0, -1.0, -2.0]]
    """
    edts = target if isinstance(target, InsideOutside) else InsideOutside(target, spacing)
    if edts.degenerate:
        return np.zeros(edts.target.shape, np.float32)
    return edts.inside - edts.outside


def kervadec_sdf(
    target: np.ndarray | InsideOutside, spacing: Spacing | None = None, *, warn: bool = True
) -> np.ndarray:
    """Kervadec et al. (2019) signed distance: ``EDT(not G)`` outside, ``-(EDT(G) - 1)`` inside.

    Zero on the inner border, negative deeper inside, positive outside, in spacing units (the
    ``- 1`` is one pixel, as in the paper's code). An all-empty or all-full mask has no boundary:
    zeros, and a ``DegenerateMaskWarning`` when ``warn``.

    >>> kervadec_sdf(np.array([[0, 1, 1, 1, 0]], bool)).tolist()
    [[1.0, -0.0, -1.0, -0.0, 1.0]]
    """
    edts = target if isinstance(target, InsideOutside) else InsideOutside(target, spacing)
    if edts.degenerate:
        if warn:
            warnings.warn(
                "signed distance of an all-empty or all-full mask is taken as zeros",
                DegenerateMaskWarning,
                stacklevel=2,
            )
        return np.zeros(edts.target.shape, np.float32)
    return np.where(edts.target, -(edts.inside - 1.0), edts.outside).astype(np.float32)


def directed_border_distances(
    from_border: np.ndarray, to_border: np.ndarray, spacing: Spacing | None = None
) -> np.ndarray:
    """Distances from each True pixel of ``from_border`` to the nearest of ``to_border``.

    Both must be non-empty. Two exact methods, whichever is cheaper for these borders: a k-d
    tree over the border coordinates (in spacing units), querying only the pixels not on both
    borders, or a distance transform over the bounding box of both borders (every target pixel
    lies inside it, so the cropped transform is exact).
    """
    box = bounding_box(from_border | to_border)
    from_crop, to_crop = from_border[box], to_border[box]
    n_from, n_to = np.count_nonzero(from_crop), np.count_nonzero(to_crop)
    n_query = n_from - np.count_nonzero(from_crop & to_crop)
    tree_ns = KDTREE_NS_PER_QUERY * n_query + KDTREE_NS_PER_POINT * n_to + COORDINATES_NS_PER_PIXEL * from_crop.size
    if tree_ns < EDT_NS_PER_PIXEL.get(from_crop.ndim, 90) * from_crop.size:
        from scipy.spatial import cKDTree

        scale = np.asarray(spacing if spacing is not None else (1.0,) * from_border.ndim, dtype=np.float64)
        tree = cKDTree(np.argwhere(to_crop) * scale, balanced_tree=False, compact_nodes=False)
        # Pixels on both borders are at distance 0: only the others need a query (most of them,
        # for a good prediction).
        shared = to_crop[from_crop]
        distances = np.zeros(n_from)
        distances[~shared], _ = tree.query(np.argwhere(from_crop & ~to_crop) * scale)
        return distances
    return distance_to(to_crop, spacing)[from_crop].astype(np.float64)
