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

from segcli.errors import InputError, InvalidOption, ResourceError, ShapeError, ValueRangeError, option
from segcli.inputs.images import Image, read_image
from segcli.inputs.interpret import BinaryPair, binary_pair
from segcli.inputs.pairing import Pair
from segcli.run.outcomes import Failure, Outcome, Prepared, Record
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import EMPTY_DISTANCE_LOG, compute_scores
from segcli.settings import SPACING_RANGE, ScoreOptions, ScoreSettings, check_finite

SPACING_SOURCES = ("option", "gt", "pred", "default")


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


def pair_spacing(
    override: tuple[float, ...] | None,
    gt_spacing: tuple[float, ...] | None,
    pred_spacing: tuple[float, ...] | None,
    ndim: int,
    gt_path: object,
    pred_path: object,
    *,
    ignore_geometry: bool = False,
    gt_unit: str | None = None,
    pred_unit: str | None = None,
) -> tuple[tuple[float, ...], str]:
    """The spacing a pair is scored with and where it came from (``SPACING_SOURCES``).

    The option wins. Otherwise the files' spacings must agree (to a relative 1e-5) when both state
    one, else ``ShapeError`` (``ignore_geometry``: the GT's is used); a file that states none
    takes the other's; neither: 1 per axis. When both files state a length unit (``gt_unit``,
    ``pred_unit``, as ``segcli.inputs.images`` names them) the spacings are compared in physical length
    (1000 um agrees with 1 mm) and the pair is scored in the GT's spacing and unit; a unit stated
    by one file only, or by none, leaves the numbers compared as they are.
    """
    for name, unit in (("gt_unit", gt_unit), ("pred_unit", pred_unit)):
        if unit is not None and not isinstance(unit, str):
            raise TypeError(f"{name}: expected a unit name or None, got {unit!r}")
    if override is not None:
        return resolve_spacing(override, None, ndim, gt_path), "option"
    if gt_spacing is not None and pred_spacing is not None:
        gt_s = resolve_spacing(None, gt_spacing, ndim, gt_path)
        pred_s = resolve_spacing(None, pred_spacing, ndim, pred_path)
        scale = _unit_scale(pred_unit, gt_unit)
        converted = scale is not None and scale != 1.0  # both units stated, and different
        physical = tuple(v * scale for v in pred_s) if converted else pred_s
        same = all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(gt_s, physical, strict=True))
        if not same and not ignore_geometry:
            pred_text, gt_text = _spacing_text(pred_s), _spacing_text(gt_s)
            if converted:
                pred_text = f"{pred_text} {pred_unit} ({_spacing_text(physical)} {gt_unit})"
                gt_text = f"{gt_text} {gt_unit}"
            raise ShapeError(
                f"{pred_path}: spacing {pred_text} differs from {gt_path} spacing "
                f"{gt_text}; pass {option('spacing')} to choose (or {option('ignore_geometry')} for the GT's)"
            )
        return gt_s, "gt"
    if gt_spacing is not None:
        return resolve_spacing(None, gt_spacing, ndim, gt_path), "gt"
    if pred_spacing is not None:
        return resolve_spacing(None, pred_spacing, ndim, pred_path), "pred"
    return (1.0,) * ndim, "default"


def _unit_scale(unit: str | None, to_unit: str | None) -> float | None:
    if unit is None or to_unit is None:  # the common case: no import
        return None
    from segcli.inputs.volumes import unit_scale

    return unit_scale(unit, to_unit)


def _spacing_text(spacing: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in spacing)


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
    EMPTY_DISTANCE_LOG.clear()
    result = _capturing(_score_pair, pair, settings)
    if isinstance(result, Failure):
        return result
    (values, meta), caught = result
    return Record(pair.name, values, caught, _log_empty_distance(settings, meta))


def prepare_pair(pair: Pair, settings: ScoreSettings) -> Prepared | Failure:
    """Read and interpret one binary pair and compute what a device batch does not: the scores
    whose ``on_device`` is False (the U-Net and boundary-band weight-map losses) and the object
    scores; the rest are left for a device batch."""
    EMPTY_DISTANCE_LOG.clear()
    result = _capturing(_prepare_and_score_cpu, pair, settings)
    if isinstance(result, Failure):
        return result
    (binary, options, values, meta), caught = result
    return Prepared(pair.name, binary, options, values, caught, _log_empty_distance(settings, meta))


