"""Every option of a scoring run: its name, default, type and range check, in one place.

``ScoreOptions`` holds the parameters the scores take, ``ScoreSettings`` everything a run needs
(what to compute and how to read the inputs); both check their values when built, and the
library's errors name an option as the Python API spells it (``InvalidOption``), which the CLI
turns into its flag. Numbers may be given as numpy scalars, 0-dim arrays or 0-dim torch tensors:
``plain_number`` turns them into the Python numbers they hold (torch is never imported here).

A base module: every stage may import it, and it imports nothing of segcli but ``errors``.
"""

from __future__ import annotations

import math
import numbers
import sys
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from segcli.errors import InvalidOption

PredKind = Literal["auto", "prob", "logits", "mask", "labels"]


SMOOTH = 1e-6


def is_number_array(value) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def plain_number(value):
    """A real number as the Python ``int`` or ``float`` it holds: numpy scalars (``np.float32``,
    ``np.int64``), 0-dim numpy arrays and 0-dim torch tensors of an integer or floating dtype.
    Python ints and floats are returned as they are; anything else (a bool, a string, a
    1-element array, a tensor whose value cannot be read) is returned unchanged, for the
    caller's check to refuse naming its argument. torch is never imported here.

    >>> plain_number(np.float32(0.5)), plain_number(np.int64(2)), plain_number(np.array(3.0))
    (0.5, 2, 3.0)
    >>> plain_number(np.True_), plain_number(True)
    (np.True_, True)
    """
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if is_number_array(value):
        return value.item()
    torch = sys.modules.get("torch")  # a tensor means torch is imported already
    if torch is not None and isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype == torch.bool or value.is_complex():
            return value
        try:
            return value.item()  # int for an integer dtype, float for a floating one
        except Exception:  # a meta tensor holds no value; refused by the caller's check
            return value
    return value


