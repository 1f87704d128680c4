"""Multi-class scoring of one pair: every region and surface score per class, their mean over
the classes present (the foreground classes; class 0 too with ``include_background``), and the
multi-class losses.

Per class c the prediction and GT become the binary masks ``label == c`` with ignore-index pixels
removed from both, so ignored pixels take part in no count, border or distance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segcli.errors import UsageError, option
from segcli.inputs.images import Image
from segcli.inputs.interpret import BinaryPair, multiclass_pair
from segcli.inputs.regular import not_regular
from segcli.scores import columns as column_names
from segcli.scores.batch import BinaryBatch, MulticlassBatch
from segcli.scores.table import compute_scores
from segcli.settings import ScoreOptions

if TYPE_CHECKING:
    from segcli.settings import ScoreSettings


def select(spec: str | None) -> list[str]:
    from segcli.scores.table import select as select_scores

    return [s.name for s in select_scores(spec, multiclass=True)]


def scored_classes(settings: ScoreSettings) -> tuple[int, ...]:
    if settings.class_labels is not None:
        return tuple(values[0] for _, values in _chosen_labels(settings))
    start = 0 if settings.include_background else 1
    return tuple(range(start, settings.num_classes))


def class_label(settings: ScoreSettings, c: int) -> str:
    if settings.class_labels is not None:
        # unreachable today: _class_masks calls class_label only without --labels
        return next(name for name, values in settings.class_labels if values == (c,))  # pragma: no mutate
    return settings.class_names[c] if settings.class_names else str(c)


def _chosen_labels(settings: ScoreSettings) -> list[tuple[str, tuple[int, ...]]]:
    """--labels: the named classes scored (the background, label 0, only with --include-background)."""
    return [(n, v) for n, v in settings.class_labels if settings.include_background or v != (0,)]


def _class_masks(settings: ScoreSettings) -> list[tuple[str, tuple[int, ...]]]:
    """Each scored class: its column label and the label values it is made of (a region: several)."""
    if settings.class_labels is not None:
        return _chosen_labels(settings)
    return [(class_label(settings, c), (c,)) for c in scored_classes(settings)]


def has_regions(settings: ScoreSettings) -> bool:
    return settings.class_labels is not None and any(len(v) > 1 for _, v in settings.class_labels)


def _split(settings: ScoreSettings) -> tuple[list[str], list[str]]:
    from segcli.scores.table import lookup

    per_class = [m for m in settings.metrics if lookup(m, multiclass=True).group != "losses"]
    losses = [m for m in settings.metrics if lookup(m, multiclass=True).group == "losses"]
    return per_class, losses


def columns(settings: ScoreSettings) -> list[str]:
    """``<score>`` then ``<score>_<label>`` per scored class, for region and surface scores; then
    the multi-class losses."""
    per_class, losses = _split(settings)
    if losses and has_regions(settings):
        raise UsageError(
            f"{option('labels')}: regions (classes of several labels) overlap, so the multi-class losses "
            f"({', '.join(losses)}) do not apply; choose region and surface scores"
        )
    out: list[str] = []
    for name in (*per_class, *settings.object_metrics):
        out.append(name)
        out += [column_names.per_class(name, label) for label, _ in _class_masks(settings)]
    return out + losses


def check_columns(settings: ScoreSettings, object_metrics: Sequence[str] | None = None) -> None:
    """Refuse, before any work, class names that would not give unique columns (``--class-names``
    or the ``--labels`` names of the scored classes) with the run's scores and ``object_metrics``
    (default: the settings'): see ``segcli.scores.columns.check_class_names``."""
    if settings.num_classes is None:
        return
    per_class, losses = _split(settings)
    objects = settings.object_metrics if object_metrics is None else tuple(object_metrics)
    source = "labels" if settings.class_labels is not None else "class_names"
    labels = [label for label, _ in _class_masks(settings)]
    column_names.check_class_names(labels, (*per_class, *objects), losses, option=source)


def score_multiclass_pair(
    pred: Image | None, gt: Image, settings: ScoreSettings, options: ScoreOptions
) -> tuple[dict[str, float], list[str]]:
    """The columns of one pair, and those whose distance ``--empty-distance`` replaced (a class's
    column, and the mean over classes that took it)."""
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
    replaced: list[str] = []
    present: list[str] = []
    classes = _class_masks(settings)
    # <score> averages the foreground classes, and class 0 too with --include-background
    averaged_classes = [label for label, members in classes if settings.include_background or members != (0,)]
    for label, members in classes:
        hard = _member_mask(pair.labels, members) & pair.valid
        target = _member_mask(pair.target, members) & pair.valid
        if label in averaged_classes and (hard.any() or target.any()):
            present.append(label)
        # Region and surface scores use only the hard masks, so the mask stands in for prob.
        batch = BinaryBatch([BinaryPair(prob=hard, hard=hard, target=target)], options, valid=pair.valid[None])
        scored = compute_scores(batch, per_class, suffix=column_names.per_class("", label))
        values |= scored.values[0]
        replaced += scored.replaced[0]
    if settings.objects is not None:
        values |= _object_values(pair, classes, settings)
    averaged = present or averaged_classes
    for name in (*per_class, *settings.object_metrics):
        keys = [column_names.per_class(name, label) for label in averaged]
        scores = [values[key] for key in keys]
        values[name] = float(np.mean(scores)) if scores else float("nan")
        touched = [key for key in keys if key in replaced]
        if touched:
            replaced.append(name)  # the mean over classes took a replaced distance
            if options.empty_distance == "nan":  # left out of the mean over the classes
                kept = [v for key, v in zip(keys, scores, strict=True) if key not in touched]
                values[name] = float(np.mean(kept)) if kept else float("nan")
    if losses:
        from segcli.scores.table import lookup

        batch = MulticlassBatch(
            [pair],
            options,
            num_classes=settings.num_classes,
            classes=scored_classes(settings),
            class_weights=settings.class_weights,
        )
        values |= {name: float(lookup(name, multiclass=True).compute(batch)[0]) for name in losses}
    return values, replaced


def _object_values(pair, classes, settings: ScoreSettings) -> dict[str, float]:
    """Object scores of each class: the connected components of its GT and predicted masks."""
    from segcli.scores.object_labels import label_objects
    from segcli.scores.object_matching import overlap_table
    from segcli.scores.object_rows import ObjectBatch, compute_object_scores

    values: dict[str, float] = {}
    for label, members in classes:
        gt = label_objects(_member_mask(pair.target, members) & pair.valid, "components",
                           connectivity=settings.connectivity)  # fmt: skip
        pred = label_objects(_member_mask(pair.labels, members) & pair.valid, "components",
                             connectivity=settings.connectivity)  # fmt: skip
        batch = ObjectBatch([overlap_table(gt, pred)], settings.iou_threshold)
        values |= compute_object_scores(batch, settings.object_metrics, suffix=column_names.per_class("", label))[0]
    return values


def _member_mask(labels: np.ndarray, members: tuple[int, ...]) -> np.ndarray:
    return labels == members[0] if len(members) == 1 else np.isin(labels, members)


def load_labels(source: Path) -> tuple[tuple[tuple[str, tuple[int, ...]], ...], int, int | None]:
    """The classes of an nnU-Net ``dataset.json``: ``"labels": {"background": 0, "liver": 1}``,
    a region as a list of labels (``"tumor": [1, 2]``), ``"ignore"`` the ignore label.

    Returns the (name, labels) of each class in the file's order, the number of label values
    (the largest label but the ignore label, plus one) and the ignore label (or None).
    """
    from segcli.settings import MAX_CLASSES

    if (kind := not_regular(source)) is not None:
        raise UsageError(f"{option('labels')} {source}: is {kind}, not a regular file")
    try:
        document = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{option('labels')} {source}: cannot read JSON ({_first_line(exc)})") from None
    table = document.get("labels") if isinstance(document, dict) else None
    if not isinstance(table, dict) or not table:
        raise UsageError(
            f'{option("labels")} {source}: expected a "labels" object such as {{"background": 0, "liver": 1}}'
        )
    classes: list[tuple[str, tuple[int, ...]]] = []
    ignore = None
    for name, value in table.items():
        members = value if isinstance(value, list) else [value]
        if not members or not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in members):
            raise UsageError(
                f"{option('labels')} {source}: label {name!r} is {value!r}; expected a label >= 0 or a list of them"
            )
        if max(members) >= MAX_CLASSES:
            raise UsageError(
                f"{option('labels')} {source}: label {name!r} is {value!r}; labels go up to {MAX_CLASSES - 1}"
            )
        if name == "ignore":
            if len(members) != 1:
                raise UsageError(f"{option('labels')} {source}: the ignore label must be one label, got {value!r}")
            ignore = members[0]
            continue
        if not name or "," in name:
            raise UsageError(f"{option('labels')} {source}: class name {name!r} cannot be a column name")
        members = tuple(sorted(set(members)))
        if any(members == seen for _, seen in classes):
            raise UsageError(f"{option('labels')} {source}: {name!r} has the labels of another class ({value!r})")
        classes.append((str(name), members))
    if not any(members != (0,) for _, members in classes):
        raise UsageError(f"{option('labels')} {source}: no class besides the background")
    if ignore is not None and any(ignore in members for _, members in classes):
        raise UsageError(f"{option('labels')} {source}: the ignore label {ignore} is also a class")
    num_classes = max(max(members) for _, members in classes) + 1
    return tuple(classes), max(num_classes, 2), ignore


