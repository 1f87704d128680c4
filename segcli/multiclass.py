"""Multi-class scoring of one pair: every region and surface score per class, their mean over
the foreground classes present, and the multi-class losses.

Per class c the prediction and GT become the binary masks ``label == c`` with ignore-index pixels
removed from both, so ignored pixels take part in no count, border or distance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segcli.batch import BinaryBatch, MulticlassBatch, ScoreOptions
from segcli.errors import UsageError
from segcli.inputs import BinaryPair, multiclass_pair
from segcli.io import Image
from segcli.registry import EMPTY_DISTANCE_LOG, compute_scores

if TYPE_CHECKING:
    from segcli.pipeline import ScoreSettings


def select(spec: str | None) -> list[str]:
    from segcli.registry import select as select_scores

    return [s.name for s in select_scores(spec, multiclass=True)]


def scored_classes(settings: ScoreSettings) -> tuple[int, ...]:
    start = 0 if settings.include_background else 1
    return tuple(range(start, settings.num_classes))


def class_label(settings: ScoreSettings, c: int) -> str:
    return settings.class_names[c] if settings.class_names else str(c)


def _split(settings: ScoreSettings) -> tuple[list[str], list[str]]:
    from segcli.registry import lookup

    per_class = [m for m in settings.metrics if lookup(m, multiclass=True).group != "losses"]
    losses = [m for m in settings.metrics if lookup(m, multiclass=True).group == "losses"]
    return per_class, losses


def columns(settings: ScoreSettings) -> list[str]:
    """``<score>`` then ``<score>_<label>`` per scored class, for region and surface scores; then
    the multi-class losses."""
    per_class, losses = _split(settings)
    out: list[str] = []
    for name in per_class:
        out.append(name)
        out += [f"{name}_{class_label(settings, c)}" for c in scored_classes(settings)]
    return out + losses


def score_multiclass_pair(
    pred: Image | None, gt: Image, settings: ScoreSettings, options: ScoreOptions
) -> dict[str, float]:
    pair = multiclass_pair(
        pred.array if pred is not None else None,
        gt.array,
        num_classes=settings.num_classes,
        ignore_index=settings.ignore_index,
        pred_kind=settings.pred_kind,
        pred_path=pred.path if pred is not None else "prediction",
        gt_path=gt.path,
    )
    per_class, losses = _split(settings)
    values: dict[str, float] = {}
    foreground_present: list[int] = []
    for c in scored_classes(settings):
        hard = (pair.labels == c) & pair.valid
        target = (pair.target == c) & pair.valid
        if c != 0 and (hard.any() or target.any()):
            foreground_present.append(c)
        # Region and surface scores use only the hard masks, so the mask stands in for prob.
        batch = BinaryBatch([BinaryPair(prob=hard, hard=hard, target=target)], options, valid=pair.valid[None])
        values |= compute_scores(batch, per_class, suffix=f"_{class_label(settings, c)}")[0]
    foreground = [c for c in scored_classes(settings) if c != 0]
    averaged = foreground_present or foreground
    for name in per_class:
        keys = [f"{name}_{class_label(settings, c)}" for c in averaged]
        scores = [values[key] for key in keys]
        values[name] = float(np.mean(scores)) if scores else float("nan")
        touched = [key for key in keys if key in EMPTY_DISTANCE_LOG]
        if touched:
            EMPTY_DISTANCE_LOG.append(name)  # the mean over classes took a replaced distance
            if options.empty_distance == "nan":  # left out of the mean over the classes
                kept = [v for key, v in zip(keys, scores, strict=True) if key not in touched]
                values[name] = float(np.mean(kept)) if kept else float("nan")
    if losses:
        from segcli.registry import lookup

        batch = MulticlassBatch(
            [pair],
            options,
            num_classes=settings.num_classes,
            classes=scored_classes(settings),
            class_weights=settings.class_weights,
        )
        values |= {name: float(lookup(name, multiclass=True).compute(batch)[0]) for name in losses}
    return values


def load_class_weights(source: str, scheme: str, num_classes: int | None) -> tuple[float, ...]:
    """Class weights from a comma list, a JSON list, or the JSON of ``segcli classweights``."""
    path = Path(source)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--class-weights {source}: cannot read JSON ({exc})") from None
        if isinstance(document, dict):
            table = document.get("weights", {})
            if scheme not in table:
                raise UsageError(f"--class-weights {source}: no scheme {scheme!r}; has {', '.join(table) or 'none'}")
            document = table[scheme]
        weights = document
    else:
        try:
            weights = [float(part) for part in source.split(",")]
        except ValueError:
            raise UsageError(
                f"--class-weights: expected a JSON file or comma-separated numbers, got {source!r}"
            ) from None
    if not isinstance(weights, list) or not all(isinstance(w, (int, float)) for w in weights):
        raise UsageError(f"--class-weights {source}: expected a list of numbers")
    if num_classes is None:
        raise UsageError("--class-weights needs --num-classes")
    if len(weights) != num_classes:
        raise UsageError(f"--class-weights: {len(weights)} weights for --num-classes {num_classes}")
    return tuple(float(w) for w in weights)
