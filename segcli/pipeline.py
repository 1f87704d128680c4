"""Scoring many pairs: read, interpret, compute, stream one outcome per pair, in pair order.

Pairs are spread over worker processes (reading and computing overlap across them); each worker
returns only the small record, so memory stays bounded by ``workers`` pairs in flight. A pair
that cannot be scored yields a ``Failure`` naming the file; the others go on.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from segcli.batch import BinaryBatch, ScoreOptions
from segcli.errors import InputError, ResourceError, ShapeError
from segcli.inputs import PredKind, binary_pair
from segcli.io import read_image
from segcli.pairing import Pair


@dataclass(frozen=True)
class ScoreSettings:
    """What to compute and how to read the inputs; everything a worker needs."""

    metrics: tuple[str, ...]
    options: ScoreOptions = field(default_factory=ScoreOptions)
    pred_kind: PredKind = "auto"
    threshold: float = 0.5
    spacing_override: tuple[float, ...] | None = None
    num_classes: int | None = None
    ignore_index: int | None = 255
    include_background: bool = False
    class_names: tuple[str, ...] | None = None
    class_weights: tuple[float, ...] | None = None
    max_memory: float | None = None  # bytes one pair may use; None: no check


@dataclass(frozen=True)
class Record:
    name: str
    values: dict[str, float]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    name: str
    message: str
    warnings: tuple[str, ...] = ()


Outcome = Record | Failure


def resolve_spacing(
    override: tuple[float, ...] | None, stated: tuple[float, ...] | None, ndim: int, path: object
) -> tuple[float, ...] | None:
    """The option wins over the file's metadata; a single value applies to every axis."""
    spacing = override if override is not None else stated
    if spacing is None:
        return None
    if len(spacing) == 1:
        return tuple(spacing) * ndim
    if len(spacing) != ndim:
        raise ShapeError(f"{path}: spacing {','.join(map(str, spacing))} has {len(spacing)} values for a {ndim}D image")
    return tuple(spacing)


def score_pair(pair: Pair, settings: ScoreSettings) -> Outcome:
    """Read and score one pair; an ``InputError`` becomes a ``Failure``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            values = _score_pair(pair, settings)
        except InputError as exc:
            return Failure(pair.name, str(exc), tuple(str(w.message) for w in caught))
        except MemoryError:
            return Failure(pair.name, f"{pair.gt}: out of memory while scoring")
    return Record(pair.name, values, tuple(str(w.message) for w in caught))


# Peak bytes per pixel beyond the decoded inputs, measured on a 4096x4096 pair (peak RSS of
# `segcli score --metrics GROUP --workers 1`, rounded up).
BYTES_PER_PIXEL = {"base": 6, "region": 2, "surface": 6, "losses": 48}


def estimate_memory(n_pixels: int, input_bytes: int, metrics: Iterable[str], num_classes: int | None) -> int:
    """Rough peak bytes to score one pair; the losses' float maps dominate."""
    from segcli.registry import MULTICLASS_BY_NAME

    groups = {MULTICLASS_BY_NAME[m].group if m in MULTICLASS_BY_NAME else "losses" for m in metrics}
    per_pixel = BYTES_PER_PIXEL["base"] + sum(BYTES_PER_PIXEL[g] for g in groups)
    if num_classes is not None and "losses" in groups:
        per_pixel += 8 * num_classes
    return input_bytes + n_pixels * per_pixel


def _check_memory(pair: Pair, settings: ScoreSettings, gt: np.ndarray, pred: np.ndarray | None) -> None:
    if settings.max_memory is None:
        return
    input_bytes = gt.nbytes + (pred.nbytes if pred is not None else 0)
    needed = estimate_memory(gt.size, input_bytes, settings.metrics, settings.num_classes)
    if needed > settings.max_memory:
        raise ResourceError(
            f"{pair.gt}: scoring {len(settings.metrics)} score(s) on shape {gt.shape} needs about "
            f"{needed / 2**30:.1f} GiB, over the {settings.max_memory / 2**30:.1f} GiB each pair may use; "
            "choose fewer scores (--metrics region,surface needs least), fewer --workers, or raise --max-memory"
        )


def _score_pair(pair: Pair, settings: ScoreSettings) -> dict[str, float]:
    gt_image = read_image(pair.gt)
    pred_image = read_image(pair.pred) if pair.pred is not None else None
    _check_memory(pair, settings, gt_image.array, pred_image.array if pred_image else None)
    spatial_ndim = gt_image.array.ndim
    spacing = resolve_spacing(
        settings.spacing_override,
        gt_image.spacing or (pred_image.spacing if pred_image else None),
        spatial_ndim,
        pair.gt,
    )
    options = settings.options if spacing == settings.options.spacing else _with_spacing(settings.options, spacing)
    if settings.num_classes is not None:
        from segcli.multiclass import score_multiclass_pair

        return score_multiclass_pair(pred_image, gt_image, settings, options)
    binary = binary_pair(
        pred_image.array if pred_image else None,
        gt_image.array,
        pred_kind=settings.pred_kind,
        threshold=settings.threshold,
        pred_path=pair.pred or "prediction",
        gt_path=pair.gt,
    )
    return compute_scores(BinaryBatch([binary], options), settings.metrics)[0]


def _with_spacing(options: ScoreOptions, spacing: tuple[float, ...] | None) -> ScoreOptions:
    from dataclasses import replace

    return replace(options, spacing=spacing)


def compute_scores(
    batch: BinaryBatch, metrics: Iterable[str], *, prefix: str = "", suffix: str = ""
) -> list[dict[str, float]]:
    """Every named score for every pair of the batch, as one dict per pair."""
    from segcli.registry import BY_NAME

    columns = {f"{prefix}{name}{suffix}": BY_NAME[name].compute(batch) for name in metrics}
    return [{key: float(values[i]) for key, values in columns.items()} for i in range(len(batch))]


def total_memory() -> int | None:
    """Physical memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def score_pairs(
    pairs: list[Pair],
    settings: ScoreSettings,
    *,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> Iterator[Outcome]:
    """Yield one outcome per pair, in the order given, scoring up to ``workers`` pairs at once."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(pairs) <= 1:
        for pair in pairs:
            yield score_pair(pair, settings)
            if on_done:
                on_done()
        return
    chunksize = max(1, min(16, len(pairs) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=min(workers, len(pairs))) as pool:
        for outcome in pool.map(score_pair, pairs, [settings] * len(pairs), chunksize=chunksize):
            yield outcome
            if on_done:
                on_done()


def as_array(values: Iterable[float]) -> np.ndarray:
    return np.fromiter(values, dtype=np.float64)
