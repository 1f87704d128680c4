"""The one rule that says which given options do nothing in a run, for every command.

``unused_options`` takes the options given (name -> value, those away from their default), the
run's settings and which options each score reads (``{score name: option names}``; today
each score row's ``options``: ``segcli.scores.table.options_read``), and returns one message per option that
nothing reads, its options marked (``segcli.errors.option``) for the CLI to spell as flags.
Every command calls it (``command=``): score with its settings and the scores' reads; weightmap
for the options its ``kind`` does not read; classweights for ``beta`` without the effective
scheme; compare for ``workers`` without ``gt``; all of them for ``workers`` with ``scheduler``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from segcli.errors import option
from segcli.settings.options import OPTIONS
from segcli.settings.run import ScoreSettings

# Options only binary scoring reads; and only multi-class scoring.
BINARY_ONLY = ("focal_alpha", "tversky_alpha", "tversky_beta", "focal_tversky_gamma", "pos_weight", "w0", "sigma")
MULTICLASS_ONLY = ("ignore_index", "class_names", "class_weights", "include_background")
# What a cluster's workers do instead of --workers, by command.
CLUSTER_WORK = {"score": "score the pairs", "weightmap": "compute the maps", "classweights": "count the files"}


def unused_options(
    given: Mapping[str, object],
    settings: ScoreSettings | None = None,
    reads: Mapping[str, tuple[str, ...]] | None = None,
    *,
    command: str = "score",
) -> list[str]:
    """A message for each option in ``given`` that does nothing in this run."""
    said = _unused_without(given, command)
    if command == "weightmap":
        said += _unused_by_map_kind(given)
    elif command == "classweights" and "beta" in given and "effective" not in given.get("scheme", ("effective",)):
        said.append(f"{option('beta')} shapes the effective scheme; without it in {option('scheme')} it does nothing")
    elif command == "compare" and "workers" in given and "gt" not in given:
        said.append(f"{option('workers')} applies to scoring ({option('gt')}); results read back are not scored")
    if settings is not None:
        said += _unused_in_mode(given, settings)
        said += _unused_by_scores(given, settings, reads or {})
    return said


def _unused_without(given: Mapping[str, object], command: str) -> list[str]:
    """Options that shape another option, which is not given."""
    said = []
    if "report" not in given and ("report_sort" in given or "images" in given):
        said.append(
            f"{option('report_sort')} and {option('images')} shape the HTML report; "
            f"without {option('report')} they do nothing"
        )
    if "spacing_unit" in given and "spacing" not in given:
        said.append(
            f"{option('spacing_unit')} names the unit of {option('spacing')}; "
            f"without {option('spacing')} it does nothing"
        )
    weights = given.get("class_weights")
    if "class_weight_scheme" in given and not (isinstance(weights, str) and os.path.isfile(weights)):
        said.append(
            f"{option('class_weight_scheme')} picks from a {option('class_weights')} JSON file; "
            "without one it does nothing"
        )
    interval = [name for name in ("bootstrap", "seed") if name in given]
    if interval and "ci" not in given:
        names = " and ".join(option(name) for name in interval)
        verb = "shape" if len(interval) > 1 else "shapes"
        does = "they do" if len(interval) > 1 else "it does"
        said.append(f"{names} {verb} the {option('ci')} interval; without {option('ci')} {does} nothing")
    if "workers" in given and "scheduler" in given:
        said.append(f"{option('workers')} applies to local runs; the cluster's workers {CLUSTER_WORK[command]}")
    return said


# The weight-map options only the U-Net map reads.
UNET_ONLY = ("w0", "sigma", "class_weights", "connectivity")


def _unused_by_map_kind(given: Mapping[str, object]) -> list[str]:
    """weightmap's options that its --kind (and its --device, on a cluster) leaves unread."""
    said = []
    kind = given.get("kind", "unet")
    on_device = given.get("device", "cpu") != "cpu"  # auto is the CPU for maps
    if on_device and kind == "unet":
        said.append(f"{option('device')}: unet maps (a transform per instance) are computed on the CPU")
    unused = [option(name) for name in UNET_ONLY if name in given]
    if kind != "unet" and unused:
        said.append(f"{', '.join(unused)}: {option('kind')} unet options; {option('kind')} {kind} does not use them")
    if on_device and kind != "unet" and "scheduler" in given:
        said.append(f"{option('device')} applies to local runs; the cluster's workers compute the maps on their CPUs")
    return said


def _unused_in_mode(given: Mapping[str, object], settings: ScoreSettings) -> list[str]:
    """Options of the binary mode in a multi-class run, and the other way round."""
    if settings.num_classes is None:
        flags = [name for name in MULTICLASS_ONLY if name in given]
        return [
            f"{option(name)} applies to multi-class scoring ({option('num_classes')}); ignored in binary mode"
            for name in flags
        ]
    return [
        f"{option(name)} applies to binary scoring; no multi-class score uses it"
        for name in BINARY_ONLY
        if name in given
    ]


def _unused_by_scores(given: Mapping[str, object], settings: ScoreSettings, reads) -> list[str]:
    """Score parameters no chosen score reads, and object options without an object score."""
    said = []
    objects = f"({option('objects')}, or obj_* in {option('metrics')})"
    if settings.object_metrics:
        if "connectivity" in given and settings.objects != "components":
            said.append(
                f"{option('connectivity')} applies to {option('objects')} components; "
                "instance maps are used as they are"
            )
    else:
        for name in ("iou_threshold", "connectivity"):
            if name in given:
                said.append(f"{option(name)} applies to object scores {objects}; none is asked for")
    chosen = set(settings.metrics) | {loss for _, loss in settings.options.combine}
    binary_only = settings.num_classes is not None
    said_unused = {name for name, spec in OPTIONS.items() if spec.score}  # not spacing, not empty_distance
    for name in dict.fromkeys(n for names in reads.values() for n in names if n in said_unused):
        if name not in given or (binary_only and name in BINARY_ONLY):
            continue
        readers = [score for score, names in reads.items() if name in names]
        if not chosen & set(readers):
            said.append(f"{option(name)} applies to {', '.join(readers)}; none is asked for")
    return said
