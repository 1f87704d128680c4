"""A run's settings: ``ScoreOptions`` (the parameters the scores take) and ``ScoreSettings``
(what to compute and how to read the inputs), each checked when built (``validate_settings``);
every default comes from ``segcli.settings.options``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, make_dataclass
from typing import Literal

from segcli.errors import InvalidOption
from segcli.settings.options import OPTIONS, default
from segcli.settings.values import (
    EMPTY_DISTANCE_POLICIES,
    FLOAT32_MAX,
    MAX_CLASSES,
    SPACING_RANGE,
    check_finite,
    is_number,
    plain_number,
)

PredKind = Literal["auto", "prob", "logits", "mask", "labels"]

SMOOTH = default("smooth")


@dataclass(frozen=True)
class ScoreOptions:
    """Every parameter a score takes, with the defaults of SPEC.md.

    ``spacing`` is no option but the spacing a pair is scored with: the ``spacing`` option
    (``ScoreSettings.spacing``) where given, else the files' own.
    """

    spacing: tuple[float, ...] | None = None
    nsd_tolerance: float = default("nsd_tolerance")
    focal_alpha: float = default("focal_alpha")
    focal_gamma: float = default("focal_gamma")
    tversky_alpha: float = default("tversky_alpha")
    tversky_beta: float = default("tversky_beta")
    focal_tversky_gamma: float = default("focal_tversky_gamma")
    pos_weight: float | None = default("pos_weight")
    combo_alpha: float = default("combo_alpha")
    smooth: float = SMOOTH
    dice_gamma: float = default("dice_gamma")
    combine: tuple[tuple[float, str], ...] = ()  # (weight, loss name) terms of the ``combined`` column
    w0: float = default("w0")
    sigma: float = default("sigma")
    boundary_weight: float = 5.0
    boundary_width: int = 3
    distmap_tau: float = 5.0
    boundary_iou_width: int = 2
    # A surface distance with exactly one side empty (a missed or spurious structure): inf (the
    # default), worst (the image diagonal in spacing units), nan (left out of means) or a number.
    empty_distance: str | float = default("empty_distance")

    def __post_init__(self) -> None:
        # numpy scalars, 0-dim arrays and 0-dim tensors as the Python numbers they hold: the same
        # scores as the number itself, and settings that JSON can write
        for name in NUMBER_OPTIONS:
            value = getattr(self, name)
            if not isinstance(value, str):
                object.__setattr__(self, name, plain_number(value))
        if isinstance(self.spacing, tuple):
            object.__setattr__(self, "spacing", tuple(plain_number(v) for v in self.spacing))
        for name, value in (("smooth", self.smooth), ("dice_gamma", self.dice_gamma)):
            if not (is_number(value) and math.isfinite(value) and value > 0):
                raise InvalidOption(name, f"expected a finite number > 0, got {value!r}")
        policy = self.empty_distance
        if isinstance(policy, str):
            if policy not in EMPTY_DISTANCE_POLICIES:
                raise InvalidOption("empty_distance", f"expected inf, worst, nan or a number >= 0, got {policy!r}")
        elif not (is_number(policy) and math.isfinite(policy) and policy >= 0):
            raise InvalidOption("empty_distance", f"expected inf, worst, nan or a number >= 0, got {policy!r}")


# The ScoreOptions fields that hold one number (empty_distance: or a policy name).
NUMBER_OPTIONS = (
    "nsd_tolerance",
    "focal_alpha",
    "focal_gamma",
    "tversky_alpha",
    "tversky_beta",
    "focal_tversky_gamma",
    "pos_weight",
    "combo_alpha",
    "smooth",
    "dice_gamma",
    "w0",
    "sigma",
    "boundary_weight",
    "boundary_width",
    "distmap_tau",
    "boundary_iou_width",
    "empty_distance",
)


# The score parameters of the settings table that ScoreOptions above does not write out (a new
# score's option is its table row alone).
TABLE_PARAMETERS = tuple(
    o.name for o in OPTIONS.values() if o.score and o.name not in ScoreOptions.__dataclass_fields__
)


def _with_table_parameters(declared: type) -> type:
    """``ScoreOptions`` with a field for each of ``TABLE_PARAMETERS``, after the declared ones, so
    settings records keep their order."""
    extra = [(name, float, field(default=OPTIONS[name].default)) for name in TABLE_PARAMETERS]
    namespace = {"__module__": declared.__module__, "__qualname__": declared.__qualname__, "__doc__": declared.__doc__}
    return make_dataclass(declared.__name__, extra, bases=(declared,), frozen=True, namespace=namespace)


ScoreOptions = _with_table_parameters(ScoreOptions)  # noqa: F811 (the same class, with the table's parameters)
NUMBER_OPTIONS = NUMBER_OPTIONS + TABLE_PARAMETERS


@dataclass(frozen=True)
class ScoreSettings:
    """What to compute and how to read the inputs; everything a worker needs."""

    metrics: tuple[str, ...]
    options: ScoreOptions = field(default_factory=ScoreOptions)
    pred_kind: PredKind = default("pred_kind")
    threshold: float = default("threshold")
    spacing: tuple[float, ...] | None = default("spacing")  # the spacing option: overrides the files'
    num_classes: int | None = default("num_classes")
    ignore_index: int | None = default("ignore_index")
    include_background: bool = default("include_background")
    class_names: tuple[str, ...] | None = default("class_names")
    class_weights: tuple[float, ...] | None = default("class_weights")
    max_memory: float | None = None  # bytes one pair may use; None: no check
    # Binary scoring at several thresholds: each score becomes the columns ``<score>@<t>``.
    thresholds: tuple[float, ...] | None = default("thresholds")
    staple: bool = False  # with --rater: also score against the raters' STAPLE consensus
    spacing_unit: str | None = default("spacing_unit")  # the unit of --spacing (--spacing-unit)
    # Object-level scores (segcli.scores.objects): "instances" (label maps as they are) or "components"
    # (connected components of the masks); the object score columns to compute.
    objects: str | None = default("objects")
    object_metrics: tuple[str, ...] = ()
    iou_threshold: float = default("iou_threshold")
    connectivity: int | None = default("connectivity")
    object_rows: bool = False  # per-object rows in meta["objects"] (--objects-out)
    ignore_geometry: bool = default("ignore_geometry")  # score pairs whose geometry differs, with the GT's spacing
    # --labels: the label values of each scored class (a region: several), named by class_names.
    class_labels: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        # numpy scalars, 0-dim arrays and 0-dim tensors as the Python numbers they hold
        for name in ("threshold", "max_memory", "iou_threshold", "num_classes", "ignore_index", "connectivity"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, plain_number(value))
        for name in ("spacing", "thresholds", "class_weights"):
            values = getattr(self, name)
            if isinstance(values, tuple):
                object.__setattr__(self, name, tuple(plain_number(v) for v in values))
        validate_settings(self)


def validate_settings(settings: ScoreSettings) -> None:
    """Every value at the edge: NaN, inf and out-of-range values raise ``InvalidOption`` naming the
    setting (the CLI turns the name into its flag)."""
    check_finite("threshold", settings.threshold, low=0.0, high=1.0)
    _check_options(settings.options)
    for value in settings.spacing or ():
        check_finite("spacing", value, low=0.0, strict=True)
        if not SPACING_RANGE[0] <= value <= SPACING_RANGE[1]:
            raise InvalidOption(
                "spacing", f"expected values in [{SPACING_RANGE[0]:g}, {SPACING_RANGE[1]:g}], got {value!r}"
            )
    if settings.max_memory is not None:
        check_finite("max_memory", settings.max_memory, low=0.0, strict=True)
    if settings.connectivity is not None and settings.connectivity not in (1, 2, 3):
        raise InvalidOption("connectivity", f"expected 1, 2 or 3, got {settings.connectivity}")
    if settings.objects is not None:
        _check_objects(settings)
    if settings.class_weights is not None:
        _check_class_weights(settings)
    if settings.thresholds is not None:
        if not settings.thresholds:
            raise InvalidOption("thresholds", "expected at least one threshold")
        for value in settings.thresholds:
            check_finite("thresholds", value, low=0.0, high=1.0)
        if settings.num_classes is not None:
            raise InvalidOption("thresholds", "applies to binary scoring (a multi-class prediction is an argmax)")
    if settings.num_classes is not None:
        _check_classes(settings)
    if settings.class_weights is not None and not any(settings.class_weights):
        raise InvalidOption("class_weights", "at least one weight must be positive")


def _check_options(o: ScoreOptions) -> None:
    for name in TABLE_PARAMETERS:  # the range its table row states
        spec = OPTIONS[name]
        check_finite(name, getattr(o, name), low=spec.low, strict=spec.strict, high=spec.high)
    check_finite("nsd_tolerance", o.nsd_tolerance, low=0.0)
    check_finite("focal_alpha", o.focal_alpha, high=1.0)  # negative: no class weighting
    check_finite("focal_gamma", o.focal_gamma, low=0.0)
    check_finite("tversky_alpha", o.tversky_alpha, low=0.0)
    check_finite("tversky_beta", o.tversky_beta, low=0.0)
    if o.tversky_alpha + o.tversky_beta == 0:
        raise InvalidOption("tversky_alpha", "tversky_alpha and tversky_beta cannot both be 0")
    check_finite("focal_tversky_gamma", o.focal_tversky_gamma, low=0.0, strict=True)
    if o.pos_weight is not None:
        check_finite("pos_weight", o.pos_weight, low=0.0, strict=True)
    check_finite("w0", o.w0, low=0.0, high=FLOAT32_MAX)  # the map is float32: beyond, inf
    check_finite("sigma", o.sigma, low=0.0, strict=True, high=FLOAT32_MAX)


def _check_objects(settings: ScoreSettings) -> None:
    if settings.objects not in ("instances", "components"):
        raise InvalidOption("objects", f"expected instances or components, got {settings.objects!r}")
    check_finite("iou_threshold", settings.iou_threshold, low=0.0, high=1.0)
    if settings.iou_threshold >= 1.0:
        raise InvalidOption("iou_threshold", "expected a value below 1 (a match needs IoU above it)")
    if settings.num_classes is not None and settings.objects == "instances":
        raise InvalidOption(
            "objects", "multi-class mode counts the connected components of each class: --objects components"
        )


def _check_class_weights(settings: ScoreSettings) -> None:
    if settings.num_classes is None:
        raise InvalidOption("class_weights", "applies to multi-class scoring (num_classes)")
    if len(settings.class_weights) != settings.num_classes:
        raise InvalidOption(
            "class_weights",
            f"expected {settings.num_classes} weights (one per class), got {len(settings.class_weights)}",
        )
    for weight in settings.class_weights:
        check_finite("class_weights", weight, low=0.0)


def _check_classes(settings: ScoreSettings) -> None:
    if not isinstance(settings.num_classes, int) or not 2 <= settings.num_classes <= MAX_CLASSES:
        raise InvalidOption(
            "num_classes",
            f"expected 2..{MAX_CLASSES} (binary scoring needs no class count), got {settings.num_classes!r}",
        )
    if settings.class_names is not None and len(settings.class_names) != settings.num_classes:
        raise InvalidOption("class_names", f"expected {settings.num_classes} names, got {len(settings.class_names)}")
    if settings.class_names is not None and len(set(settings.class_names)) != len(settings.class_names):
        raise InvalidOption("class_names", f"names must differ, got {','.join(settings.class_names)}")


def settings_record(settings: ScoreSettings) -> dict:
    """The settings as the JSON record of a run (outputs, journals, ``--resume``'s check): every
    field, but a score parameter added through the table (``TABLE_PARAMETERS``) only away from its
    default, so the records of runs that do not use it read as they did before it existed
    (``current_names`` reads one without it at its default)."""
    record = asdict(settings)
    for name in TABLE_PARAMETERS:
        if record["options"][name] == OPTIONS[name].default:
            del record["options"][name]
    return record
