"""Instances of a mask and the distances between them: connected components, bounding boxes and
the distances from every pixel to its nearest and second-nearest instance, what the U-Net weight
map (``segcli.engine.maps.unet_weight_map``) is built on.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from segcli.engine.distance import Spacing, edt
from segcli.settings import default

Connectivity = Literal[1, 2]


def connected_instances(
    mask: np.ndarray, *, connectivity: Connectivity = default("connectivity", "weightmap")
) -> np.ndarray:
    """Label the connected components of a binary mask (1 = face neighbours, 2 = all neighbours).

    >>> connected_instances(np.array([[1, 0, 1], [0, 0, 1]], bool)).tolist()
    [[1, 0, 2], [0, 0, 2]]
    """
    from scipy import ndimage

    if connectivity not in (1, 2):
        raise ValueError(f"connectivity: expected 1 or 2, got {connectivity!r}")
    rank = mask.ndim if connectivity == 2 else 1
    labels, _ = ndimage.label(mask, structure=ndimage.generate_binary_structure(mask.ndim, rank))
    return labels


def instance_boxes(instances: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """(label, bounding box) of every instance present in a label image."""
    from scipy import ndimage

    return [(label, box) for label, box in enumerate(ndimage.find_objects(instances), start=1) if box is not None]


def _boxes_within(boxes: list[tuple[int, tuple[slice, ...]]], pad: tuple[int, ...]) -> np.ndarray:
    """For each box, whether another box lies within ``pad`` pixels of it (per axis): the
    instances that can be nearest and second-nearest to a pixel within that distance."""
    starts = np.array([[b.start for b in box] for _, box in boxes])
    stops = np.array([[b.stop for b in box] for _, box in boxes])
    pad_array = np.asarray(pad)
    # boxes i and j overlap once i is grown by pad: on every axis
    overlap = np.all(
        (starts[:, None, :] - pad_array < stops[None, :, :]) & (starts[None, :, :] < stops[:, None, :] + pad_array),
        axis=2,
    )
    np.fill_diagonal(overlap, False)
    return overlap.any(axis=1)


def nearest_two_instance_distances(
    instances: np.ndarray,
    *,
    max_distance: float,
    spacing: Spacing | None = None,
    boxes: list[tuple[int, tuple[slice, ...]]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances d1 <= d2 from every pixel to its nearest and second-nearest instance.

    Exact wherever ``d1 + d2 <= max_distance``; elsewhere ``inf`` may stand for either. Each
    instance's transform runs only on its bounding box grown by ``max_distance``, which is what
    makes this fast for many small cells, and an instance with no other within ``max_distance``
    is skipped: no pixel can be that close to it and to another.
    """
    spacing = tuple(spacing) if spacing is not None else (1.0,) * instances.ndim
    pad = tuple(math.ceil(max_distance / s) + 1 for s in spacing)
    boxes = instance_boxes(instances) if boxes is None else boxes
    nearest = np.full(instances.shape, np.inf, np.float32)
    second = np.full(instances.shape, np.inf, np.float32)
    if len(boxes) < 2:
        return nearest, second
    for (label, box), has_neighbour in zip(boxes, _boxes_within(boxes, pad), strict=True):
        if not has_neighbour:
            continue
        grown = tuple(
            slice(max(b.start - p, 0), min(b.stop + p, n)) for b, p, n in zip(box, pad, instances.shape, strict=True)
        )
        distance = edt(instances[grown] != label, spacing)
        near, sec = nearest[grown], second[grown]
        np.minimum(sec, np.maximum(near, distance), out=sec)
        np.minimum(near, distance, out=near)
    return nearest, second
