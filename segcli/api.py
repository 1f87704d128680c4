"""segcli from Python: score arrays and files, summarise records, weight maps, class weights.

Every function takes numpy arrays or torch tensors (moved to the CPU; torch itself is never
imported here) and returns Python floats or numpy arrays. Options have the CLI's names without
dashes (``nsd_tolerance``, ``focal_gamma``, ``ignore_index``, ...) and the CLI's defaults, and a
value is read exactly as the CLI reads the same data from a file: :func:`score` on two arrays
equals the record ``segcli score`` writes for two files holding them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np

from segcli.api_checks import (
    as_array,
    check_types,
    empty_distance_value,
    is_int,
    label_counts,
    spacing_per_axis,
    spacing_values,
)
from segcli.settings import SCORE_PARAMETERS, default

__all__ = ["score", "score_files", "summarize", "weight_map", "class_weights", "SCORE_OPTIONS"]

# Options of score() / score_files() that set a score's parameter, and the ScoreOptions field each
# one sets: the same name (one name everywhere: the CLI's flag without dashes, the settings field).
SCORE_OPTIONS = {name: name for name in SCORE_PARAMETERS}
# Options about reading the inputs and the mode (their defaults: segcli.settings.default).
READ_OPTIONS = (
    "pred_kind",
    "threshold",
    "ignore_index",
    "include_background",
    "class_names",
    "class_weights",
    "combine",
    "thresholds",
    "labels",  # an nnU-Net dataset.json naming and choosing the classes (as --labels)
    "ignore_geometry",  # files whose headers' geometry differs are scored (as --ignore-geometry)
)


def _settings(metrics, num_classes, options: dict):
    """ScoreSettings from the API's keyword options (``build_settings``, as the CLI's); unknown
    names are a TypeError naming them, a bad value a ValueError naming its option."""
    from segcli.errors import UsageError
    from segcli.run.build import build_settings

    unknown = sorted(set(options) - set(SCORE_OPTIONS) - set(READ_OPTIONS))
    if unknown:
        known = ", ".join(sorted({*SCORE_OPTIONS, *READ_OPTIONS}))
        raise TypeError(f"unexpected option(s) {', '.join(unknown)}; known: {known}")
    check_types(metrics, options)
    if num_classes is not None and (not isinstance(num_classes, (int, np.integer)) or num_classes < 2):
        raise ValueError(f"num_classes: expected an integer >= 2 (None for binary scoring), got {num_classes!r}")
    spec = metrics if isinstance(metrics, str) else ",".join(metrics)
    named = dict(options)
    if "empty_distance" in named:
        named["empty_distance"] = empty_distance_value(named["empty_distance"])
    for name in ("class_names", "class_weights"):
        if named.get(name) is not None:
            named[name] = tuple(named[name])
    try:
        return build_settings(spec, num_classes=None if num_classes is None else int(num_classes), **named)
    except UsageError as exc:  # InvalidOption too: its message names the option as the API spells it
        raise ValueError(str(exc)) from None


def score(pred, target, metrics: str | Sequence[str] = default("metrics"), *, spacing=None,
          num_classes: int | None = None, **options) -> dict[str, float]:  # fmt: skip
    """Every chosen score of one prediction against its ground truth.

    Parameters
    ----------
    pred : array_like or torch.Tensor
        One 2-D or 3-D prediction (no batch axis): a mask (bool or integer), probabilities
        (floats in [0, 1]), logits (floats with negative values), or, with ``num_classes``, a
        label map or K channels first. Read by the same rule as ``segcli score --pred-kind auto``.
    target : array_like or torch.Tensor
        The ground truth: foreground ``> 0`` (binary), or a label map (with ``num_classes``).
    metrics : str or sequence of str
        Score and group names (``"dice,hd95"``, ``["region", "surface"]``); ``"default"`` (the
        default) is every score but the opt-in ones (``fbeta``), ``"all"`` every score.
    spacing : float or sequence of float, optional
        Voxel spacing in array axis order (default 1 per axis); distances are in its units.
    num_classes : int, optional
        Multi-class mode with K >= 2 classes: per-class columns ``<score>_<label>`` and their mean.
    **options
        The CLI's options without dashes: ``nsd_tolerance``, ``focal_alpha``, ``focal_gamma``,
        ``tversky_alpha``, ``tversky_beta``, ``focal_tversky_gamma``, ``pos_weight``, ``w0``,
        ``sigma``, ``smooth``, ``dice_gamma``, ``empty_distance``, ``combine``, ``thresholds``,
        ``pred_kind``, ``threshold``, ``ignore_index``, ``include_background``, ``class_names``,
        ``class_weights``, ``labels`` (an nnU-Net ``dataset.json`` naming and choosing the
        classes; multi-class mode), ``ignore_geometry`` (files only).

    Returns
    -------
    dict of str to float
        One value per column, as ``segcli score`` writes them.

    Raises
    ------
    ValueError
        A bad option value, shapes that differ, values the chosen reading does not allow (NaN in
        the ground truth, labels beyond K); the message names the argument.
    TypeError
        An unknown option, or inputs that are not numeric arrays.

    Examples
    --------
    >>> import numpy as np
    >>> import segcli
    >>> gt = np.zeros((8, 8), bool); gt[2:6, 2:6] = True
    >>> pred = np.roll(gt, 1, axis=1)
    >>> scores = segcli.score(pred, gt, "dice,hd95")
    >>> round(scores["dice"], 4), scores["hd95"]
    (0.75, 1.0)
    """
    values, _ = _score_arrays(pred, target, metrics, spacing, num_classes, options)
    return values


def _score_arrays(pred, target, metrics, spacing, num_classes, options) -> tuple[dict[str, float], dict]:
    from segcli.errors import InputError
    from segcli.inputs.images import Image
    from segcli.run.pair import score_images

    pred_array = as_array(pred, "pred")
    target_array = as_array(target, "target")
    if target_array.ndim not in (2, 3):
        raise ValueError(f"target: expected one 2-D or 3-D image (no batch axis), got shape {target_array.shape}")
    settings = _settings(metrics, num_classes, options)
    source = "default" if spacing is None else "option"
    spacing = spacing_per_axis(spacing, target_array.ndim)
    from dataclasses import replace

    score_options = replace(settings.options, spacing=spacing)
    meta = {"spacing": list(spacing), "spacing_source": source}
    try:
        return score_images(
            Image(array=target_array, spacing=None, path=Path("target")),
            Image(array=pred_array, spacing=None, path=Path("pred")),
            score_options,
            meta,
            settings,
        )
    except InputError as exc:
        raise ValueError(str(exc)) from None


def score_files(
    pred: str | Path,
    gt: str | Path,
    metrics: str | Sequence[str] = default("metrics"),
    *,
    spacing=None,
    num_classes: int | None = None,
    workers: int | None = default("workers", "library"),
    missing: str = default("missing"),
    pred_suffix: str = default("pred_suffix"),
    gt_suffix: str = default("gt_suffix"),
    **options,
) -> Iterator[dict]:
    """The records ``segcli score PRED GT`` writes, one dict per pair, in name order.

    Parameters
    ----------
    pred, gt : str or Path
        A file each, or directories searched recursively and matched by relative path; local
        paths or fsspec URLs (``s3://bucket/pred/``, ``file://``, ``memory://``).
    metrics, num_classes, **options
        As for :func:`score`.
    spacing : float or sequence of float, optional
        Overrides the files' own spacing (as ``--spacing``).
    workers : int, optional
        Worker processes (default 1: this process; None: every core).
    missing : {"error", "skip", "empty"}
        Unmatched files, as ``--missing``.
    pred_suffix, gt_suffix : str
        Suffixes removed from names before matching (nnU-Net: ``gt_suffix="_0000"``).

    Yields
    ------
    dict
        ``{"name": ..., <score>: float, ..., "pred_kind": ..., "spacing": [...],
        "spacing_source": ..., "pred_path": ..., "gt_path": ...}``; a pair that could not be
        scored yields ``{"name": ..., "error": message}`` instead (never dropped).

    Examples
    --------
    >>> import segcli
    >>> records = list(segcli.score_files("sample_data/pred", "sample_data/gt", "dice"))  # doctest: +SKIP
    """
    from dataclasses import replace

    from segcli.errors import UsageError, spelled
    from segcli.inputs.pairing import pair_files
    from segcli.results.formats import META_COLUMNS
    from segcli.run.outcomes import Failure
    from segcli.run.pipeline import score_pairs

    settings = _settings(metrics, num_classes, options)
    if spacing is not None:
        values = spacing_values(spacing)
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"spacing: expected positive finite values, got {spacing!r}")
        settings = replace(settings, spacing=values)
    if workers is not None and (not is_int(workers) or workers < 1):
        raise ValueError(f"workers: expected an integer >= 1 or None, got {workers!r}")
    from segcli.inputs.remote import Url

    for name, value in (("pred", pred), ("gt", gt)):
        if not isinstance(value, (str, Path, Url)):
            raise TypeError(f"{name}: expected a path or URL, got {type(value).__name__}")
    try:
        pairing = pair_files(pred, gt, pred_suffix=pred_suffix, gt_suffix=gt_suffix, missing=missing)
    except UsageError as exc:  # a missing folder, unmatched files: named as the CLI names them
        raise ValueError(str(exc)) from None
    for outcome in score_pairs(pairing.pairs, settings, workers=workers):
        if isinstance(outcome, Failure):
            yield {"name": outcome.name, "error": spelled(outcome.message)}  # options as the API names them
        else:
            yield {"name": outcome.name} | outcome.values | {k: outcome.meta.get(k) for k in META_COLUMNS}


def summarize(records: Iterable[dict]) -> dict[str, dict[str, float]]:
    """Per score column: mean, std (population), median, min, max and the count of non-finite
    values over the records (failure records left out), as the CLI's summary. A value may be a
    Python or numpy number (a 0-dim array or tensor: the number it holds).

    Examples
    --------
    >>> summarize([{"name": "a", "dice": 0.5}, {"name": "b", "dice": 1.0}])["dice"]["mean"]
    0.75
    """
    from segcli.results.formats import META_COLUMNS
    from segcli.results.summary import summarize as summarize_rows
    from segcli.settings import plain_number

    skip = {"name", "nonfinite", *META_COLUMNS, "empty_distance"}
    # numpy scalars (np.float32 scores of one's own) count as the numbers they hold
    rows = [{k: v if k in skip else plain_number(v) for k, v in r.items()} for r in records if "error" not in r]
    columns = list(
        dict.fromkeys(k for r in rows for k, v in r.items() if k not in skip and isinstance(v, (int, float)))
    )
    return summarize_rows(columns, rows)


def weight_map(mask, kind: str = default("kind"), *, w0: float = default("w0"), sigma: float = default("sigma"),
               spacing=None, connectivity: int = default("connectivity", "weightmap"),
               class_weights=default("class_weights", "weightmap")) -> np.ndarray:  # fmt: skip
    """The map ``segcli weightmap`` writes for one mask, label or instance image (float32).

    Parameters
    ----------
    mask : array_like or torch.Tensor
        2-D or 3-D: a binary mask (split into connected components for ``unet``), an instance or
        a label image (non-negative integers).
    kind : {"unet", "sdf", "boundary", "distance"}
        U-Net border weights, the Kervadec signed distance (a channel per class for a label map),
        or the weight maps of boundary_bce and distmap_bce.
    w0, sigma : float
        The U-Net border term ``w0 exp(-(d1 + d2)^2 / (2 sigma^2))``, sigma in spacing units.
    spacing : float or sequence of float, optional
        Voxel spacing in array axis order (default 1).
    connectivity : {1, 2}
        Connected components of a binary mask: 1 = 4/6 neighbours, 2 = 8/26.
    class_weights : "uniform", "balanced" or (w_bg, w_fg)
        The U-Net class term ``w_c``.

    Examples
    --------
    >>> import numpy as np
    >>> cells = np.zeros((12, 12), np.uint8); cells[2:5, 2:5] = 1; cells[2:5, 7:10] = 2
    >>> weights = weight_map(cells, "unet", w0=10, sigma=5)
    >>> bool(weights[3, 6] > weights[11, 11] >= 1.0)  # the gap between cells weighs most
    True
    """
    from segcli.engine.maps import map_for_image

    array = as_array(mask, "mask")
    if array.ndim not in (2, 3):
        raise ValueError(f"mask: expected a 2-D or 3-D image, got shape {array.shape}")
    if array.dtype == bool:
        array = array.view(np.uint8)
    spacing = None if spacing is None else spacing_per_axis(spacing, array.ndim)
    weights = class_weights if isinstance(class_weights, str) else np.asarray(class_weights, dtype=np.float64)
    return map_for_image(
        array, kind, w0=w0, sigma=sigma, class_weights=weights, connectivity=connectivity, spacing=spacing
    )


def class_weights(labels_or_counts, scheme: str = default("class_weight_scheme"), *, num_classes: int | None = None,
                  ignore_index: int | None = default("ignore_index"),
                  beta: float = default("beta")) -> np.ndarray:  # fmt: skip
    """Class weights for a weighted loss, as ``segcli classweights`` computes them.

    Parameters
    ----------
    labels_or_counts : array_like, sequence of arrays, or 1-D counts
        Label images (one array, or a list of them: pixel counts per class are summed, the
        ``ignore_index`` excluded), or a 1-D vector of pixel counts per class (floats or ints).
        A list of arrays counts images for the median scheme; a counts vector is one "image".
    scheme : {"inverse", "balanced", "median", "enet", "effective"}
    num_classes : int, optional
        K (default: the largest label + 1).
    ignore_index : int or None
        A label counted in no class.
    beta : float
        The effective-number scheme's beta.

    Examples
    --------
    >>> class_weights([90, 10], "balanced").tolist()
    [0.5555555555555556, 5.0]
    """
    from segcli import classweights as cw

    if scheme not in cw.SCHEMES:
        raise ValueError(f"scheme: expected one of {cw.SCHEMES}, got {scheme!r}")
    if isinstance(labels_or_counts, (list, tuple)) and labels_or_counts and np.ndim(labels_or_counts[0]) >= 2:
        images = [as_array(a, "labels_or_counts") for a in labels_or_counts]
    else:
        array = as_array(labels_or_counts, "labels_or_counts")
        images = None if array.ndim == 1 else [array]
    if images is None:
        counts = array.astype(np.float64)
        if (counts < 0).any() or not np.isfinite(counts).all():
            raise ValueError("labels_or_counts: counts must be finite and >= 0")
        if num_classes is not None and counts.size != num_classes:
            raise ValueError(f"num_classes: {num_classes}, but {counts.size} counts")
        total = counts.sum()
        present = np.where(counts > 0, total, 0)
    else:
        per_image = [label_counts(a, ignore_index) for a in images]
        k = num_classes or max(c.size for c in per_image)
        if any(c.size > k for c in per_image):
            raise ValueError(f"labels_or_counts: a label >= num_classes {k}")
        counts = np.zeros(k)
        present = np.zeros(k)
        for c in per_image:
            counts[: c.size] += c
            present[: c.size] += np.where(c > 0, c.sum(), 0)
    found = cw.ClassCounts(counts=counts, present_pixels=present, n_images=1 if images is None else len(images))
    return cw.class_weights(found, [scheme], beta=beta)[scheme]


def _score_options_defaults() -> dict[str, object]:
    """The default of every score option, from the one place it lives (ScoreOptions)."""
    from segcli.settings import ScoreOptions

    defaults = {f.name: f.default for f in fields(ScoreOptions)}
    return {name: defaults[field] for name, field in SCORE_OPTIONS.items()}
