"""Scoring many pairs: read, interpret, compute, stream one outcome per pair, in pair order.

On the CPU, pairs are spread over worker processes (reading and computing overlap across them);
each worker returns only the small record, so memory stays bounded by the pairs in flight. On a
GPU, worker processes read and interpret pairs while the main process scores batches of
same-shaped pairs on the device. A pair that cannot be scored yields a ``Failure`` naming the
file; the others go on.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from segcli.batch import BinaryBatch, ScoreOptions
from segcli.errors import InputError, ResourceError, ShapeError
from segcli.inputs import BinaryPair, PredKind, binary_pair
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


@dataclass(frozen=True)
class Prepared:
    """A binary pair read and interpreted, ready to join a batch (the GPU path)."""

    name: str
    pair: BinaryPair
    options: ScoreOptions
    values: dict[str, float]  # the scores the CPU worker already computed
    warnings: tuple[str, ...] = ()


def _capturing(work: Callable[[Pair, ScoreSettings], object], pair: Pair, settings: ScoreSettings):
    """Run ``work``; its warnings travel with the result, an ``InputError`` becomes a ``Failure``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = work(pair, settings)
        except InputError as exc:
            return Failure(pair.name, str(exc), tuple(str(w.message) for w in caught))
        except MemoryError:
            return Failure(pair.name, f"{pair.gt}: out of memory while scoring")
    return result, tuple(str(w.message) for w in caught)


def score_pair(pair: Pair, settings: ScoreSettings) -> Outcome:
    """Read and score one pair on the CPU."""
    result = _capturing(_score_pair, pair, settings)
    if isinstance(result, Failure):
        return result
    values, caught = result
    return Record(pair.name, values, caught)


def prepare_pair(pair: Pair, settings: ScoreSettings) -> Prepared | Failure:
    """Read and interpret one binary pair and compute its CPU-only scores (surface distances,
    weight-map losses); the rest are left for a device batch."""
    result = _capturing(_prepare_binary, pair, settings)
    if isinstance(result, Failure):
        return result
    (binary, options), caught = result
    cpu_metrics = [m for m in settings.metrics if not _on_device(m)]
    values = compute_scores(BinaryBatch([binary], options), cpu_metrics)[0] if cpu_metrics else {}
    return Prepared(pair.name, binary, options, values, caught)


def _on_device(metric: str) -> bool:
    from segcli.registry import BY_NAME

    return BY_NAME[metric].on_device


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


def _read_pair(pair: Pair, settings: ScoreSettings):
    """Both images, checked against the memory budget, and the options with this pair's spacing."""
    gt_image = read_image(pair.gt)
    pred_image = read_image(pair.pred) if pair.pred is not None else None
    _check_memory(pair, settings, gt_image.array, pred_image.array if pred_image else None)
    spacing = resolve_spacing(
        settings.spacing_override,
        gt_image.spacing or (pred_image.spacing if pred_image else None),
        gt_image.array.ndim,
        pair.gt,
    )
    options = settings.options if spacing == settings.options.spacing else _with_spacing(settings.options, spacing)
    return gt_image, pred_image, options


def _prepare_binary(pair: Pair, settings: ScoreSettings) -> tuple[BinaryPair, ScoreOptions]:
    gt_image, pred_image, options = _read_pair(pair, settings)
    binary = binary_pair(
        pred_image.array if pred_image else None,
        gt_image.array,
        pred_kind=settings.pred_kind,
        threshold=settings.threshold,
        pred_path=pair.pred or "prediction",
        gt_path=pair.gt,
    )
    return binary, options


def _score_pair(pair: Pair, settings: ScoreSettings) -> dict[str, float]:
    if settings.num_classes is not None:
        from segcli.multiclass import score_multiclass_pair

        gt_image, pred_image, options = _read_pair(pair, settings)
        return score_multiclass_pair(pred_image, gt_image, settings, options)
    binary, options = _prepare_binary(pair, settings)
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
    torch_device: str | None = None,
    batch_size: int = 16,
) -> Iterator[Outcome]:
    """Yield one outcome per pair, in the order given, scoring up to ``workers`` pairs at once.

    With a ``torch_device`` (``cuda:0``; ``cpu`` runs the same path with torch on the CPU, for
    tests) and binary mode, worker processes read the pairs and compute the CPU-only scores
    (surface distances, weight-map losses) while the main process scores batches of up to
    ``batch_size`` same-shaped pairs on the device (counts and the other losses).
    """
    workers = default_workers() if workers is None else workers
    if torch_device is not None and settings.num_classes is None:
        yield from _score_pairs_on_device(pairs, settings, workers, on_done, torch_device, batch_size)
        return
    if workers <= 1 or len(pairs) <= 1:
        for pair in pairs:
            yield score_pair(pair, settings)
            if on_done:
                on_done()
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(pairs))) as pool:
        for outcome in _bounded_map(pool, score_pair, pairs, settings, window=4 * workers):
            yield outcome
            if on_done:
                on_done()


def _bounded_map(pool: ProcessPoolExecutor, work, items: list, settings: ScoreSettings, window: int):
    """``pool.map`` in order, with at most ``window`` results in flight or waiting (bounded memory)."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(work, item, settings))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _score_pairs_on_device(
    pairs: list[Pair], settings: ScoreSettings, workers: int, on_done, device: str, batch_size: int
) -> Iterator[Outcome]:
    from segcli.backend import TorchOps

    ops = TorchOps(device)
    batch: list[Prepared] = []

    def flush() -> Iterator[Outcome]:
        if not batch:
            return
        device_metrics = [m for m in settings.metrics if _on_device(m)]
        scores = compute_scores(BinaryBatch([p.pair for p in batch], batch[0].options, ops=ops), device_metrics)
        for prepared, values in zip(batch, scores, strict=True):
            yield Record(prepared.name, prepared.values | values, prepared.warnings)
            if on_done:
                on_done()
        batch.clear()

    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for item in _bounded_map(pool, prepare_pair, pairs, settings, window=2 * batch_size + workers):
            if isinstance(item, Failure):
                yield from flush()
                yield item
                if on_done:
                    on_done()
                continue
            if batch and (item.pair.hard.shape != batch[0].pair.hard.shape or item.options != batch[0].options):
                yield from flush()
            batch.append(item)
            if len(batch) == batch_size:
                yield from flush()
        yield from flush()
