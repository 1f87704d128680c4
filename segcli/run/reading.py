"""Reading one pair's files: the GT, the prediction and every ``--rater``'s ground truth, each
checked beside the GT by one rule (``segcli.inputs.spacing.check_beside_gt``: geometry, spacing,
units), the shape, and the memory budget one pair may use.

A rater is read as a prediction is (its spacing and geometry from its header unless ``--spacing``
replaces them) and must agree with the GT as a prediction must; where the GT states no spacing
and the prediction does (the pair is then scored in the prediction's), with the prediction too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from segcli.errors import ResourceError, ShapeError, option
from segcli.inputs.images import Image, read_image
from segcli.inputs.pairing import Pair
from segcli.inputs.spacing import check_beside_gt, check_spacing_range, pair_spacing
from segcli.settings import ScoreOptions, ScoreSettings

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


def _check_memory(pair: Pair, settings: ScoreSettings, gt: np.ndarray, *others: np.ndarray | None) -> None:
    """``ResourceError`` when scoring the pair would need more than ``max_memory``; ``others``: the
    prediction (None: empty) and the raters' arrays, whose bytes count as the GT's do."""
    if settings.max_memory is None:
        return
    input_bytes = gt.nbytes + sum(array.nbytes for array in others if array is not None)
    needed = estimate_memory(gt.size, input_bytes, settings.metrics, settings.num_classes)
    if needed > settings.max_memory:
        raise ResourceError(
            f"{pair.gt}: scoring {len(settings.metrics)} score(s) on shape {gt.shape} needs about "
            f"{needed / 2**30:.1f} GiB, over the {settings.max_memory / 2**30:.1f} GiB each pair may use; "
            f"choose fewer scores ({option('metrics')} region,surface needs least), fewer {option('workers')}, "
            f"or raise {option('max_memory')}"
        )


def read_pair(pair: Pair, settings: ScoreSettings):
    """Both images, checked against the memory budget, the options with this pair's spacing, and
    the record's ``meta`` (spacing and where it came from)."""
    stated = settings.spacing is None  # --spacing given: a file's broken tag does not matter
    gt_image = read_image(pair.gt, spacing=stated)
    pred_image = read_image(pair.pred, spacing=stated) if pair.pred is not None else None
    _check_memory(pair, settings, gt_image.array, pred_image.array if pred_image else None)
    ndim = gt_image.array.ndim
    if pred_image is None:
        spacing, source = pair_spacing(settings.spacing, gt_image.spacing, None, ndim, pair.gt, "prediction")
    else:
        compared = pred_image
        if settings.num_classes is not None and pred_image.array.ndim == ndim + 1:  # a channel axis first
            stacked = pred_image.spacing
            compared = replace(pred_image, spacing=stacked[-ndim:] if stacked and len(stacked) > ndim else None)
        spacing, source = check_beside_gt(
            compared,
            gt_image,
            spacing=settings.spacing,
            ignore_geometry=settings.ignore_geometry,
            path=pair.pred,
            gt_path=pair.gt,
        )
    check_spacing_range(spacing, pair.gt)
    options = settings.options if spacing == settings.options.spacing else _with_spacing(settings.options, spacing)
    meta = {
        "spacing": list(spacing),
        "spacing_source": source,
        "unit": _unit(source, settings, gt_image, pred_image),
        "pred_path": str(pair.pred) if pair.pred is not None else "",
        "gt_path": str(pair.gt),
    }
    return gt_image, pred_image, options, meta


def read_raters(pair: Pair, settings: ScoreSettings, gt_image: Image, pred_image: Image | None, meta: dict):
    """The pair's raters (``pair.raters``), each read and checked beside the GT as the prediction
    is (``meta``: ``read_pair``'s), and the memory budget counted again with them."""
    stated = settings.spacing is None
    raters = []
    for path in pair.raters:
        image = read_image(path, spacing=stated)
        if image.array.shape != gt_image.array.shape:
            raise ShapeError(f"{path}: shape {image.array.shape} does not match {pair.gt} shape {gt_image.array.shape}")
        beside = [(gt_image, pair.gt)]
        if meta["spacing_source"] == "pred" and pred_image is not None:  # the pair is in the prediction's spacing
            beside.append((pred_image, pair.pred))
        for reference, reference_path in beside:
            check_beside_gt(
                image,
                reference,
                spacing=settings.spacing,
                ignore_geometry=settings.ignore_geometry,
                path=path,
                gt_path=reference_path,
            )
        raters.append(image)
    if raters:
        _check_memory(
            pair, settings, gt_image.array, pred_image.array if pred_image else None, *(r.array for r in raters)
        )
    return raters


def _unit(source: str, settings: ScoreSettings, gt_image: Image, pred_image: Image | None) -> str:
    """The unit of a pair's distances, from where its spacing came from (read with the file)."""
    if source == "default":
        return "px"
    if source == "option":
        return settings.spacing_unit or "unspecified"
    image = gt_image if source == "gt" else pred_image
    return (image.unit if image is not None else None) or "unspecified"


def _with_spacing(options: ScoreOptions, spacing: tuple[float, ...] | None) -> ScoreOptions:
    return replace(options, spacing=spacing)
