"""Scoring pairs on a torch device (``--device cuda``; ``cpu`` runs the same path, for tests).

Worker processes read and interpret the pairs, as on the CPU, and compute only what has no device
form (the scores whose registry row says ``on_device=False``, object scores): ``segcli.run.pair``
hands their ``Prepared`` pairs here, in pair order. The main process stacks same-shaped pairs into
batches and scores them on the device: counts, losses, surface distances (exact transforms,
``segcli.engine.torch_distance``). Masks travel as bool; what comes back is one value per pair and score,
and the border distances of the surface scores (whose reductions and empty-mask conventions are
the CPU path's). A pair that fails on the device fails alone.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from segcli.run.outcomes import Failure, Outcome, Prepared, Record
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import compute_scores, lookup

if TYPE_CHECKING:
    from segcli.settings import ScoreSettings

# Pixels of one device batch, on a GPU: a share of the card's free memory at this many bytes per
# pixel (the distance transforms of both borders in float64, with their working copies), capped.
# A pair above it is scored alone. On the CPU (tests) a fixed budget.
DEVICE_BYTES_PER_PIXEL = 96
DEVICE_MEMORY_SHARE = 0.5
DEVICE_BATCH_PIXELS_CAP = 1 << 26
CPU_BATCH_PIXELS = 1 << 22


def device_batch_pixels(ops) -> int:
    """How many pixels one device batch may hold on ``ops``' device (a ``TorchOps``)."""
    if ops.device.type != "cuda":
        return CPU_BATCH_PIXELS
    free, _ = ops.torch.cuda.mem_get_info(ops.device)
    return int(min(DEVICE_BATCH_PIXELS_CAP, DEVICE_MEMORY_SHARE * free / DEVICE_BYTES_PER_PIXEL))


def score_on_device(
    prepared: Iterable[Prepared | Failure],
    settings: ScoreSettings,
    device: str,
    *,
    batch_size: int = 16,
    on_done: Callable[[], None] | None = None,
) -> Iterator[Outcome]:
    """One outcome per item of ``prepared`` (pairs the workers read, or their failures), in the
    same order: batches of same-shaped pairs scored on ``device``, each at most ``batch_size``
    pairs and ``device_batch_pixels`` pixels; a failure passes through."""
    from segcli.engine.backend import TorchOps

    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    ops = TorchOps(device)
    budget = device_batch_pixels(ops)
    device_metrics = [m for m in settings.metrics if lookup(m).on_device]
    batch: list[Prepared] = []

    def flush() -> Iterator[Outcome]:
        outcomes = _score_on_device(batch, device_metrics, settings, ops) if batch else []
        batch.clear()
        for outcome in outcomes:
            yield outcome
            if on_done:
                on_done()

    for item in prepared:
        if isinstance(item, Failure):
            yield from flush()
            yield item
            if on_done:
                on_done()
            continue
        if batch and (
            item.pair.hard.shape != batch[0].pair.hard.shape
            or item.options != batch[0].options
            or (len(batch) + 1) * item.pair.hard.size > budget
        ):
            yield from flush()
        batch.append(item)
        if len(batch) == batch_size:
            yield from flush()
    yield from flush()


def _score_on_device(batch: list[Prepared], metrics: list[str], settings: ScoreSettings, ops) -> list[Outcome]:
    """The outcomes of one batch scored on the device. A batch that fails is scored again pair
    by pair, so that only the pairs that fail alone become failures."""
    try:
        return _device_records(batch, metrics, settings, ops)
    except Exception as exc:  # the device failed the batch (out of memory, a bad pair)
        if ops.device.type == "cuda":
            ops.torch.cuda.empty_cache()
        if len(batch) > 1:
            return [outcome for prepared in batch for outcome in _score_on_device([prepared], metrics, settings, ops)]
        prepared = batch[0]
        where = prepared.meta.get("pred_path") or prepared.meta.get("gt_path") or prepared.name
        return [
            Failure(
                prepared.name,
                f"{where}: scoring on {ops.device} failed ({type(exc).__name__}: {str(exc).strip()[:200]})",
                prepared.warnings,
                detail=traceback.format_exc(),
            )
        ]


def _device_records(batch: list[Prepared], metrics: list[str], settings: ScoreSettings, ops) -> list[Record]:
    """Score ``metrics`` for the batch on the device; merge each pair's worker values, warnings
    (a warning of the batch goes to each of its pairs) and replaced empty distances."""
    device_batch = BinaryBatch([p.pair for p in batch], batch[0].options, ops=ops)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = compute_scores(device_batch, metrics)
    messages = tuple(dict.fromkeys(str(w.message) for w in caught))
    records = []
    for prepared, values, replaced_here in zip(batch, scores.values, scores.replaced, strict=True):
        merged = prepared.values | values
        ordered = {m: merged.pop(m) for m in settings.metrics if m in merged} | merged
        meta = prepared.meta
        if settings.options.empty_distance != "inf":
            replaced = set(meta.get("empty_distance", ())) | set(replaced_here)
            meta = meta | {"empty_distance": [m for m in settings.metrics if m in replaced]}
        warned = prepared.warnings + tuple(m for m in messages if m not in prepared.warnings)
        records.append(Record(prepared.name, ordered, warned, meta))
    return records
