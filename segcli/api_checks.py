"""The checks of the Python API's arguments (``segcli.api``): arrays and tensors as numpy arrays,
the types of the options, spacing, and the label counts of ``class_weights``; each error names
the argument as the API spells it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def as_array(value, name: str) -> np.ndarray:
    """A numpy array from a numpy array, a torch tensor (any device) or a nested sequence."""
    torch = sys.modules.get("torch")  # a tensor means torch is imported already
    if torch is not None and isinstance(value, torch.Tensor):  # subclasses too (MONAI's MetaTensor)
        if value.is_meta:
            raise TypeError(f"{name}: a meta tensor holds no values")
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):  # numpy has no bfloat16: float32 holds both exactly
            value = value.float()
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected an array or tensor, got {type(value).__name__} ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric or boolean array, got dtype {array.dtype}")
    return array


def is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not is_bool(value)


def check_types(metrics, options: dict) -> None:
    """The types of the arguments, each error naming its argument: a string "no" is no False,
    True is no label, and a number is no file name."""
    if isinstance(metrics, str):
        if not metrics.replace(",", "").strip():
            raise ValueError("metrics: expected score or group names, or 'all'; got nothing")
    elif not (isinstance(metrics, Sequence) and metrics and all(isinstance(m, str) for m in metrics)):
        raise TypeError(f"metrics: expected a string or a non-empty sequence of strings, got {metrics!r}")
    for name in ("include_background", "ignore_geometry"):
        if name in options and not is_bool(options[name]):
            raise TypeError(f"{name}: expected True or False, got {options[name]!r}")
    if "ignore_index" in options and options["ignore_index"] is not None and not is_int(options["ignore_index"]):
        raise TypeError(f"ignore_index: expected an integer label or None, got {options['ignore_index']!r}")
    labels = options.get("labels")
    if labels is not None and not isinstance(labels, (str, Path)):
        raise TypeError(f"labels: expected the path of a dataset.json, got {type(labels).__name__}")
    weights = options.get("class_weights")
    if weights is not None:
        try:
            values = [float(w) for w in weights]
        except (TypeError, ValueError):
            raise ValueError(f"class_weights: expected a sequence of numbers, got {weights!r}") from None
        if isinstance(weights, str) or not values:
            raise ValueError(f"class_weights: expected a sequence of numbers, got {weights!r}")


def empty_distance_value(value):
    """A number written as text (``"7.5"``) is that number, as on the command line; anything
    else is left to the options' own check, which names the argument."""
    if isinstance(value, str):
        try:
            from segcli.settings import empty_distance_policy

            return empty_distance_policy(value)
        except ValueError:
            return value
    return value


def spacing_values(spacing) -> tuple[float, ...]:
    """One or several spacing values as floats; a ValueError naming ``spacing`` otherwise."""
    try:
        if isinstance(spacing, (str, bytes)) or is_bool(spacing):
            raise TypeError
        return (float(spacing),) if np.ndim(spacing) == 0 else tuple(float(v) for v in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"spacing: expected a positive number or a sequence of them, got {spacing!r}") from None


def spacing_per_axis(spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = spacing_values(spacing)
    values = values * ndim if np.ndim(spacing) == 0 else values
    if len(values) != ndim or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing: expected {ndim} positive finite values (or one), got {spacing!r}")
    return values


def label_counts(labels: np.ndarray, ignore_index: int | None) -> np.ndarray:
    if labels.dtype.kind == "f":
        if not np.array_equal(labels, np.round(labels)):
            raise ValueError("labels_or_counts: a label image holds non-integer values")
        labels = labels.astype(np.int64)
    flat = labels.reshape(-1).astype(np.int64)
    if ignore_index is not None:
        flat = flat[flat != ignore_index]
    if flat.size and flat.min() < 0:
        raise ValueError(f"labels_or_counts: negative label {flat.min()}")
    if flat.size and flat.max() > 65535:
        raise ValueError(f"labels_or_counts: label {flat.max()} is beyond 65535 classes")
    return np.bincount(flat).astype(np.float64)
