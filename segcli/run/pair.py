"""Scoring one pair: read both files, interpret them, compute every chosen score (binary or
multi-class), and return one outcome: a ``Record`` of numbers, or a ``Failure`` naming the file.

``ScoreSettings`` holds everything a worker needs; ``score_pair`` is what each worker process
(or Dask task) runs for each pair. Running many pairs (processes, a device, a cluster) is
``segcli.run.pipeline``'s business.
"""

from __future__ import annotations

import math
import traceback
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from segcli.errors import InputError, InvalidOption, ShapeError, ValueRangeError
from segcli.inputs.images import Image
from segcli.inputs.interpret import BinaryPair, binary_pair
from segcli.inputs.pairing import Pair
from segcli.run.outcomes import Failure, Outcome, Prepared, Record
from segcli.run.reading import read_pair as _read_pair
from segcli.run.reading import read_raters
from segcli.scores.batch import BinaryBatch
from segcli.scores.columns import threshold_suffix
from segcli.scores.table import compute_scores
from segcli.settings import ScoreOptions, ScoreSettings, check_finite


def _capturing(work: Callable[[Pair, ScoreSettings], object], pair: Pair, settings: ScoreSettings):
    """Run ``work``; its warnings travel with the result. Any exception becomes a ``Failure``
    naming the pair's file: one pair never costs the others."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = work(pair, settings)
        except InputError as exc:
            return Failure(pair.name, exc.marked, _messages(caught))  # options marked: each door spells them
        except MemoryError:
            return Failure(pair.name, f"{pair.gt}: out of memory while scoring", _messages(caught))
        except Exception as exc:  # one pair's unexpected error must not end the run
            where = pair.pred if pair.pred is not None else pair.gt
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return Failure(
                pair.name,
                f"{where}: unexpected error while scoring ({type(exc).__name__}{': ' + text if text else ''})",
                _messages(caught),
                detail=traceback.format_exc(),
            )
    return result, _messages(caught)


def _messages(caught) -> tuple[str, ...]:
    return tuple(str(w.message) for w in caught)


def score_pair(pair: Pair, settings: ScoreSettings) -> Outcome:
    """Read and score one pair on the CPU."""
    result = _capturing(_score_pair, pair, settings)
    if isinstance(result, Failure):
        return result
    (values, meta), caught = result
    return Record(pair.name, values, caught, meta)


def prepare_pair(pair: Pair, settings: ScoreSettings) -> Prepared | Failure:
    """Read and interpret one binary pair and compute what a device batch does not: the scores
    whose ``on_device`` is False (the U-Net and boundary-band weight-map losses) and the object
    scores; the rest are left for a device batch."""
    result = _capturing(_prepare_and_score_cpu, pair, settings)
    if isinstance(result, Failure):
        return result
    (binary, options, values, meta), caught = result
    return Prepared(pair.name, binary, options, values, caught, meta)


def _prepare_and_score_cpu(pair: Pair, settings: ScoreSettings):
    gt_image, pred_image, options, meta = _read_pair(pair, settings)
    with warnings.catch_warnings():
        if settings.objects == "instances":  # instance maps hold many values by design
            warnings.filterwarnings("ignore", message="a (ground truth|prediction) holds more than two values")
        binary = _binary_of(gt_image, pred_image, pair, settings)
    meta = {"pred_kind": binary.kind} | meta
    cpu_metrics = [m for m in settings.metrics if not _on_device(m)]
    values, replaced = {}, ()
    if cpu_metrics:
        scored = compute_scores(BinaryBatch([binary], options), cpu_metrics)
        values, replaced = scored.values[0], scored.replaced[0]
    if settings.objects is not None:
        scores, rows = _object_values(gt_image, pred_image, binary, settings)
        values |= scores
        if settings.object_rows:
            meta = meta | {"objects": rows}
    return binary, options, values, _with_replaced(meta, settings, replaced)


def _on_device(metric: str) -> bool:
    from segcli.scores.table import lookup

    return lookup(metric).on_device


def _prepare_binary(pair: Pair, settings: ScoreSettings) -> tuple[BinaryPair, ScoreOptions, dict]:
    gt_image, pred_image, options, meta = _read_pair(pair, settings)
    binary = _binary_of(gt_image, pred_image, pair, settings)
    return binary, options, {"pred_kind": binary.kind} | meta


def _binary_of(gt_image: Image, pred_image: Image | None, pair: Pair, settings: ScoreSettings) -> BinaryPair:
    return binary_pair(
        pred_image.array if pred_image else None,
        gt_image.array,
        pred_kind=settings.pred_kind,
        threshold=settings.threshold,
        pred_path=pair.pred or "prediction",
        gt_path=pair.gt,
    )


def _score_pair(pair: Pair, settings: ScoreSettings) -> tuple[dict[str, float], dict]:
    gt_image, pred_image, options, meta = _read_pair(pair, settings)
    raters = read_raters(pair, settings, gt_image, pred_image, meta)
    return score_images(gt_image, pred_image, options, meta, settings, raters=raters)


def score_images(
    gt_image: Image,
    pred_image: Image | None,
    options: ScoreOptions,
    meta: dict,
    settings: ScoreSettings,
    *,
    raters: list[Image] = (),
) -> tuple[dict[str, float], dict]:
    """Score one pair already read (``options`` carry its spacing): the values and the record's
    ``meta`` with ``pred_kind``. ``pred_image=None`` stands for an empty prediction."""
    pred_path = pred_image.path if pred_image is not None else "prediction"
    if settings.num_classes is not None:
        from segcli.inputs.interpret import multiclass_kind
        from segcli.run.per_class import score_multiclass_pair

        kind = "labels"
        if pred_image is not None:
            kind = multiclass_kind(
                pred_image.array, gt_image.array.shape, settings.num_classes, settings.pred_kind, pred_path
            )
        values, replaced = score_multiclass_pair(pred_image, gt_image, settings, options)
        return values, _with_replaced({"pred_kind": kind} | meta, settings, replaced)
    if gt_image.array.ndim not in (2, 3):
        raise ShapeError(
            f"{gt_image.path}: expected a 2-D or 3-D image in binary mode, got shape {gt_image.array.shape}"
        )
    with warnings.catch_warnings():
        if settings.objects == "instances":  # instance maps hold many values by design
            warnings.filterwarnings("ignore", message="a (ground truth|prediction) holds more than two values")
        binary = binary_pair(
            pred_image.array if pred_image is not None else None,
            gt_image.array,
            pred_kind=settings.pred_kind,
            threshold=settings.threshold,
            pred_path=pred_path,
            gt_path=gt_image.path,
        )
    meta = {"pred_kind": binary.kind} | meta
    if settings.thresholds is None:
        scored = compute_scores(BinaryBatch([binary], options), settings.metrics)
        values, replaced = scored.values[0], list(scored.replaced[0])
        if settings.objects is not None:
            scores, rows = _object_values(gt_image, pred_image, binary, settings)
            values |= scores
            if settings.object_rows:
                meta = meta | {"objects": rows}
        if raters:
            from segcli.inputs.interpret import binary_ground_truth
            from segcli.run.raters import rater_scores

            masks = [binary_ground_truth(r.array, r.path) for r in raters]
            rater_values, rater_replaced = rater_scores(
                binary, masks, options, settings.metrics, with_staple=settings.staple
            )
            values |= rater_values
            replaced += rater_replaced
        return values, _with_replaced(meta, settings, replaced)
    values, replaced = {}, []
    for threshold in settings.thresholds:
        hard = binary.prob >= threshold if binary.kind in ("prob", "logits") else binary.hard
        at = BinaryPair(prob=binary.prob, hard=hard, target=binary.target, kind=binary.kind)
        scored = compute_scores(BinaryBatch([at], options), settings.metrics, suffix=threshold_suffix(threshold))
        values |= scored.values[0]
        replaced += scored.replaced[0]
    return values, _with_replaced(meta, settings, replaced)


def _object_values(gt_image: Image, pred_image: Image | None, binary: BinaryPair, settings: ScoreSettings):
    """The object scores of a pair and, with ``object_rows``, its per-object rows: instance label
    maps as they are, or the connected components of the GT and the hard prediction."""
    from segcli.scores.object_labels import BinaryInstancesWarning, label_objects
    from segcli.scores.object_matching import overlap_table
    from segcli.scores.object_rows import ObjectBatch, compute_object_scores

    def labels(array, path, what):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", BinaryInstancesWarning)
                return label_objects(array, "instances", keep_ids=True)
        except BinaryInstancesWarning:
            warnings.warn(
                f"{path}: one label over several separate regions is one object in --objects instances; "
                "--objects components counts each region",
                stacklevel=2,
            )
            return label_objects(array, "instances", keep_ids=True)
        except (TypeError, ValueError) as exc:
            raise ValueRangeError(f"{path}: not an instance label map for the {what} ({exc})") from None

    if settings.objects == "instances":
        gt = labels(gt_image.array, gt_image.path, "ground truth")
        pred = labels(pred_image.array, pred_image.path, "prediction") if pred_image is not None else np.zeros_like(gt)
    else:
        connectivity = settings.connectivity
        gt = label_objects(binary.target, "components", connectivity=connectivity)
        pred = label_objects(binary.hard, "components", connectivity=connectivity)
    table = overlap_table(gt, pred)
    values = compute_object_scores(ObjectBatch([table], settings.iou_threshold), settings.object_metrics)[0]
    rows = []
    if settings.object_rows:
        from segcli.scores.object_errors import object_table

        for row in object_table(gt, pred, iou_threshold=settings.iou_threshold, table=table):
            rows.append({k: (list(map(float, v)) if k == "centroid" else _plain(v)) for k, v in row.items()})
    return values, rows


def _plain(value):
    """numpy scalars as Python numbers (records travel as JSON)."""
    return value.item() if hasattr(value, "item") else value


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``START:STOP:STEP`` (STOP included) or a comma list, each in [0, 1].

    >>> parse_thresholds("0.1:0.3:0.1")
    (0.1, 0.2, 0.3)
    """
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(step)) or step <= 0:
                raise InvalidOption("thresholds", f"expected START:STOP:STEP with a step > 0, got {text!r}")
            if stop < start:
                raise InvalidOption("thresholds", f"STOP must not be below START, got {text!r}")
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            if count > 10_000:
                raise InvalidOption("thresholds", f"{count} thresholds; at most 10000")
            values = tuple(round(start + i * step, 12) for i in range(count))
        else:
            values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InvalidOption(
            "thresholds", f"expected START:STOP:STEP or a comma list of numbers, got {text!r}"
        ) from None
    for value in values:
        check_finite("thresholds", value, low=0.0, high=1.0)
    return tuple(dict.fromkeys(values))


def _with_replaced(meta: dict, settings: ScoreSettings, replaced: Iterable[str]) -> dict:
    """The record's ``meta`` with, under a policy other than inf, the columns whose distance
    ``--empty-distance`` replaced (each once)."""
    if settings.options.empty_distance != "inf":
        meta = meta | {"empty_distance": list(dict.fromkeys(replaced))}
    return meta
