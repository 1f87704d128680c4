"""``build_settings``: named option values (the names of ``segcli.settings.OPTIONS``) into the
``ScoreSettings`` of a run, for the CLI and the Python API alike.

It lives in ``run`` rather than in the base package ``segcli.settings`` because turning names into
a run needs the score table (which scores a spec means, ``--combine``) and the readers of a
dataset.json and a class-weights JSON, which sit in higher stages than the base may import.
Every check of a value lives here or in ``ScoreSettings`` and raises ``InvalidOption`` naming the
option (or a ``UsageError`` whose message marks the options it names), which each door spells.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from segcli.errors import InvalidOption, option
from segcli.settings import SCORE_PARAMETERS, ScoreOptions, ScoreSettings, default, empty_distance_policy


def check_run_options(*, workers=None, ci=None, bootstrap=None, seed=None) -> None:
    """How a run runs: ``workers`` >= 1, ``ci`` a level in (0, 1), ``bootstrap`` >= 1, ``seed`` >= 0."""
    if workers is not None and workers < 1:
        raise InvalidOption("workers", f"expected >= 1, got {workers}")
    if ci is not None and not 0 < ci < 1:
        raise InvalidOption("ci", f"expected a level in (0, 1) such as 0.95, got {ci}")
    if bootstrap is not None and bootstrap < 1:
        raise InvalidOption("bootstrap", f"expected >= 1, got {bootstrap}")
    if seed is not None and seed < 0:
        raise InvalidOption("seed", f"expected >= 0, got {seed}")


def build_settings(metrics: str = default("metrics"), *, num_classes: int | None = None, **values) -> ScoreSettings:
    """The settings of a run from option values by name (``threshold``, ``w0``, ``labels``, ...);
    an option left out, or None, takes its default; but ``ignore_index=None`` given is no ignore
    label (the CLI leaves the option out when its flag is not given)."""
    from segcli.scores.table import COMBINED

    given = {name: value for name, value in values.items() if value is not None}
    names = given.get("class_names")
    names = tuple(names.split(",")) if isinstance(names, str) else names
    class_labels, ignore_index = None, values.get("ignore_index")
    if given.get("labels") is not None:
        from segcli.run import per_class

        text = None if names is None else ",".join(names)
        class_labels, num_classes, found = per_class.labels_for_settings(
            Path(given["labels"]), num_classes=num_classes, class_names=text, ignore_index=ignore_index
        )
        ignore_index = default("ignore_index") if found is None else found
    elif "ignore_index" not in values:
        ignore_index = default("ignore_index")
    if not metrics.replace(",", "").strip():
        raise InvalidOption("metrics", "expected score or group names, or all; got nothing")
    if given.get("pred_kind", "auto") == "labels" and num_classes is None:
        raise InvalidOption("pred_kind", f"labels are read in multi-class mode: add {option('num_classes')} K")
    from segcli.scores.table import split_objects

    metrics, object_metrics = split_objects(metrics, objects=given.get("objects"))
    chosen = _chosen(metrics, num_classes)
    class_weights = _class_weights(given, num_classes)
    options = _score_options(given, num_classes)
    thresholds = _thresholds(given, chosen, num_classes)  # leaves the losses of "all" out of chosen
    if given.get("rater") and (num_classes is not None or thresholds is not None):
        raise InvalidOption("rater", f"applies to binary scoring without {option('thresholds')}")
    settings = ScoreSettings(
        metrics=tuple(chosen) + ((COMBINED,) if given.get("combine") is not None else ()),
        options=options,
        pred_kind=given.get("pred_kind", default("pred_kind")),
        threshold=given.get("threshold", default("threshold")),
        thresholds=thresholds,
        spacing_unit=given.get("spacing_unit"),
        spacing=given.get("spacing"),
        num_classes=num_classes,
        ignore_index=ignore_index,
        include_background=given.get("include_background", default("include_background")),
        class_names=names,
        class_weights=class_weights,
        ignore_geometry=given.get("ignore_geometry", default("ignore_geometry")),
        class_labels=class_labels,
        connectivity=given.get("connectivity"),
    )
    settings = _with_objects(settings, object_metrics, given)
    from segcli.run.per_class import check_columns

    check_columns(settings)  # unique columns, before any work
    return settings


def _chosen(metrics: str, num_classes: int | None) -> list[str]:
    from segcli.scores import table

    if num_classes is None:
        return [s.name for s in table.select(metrics)] if metrics else []
    if num_classes < 2:
        raise InvalidOption("num_classes", f"expected >= 2, got {num_classes} (leave it out to score binary masks)")
    from segcli.run import per_class

    return per_class.select(metrics) if metrics else []


def _score_options(given: dict, num_classes: int | None) -> ScoreOptions:
    from segcli.scores import table

    values = {name: given[name] for name in SCORE_PARAMETERS if name in given}
    if isinstance(values.get("empty_distance"), str):
        try:
            values["empty_distance"] = empty_distance_policy(values["empty_distance"])
        except ValueError:
            text = values["empty_distance"]
            raise InvalidOption("empty_distance", f"expected inf, worst, nan or a number, got {text!r}") from None
    combine = given.get("combine")
    terms = () if combine is None else table.parse_combination(combine, multiclass=num_classes is not None)
    return replace(ScoreOptions(), combine=terms, **values)


def _thresholds(given: dict, chosen: list[str], num_classes: int | None) -> tuple[float, ...] | None:
    """``thresholds``: only scores that depend on the hard mask (losses are left out of ``all``);
    never with ``threshold``, never in multi-class mode."""
    text = given.get("thresholds")
    if text is None:
        return None
    if num_classes is not None:
        raise InvalidOption("thresholds", f"applies to binary scoring, not {option('num_classes')}")
    from segcli.run.pair import parse_thresholds
    from segcli.scores.table import BY_NAME

    if given.get("threshold") is not None:
        raise InvalidOption("thresholds", f"give {option('threshold')} or {option('thresholds')}, not both")
    losses = [m for m in chosen if m in BY_NAME and BY_NAME[m].group == "losses"]
    if losses and len(losses) < len(chosen):
        chosen[:] = [m for m in chosen if m not in losses]  # "all": region and surface scores
    elif losses:
        raise InvalidOption("thresholds", f"losses ({', '.join(losses)}) do not depend on the threshold")
    return parse_thresholds(text) if isinstance(text, str) else tuple(float(t) for t in text)


def _class_weights(given: dict, num_classes: int | None) -> tuple[float, ...] | None:
    weights = given.get("class_weights")
    if isinstance(weights, str):
        from segcli.run.per_class import load_class_weights

        scheme = given.get("class_weight_scheme", default("class_weight_scheme"))
        return load_class_weights(weights, scheme, num_classes)
    return None if weights is None else tuple(float(w) for w in weights)


def _with_objects(settings: ScoreSettings, object_metrics: list[str], given: dict) -> ScoreSettings:
    if object_metrics:
        return replace(
            settings,
            objects=given.get("objects") or "components",
            object_metrics=tuple(object_metrics),
            iou_threshold=given.get("iou_threshold", default("iou_threshold")),
            object_rows=bool(given.get("object_rows")),
        )
    if given.get("object_rows"):
        raise InvalidOption("objects_out", f"needs {option('objects')} or an object score in {option('metrics')}")
    return settings