def _prepare_and_score_cpu(pair: Pair, settings: ScoreSettings):
    gt_image, pred_image, options, meta = _read_pair(pair, settings)
    with warnings.catch_warnings():
        if settings.objects == "instances":  # instance maps hold many values by design
            warnings.filterwarnings("ignore", message="a (ground truth|prediction) holds more than two values")
        binary = _binary_of(gt_image, pred_image, pair, settings)
    meta = {"pred_kind": binary.kind} | meta
    cpu_metrics = [m for m in settings.metrics if not _on_device(m)]
    values = compute_scores(BinaryBatch([binary], options), cpu_metrics)[0] if cpu_metrics else {}
    if settings.objects is not None:
        scores, rows = _object_values(gt_image, pred_image, binary, settings)
        values |= scores
        if settings.object_rows:
            meta = meta | {"objects": rows}
    return binary, options, values, meta


def _on_device(metric: str) -> bool:
    from segcli.scores.table import lookup

    return lookup(metric).on_device


# Peak bytes per pixel beyond the decoded inputs, measured on a 4096x4096 pair (peak RSS of
# `segcli score --metrics GROUP --workers 1`, rounded up).
BYTES_PER_PIXEL = {"base": 6, "region": 2, "surface": 6, "losses": 48}


def estimate_memory(n_pixels: int, input_bytes: int, metrics: Iterable[str], num_classes: int | None) -> int:
    """Rough peak bytes to score one pair; the losses' float maps dominate."""
    from segcli.scores.table import MULTICLASS_BY_NAME

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
            f"choose fewer scores ({option('metrics')} region,surface needs least), fewer {option('workers')}, "
            f"or raise {option('max_memory')}"
        )


def _read_pair(pair: Pair, settings: ScoreSettings):
    """Both images, checked against the memory budget, the options with this pair's spacing, and
    the record's ``meta`` (spacing and where it came from)."""
    stated = settings.spacing is None  # --spacing given: a file's broken tag does not matter
    gt_image = read_image(pair.gt, spacing=stated)
    pred_image = read_image(pair.pred, spacing=stated) if pair.pred is not None else None
    _check_memory(pair, settings, gt_image.array, pred_image.array if pred_image else None)
    ndim = gt_image.array.ndim
    if settings.num_classes is not None and pred_image is not None and pred_image.array.ndim == ndim + 1:
        pred_spacing = pred_image.spacing[-ndim:] if pred_image.spacing and len(pred_image.spacing) > ndim else None
    else:
        pred_spacing = pred_image.spacing if pred_image else None
    if pred_image is not None and pred_image.affine is not None and gt_image.affine is not None:
        from segcli.inputs.volumes import geometry_differences

        differences = geometry_differences(
            pred_image.array.shape,
            pred_spacing,
            pred_image.affine,
            gt_image.array.shape,
            gt_image.spacing,
            gt_image.affine,
            pred_unit=pred_image.unit,
            gt_unit=gt_image.unit,
        )
        if differences and not (settings.ignore_geometry and pred_image.array.shape == gt_image.array.shape):
            hint = (
                ""
                if differences[0].startswith("shape")
                else f"; pass {option('ignore_geometry')} to score with the GT's"
            )
            raise ShapeError(f"{pair.pred}: geometry differs from {pair.gt}: {'; '.join(differences)}{hint}")
    spacing, source = pair_spacing(
        settings.spacing,
        gt_image.spacing,
        pred_spacing,
        ndim,
        pair.gt,
        pair.pred or "prediction",
        ignore_geometry=settings.ignore_geometry,
        gt_unit=gt_image.unit,
        pred_unit=pred_image.unit if pred_image is not None else None,
    )
    if not all(SPACING_RANGE[0] <= v <= SPACING_RANGE[1] for v in spacing):
        raise ShapeError(
            f"{pair.gt}: spacing {','.join(f'{v:g}' for v in spacing)} outside "
            f"[{SPACING_RANGE[0]:g}, {SPACING_RANGE[1]:g}]"
        )
    options = settings.options if spacing == settings.options.spacing else _with_spacing(settings.options, spacing)
    meta = {
        "spacing": list(spacing),
        "spacing_source": source,
        "unit": _unit(source, settings, gt_image, pred_image),
        "pred_path": str(pair.pred) if pair.pred is not None else "",
        "gt_path": str(pair.gt),
    }
    return gt_image, pred_image, options, meta