def is_number(value) -> bool:
    """Whether ``value`` is a Python int or float, not a bool (``plain_number`` first)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ScoreOptions:
    """Every parameter a score takes, with the defaults of SPEC.md."""

    spacing: tuple[float, ...] | None = None
    nsd_tolerance: float = 1.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    tversky_alpha: float = 0.3
    tversky_beta: float = 0.7
    focal_tversky_gamma: float = 0.75
    pos_weight: float | None = None
    combo_alpha: float = 0.5
    smooth: float = SMOOTH
    dice_gamma: float = 2.0
    combine: tuple[tuple[float, str], ...] = ()  # (weight, loss name) terms of the ``combined`` column
    unet_w0: float = 10.0
    unet_sigma: float = 5.0
    boundary_weight: float = 5.0
    boundary_width: int = 3
    distmap_tau: float = 5.0
    boundary_iou_width: int = 2
    # A surface distance with exactly one side empty (a missed or spurious structure): inf (the
    # default), worst (the image diagonal in spacing units), nan (left out of means) or a number.
    empty_distance: str | float = "inf"

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


EMPTY_DISTANCE_POLICIES = ("inf", "worst", "nan")
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
    "unet_w0",
    "unet_sigma",
    "boundary_weight",
    "boundary_width",
    "distmap_tau",
    "boundary_iou_width",
    "empty_distance",
)


def empty_distance_policy(text: str) -> str | float:
    """``--empty-distance`` as written: a policy name in any case (``NaN``, ``Inf``, ``worst``), or
    a number, where an infinite or NaN number is the policy of that name; ValueError otherwise.

    >>> empty_distance_policy("NaN"), empty_distance_policy("7.5"), empty_distance_policy("1e400")
    ('nan', 7.5, 'inf')
    """
    name = text.strip().lower()
    if name in EMPTY_DISTANCE_POLICIES:
        return name
    number = float(text)
    if math.isnan(number):
        return "nan"
    return "inf" if number == math.inf else number


@dataclass(frozen=True)
class ScoreSettings:
    """What to compute and how to read the inputs; everything a worker needs."""

    metrics: tuple[str, ...]
    options: ScoreOptions = field(default_factory=ScoreOptions)
    pred_kind: PredKind = "auto"
    threshold: float = 0.5
    spacing_override: tuple[float, ...] | None = None
    num_classes: int | None = None
    ignore_index: int | None = 255
    include_background: bool = False
    class_names: tuple[str, ...] | None = None
    class_weights: tuple[float, ...] | None = None
    max_memory: float | None = None  # bytes one pair may use; None: no check
    # Binary scoring at several thresholds: each score becomes the columns ``<score>@<t>``.
    thresholds: tuple[float, ...] | None = None
    staple: bool = False  # with --rater: also score against the raters' STAPLE consensus
    spacing_unit: str | None = None  # the unit of --spacing (--spacing-unit)
    # Object-level scores (segcli.scores.objects): "instances" (label maps as they are) or "components"
    # (connected components of the masks); the object score columns to compute.
    objects: str | None = None
    object_metrics: tuple[str, ...] = ()
    iou_threshold: float = 0.5
    object_connectivity: int | None = None
    object_rows: bool = False  # per-object rows in meta["objects"] (--objects-out)
    ignore_geometry: bool = False  # score pairs whose headers' geometry differs, with the GT's spacing
    # --labels: the label values of each scored class (a region: several), named by class_names.
    class_labels: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        # numpy scalars, 0-dim arrays and 0-dim tensors as the Python numbers they hold
        for name in ("threshold", "max_memory", "iou_threshold", "num_classes", "ignore_index", "object_connectivity"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, plain_number(value))
        for name in ("spacing_override", "thresholds", "class_weights"):
            values = getattr(self, name)
            if isinstance(values, tuple):
                object.__setattr__(self, name, tuple(plain_number(v) for v in values))
        validate_settings(self)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite(name: str, value: float, *, low: float | None = None, strict: bool = False, high: float | None = None):
    """Raise ``InvalidOption`` unless ``value`` is a finite number within the bounds (a numpy
    scalar, a 0-dim array or tensor: the number it holds; True is no 1.0)."""
    number = plain_number(value)
    ok = is_number(number) and math.isfinite(number)
    value = number if ok else value
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        bound += "" if high is None else f" and <= {high:g}"
        raise InvalidOption(name, f"expected a finite number{bound}, got {value!r}")


def validate_settings(settings: ScoreSettings) -> None:
    """Every value at the edge: NaN, inf and out-of-range values raise ``InvalidOption`` naming the
    setting (the CLI turns the name into its flag)."""
    o = settings.options
    check_finite("threshold", settings.threshold, low=0.0, high=1.0)
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
    check_finite("unet_w0", o.unet_w0, low=0.0, high=FLOAT32_MAX)  # the map is float32: beyond, inf
    check_finite("unet_sigma", o.unet_sigma, low=0.0, strict=True, high=FLOAT32_MAX)
    for value in settings.spacing_override or ():
        check_finite("spacing", value, low=0.0, strict=True)
        if not SPACING_RANGE[0] <= value <= SPACING_RANGE[1]:
            raise InvalidOption(
                "spacing", f"expected values in [{SPACING_RANGE[0]:g}, {SPACING_RANGE[1]:g}], got {value!r}"
            )
    if settings.max_memory is not None:
        check_finite("max_memory", settings.max_memory, low=0.0, strict=True)
    if settings.objects is not None:
        if settings.objects not in ("instances", "components"):
            raise InvalidOption("objects", f"expected instances or components, got {settings.objects!r}")
        check_finite("iou_threshold", settings.iou_threshold, low=0.0, high=1.0)
        if settings.iou_threshold >= 1.0:
            raise InvalidOption("iou_threshold", "expected a value below 1 (a match needs IoU above it)")
        if settings.num_classes is not None and settings.objects == "instances":
            raise InvalidOption(
                "objects", "multi-class mode counts the connected components of each class: --objects components"
            )
    if settings.class_weights is not None:
        if settings.num_classes is None:
            raise InvalidOption("class_weights", "applies to multi-class scoring (num_classes)")
        if len(settings.class_weights) != settings.num_classes:
            raise InvalidOption(
                "class_weights",
                f"expected {settings.num_classes} weights (one per class), got {len(settings.class_weights)}",
            )
        for weight in settings.class_weights:
            check_finite("class_weights", weight, low=0.0)
    if settings.thresholds is not None:
        if not settings.thresholds:
            raise InvalidOption("thresholds", "expected at least one threshold")
        for value in settings.thresholds:
            check_finite("thresholds", value, low=0.0, high=1.0)
        if settings.num_classes is not None:
            raise InvalidOption("thresholds", "applies to binary scoring (a multi-class prediction is an argmax)")
    if settings.num_classes is not None:
        if not isinstance(settings.num_classes, int) or not 2 <= settings.num_classes <= MAX_CLASSES:
            raise InvalidOption(
                "num_classes",
                f"expected 2..{MAX_CLASSES} (binary scoring needs no class count), got {settings.num_classes!r}",
            )
        if settings.class_names is not None and len(settings.class_names) != settings.num_classes:
            raise InvalidOption(
                "class_names", f"expected {settings.num_classes} names, got {len(settings.class_names)}"
            )
        if settings.class_names is not None and len(set(settings.class_names)) != len(settings.class_names):
            raise InvalidOption("class_names", f"names must differ, got {','.join(settings.class_names)}")
    if settings.class_weights is not None:
        for value in settings.class_weights:
            check_finite("class_weights", value, low=0.0)
        if not any(settings.class_weights):
            raise InvalidOption("class_weights", "at least one weight must be positive")


# Spacings outside this range overflow or underflow the distance arithmetic (squares in float64).
SPACING_RANGE = (1e-9, 1e9)
MAX_CLASSES = 65536  # the most classes a run or classweights may count: a typo must not exhaust memory
