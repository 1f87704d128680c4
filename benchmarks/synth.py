"""Synthetic masks, probability maps, label maps and cell images for samples and benchmarks.

Shapes are smooth blobs (thresholded smoothed noise), so borders and distances look like real
segmentations rather than salt-and-pepper.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def blob_mask(
    rng: np.random.Generator, shape: tuple[int, ...], *, smooth: float = 12.0, fill: float = 0.3
) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), smooth)
    return field > np.quantile(field, 1.0 - fill)


def noisy_prediction(
    rng: np.random.Generator, gt: np.ndarray, *, smooth: float = 6.0, noise: float = 0.6
) -> np.ndarray:
    """A float32 probability map that roughly agrees with ``gt``."""
    field = ndimage.gaussian_filter(gt.astype(np.float64) * 2 - 1 + noise * rng.standard_normal(gt.shape), smooth / 3)
    field = field / (np.abs(field).max() + 1e-9) * 6
    return (1 / (1 + np.exp(-field))).astype(np.float32)


def cell_instances(rng: np.random.Generator, shape: tuple[int, int], *, n_cells: int, radius: float) -> np.ndarray:
    """Roughly round, non-overlapping labelled cells (label 1..n) on background 0."""
    labels = np.zeros(shape, np.int32)
    yy, xx = np.indices(shape)
    placed = 0
    for _ in range(n_cells * 20):
        if placed == n_cells:
            break
        r = radius * rng.uniform(0.7, 1.3)
        cy, cx = rng.uniform(r, shape[0] - r), rng.uniform(r, shape[1] - r)
        y0, y1 = int(max(cy - r - 1, 0)), int(min(cy + r + 2, shape[0]))
        x0, x1 = int(max(cx - r - 1, 0)), int(min(cx + r + 2, shape[1]))
        disk = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
        if (labels[y0:y1, x0:x1][disk] != 0).any():
            continue
        placed += 1
        labels[y0:y1, x0:x1][disk] = placed
    return labels


def label_map(
    rng: np.random.Generator, shape: tuple[int, ...], *, num_classes: int, ignore_share: float = 0.02
) -> np.ndarray:
    """A smooth multi-class label map (uint8) with a sprinkle of 255 ignore pixels."""
    fields = np.stack([ndimage.gaussian_filter(rng.standard_normal(shape), 10) for _ in range(num_classes)])
    fields[0] += 0.05  # background most common
    labels = np.argmax(fields, axis=0).astype(np.uint8)
    labels[rng.random(shape) < ignore_share] = 255
    return labels