def labels_for_settings(
    source: Path, *, num_classes: int | None, class_names: str | None, ignore_index: int | None
) -> tuple[tuple[tuple[str, tuple[int, ...]], ...], int, int | None]:
    """--labels: the classes, the class count and the ignore label of a dataset.json; a
    --num-classes or --ignore-index given too must agree with it, --class-names must be absent."""
    if class_names is not None:
        raise UsageError(f"{option('labels')} names the classes already; leave out {option('class_names')}")
    classes, count, ignore = load_labels(source)
    if num_classes is not None and num_classes != count:
        raise UsageError(
            f"{option('labels')} {source} has labels 0..{count - 1}, not {option('num_classes')} {num_classes}"
        )
    if ignore is not None and ignore_index is not None and ignore != ignore_index:
        raise UsageError(
            f"{option('labels')} {source} ignores label {ignore}, not {option('ignore_index')} {ignore_index}"
        )
    return classes, count, ignore if ignore is not None else ignore_index


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def load_class_weights(source: str, scheme: str, num_classes: int | None) -> tuple[float, ...]:
    """Class weights from a comma list, a JSON list, or the JSON of ``segcli classweights``."""
    path = Path(source)
    if path.suffix.lower() == ".json" or path.exists():
        if (kind := not_regular(path)) is not None:
            raise UsageError(f"{option('class_weights')} {source}: is {kind}, not a regular file")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{option('class_weights')} {source}: cannot read JSON ({exc})") from None
        if isinstance(document, dict):
            table = document.get("weights", {})
            if scheme not in table:
                raise UsageError(
                    f"{option('class_weights')} {source}: no scheme {scheme!r}; has {', '.join(table) or 'none'}"
                )
            document = table[scheme]
        weights = document
    else:
        try:
            weights = [float(part) for part in source.split(",")]
        except ValueError:
            raise UsageError(
                f"{option('class_weights')}: expected a JSON file or comma-separated numbers, got {source!r}"
            ) from None
    if not isinstance(weights, list) or not all(isinstance(w, (int, float)) for w in weights):
        raise UsageError(f"{option('class_weights')} {source}: expected a list of numbers")
    if num_classes is None:
        raise UsageError(f"{option('class_weights')} needs {option('num_classes')}")
    if len(weights) != num_classes:
        raise UsageError(f"{option('class_weights')}: {len(weights)} weights for {option('num_classes')} {num_classes}")
    return tuple(float(w) for w in weights)
