"""Exact Euclidean distance transforms and surface distances in torch, on any torch device.

The transform is separable and exact. Along the first spatial axis, the distance to the nearest
feature pixel of the same line comes from the index of the nearest feature on either side (a
running maximum from the left, a running minimum from the right). Each further axis then takes
the exact lower envelope over its lines,

    d2[x] = min over x' of  g[x'] + (s * (x - x'))^2,

by trying the offsets k = |x - x'| = 1, 2, ... in turn: a line is finished once (s k)^2 reaches
the largest value it still holds, since no farther offset can lower any of them. Lines finish at
their own pace (they are gathered out of the work as they do), so nearby borders cost a few
offsets; the lines still open after ``DIRECT_OFFSETS`` go to an exact halving search (monotone
minima of the Monge cost matrix, log2(n) levels), which bounds the worst case. Squared distances
are float64 and summed in axis order, as the CPU path (``segcli.engine.distance``) sums them, so both
give the same values.

Masks are batch-first (B, *spatial), 2-D or 3-D, with one spacing per spatial axis. On CPU tensors
this is what the tests compare with the ``edt`` package and scipy; on a GPU it is what
``--device cuda`` runs. torch is imported by whoever calls in here, never by the CPU path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from segcli.engine.distance import SurfaceDistances

if TYPE_CHECKING:
    import torch

# Elements (lines x line length) one pass of the lower envelope works on at once: its temporary
# copies stay within a few times 2**24 float64 values (128 MiB each).
LINE_CHUNK_ELEMENTS = 1 << 24
# Offsets tried one at a time before the lines still open go to the halving search: nearby
# borders finish within them; long distances then cost about log2(n) passes instead of n.
DIRECT_OFFSETS = 32


def _torch():
    """The torch module, imported when a function here first runs (never by the CPU path)."""
    import torch

    return torch


def _spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """One finite spacing > 0 per spatial axis; ValueError naming ``spacing`` otherwise."""
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing: expected {ndim} finite numbers > 0, got {list(spacing)}")
    return values


def squared_distance_to(
    features: torch.Tensor, spacing: Sequence[float] | None = None, *, queries: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared Euclidean distance from every pixel to the nearest True pixel of ``features`` in
    its own image, float64, in squared spacing units; inf throughout an image with no feature.

    ``features`` is a bool tensor (B, *spatial). With ``queries`` (bool, same shape) only the
    values at query pixels are needed: they are exact, the others are upper bounds, and lines
    holding no query are not searched (the surface distances need only border pixels).

    >>> import torch
    >>> squared_distance_to(torch.tensor([[[0, 0, 0], [0, 0, 1]]], dtype=torch.bool)).tolist()
    [[[5.0, 2.0, 1.0], [4.0, 1.0, 0.0]]]
    """
    ndim = features.ndim - 1
    steps = _spacing(spacing, ndim)
    d2 = _along_first_axis(features, steps[0])
    for axis in range(1, ndim):
        last = axis == ndim - 1  # pragma: no mutate (work only: queries skip lines, never change a value)
        d2 = _lower_envelope(d2, axis + 1, steps[axis], queries if last else None)
    return d2


def _along_first_axis(features: torch.Tensor, step: float) -> torch.Tensor:
    """(s * |x - nearest feature on the same line|)^2 along axis 1, inf on lines without one."""
    torch = _torch()
    n = features.shape[1]
    shape = (1, n) + (1,) * (features.ndim - 2)
    index = torch.arange(n, device=features.device, dtype=torch.int32)  # pragma: no mutate (placement; int width)
    index = index.reshape(shape)
    before = torch.tensor(-n, device=features.device, dtype=torch.int32)  # "no feature" sentinels
    after = torch.tensor(2 * n, device=features.device, dtype=torch.int32)
    left = torch.where(features, index, before).cummax(dim=1).values  # nearest feature at or before x
    right = torch.where(features, index, after).flip(1).cummin(dim=1).values.flip(1)  # at or after x
    gap = torch.minimum(index - left, right - index)  # >= n on a line without a feature
    d2 = (gap.to(torch.float64) * step) ** 2
    return d2.masked_fill_(gap >= n, math.inf)


