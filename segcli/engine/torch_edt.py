"""Exact Euclidean distance transforms in torch, on any torch device.

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
give the same values. The borders, bands and surface distances built on them are
``segcli.engine.torch_distance``.

Masks are batch-first (B, *spatial), 2-D or 3-D, with one spacing per spatial axis. On CPU tensors
this is what the tests compare with the ``edt`` package and scipy; on a GPU it is what
``--device cuda`` runs. torch is imported by whoever calls in here, never by the CPU path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Elements (lines x line length) one pass of the lower envelope works on at once: its temporary
# copies stay within a few times 2**24 float64 values (128 MiB each).
LINE_CHUNK_ELEMENTS = 1 << 24
# Offsets tried one at a time before the lines still open go to the halving search: nearby
# borders finish within them; long distances then cost about log2(n) passes instead of n.
DIRECT_OFFSETS = 32


def import_torch():
    """The torch module, imported when a function here first runs (never by the CPU path)."""
    import torch

    return torch


def spacing_per_axis(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
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
    steps = spacing_per_axis(spacing, ndim)
    d2 = _along_first_axis(features, steps[0])
    for axis in range(1, ndim):
        last = axis == ndim - 1  # pragma: no mutate (work only: queries skip lines, never change a value)
        d2 = _lower_envelope(d2, axis + 1, steps[axis], queries if last else None)
    return d2


def _along_first_axis(features: torch.Tensor, step: float) -> torch.Tensor:
    """(s * |x - nearest feature on the same line|)^2 along axis 1, inf on lines without one."""
    torch = import_torch()
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
    torch = import_torch()
    if wanted is not None:
        filler = torch.tensor(-math.inf, dtype=values.dtype, device=values.device)  # pragma: no mutate (work only)
        values = torch.where(wanted, values, filler)
    return values.amax(dim=1) > reach


def _envelope_lines(lines: torch.Tensor, out: torch.Tensor, step: float, wanted: torch.Tensor | None) -> None:
    """Fill ``out`` (a copy of ``lines``, (L, n)) with the lower envelope of each line: offset by
    offset up to ``DIRECT_OFFSETS``, then the lines still open by ``_envelope_by_halving``."""
    torch = import_torch()
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
    torch = import_torch()
    count, n = lines.shape
    # "placement": device= only says where a tensor lives; the CPU tests cannot tell, and on a GPU a
    # wrong one raises (test_on_cuda_* in tests/engine/test_torch_distance.py).
    on = {"device": lines.device}  # pragma: no mutate (placement)
    out = torch.empty_like(lines)
    segments = [(0, n - 1)]  # rows still to do, as intervals; the same on every line
    low = torch.zeros((count, 1), dtype=torch.int64, **on)  # search range per line and interval
    high = torch.full((count, 1), n - 1, dtype=torch.int64, **on)
    while segments:
        middles = [(a + b) // 2 for a, b in segments]
        rows = torch.tensor(middles, **on)
        best, argmin = _level_minima(lines, rows, low, high, step)
        out[:, rows] = best
        segments, lows, highs = _halves(segments, middles)
        if segments:
            bounds = torch.cat([low, argmin, high], dim=1)
            low, high = bounds[:, torch.tensor(lows, **on)], bounds[:, torch.tensor(highs, **on)]
    return out


def _level_minima(
    lines: torch.Tensor, rows: torch.Tensor, low: torch.Tensor, high: torch.Tensor, step: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The minimum of each row of one halving level over its search range ``low..high`` (per line
    and row), and the leftmost k reaching it: both (L, rows)."""
    torch = import_torch()
    count, n = lines.shape
    on = {"device": lines.device}  # pragma: no mutate (placement)
    lengths = (high - low + 1).reshape(-1)
    total = int(lengths.sum())
    which = torch.repeat_interleave(torch.arange(lengths.numel(), **on), lengths, output_size=total)
    first = torch.cumsum(lengths, 0) - lengths
    k = low.reshape(-1)[which] + (torch.arange(total, **on) - first[which])
    x = rows[which % len(rows)]
    line_start = torch.arange(count, **on) * n
    cost = lines.reshape(-1)[line_start[which // len(rows)] + k] + ((x - k).to(torch.float64) * step) ** 2
    best = torch.full((lengths.numel(),), math.inf, dtype=torch.float64, **on)
    best.scatter_reduce_(0, which, cost, "amin")
    hit = cost == best[which]
    argmin = torch.full((lengths.numel(),), n, dtype=torch.int64, **on)
    argmin.scatter_reduce_(0, which[hit], k[hit], "amin")
    return best.reshape(count, -1), argmin.reshape(count, -1)


def _halves(segments: list[tuple[int, int]], middles: list[int]) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The intervals of the next level and, for each, the columns of ``[low, argmin, high]`` that
    bound its search: rows a..c-1 search low..argmin(c), rows c+1..b argmin(c)..high."""
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
    return children, lows, highs


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
    torch = import_torch()
    tensor = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(mask))
    if tensor.ndim not in (2, 3):
        raise ValueError(f"mask: expected a 2-D or 3-D mask, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"mask: expected a non-empty mask, got shape {tuple(tensor.shape)}")
    steps = spacing_per_axis(spacing, tensor.ndim)
    tensor = tensor.to(device=device) != 0  # device None: where it is
    return squared_distance_to(~tensor[None], steps)[0].sqrt()