def _unit(source: str, settings: ScoreSettings, gt_image: Image, pred_image: Image | None) -> str:
    """The unit of a pair's distances, from where its spacing came from (read with the file)."""
    if source == "default":
        return "px"
    if source == "option":
        return settings.spacing_unit or "unspecified"
    image = gt_image if source == "gt" else pred_image
    return (image.unit if image is not None else None) or "unspecified"


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
    raters = []
    for path in pair.raters:
        image = read_image(path, spacing=False)
        if image.array.shape != gt_image.array.shape:
            raise ShapeError(f"{path}: shape {image.array.shape} does not match {pair.gt} shape {gt_image.array.shape}")
        raters.append(image)
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
        values = score_multiclass_pair(pred_image, gt_image, settings, options)
        return values, {"pred_kind": kind} | meta
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
        values = compute_scores(BinaryBatch([binary], options), settings.metrics)[0]
        if settings.objects is not None:
            scores, rows = _object_values(gt_image, pred_image, binary, settings)
            values |= scores
            if settings.object_rows:
                meta = meta | {"objects": rows}
        if raters:
            from segcli.inputs.interpret import binary_ground_truth
            from segcli.run.raters import rater_scores

            masks = [binary_ground_truth(r.array, r.path) for r in raters]
            values |= rater_scores(binary, masks, options, settings.metrics, with_staple=settings.staple)
        return values, meta
    values: dict[str, float] = {}
    for threshold in settings.thresholds:
        hard = binary.prob >= threshold if binary.kind in ("prob", "logits") else binary.hard
        at = BinaryPair(prob=binary.prob, hard=hard, target=binary.target, kind=binary.kind)
        values |= compute_scores(BinaryBatch([at], options), settings.metrics, suffix=threshold_suffix(threshold))[0]
    return values, meta


def _object_values(gt_image: Image, pred_image: Image | None, binary: BinaryPair, settings: ScoreSettings):
    """The object scores of a pair and, with ``object_rows``, its per-object rows: instance label
    maps as they are, or the connected components of the GT and the hard prediction."""
    from segcli.scores import objects

    def labels(array, path, what):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", objects.BinaryInstancesWarning)
                return objects.label_objects(array, "instances", keep_ids=True)
        except objects.BinaryInstancesWarning:
            warnings.warn(
                f"{path}: one label over several separate regions is one object in --objects instances; "
                "--objects components counts each region",
                stacklevel=2,
            )
            return objects.label_objects(array, "instances", keep_ids=True)
        except (TypeError, ValueError) as exc:
            raise ValueRangeError(f"{path}: not an instance label map for the {what} ({exc})") from None

    if settings.objects == "instances":
        gt = labels(gt_image.array, gt_image.path, "ground truth")
        pred = labels(pred_image.array, pred_image.path, "prediction") if pred_image is not None else np.zeros_like(gt)
    else:
        connectivity = settings.connectivity
        gt = objects.label_objects(binary.target, "components", connectivity=connectivity)
        pred = objects.label_objects(binary.hard, "components", connectivity=connectivity)
    table = objects.overlap_table(gt, pred)
    scores = objects.scores_from_table(table, iou_threshold=settings.iou_threshold)
    values = {name: float(scores[name]) for name in settings.object_metrics}
    rows = []
    if settings.object_rows:
        for row in objects.object_table(gt, pred, iou_threshold=settings.iou_threshold, table=table):
            rows.append({k: (list(map(float, v)) if k == "centroid" else _plain(v)) for k, v in row.items()})
    return values, rows


def _plain(value):
    """numpy scalars as Python numbers (records travel as JSON)."""
    return value.item() if hasattr(value, "item") else value


def threshold_suffix(threshold: float) -> str:
    """The column suffix of a score at a threshold: ``dice@0.35``.

    >>> threshold_suffix(0.35000000000000003)
    '@0.35'
    """
    return f"@{threshold:.10g}"


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


def _with_spacing(options: ScoreOptions, spacing: tuple[float, ...] | None) -> ScoreOptions:
    from dataclasses import replace

    return replace(options, spacing=spacing)


def _log_empty_distance(settings: ScoreSettings, meta: dict) -> dict:
    if settings.options.empty_distance != "inf":
        meta = meta | {"empty_distance": list(dict.fromkeys(EMPTY_DISTANCE_LOG))}
    EMPTY_DISTANCE_LOG.clear()
    return meta