def _lower_envelope(g: torch.Tensor, axis: int, step: float, queries: torch.Tensor | None) -> torch.Tensor:
    """``min over x' of g[x'] + (step (x - x'))^2`` along ``axis``, exact (at the queries, if given)."""
    n = g.shape[axis]
    if n == 1:
        return g
    lines = g.movedim(axis, -1).reshape(-1, n)
    wanted = queries.movedim(axis, -1).reshape(-1, n) if queries is not None else None
    out = lines.clone()
    chunk = max(1, LINE_CHUNK_ELEMENTS // n)
    for start in range(0, lines.shape[0], chunk):
        part = slice(start, start + chunk)
        _envelope_lines(lines[part], out[part], step, None if wanted is None else wanted[part])
    moved = list(g.movedim(axis, -1).shape)
    return out.reshape(moved).movedim(-1, axis)


def _still_open(values: torch.Tensor, wanted: torch.Tensor | None, reach: float) -> torch.Tensor:
    """Lines where an offset whose squared length is ``reach`` may still lower a wanted value.

    "work only" (pragmas here and in ``_envelope_lines``): which lines stay open decides only how
    long they are searched; a line searched longer, or one without a feature (inf stays inf),
    ends with the same values."""
    torch = _torch()
    if wanted is not None:
        filler = torch.tensor(-math.inf, dtype=values.dtype, device=values.device)  # pragma: no mutate (work only)
        values = torch.where(wanted, values, filler)
    return values.amax(dim=1) > reach


def _envelope_lines(lines: torch.Tensor, out: torch.Tensor, step: float, wanted: torch.Tensor | None) -> None:
    """Fill ``out`` (a copy of ``lines``, (L, n)) with the lower envelope of each line: offset by
    offset up to ``DIRECT_OFFSETS``, then the lines still open by ``_envelope_by_halving``."""
    torch = _torch()
    n = lines.shape[1]
    has_feature = torch.isfinite(lines).any(dim=1)  # pragma: no mutate (work only: a line without one stays inf)
    ids = torch.nonzero(has_feature & _still_open(out, wanted, step * step)).flatten()
    source, work = lines[ids], out[ids]
    keep = wanted[ids] if wanted is not None else None  # pragma: no mutate (work only: no queries: every line exact)
    offset = 1
    while ids.numel() and offset < n:
        if offset > DIRECT_OFFSETS:  # pragma: no mutate (work only: both ways are exact)
            work = _envelope_by_halving(source, step)
            break
        cost = (step * offset) ** 2
        work[:, offset:] = torch.minimum(work[:, offset:], source[:, :-offset] + cost)
        work[:, :-offset] = torch.minimum(work[:, :-offset], source[:, offset:] + cost)
        offset += 1
        # Which lines are finished, every power of two and every 64 offsets: each check syncs.
        if offset < n and (offset & (offset - 1) == 0 or offset % 64 == 0):  # pragma: no mutate (work only)
            open_ = _still_open(work, keep, (step * offset) ** 2)
            if not bool(open_.all()):
                out[ids[~open_]] = work[~open_]
                ids, source, work = ids[open_], source[open_], work[open_]
                keep = keep[open_] if keep is not None else None
    out[ids] = work


def _envelope_by_halving(lines: torch.Tensor, step: float) -> torch.Tensor:
    """The lower envelope of (L, n) lines, each holding a finite value, by the monotone minima
    of the matrix ``cost[x, k] = g[k] + (step (x - k))^2``.

    The cost is a Monge matrix ((x1 - x2)(k1 - k2) > 0 makes the cross sum of its differences
    negative), so the leftmost minimising k of row x never decreases with x. Halving the rows
    level by level, each middle row is searched only between the minimisers of the rows that
    enclose it: about n + (rows of the level) candidates per line and level, log2(n) levels.
    The rows of a level are the same on every line; their search ranges are per line, laid out
    flat (a ragged batch) and reduced with ``scatter_reduce``.
    """
    torch = _torch()
    count, n = lines.shape
    # "placement": device= only says where a tensor lives; the CPU tests cannot tell, and on a GPU a
    # wrong one raises (test_on_cuda_* in tests/test_device_distance.py and tests/test_mutants_device.py).
    device = lines.device  # pragma: no mutate (placement)
    flat = lines.reshape(-1)
    out = torch.empty_like(lines)
    starts = torch.arange(
        count,
        device=device,  # pragma: no mutate (placement)
    )
    line_start = starts * n
    segments = [(0, n - 1)]  # rows still to do, as intervals; the same on every line
    low = torch.zeros(  # search range per line and interval
        (count, 1),
        dtype=torch.int64,
        device=device,  # pragma: no mutate (placement)
    )
    high = torch.full(
        (count, 1),
        n - 1,
        dtype=torch.int64,  # pragma: no mutate (an integer fill is int64 anyway)
        device=device,  # pragma: no mutate (placement)
    )
    while segments:
        middles = [(a + b) // 2 for a, b in segments]
        rows = torch.tensor(
            middles,
            device=device,  # pragma: no mutate (placement)
        )
        lengths = (high - low + 1).reshape(-1)
        total = int(lengths.sum())
        ids = torch.arange(
            lengths.numel(),
            device=device,  # pragma: no mutate (placement)
        )
        which = torch.repeat_interleave(ids, lengths, output_size=total)
        first = torch.cumsum(lengths, 0) - lengths
        positions = torch.arange(
            total,
            device=device,  # pragma: no mutate (placement)
        )
        k = low.reshape(-1)[which] + (positions - first[which])
        x = rows[which % len(segments)]
        cost = flat[line_start[which // len(segments)] + k] + ((x - k).to(torch.float64) * step) ** 2
        best = torch.full(
            (lengths.numel(),),
            math.inf,
            dtype=torch.float64,
            device=device,  # pragma: no mutate (placement)
        )
        best.scatter_reduce_(0, which, cost, "amin")
        hit = cost == best[which]
        argmin = torch.full(
            (lengths.numel(),),
            n,
            dtype=torch.int64,  # pragma: no mutate (an integer fill is int64 anyway)
            device=device,  # pragma: no mutate (placement)
        )
        argmin.scatter_reduce_(0, which[hit], k[hit], "amin")
        best, argmin = best.reshape(count, -1), argmin.reshape(count, -1)
        out[:, rows] = best
        # The halves of each interval: rows a..c-1 search low..argmin(c), rows c+1..b argmin(c)..high.
        size = len(segments)
        children, lows, highs = [], [], []
        for j, ((a, b), c) in enumerate(zip(segments, middles, strict=True)):  # pragma: no mutate (equal lengths)
            if a < c:
                children.append((a, c - 1))
                lows.append(j)
                highs.append(size + j)
            if c < b:
                children.append((c + 1, b))
                lows.append(size + j)
                highs.append(2 * size + j)
        segments = children
        if segments:
            bounds = torch.cat([low, argmin, high], dim=1)
            low = bounds[
                :,
                torch.tensor(
                    lows,
                    device=device,  # pragma: no mutate (placement)
                ),
            ]
            high = bounds[
                :,
                torch.tensor(
                    highs,
                    device=device,  # pragma: no mutate (placement)
                ),
            ]
    return out


def edt(mask, spacing: Sequence[float] | None = None, *, device: str | None = None) -> torch.Tensor:
    """Distance from each True pixel of one 2-D or 3-D mask to the nearest False pixel, 0 on
    False pixels, float64 on ``device`` (default: the tensor's, or the CPU for an array).

    The exact transform of ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)``:
    pixels outside the image do not count as False. A mask without a False pixel is inf
    throughout. ``mask``: a numpy array or a torch tensor, any dtype (non-zero is True).

    >>> edt(np.array([[0, 1, 1, 1, 0]])).tolist()
    [[0.0, 1.0, 2.0, 1.0, 0.0]]
    >>> edt(np.array([[1, 1, 0]]), spacing=(1.0, 0.5)).tolist()
    [[1.0, 0.5, 0.0]]
    """
    torch = _torch()
    tensor = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(mask))
    if tensor.ndim not in (2, 3):
        raise ValueError(f"mask: expected a 2-D or 3-D mask, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"mask: expected a non-empty mask, got shape {tuple(tensor.shape)}")
    steps = _spacing(spacing, tensor.ndim)
    tensor = tensor.to(device=device) != 0  # device None: where it is
    return squared_distance_to(~tensor[None], steps)[0].sqrt()


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A numpy array on ``device``; on a GPU through pinned memory, without waiting for the copy."""
    torch = _torch()
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":  # pragma: no mutate (pinned memory: the same values, copied sooner)
        return tensor.pin_memory().to(device, non_blocking=True)  # pragma: no mutate (GPU only; the same values)
    return tensor.to(device)


def erode_cross(masks: torch.Tensor) -> torch.Tensor:
    """Erosion of each (B, *spatial) bool mask by the cross (face-connected) element, outside the
    image counting as background, as ``segcli.engine.stats.erode_cross``.

    >>> import torch
    >>> erode_cross(torch.ones(1, 3, 3, dtype=torch.bool)).int().tolist()
    [[[0, 0, 0], [0, 1, 0], [0, 0, 0]]]
    """
    torch = _torch()
    ndim = masks.ndim - 1
    padded = torch.nn.functional.pad(
        masks,
        (1, 1) * ndim,
        value=False,  # pragma: no mutate (pad's default fill, 0, is False)
    )
    inner = tuple(slice(1, -1) for _ in range(ndim))
    out = masks.clone()
    for axis in range(ndim):
        for shift in (slice(0, -2), slice(2, None)):
            window = inner[:axis] + (shift,) + inner[axis + 1 :]
            out &= padded[(slice(None),) + window]
    return out


def dilate_cross(masks: torch.Tensor, iterations: int = 1) -> torch.Tensor:
    """Dilation of each (B, *spatial) bool mask by the cross element, ``iterations`` times,
    nothing growing in from outside the image (``segcli.engine.stats.dilate_cross``).

    >>> import torch
    >>> dilate_cross(torch.tensor([[[0, 0, 1, 0, 0]]]).bool(), 2).int().tolist()
    [[[1, 1, 1, 1, 1]]]
    """
    torch = _torch()
    ndim = masks.ndim - 1
    inner = tuple(slice(1, -1) for _ in range(ndim))
    out = masks
    for _ in range(iterations):
        padded = torch.nn.functional.pad(out, (1, 1) * ndim, value=False)
        grown = out.clone()
        for axis in range(ndim):
            for shift in (slice(0, -2), slice(2, None)):
                grown |= padded[(slice(None),) + inner[:axis] + (shift,) + inner[axis + 1 :]]
        out = grown
    return out


def boundary_band(target: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels within ``width`` cross-steps of each GT's border, ``dilate(dilate(G) - erode(G),
    width)`` (``segcli.engine.maps.boundary_band``, the band of boundary_bce).

    >>> import torch
    >>> boundary_band(torch.tensor([[[0, 0, 0, 0, 0, 0, 1]]]).bool(), 1).int().tolist()
    [[[0, 0, 0, 0, 1, 1, 1]]]
    """
    ring = dilate_cross(target) & ~erode_cross(target)
    return dilate_cross(ring, width)


def border(masks: torch.Tensor) -> torch.Tensor:
    """Border of each mask: mask and not its cross erosion (``segcli.engine.stats.border``).

    >>> import torch
    >>> border(torch.ones(1, 3, 4, dtype=torch.bool)).int().tolist()
    [[[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]]]
    """
    return masks & ~erode_cross(masks)


def boundary_region(masks: torch.Tensor, width: int) -> torch.Tensor:
    """Mask pixels within ``width`` px of the contour: mask minus its erosion by the square
    element ``width`` times, i.e. once by the (2 width + 1)-wide square, outside counting as
    background (``segcli.scores.surface.boundary_region``).

    >>> import torch
    >>> boundary_region(torch.ones(1, 1, 7, dtype=torch.bool), 2).int().tolist()
    [[[1, 1, 1, 1, 1, 1, 1]]]
    >>> boundary_region(torch.ones(1, 7, 7, dtype=torch.bool), 2).int()[0, 3].tolist()
    [1, 1, 0, 0, 0, 1, 1]
    """
    torch = _torch()
    if width == 0:
        return torch.zeros_like(masks)
    ndim = masks.ndim - 1
    # The erosion of the mask is the complement of the dilation of its complement, with pixels
    # outside the image in the complement: a max pool over a padding of ones.
    outside = torch.nn.functional.pad((~masks).to(torch.float32)[:, None], (width, width) * ndim, value=1.0)
    pool = torch.nn.functional.max_pool2d if ndim == 2 else torch.nn.functional.max_pool3d
    eroded = pool(outside, kernel_size=2 * width + 1, stride=1)[:, 0] == 0
    return masks & ~eroded


def boundary_iou(pred: torch.Tensor, target: torch.Tensor, *, width: int = 2) -> np.ndarray:
    """(B,) boundary IoU of bool batches: IoU of the two boundary regions, 1 when both are empty
    (``segcli.scores.surface.boundary_iou``).

    >>> import torch
    >>> pred = torch.ones(2, 6, 6, dtype=torch.bool)
    >>> boundary_iou(pred, torch.stack([pred[0], torch.zeros(6, 6, dtype=torch.bool)])).tolist()
    [1.0, 0.0]
    """
    torch = _torch()
    a, b = boundary_region(pred, width), boundary_region(target, width)
    dims = tuple(range(1, pred.ndim))
    both = (a & b).sum(dim=dims, dtype=torch.int64)
    union = (a | b).sum(dim=dims, dtype=torch.int64)
    both, union = both.cpu().numpy(), union.cpu().numpy()
    return np.where(union > 0, both / np.maximum(union, 1), 1.0)


def _box(masks: torch.Tensor) -> tuple[slice, ...]:
    """Spatial slices of the smallest box holding every True pixel of the batch (all: none)."""
    ndim = masks.ndim - 1
    union = masks.any(dim=0)
    box = []
    for axis in range(ndim):
        other = tuple(a for a in range(ndim) if a != axis)
        hits = union.any(dim=other)  # 2-D or 3-D: never an empty tuple
        where = hits.nonzero().flatten()
        box.append(slice(int(where[0]), int(where[-1]) + 1) if where.numel() else slice(0, 0))
    return tuple(box)


def surface_distances(
    pred: torch.Tensor, target: torch.Tensor, spacing: Sequence[float] | None = None
) -> list[SurfaceDistances]:
    """Both directed border-distance arrays of each pair of a bool batch (B, *spatial), as
    ``segcli.scores.surface.surface_distances`` gives them: float64 numpy arrays in the row-major
    order of the border pixels, inf throughout when the other border is empty.

    The transforms run on the batch's device, cropped to the box of every border (the nearest
    border pixel of a query lies in it); only the border distances come back.

    >>> import torch
    >>> d = surface_distances(torch.tensor([[[1, 1, 0, 0]]]).bool(), torch.tensor([[[0, 1, 1, 0]]]).bool())
    >>> d[0].pred_to_gt.tolist(), d[0].gt_to_pred.tolist()
    ([1.0, 0.0], [0.0, 1.0])
    """
    torch = _torch()
    steps = _spacing(spacing, pred.ndim - 1)
    batch = pred.shape[0]
    # Every border lies in the box of all masks, and a mask pixel on the box's edge has a
    # background neighbour outside it: the borders of the crop are the crops of the borders.
    box = _box(torch.cat([pred, target]))
    if any(b.stop == 0 for b in box):  # every mask of the batch empty
        return [SurfaceDistances(np.zeros(0), np.zeros(0)) for _ in range(batch)]
    crop = (slice(None),) + box
    borders = torch.cat([border(pred[crop]), border(target[crop])])  # (2B, ...): queries, then features
    features = torch.cat([borders[batch:], borders[:batch]])
    d2 = squared_distance_to(
        features,
        steps,
        queries=borders,  # pragma: no mutate (queries only skip work: without them every value is exact)
    )
    distances = d2[borders].sqrt().cpu().numpy()
    counts = borders.flatten(1).sum(dim=1).cpu().numpy()
    pieces = np.split(distances, np.cumsum(counts)[:-1])
    return [SurfaceDistances(pred_to_gt=pieces[i], gt_to_pred=pieces[batch + i]) for i in range(batch)]


def inside_outside(target: torch.Tensor, spacing: Sequence[float] | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """The distance from every pixel to the other side of each mask of a bool batch, float32:
    ``EDT(G)`` inside, ``EDT(not G)`` outside (``segcli.engine.distance.InsideOutside``), and (B,)
    ``degenerate``: True for an all-empty or all-full mask, whose distance is left 0.

    >>> import torch
    >>> distance, degenerate = inside_outside(torch.tensor([[[0, 1, 1, 1, 0, 0]]]).bool())
    >>> distance.tolist(), degenerate.tolist()
    ([[[1.0, 1.0, 2.0, 1.0, 1.0, 2.0]]], [False])
    """
    torch = _torch()
    steps = _spacing(spacing, target.ndim - 1)
    dims = tuple(range(1, target.ndim))
    degenerate = (~target.any(dim=dims)) | target.all(dim=dims)
    d2 = squared_distance_to(torch.cat([~target, target]), steps)
    batch = target.shape[0]
    distance = torch.where(target, d2[:batch], d2[batch:]).sqrt().to(torch.float32)
    shape = (-1,) + (1,) * (target.ndim - 1)
    distance = distance.masked_fill_(degenerate.reshape(shape), 0.0)
    return distance, degenerate.cpu().numpy()
