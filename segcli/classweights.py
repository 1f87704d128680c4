"""Class weights for imbalanced training: pixel counts per class over a dataset, five schemes.

Counting streams over the files (in worker processes), keeping only K-vectors: the whole run
costs little more than decoding the files. The ignore index is excluded everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcli.errors import ValueRangeError
from segcli.io import read_image

SCHEMES = ("inverse", "balanced", "median", "enet", "effective")


@dataclass(frozen=True)
class ClassCounts:
    """``counts[c]``: pixels of class c; ``present_pixels[c]``: non-ignored pixels of the images
    where c occurs (the denominator of median-frequency balancing)."""

    counts: np.ndarray
    present_pixels: np.ndarray
    n_images: int

    @property
    def num_classes(self) -> int:
        return self.counts.size

    @property
    def frequencies(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.zeros(self.num_classes)

    @property
    def absent(self) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.counts == 0)]


def count_file(path: Path, num_classes: int | None, ignore_index: int | None) -> tuple[np.ndarray, int]:
    """Per-class pixel counts of one label image and its number of non-ignored pixels."""
    labels = read_image(path).array
    if labels.dtype.kind == "f":
        if not np.array_equal(labels, np.round(labels)):
            raise ValueRangeError(f"{path}: label map holds non-integer values")
        labels = labels.astype(np.int64)
    if labels.dtype == bool:
        labels = labels.view(np.uint8)
    flat = labels.reshape(-1)
    if flat.dtype.kind == "i":
        if flat.size and flat.min() < 0 and (ignore_index is None or (flat[flat < 0] != ignore_index).any()):
            raise ValueRangeError(f"{path}: negative label {flat[flat < 0][0]}")
        flat = flat[flat >= 0]
    # One bincount over every value, the ignore bin dropped afterwards: no filtered copy of the image.
    counts = np.bincount(flat, minlength=num_classes or 0).astype(np.int64)
    if ignore_index is not None and 0 <= ignore_index < counts.size:
        counts[ignore_index] = 0
    labelled = np.flatnonzero(counts)
    highest = int(labelled[-1]) if labelled.size else -1
    if num_classes is not None and highest >= num_classes:
        raise ValueRangeError(
            f"{path}: label {highest} outside 0..{num_classes - 1} (--num-classes {num_classes}) "
            "and not the ignore index"
        )
    counts = counts[: max(highest + 1, num_classes or 0)]
    return counts, int(counts.sum())


def _count_task(args: tuple[Path, int | None, int | None]) -> tuple[np.ndarray, int]:
    return count_file(*args)


def count_classes(
    paths: Sequence[Path],
    *,
    num_classes: int | None = None,
    ignore_index: int | None = 255,
    workers: int = 1,
    on_done: Callable[[], None] | None = None,
) -> ClassCounts:
    """Count pixels per class over ``paths``; K is inferred (max label + 1) when not given."""
    counts = np.zeros(num_classes or 0, np.int64)
    present = np.zeros(num_classes or 0, np.int64)
    tasks = [(Path(p), num_classes, ignore_index) for p in paths]
    if workers > 1 and len(tasks) > 1:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)))
        results = pool.map(_count_task, tasks, chunksize=max(1, min(32, len(tasks) // (workers * 8))))
    else:
        pool, results = None, map(_count_task, tasks)
    try:
        for file_counts, valid_pixels in results:
            if file_counts.size > counts.size:
                counts = np.pad(counts, (0, file_counts.size - counts.size))
                present = np.pad(present, (0, file_counts.size - present.size))
            counts[: file_counts.size] += file_counts
            present[: file_counts.size] += np.where(file_counts > 0, valid_pixels, 0)
            if on_done:
                on_done()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return ClassCounts(counts=counts, present_pixels=present, n_images=len(tasks))


def _where_present(counts: np.ndarray, values: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    present = counts > 0
    out = np.zeros(counts.size)
    out[present] = values(counts[present].astype(np.float64))
    return out


def balanced(c: ClassCounts) -> np.ndarray:
    """``N / (K n_c)`` (scikit-learn ``compute_class_weight('balanced')``); 0 for absent classes.

    >>> balanced(ClassCounts(np.array([6, 2]), np.array([8, 8]), 1)).tolist()
    [0.6666666666666666, 2.0]
    """
    total, k = c.counts.sum(), c.num_classes
    return _where_present(c.counts, lambda n: total / (k * n))


def inverse(c: ClassCounts) -> np.ndarray:
    """Inverse frequency ``N / (K n_c)`` rescaled so the weights sum to K.

    >>> inverse(ClassCounts(np.array([6, 2]), np.array([8, 8]), 1)).tolist()
    [0.5, 1.5]
    """
    raw = balanced(c)
    return raw * c.num_classes / raw.sum() if raw.sum() else raw


def median(c: ClassCounts) -> np.ndarray:
    """Median-frequency balancing (Eigen & Fergus 2015): ``freq_c = n_c / present_pixels_c``,
    ``w_c = median(freq) / freq_c`` over the present classes.

    >>> median(ClassCounts(np.array([6, 2, 1]), np.array([9, 9, 3]), 2)).round(4).tolist()
    [0.5, 1.5, 1.0]
    """
    present = c.counts > 0
    if not present.any():
        return np.zeros(c.num_classes)
    freq = np.zeros(c.num_classes)
    freq[present] = c.counts[present] / c.present_pixels[present]
    middle = float(np.median(freq[present]))
    return np.where(present, middle / np.where(present, freq, 1.0), 0.0)


def enet(c: ClassCounts, *, c_constant: float = 1.02) -> np.ndarray:
    """ENet weighting (Paszke et al. 2016): ``1 / ln(1.02 + p_c)``, p_c = n_c / N.

    >>> enet(ClassCounts(np.array([1, 1]), np.array([2, 2]), 1)).round(4).tolist()
    [2.3883, 2.3883]
    """
    total = c.counts.sum()
    return _where_present(c.counts, lambda n: 1.0 / np.log(c_constant + n / total))


def effective(c: ClassCounts, *, beta: float = 0.9999) -> np.ndarray:
    """Effective number of samples (Cui et al. 2019): ``(1 - beta) / (1 - beta^n_c)``, rescaled
    to sum to K as in the paper.

    >>> effective(ClassCounts(np.array([1, 3]), np.array([4, 4]), 1), beta=0.5).round(4).tolist()
    [1.2727, 0.7273]
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta: expected 0 <= beta < 1, got {beta}")
    raw = _where_present(
        c.counts, lambda n: (1.0 - beta) / -np.expm1(n * math.log(beta)) if beta > 0 else np.ones_like(n)
    )
    return raw * c.num_classes / raw.sum() if raw.sum() else raw


def class_weights(counts: ClassCounts, schemes: Sequence[str], *, beta: float = 0.9999) -> dict[str, np.ndarray]:
    """Each requested scheme's K-vector."""
    table = {
        "inverse": inverse,
        "balanced": balanced,
        "median": median,
        "enet": enet,
        "effective": lambda c: effective(c, beta=beta),
    }
    unknown = [s for s in schemes if s not in table]
    if unknown:
        raise ValueError(f"scheme: unknown {unknown}; known: {', '.join(SCHEMES)}")
    return {s: table[s](counts) for s in schemes}
