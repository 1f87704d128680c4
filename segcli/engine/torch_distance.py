"""Borders, boundary bands and surface distances in torch, on any torch device: the device twins
of ``segcli.engine.stats`` (borders), ``segcli.engine.maps`` (the boundary band) and
``segcli.scores.surface`` (border distances), built on the exact transform of
``segcli.engine.torch_edt``.

Masks are batch-first (B, *spatial), 2-D or 3-D. torch is imported by whoever calls in here,
never by the CPU path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from segcli.engine.distance import SurfaceDistances
from segcli.engine.torch_edt import import_torch, spacing_per_axis, squared_distance_to

if TYPE_CHECKING:
    import torch


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A numpy array on ``device``; on a GPU through pinned memory, without waiting for the copy."""
    torch = import_torch()
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
    torch = import_torch()
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
    torch = import_torch()
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
    torch = import_torch()
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
    torch = import_torch()
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
    torch = import_torch()
    steps = spacing_per_axis(spacing, pred.ndim - 1)
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
    torch = import_torch()
    steps = spacing_per_axis(spacing, target.ndim - 1)
    dims = tuple(range(1, target.ndim))
    degenerate = (~target.any(dim=dims)) | target.all(dim=dims)
    d2 = squared_distance_to(torch.cat([~target, target]), steps)
    batch = target.shape[0]
    distance = torch.where(target, d2[:batch], d2[batch:]).sqrt().to(torch.float32)
    shape = (-1,) + (1,) * (target.ndim - 1)
    distance = distance.masked_fill_(degenerate.reshape(shape), 0.0)
    return distance, degenerate.cpu().numpy()
