"""Exact Euclidean distance transforms and the distance maps built on them.

``edt`` computes, for every True pixel, the Euclidean distance (in spacing units) to the nearest
False pixel, exactly, using the ``edt`` package (Felzenszwalb-Huttenlocher; 2-3x faster than
scipy here, same values to float32 precision) or, for small crops, scipy. Pixels outside the
image do not count as False, as in ``scipy.ndimage.distance_transform_edt``.
``distances_to_mask`` answers the nearest-pixel distance of a few query pixels (border distances)
without a full transform where that is cheaper, in float64, the same bits whichever method runs.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segcli.engine.cpus import threads
from segcli.engine.stats import bounding_box

Spacing = Sequence[float]

# Costs in nanoseconds, measured here (benchmarks/bench_surface.py shapes): a k-d tree query,
# a tree point, importing scipy.spatial (once per process), one (query, point) pair of the
# brute-force search, listing a crop's coordinates (per pixel), and scipy's feature transform
# per pixel in 2D and 3D. Used only to pick the cheapest exact method: every method finds a
# nearest pixel, and its distance is measured one way (``_offset_lengths``), so the choice
# changes no value. The feature transform holds ndim int32 indices per pixel: it is not
# considered for crops above EDT_MAX_PIXELS (a k-d tree over the target answers them).
KDTREE_NS_PER_QUERY = 1200
KDTREE_NS_PER_POINT = 200
KDTREE_IMPORT_NS = 200_000_000
PAIR_NS = 3
COORDINATES_NS_PER_PIXEL = 10
EDT_NS_PER_PIXEL = {2: 25, 3: 56}
EDT_MAX_PIXELS = 1 << 24
# One probe of the neighbourhood search (a gathered pixel), and the search radius in pixels
# (of the finest axis) per dimension: 3217 offsets in 2D, 4169 in 3D.
PROBE_NS = 4
PROBE_BLOCK = 1 << 22  # probes gathered at once: 4 MiB of hits, 32 MiB of indices
NEIGHBOURHOOD_RADIUS = {2: 32, 3: 10}


@dataclass(frozen=True)
class SurfaceDistances:
    """Directed border distances of one pair: prediction -> GT and GT -> prediction."""

    pred_to_gt: np.ndarray
    gt_to_pred: np.ndarray

    @property
    def pred_empty(self) -> bool:
        return self.pred_to_gt.size == 0

    @property
    def gt_empty(self) -> bool:
        return self.gt_to_pred.size == 0


class DegenerateMaskWarning(UserWarning):
    """A signed distance was asked of an all-empty or all-full mask."""


# Below this many pixels scipy's transform is faster than the ``edt`` package, whose calls cost
# a fixed ~0.2 ms (many small crops: cells in weight maps). Measured here, 2D and 3D alike.
SCIPY_EDT_BELOW = 12_000


def edt(mask: np.ndarray, spacing: Spacing | None = None) -> np.ndarray:
    """Distance from each True pixel to the nearest False pixel, float32; 0 on False pixels.

    The caller guarantees at least one False pixel (else every value would be infinite).

    >>> edt(np.array([[0, 1, 1, 1, 0]], bool)).tolist()
    [[0.0, 1.0, 2.0, 1.0, 0.0]]
    """
    if mask.size < SCIPY_EDT_BELOW:
        from scipy import ndimage

        return ndimage.distance_transform_edt(mask, sampling=spacing).astype(np.float32)
    return _edt_package(np.ascontiguousarray(mask, dtype=bool).view(np.uint8), spacing)


def _edt_package(labels: np.ndarray, spacing: Spacing | None) -> np.ndarray:
    """The ``edt`` package on uint8 labels (its fastest input): for each non-zero pixel, the
    distance to the nearest pixel of another label (0 included), image edges not counting."""
    import edt as edt_package

    anisotropy = tuple(float(s) for s in spacing) if spacing is not None else None
    # no mutate: black_border=False is edt's default, and threads change no value
    return edt_package.edt(labels, anisotropy=anisotropy, black_border=False, parallel=threads())  # pragma: no mutate


class InsideOutside:
    """The distance from every pixel to the other side of a mask: ``EDT(G)`` inside, ``EDT(not G)``
    outside, i.e. ``|EDT(G) - EDT(not G)|``, in one transform (labels 1 and 2, about 20% cheaper
    than two). Computed once and shared by the signed distance maps; None for an all-empty or
    all-full mask (no boundary).

    >>> InsideOutside(np.array([[0, 1, 1, 1, 0, 0]], bool)).distance.tolist()
    [[1.0, 1.0, 2.0, 1.0, 1.0, 2.0]]
    """

    def __init__(self, target: np.ndarray, spacing: Spacing | None = None) -> None:
        self.target = target
        self.degenerate = not target.any() or target.all()
        if self.degenerate:
            self.distance = None  # pragma: no mutate (never read: degenerate is checked first)
        elif target.size < SCIPY_EDT_BELOW:
            self.distance = np.where(target, edt(target, spacing), edt(~target, spacing))
        else:
            # no mutate: any two distinct non-zero labels give the same transform
            labels = np.ascontiguousarray(target, dtype=bool).view(np.uint8) + np.uint8(1)  # pragma: no mutate
            self.distance = _edt_package(labels, spacing)


def signed_distance(target: np.ndarray | InsideOutside, spacing: Spacing | None = None) -> np.ndarray:
    """``EDT(G) - EDT(not G)``: positive inside, negative outside; zeros for an empty or full mask.

    >>> signed_distance(np.array([[0, 1, 1, 1, 0, 0]], bool)).tolist()
    [[-1.0, 1.0, 2.0, 1.0, -1.0, -2.0]]
    """
    edts = target if isinstance(target, InsideOutside) else InsideOutside(target, spacing)
    if edts.degenerate:
        return np.zeros(edts.target.shape, np.float32)
    return np.where(edts.target, edts.distance, -edts.distance)


def kervadec_sdf(
    target: np.ndarray | InsideOutside, spacing: Spacing | None = None, *, warn: bool = True
) -> np.ndarray:
    """Kervadec et al. (2019) signed distance: ``EDT(not G)`` outside, ``-(EDT(G) - 1)`` inside.

    Zero on the inner border, negative deeper inside, positive outside, in spacing units (the
    ``- 1`` is one pixel, as in the paper's code). An all-empty or all-full mask has no boundary:
    zeros, and a ``DegenerateMaskWarning`` when ``warn``.

    >>> kervadec_sdf(np.array([[0, 1, 1, 1, 0]], bool)).tolist()
    [[1.0, 0.0, -1.0, 0.0, 1.0]]
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
    phi = edts.distance.copy()  # EDT(not G) outside
    np.subtract(np.float32(1.0), edts.distance, out=phi, where=edts.target)  # 1 - EDT(G) inside
    return phi


def directed_distances_of(from_pixels: np.ndarray, to_border: np.ndarray, spacing: Spacing | None = None) -> np.ndarray:
    """Distances from each pixel of one border (flat pixel indices) to the nearest pixel of
    another border (its mask, non-empty), in the order of ``from_pixels``.

    Pixels on both borders are at distance 0 (read off the mask); only the others are searched
    (few, for a useful prediction), by ``distances_to_mask``.

    >>> to_border = np.array([[0, 1, 0, 0]], bool)
    >>> directed_distances_of(np.array([0, 1, 3]), to_border).tolist()
    [1.0, 0.0, 2.0]
    """
    shared = to_border.ravel()[from_pixels]
    distances = np.zeros(from_pixels.size)
    if not shared.all():
        distances[~shared] = distances_to_mask(to_border, from_pixels[~shared], spacing)
    return distances


def distances_to_mask(target: np.ndarray, queries: np.ndarray, spacing: Spacing | None = None) -> np.ndarray:
    """Exact distance from each pixel of ``queries`` (flat indices) to the nearest True pixel of
    ``target`` (non-empty), float64, in spacing units.

    Exact methods, cheapest first: the neighbourhood of each query, probing offsets in order of
    length (the first hit is the nearest; most border queries end within a few probes); the
    queries still unresolved when that search has spent what the cheapest other method would
    cost go to that method: every (query, target pixel) pair (few queries), a k-d tree over the
    target pixels, or a feature transform over the box of target and queries, as the cost
    model says. At most twice the cheapest. Whichever method finds a query's nearest pixel (or
    another at the same exact distance), its distance is measured one way (``_offset_lengths``,
    float64): the same bits.

    >>> distances_to_mask(np.array([[0, 0, 0, 1]], bool), np.array([0, 2])).tolist()
    [3.0, 1.0]
    """
    spacing = tuple(float(s) for s in spacing) if spacing is not None else (1.0,) * target.ndim
    coords = np.stack(np.unravel_index(queries, target.shape), axis=1)
    target_box = bounding_box(target)
    low = np.minimum(coords.min(axis=0), [b.start for b in target_box])
    high = np.maximum(coords.max(axis=0) + 1, [b.stop for b in target_box])
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    crop, coords = target[box], coords - low  # every target pixel lies in the box: exact
    result = np.full(len(queries), np.inf)
    active = _neighbourhood_search(crop, coords, spacing, result, _fallback_ns(crop, len(queries)))
    if active.size:
        result[active] = _fallback(crop, coords[active], spacing)
    return result


def _fallback_costs_ns(crop: np.ndarray, n_queries: int) -> dict[str, float]:
    """Modelled cost of answering ``n_queries`` over ``crop`` by each fallback method: every
    (query, target pixel) pair, a k-d tree (plus importing scipy.spatial, the first time in a
    process), a feature transform of the crop (not above ``EDT_MAX_PIXELS``). Work only: every
    method gives the same bits (tests/scores/test_surface.py, the method chosen changes no bit)."""
    # pragma: no mutate start
    n_target = np.count_nonzero(crop)
    listing = COORDINATES_NS_PER_PIXEL * crop.size
    tree = listing + KDTREE_NS_PER_QUERY * n_queries + KDTREE_NS_PER_POINT * n_target
    if "scipy.spatial" not in sys.modules:
        tree += KDTREE_IMPORT_NS
    return {
        "pairs": listing + PAIR_NS * n_queries * n_target,
        "tree": tree,
        "transform": EDT_NS_PER_PIXEL.get(crop.ndim, 90) * crop.size if crop.size <= EDT_MAX_PIXELS else np.inf,
    }
    # pragma: no mutate end


def _fallback_ns(crop: np.ndarray, n_queries: int) -> float:
    return min(_fallback_costs_ns(crop, n_queries).values())


def _fallback(crop: np.ndarray, coords: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Nearest-target distances of ``coords`` (inside ``crop``) by the cheapest fallback: each
    finds the nearest target pixel, whose distance ``_offset_lengths`` measures."""
    costs = _fallback_costs_ns(crop, len(coords))
    method = min(costs, key=costs.__getitem__)  # pragma: no mutate (work only: the same bits)
    scale = np.asarray(spacing)
    if method == "transform":
        from scipy import ndimage

        indices = ndimage.distance_transform_edt(~crop, sampling=spacing, return_distances=False, return_indices=True)
        nearest = indices[(slice(None), *coords.T)].T
    else:
        points = np.argwhere(crop)
        if method == "pairs":
            nearest = points[_nearest_by_pairs(points * scale, coords * scale)]
        else:
            from scipy.spatial import cKDTree

            tree = cKDTree(points * scale, balanced_tree=False, compact_nodes=False)
            nearest = points[tree.query(coords * scale, workers=threads())[1]]
    return _offset_lengths(nearest - coords, scale)


def _offset_lengths(offsets: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Lengths of integer pixel offsets (n, ndim) in spacing units, float64, measured one way by
    every method, so that two offsets of the same exact length give the same bits whichever
    method found which: with every spacing a whole multiple of the finest (isotropic spacing,
    the usual case), ``finest * sqrt(the integer sum of squares)`` ((3, 4) and (5, 0) are both
    5 steps); otherwise the squared terms summed in increasing order.

    >>> _offset_lengths(np.array([[3, 8], [0, -2]]), np.array([1.0, 0.5])).tolist()
    [5.0, 1.0]
    >>> a, b = _offset_lengths(np.array([[35, 0], [21, 28]]), np.array([0.1, 0.1]))
    >>> bool(a == b)
    True
    """
    steps = _whole_steps(tuple(float(x) for x in scale))
    if steps is not None:
        units = offsets.astype(np.int64) * np.asarray(steps, np.int64)
        return min(scale) * np.sqrt((units * units).sum(axis=1))
    terms = np.sort((offsets * np.asarray(scale, np.float64)) ** 2, axis=1)
    return np.sqrt(terms.sum(axis=1))


@functools.lru_cache(maxsize=16)
def _whole_steps(spacing: tuple[float, ...]) -> tuple[int, ...] | None:
    """Each spacing as a whole number (at most MAX_WHOLE_STEPS, so that the integer sums of
    squares cannot overflow) of the finest one, when every one is exactly that."""
    finest = min(spacing)
    steps = tuple(round(x / finest) for x in spacing)
    exact = all(1 <= n <= MAX_WHOLE_STEPS and n * finest == x for n, x in zip(steps, spacing, strict=True))
    return steps if exact else None


MAX_WHOLE_STEPS = 1024


def _nearest_by_pairs(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query's nearest point, over every pair, found with one matrix product
    (|q|^2 + |p|^2 - 2 q.p)."""
    out = np.empty(len(queries), np.intp)
    squared = np.einsum("ij,ij->i", points, points)
    chunk = max(1, 2**20 // len(points))  # pragma: no mutate (memory only)
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        out[start : start + chunk] = np.argmin(squared[None, :] - 2.0 * (q @ points.T), axis=1)
    return out


def _neighbourhood_search(
    target: np.ndarray, coords: np.ndarray, spacing: tuple[float, ...], result: np.ndarray, budget_ns: float
) -> np.ndarray:
    """Fill ``result`` for the queries whose nearest target pixel lies in their neighbourhood;
    return the indices of the others (not found, or the budget spent)."""
    offsets, lengths, reach = _sorted_offsets(target.ndim, spacing)
    padded = np.pad(target, [(r, r) for r in reach])
    strides = np.array(padded.strides) // padded.itemsize
    flat = (coords + np.asarray(reach)) @ strides
    deltas = offsets @ strides
    probes = padded.ravel()
    active = np.arange(len(coords))
    # the budget and the chunk sizes are work only: an unresolved query goes to an exact method
    start, chunk, spent_ns = 0, 8, 0.0  # pragma: no mutate
    while active.size and start < len(deltas):
        stop = min(start + chunk, len(deltas))
        cost_ns = PROBE_NS * active.size * (stop - start)  # pragma: no mutate
        if spent_ns + cost_ns > budget_ns:  # pragma: no mutate
            break
        # queries in blocks, so that no probe matrix outgrows PROBE_BLOCK elements
        unresolved = []
        block = max(1, PROBE_BLOCK // (stop - start))  # pragma: no mutate
        for first in range(0, active.size, block):
            queries = active[first : first + block]
            hits = probes[flat[queries, None] + deltas[None, start:stop]]
            found = hits.any(axis=1)
            result[queries[found]] = lengths[start + hits[found].argmax(axis=1)]
            unresolved.append(queries[~found])
        active = np.concatenate(unresolved)
        spent_ns += cost_ns  # pragma: no mutate
        start = stop
        chunk *= 2  # pragma: no mutate
    return active


@functools.lru_cache(maxsize=16)
def _sorted_offsets(ndim: int, spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Integer offsets within the search radius, sorted by length in spacing units (ties in a
    fixed order), their lengths, and the reach (in pixels) along each axis."""
    radius = NEIGHBOURHOOD_RADIUS.get(ndim, 6) * min(spacing)
    reach = tuple(int(radius // s) for s in spacing)
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1)
    lengths = _offset_lengths(offsets, np.asarray(spacing))
    keep = lengths <= radius
    order = np.argsort(lengths[keep], kind="stable")
    return offsets[keep][order], lengths[keep][order], reach
