"""Class weights for imbalanced training: pixel counts per class over a dataset, five schemes.

Counting streams over the files (in worker processes), keeping only K-vectors: the whole run
costs little more than decoding the files. The ignore index is excluded everywhere. A label
beyond the classes (or, with K inferred, beyond ``MAX_CLASSES``) is an error found from the
image's minimum and maximum, before any histogram is built: a stray 4e9 never costs a 32 GB
``bincount``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from segcli.errors import InputError, InvalidOption, SegcliError, ValueRangeError
from segcli.inputs.images import read_image
from segcli.inputs.remote import Url
from segcli.run.pool import WORKER_DIED, map_isolated
from segcli.settings import MAX_CLASSES, default

SCHEMES = ("inverse", "balanced", "median", "enet", "effective")

# The most classes counted: K inferred from the data never exceeds it, nor may num_classes.


class LabelRangeError(ValueRangeError):
    """A label that is not a class (nor the ignore index): the class count or the ignore index
    given does not fit the data."""


@dataclass(frozen=True)
class ClassCounts:
    """``counts[c]``: pixels of class c; ``present_pixels[c]``: non-ignored pixels of the images
    where c occurs (the denominator of median-frequency balancing)."""

    counts: np.ndarray
    present_pixels: np.ndarray
    n_images: int
    ignored_pixels: int = 0
    binary_0_255: bool = False  # every image held only 0 and 255, and 255 was counted as class 1
    failed: tuple[InputError, ...] = field(default=())  # images that could not be counted
    images_0_255: int = 0  # images holding 255 and otherwise only 0 (a 0/255 mask's foreground?)

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


@dataclass(frozen=True)
class FileCount:
    """One label image: ``counts[c]`` pixels of class c (the ignore index left out), the pixels
    of the ignore index, and ``zero_255`` = (pixels of 0, pixels of 255) when the image holds no
    other value."""

    counts: np.ndarray
    ignored_pixels: int
    zero_255: tuple[int, int] | None

    @property
    def valid_pixels(self) -> int:
        return int(self.counts.sum())


def count_file(
    path: Path, num_classes: int | None = None, ignore_index: int | None = default("ignore_index")
) -> FileCount:
    """Per-class pixel counts of one label image.

    Raises ``LabelRangeError`` naming the file and the label for a value outside
    ``0..num_classes-1`` (``0..MAX_CLASSES-1`` when inferred) that is not the ignore index, and
    ``ValueRangeError`` for non-integer values.
    """
    flat = _integer_labels(path, read_image(path).array).reshape(-1)
    size = flat.size
    low, high = int(flat.min()), int(flat.max())
    limit = num_classes if num_classes is not None else MAX_CLASSES
    ignored = 0
    if low < 0 or high >= limit:
        outside = (flat < 0) | (flat >= limit)
        if ignore_index is not None:
            outside &= flat != ignore_index
        if outside.any():
            bad = flat[outside]
            value = int(bad.min()) if bad.min() < 0 else int(bad.max())
            raise LabelRangeError(_label_message(path, value, num_classes, ignore_index))
        # Only the ignore index lies outside the classes: leave it out of the histogram.
        keep = flat != ignore_index
        ignored = int(flat.size - np.count_nonzero(keep))
        flat = flat[keep]
    # One bincount over every value, an in-range ignore bin dropped afterwards.
    counts = np.bincount(flat.astype(np.intp, copy=False), minlength=num_classes or 0).astype(np.int64)
    if ignore_index is not None and 0 <= ignore_index < counts.size:
        ignored = int(counts[ignore_index])
        counts[ignore_index] = 0
    n0 = int(counts[0]) if counts.size else 0
    n255 = ignored if ignore_index == 255 else (int(counts[255]) if counts.size > 255 else 0)
    zero_255 = (n0, n255) if n0 + n255 == size else None
    labelled = np.flatnonzero(counts)
    highest = int(labelled[-1]) if labelled.size else -1
    counts = counts[: max(highest + 1, num_classes or 0)]
    return FileCount(counts=counts, ignored_pixels=ignored, zero_255=zero_255)


def _integer_labels(path: Path, labels: np.ndarray) -> np.ndarray:
    if labels.dtype == bool:
        return labels.view(np.uint8)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.round(labels)):
            raise ValueRangeError(f"{path}: label map holds non-integer or non-finite values")
    return labels


def _label_message(path: Path, value: int, num_classes: int | None, ignore_index: int | None) -> str:
    ignore = f"the ignore index ({ignore_index})" if ignore_index is not None else "an ignore index (none set)"
    if num_classes is not None:
        return f"{path}: label {value} outside 0..{num_classes - 1} and not {ignore}"
    if value < 0:
        return f"{path}: negative label {value}, not {ignore}"
    return f"{path}: label {value} outside 0..{MAX_CLASSES - 1} (the most classes inferred) and not {ignore}"


def _count_task(path: Path, num_classes: int | None, ignore_index: int | None) -> FileCount | InputError:
    """``count_file``, with any exception returned as an ``InputError`` naming the file."""
    try:
        return count_file(path, num_classes, ignore_index)
    except InputError as exc:
        return exc
    except SegcliError as exc:
        return InputError(str(exc))
    except MemoryError:
        return InputError(f"{path}: out of memory")
    except Exception as exc:  # one file's surprise must not cost the others
        return InputError(f"{path}: {type(exc).__name__}: {exc}")


def count_classes(
    paths: Sequence[Path],
    *,
    num_classes: int | None = None,
    ignore_index: int | None = default("ignore_index"),
    workers: int = default("workers", "library"),
    on_done: Callable[[], None] | None = None,
    binary_0_255: bool = False,
    errors: Literal["raise", "collect"] = "raise",
    client=None,
) -> ClassCounts:
    """Count pixels per class over ``paths``; K is inferred (max label + 1) when not given.

    ``binary_0_255``: when every image holds only 0 and 255 (and both occur), count 255 as class 1
    instead of as the ignore index (``ClassCounts.binary_0_255`` says it was done).
    ``errors``: ``raise`` the first image's error, or ``collect`` them in ``ClassCounts.failed``
    and count the others. A worker process that dies fails its image only. ``client``: a
    ``dask.distributed.Client`` whose workers count the files (``workers`` is then not used); the
    per-file counts are summed here, in file order, so the result equals a local run's.
    """
    if num_classes is not None and not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes: expected 2..{MAX_CLASSES}, got {num_classes}")
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors: expected raise or collect, got {errors!r}")
    paths = [p if isinstance(p, Url) else Path(p) for p in paths]
    tally = _Tally(num_classes or 0)
    for result in _file_results(paths, num_classes, ignore_index, workers, client):
        if on_done:
            on_done()
        if isinstance(result, InputError):
            if errors == "raise":
                raise result
            tally.failed.append(result)
            continue
        tally.add(result)
    return tally.counts(len(paths), binary_0_255=binary_0_255)


def _file_results(paths, num_classes: int | None, ignore_index: int | None, workers: int, client):
    """Each file's counts (or its ``InputError``), in file order: on the cluster, else in workers."""
    task = partial(_count_task, num_classes=num_classes, ignore_index=ignore_index)
    if client is not None:
        from segcli.run.cluster import map_on_cluster

        return map_on_cluster(client, task, paths, on_lost=_lost_on_cluster)
    return map_isolated(
        task,
        paths,
        workers=min(workers, len(paths)),
        on_crash=lambda path: InputError(f"{path}: {WORKER_DIED}"),
        chunksize=max(1, min(32, len(paths) // (workers * 8))),
    )


class _Tally:
    """The sums over the files counted so far, and the same sums with 255 as class 1, kept while
    every image holds only 0 and 255."""

    def __init__(self, num_classes: int) -> None:
        self.sums = np.zeros(num_classes, np.int64)
        self.present = np.zeros(num_classes, np.int64)
        self.binary_counts = np.zeros(2, np.int64)
        self.binary_present = np.zeros(2, np.int64)
        self.all_0_255 = True
        self.ignored = 0
        self.images_0_255 = 0
        self.failed: list[InputError] = []

    def add(self, result) -> None:
        file_counts, valid_pixels = result.counts, result.valid_pixels
        if file_counts.size > self.sums.size:
            self.sums = np.pad(self.sums, (0, file_counts.size - self.sums.size))
            self.present = np.pad(self.present, (0, file_counts.size - self.present.size))
        self.sums[: file_counts.size] += file_counts
        self.present[: file_counts.size] += np.where(file_counts > 0, valid_pixels, 0)
        self.ignored += result.ignored_pixels
        self.images_0_255 += result.zero_255 is not None and result.zero_255[1] > 0
        if result.zero_255 is None:
            self.all_0_255 = False
        elif self.all_0_255:
            pair = np.array(result.zero_255, np.int64)
            self.binary_counts += pair
            self.binary_present += np.where(pair > 0, pair.sum(), 0)

    def counts(self, n_paths: int, *, binary_0_255: bool) -> ClassCounts:
        n_images, failed = n_paths - len(self.failed), tuple(self.failed)
        if binary_0_255 and self.all_0_255 and n_images and np.all(self.binary_counts > 0):
            return ClassCounts(self.binary_counts, self.binary_present, n_images, binary_0_255=True, failed=failed)
        return ClassCounts(
            self.sums,
            self.present,
            n_images,
            ignored_pixels=self.ignored,
            failed=failed,
            images_0_255=self.images_0_255,
        )


def _lost_on_cluster(path: Path | Url, error: BaseException) -> InputError:
    return InputError(f"{path}: the cluster could not count it ({type(error).__name__}: {error})")


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


def effective(c: ClassCounts, *, beta: float = default("beta")) -> np.ndarray:
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


def check_options(
    *, scheme: str = default("scheme"), beta: float = default("beta"), num_classes: int | None = None, workers=None
) -> list[str]:
    """The schemes named by ``scheme`` (a comma list, or ``all``), the other options checked
    (``InvalidOption`` naming the option): ``0 <= beta < 1``, ``num_classes`` 2..MAX_CLASSES, ``workers >= 1``.

    >>> check_options(scheme="median, enet")
    ['median', 'enet']
    """
    schemes = list(SCHEMES) if scheme.strip() == "all" else [s.strip() for s in scheme.split(",") if s.strip()]
    unknown = [s for s in schemes if s not in SCHEMES]
    if unknown or not schemes:
        raise InvalidOption("scheme", f"unknown {', '.join(unknown) or scheme!r}; known: {', '.join(SCHEMES)}, all")
    if not 0 <= beta < 1:  # NaN fails too
        raise InvalidOption("beta", f"expected 0 <= beta < 1, got {beta}")
    if num_classes is not None and not 2 <= num_classes <= MAX_CLASSES:
        reason = f"expected 2..{MAX_CLASSES} (weights balance two or more classes), got {num_classes}"
        raise InvalidOption("num_classes", reason)
    if workers is not None and workers < 1:
        raise InvalidOption("workers", f"expected >= 1, got {workers}")
    return schemes


def class_weights(
    counts: ClassCounts, schemes: Sequence[str], *, beta: float = default("beta")
) -> dict[str, np.ndarray]:
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
