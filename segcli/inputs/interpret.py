"""Turning raw prediction and ground-truth arrays into what the scores consume.

Binary mode: the ground truth is ``gt > 0``; the prediction becomes a probability map and a hard
mask according to ``pred_kind``. Multi-class mode: the ground truth is a label map; the prediction
a label map or K-channel probabilities / logits, channel-first. Checks raise ``InputError``s whose
message names the file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcli.errors import ShapeError, ValueRangeError, option
from segcli.settings import PredKind, default

PRED_KINDS: tuple[str, ...] = ("auto", "prob", "logits", "mask", "labels")

# Floating-point predictions within [-PROB_TOLERANCE, 1 + PROB_TOLERANCE] are probabilities
# (resampling and interpolation leave values a hair outside [0, 1]); they are clipped to [0, 1].
PROB_TOLERANCE = 1e-3
LOGITS_NOTE = (
    "floating-point predictions with negative values are read as logits (sigmoid, or softmax over "
    "channels); pass --pred-kind prob or logits to say so explicitly"
)


@dataclass(frozen=True)
class BinaryPair:
    """A prediction as probabilities and hard mask, with its boolean ground truth."""

    prob: np.ndarray  # float32, or the bool mask itself for a hard prediction (converted only by losses)
    hard: np.ndarray  # bool
    target: np.ndarray  # bool
    kind: str = "mask"  # how the prediction was read: mask, prob or logits


def resolve_kind(pred: np.ndarray, pred_kind: PredKind, *, multiclass: bool, path: Path | str = "prediction") -> str:
    """What ``auto`` means for this array, by a rule stated in the README:

    * bool or integer: ``mask`` (binary mode) or ``labels`` (multi-class mode);
    * floats within [-0.001, 1.001]: ``prob`` (clipped to [0, 1] by the caller);
    * floats with a value below -0.001: ``logits``;
    * floats in [0, x] with x above 1.001 are neither (a probability map gone wrong, or logits
      with no negative value): ``ValueRangeError``, choose the kind explicitly.

    >>> resolve_kind(np.array([0.0, 1.0004]), "auto", multiclass=False)
    'prob'
    >>> resolve_kind(np.array([-3.0, 2.0]), "auto", multiclass=False)
    'logits'
    """
    if pred_kind not in PRED_KINDS:
        raise ValueError(f"pred_kind: expected one of {PRED_KINDS}, got {pred_kind!r}")
    if pred_kind != "auto":
        return pred_kind
    if pred.dtype.kind in "biu":
        return "labels" if multiclass else "mask"
    low, high = float(np.min(pred)), float(np.max(pred))
    if low < -PROB_TOLERANCE:
        return "logits"
    if high <= 1.0 + PROB_TOLERANCE:
        return "prob"
    raise ValueRangeError(
        f"{path}: floating-point values in [{low:g}, {high:g}] are neither probabilities (above 1 + "
        f"{PROB_TOLERANCE:g}) nor clearly logits (none negative); choose with {option('pred_kind')} prob|logits"
    )


def as_probabilities(pred: np.ndarray, path: Path | str) -> np.ndarray:
    """float32 probabilities; values within the tolerance outside [0, 1] are clipped (with a
    warning naming the file and the range), values beyond it are a ``ValueRangeError``."""
    low, high = float(np.min(pred)), float(np.max(pred))
    if low < -PROB_TOLERANCE or high > 1.0 + PROB_TOLERANCE:
        integer = ""
        if pred.dtype.kind in "iu":
            integer = " (integers: 8-bit probabilities must be saved as floats, value / 255)"
        raise ValueRangeError(
            f"{path}: probabilities must lie in [0, 1] (to within {PROB_TOLERANCE:g}), found [{low:g}, {high:g}]"
            + integer
        )
    prob = pred.astype(np.float32, copy=False)
    if low < 0.0 or high > 1.0:
        warnings.warn(f"{path}: probabilities in [{low:g}, {high:g}] clipped to [0, 1]", stacklevel=2)
        prob = np.clip(prob, 0.0, 1.0)
    return prob


def _note_kind(kind: str, pred_kind: PredKind) -> None:
    if kind == "logits" and pred_kind == "auto":
        warnings.warn(LOGITS_NOTE, stacklevel=3)


def check_ground_truth(gt: np.ndarray, path: Path | str) -> None:
    """A ground truth must be finite; NaN is not background."""
    if gt.dtype.kind == "f" and not np.isfinite(gt).all():
        raise ValueRangeError(f"{path}: ground truth holds NaN or infinite values")


def binary_ground_truth(gt: np.ndarray, path: Path | str) -> np.ndarray:
    """``gt > 0``; a label map of more than two values is read the same way, with a warning.
    A negative value is an error: no mask holds one, and reading it as background (or foreground)
    would be a guess (an int8 copy of a 0/255 mask holds -1)."""
    check_ground_truth(gt, path)
    _refuse_negative(gt, path, "ground truth")
    target = gt > 0
    if gt.dtype.kind == "f" and gt.size and not np.array_equal(gt, np.round(gt)):
        warnings.warn(
            f"{path}: ground truth holds fractional values (soft labels or probabilities?): scored as binary, "
            "every value > 0 foreground",
            stacklevel=2,  # pragma: no mutate (only which segcli line the warning reports)
        )
    elif gt.dtype != bool and gt.size:
        high = gt.max()
        if high > 1 and np.any(target & (gt != high)):
            warnings.warn(
                "a ground truth holds more than two values (a label map): scored as binary, every non-zero "
                "label foreground; pass --num-classes K for per-class scores",
                stacklevel=2,  # pragma: no mutate (only which segcli line the warning reports)
            )
    return target


def _refuse_negative(array: np.ndarray, path: Path | str, what: str) -> None:
    """A signed mask with a negative value: ``ValueRangeError`` naming the file and the value."""
    if array.dtype.kind in "if" and array.size and (low := array.min()) < 0:
        raise ValueRangeError(
            f"{path}: {what} holds negative values ({low:g}); a binary mask is 0 and positive values "
            "(an int8 copy of a 0/255 mask holds -1: save masks unsigned)"
        )


def _note_many_values(pred: np.ndarray, hard: np.ndarray) -> None:
    """An integer prediction of more than two values (8-bit probabilities saved as PNG, or a label
    map) is read as a mask, every non-zero value foreground: said, never silently."""
    high = pred.max()
    if high > 1 and np.any(hard & (pred != high)):
        warnings.warn(
            "a prediction holds more than two values (8-bit probabilities, or a label map): scored as a "
            "mask, every non-zero value foreground; save probabilities as floats (TIFF, NPY) to score "
            "them as probabilities, or pass --num-classes K for a label map",
            stacklevel=3,  # pragma: no mutate (only which segcli line the warning reports)
        )


def _squeeze_channel(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Accept a singleton channel axis at either end: (1, H, W) or (H, W, 1) for (H, W)."""
    if array.shape == shape:
        return array
    if array.ndim == len(shape) + 1:
        if array.shape[0] == 1 and array.shape[1:] == shape:
            return array[0]
        if array.shape[-1] == 1 and array.shape[:-1] == shape:
            return array[..., 0]
    return array


def _check_finite(pred: np.ndarray, path: Path | str) -> None:
    if pred.dtype.kind == "f" and not np.isfinite(pred).all():
        raise ValueRangeError(f"{path}: prediction holds NaN or infinite values")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function in float32; very negative logits give 0 (exp overflows to inf), not NaN."""
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float32, copy=False)))).astype(np.float32)


def binary_pair(
    pred: np.ndarray | None,
    gt: np.ndarray,
    *,
    pred_kind: PredKind = default("pred_kind"),
    threshold: float = default("threshold"),
    pred_path: Path | str = "prediction",
    gt_path: Path | str = "ground truth",
) -> BinaryPair:
    """Interpret one binary pair. ``pred=None`` stands for an empty prediction (``--missing empty``)."""
    target = binary_ground_truth(gt, gt_path)
    if pred is None:
        empty = np.zeros(target.shape, bool)
        return BinaryPair(prob=empty, hard=empty, target=target, kind="mask")
    pred = _squeeze_channel(pred, target.shape)
    if pred.shape != target.shape:
        raise ShapeError(f"{pred_path}: shape {pred.shape} does not match {gt_path} shape {target.shape}")
    _check_finite(pred, pred_path)
    kind = resolve_kind(pred, pred_kind, multiclass=False, path=pred_path)
    _note_kind(kind, pred_kind)
    if kind == "mask":
        if pred.dtype.kind == "i":
            _refuse_negative(pred, pred_path, "an integer prediction")
        hard = pred > 0
        if pred_kind == "auto" and pred.dtype.kind in "iu" and pred.size:
            _note_many_values(pred, hard)
        return BinaryPair(prob=hard, hard=hard, target=target, kind="mask")
    if kind == "prob":
        prob = as_probabilities(pred, pred_path)
    elif kind == "logits":
        prob = sigmoid(pred)
    else:
        raise ValueRangeError(
            f"{pred_path}: {option('pred_kind')} {kind} needs {option('num_classes')} (multi-class mode)"
        )
    return BinaryPair(prob=prob, hard=prob >= threshold, target=target, kind=kind)


@dataclass(frozen=True)
class MulticlassPair:
    """Prediction as labels (and K-channel probabilities when given), target labels, valid mask."""

    labels: np.ndarray  # int, spatial
    prob: np.ndarray | None  # float32 (K, ...spatial), None for a label-map prediction
    target: np.ndarray  # int, spatial, ignore pixels set to 0
    valid: np.ndarray  # bool, spatial: False on ignore pixels
    kind: str = "labels"  # how the prediction was read: labels, prob or logits


def softmax(logits: np.ndarray, axis: int = 0) -> np.ndarray:
    """Softmax along ``axis``, float32."""
    shifted = logits.astype(np.float32) - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def multiclass_pair(
    pred: np.ndarray | None,
    gt: np.ndarray,
    *,
    num_classes: int,
    ignore_index: int | None = default("ignore_index"),
    pred_kind: PredKind = default("pred_kind"),
    pred_path: Path | str = "prediction",
    gt_path: Path | str = "ground truth",
) -> MulticlassPair:
    """Interpret one multi-class pair; labels >= K (other than the ignore label) are an error."""
    check_ground_truth(gt, gt_path)
    if gt.dtype.kind == "f":
        if not np.array_equal(gt, np.round(gt)):
            raise ValueRangeError(f"{gt_path}: ground truth label map holds non-integer values")
        gt = gt.astype(np.int64)
    valid = gt != ignore_index if ignore_index is not None else np.ones(gt.shape, bool)
    _check_labels(gt[valid], num_classes, gt_path)
    target = np.where(valid, gt, 0).astype(np.int64)
    if pred is None:
        return MulticlassPair(labels=np.zeros(gt.shape, np.int64), prob=None, target=target, valid=valid)
    _check_finite(pred, pred_path)
    kind = multiclass_kind(pred, gt.shape, num_classes, pred_kind, pred_path)
    if num_classes > 1 and pred.ndim == gt.ndim + 1 and pred.shape[0] == 1:
        pred = pred[0]  # a label map saved with a singleton channel axis
    if kind in ("labels", "mask"):
        if pred.dtype.kind == "f" and not np.array_equal(pred, np.round(pred)):
            raise ValueRangeError(f"{pred_path}: label map holds non-integer values")
        labels = pred.astype(np.int64)
        _check_labels(labels[valid], num_classes, pred_path)
        return MulticlassPair(labels=np.where(valid, labels, 0), prob=None, target=target, valid=valid, kind="labels")
    _note_kind(kind, pred_kind)
    if kind == "prob":
        prob = as_probabilities(pred, pred_path)
        _note_sums(prob, valid, pred_path)
    else:
        prob = softmax(pred, axis=0)
    labels = np.argmax(prob, axis=0)
    return MulticlassPair(labels=np.where(valid, labels, 0), prob=prob, target=target, valid=valid, kind=kind)


def _note_sums(prob: np.ndarray, valid: np.ndarray, path: Path | str) -> None:
    """Warn when class probabilities (channels first) do not sum to 1 (to within the tolerance)
    at some scored pixel: per-class sigmoid outputs or unnormalised scores are scored as given.
    One class has nothing to normalise against: never said."""
    sums = prob.sum(axis=0, dtype=np.float64)[valid]
    if sums.size == 0 or prob.shape[0] < 2:
        return
    low, high = float(sums.min()), float(sums.max())
    if low < 1.0 - PROB_TOLERANCE or high > 1.0 + PROB_TOLERANCE:
        warnings.warn(
            f"{path}: class probabilities sum to [{low:.4g}, {high:.4g}] over the channels, not 1; scored as "
            "given (the hard prediction is their argmax); pass --pred-kind logits if they are logits",
            stacklevel=3,  # pragma: no mutate (only which segcli line the warning reports)
        )


def multiclass_kind(
    pred: np.ndarray, gt_shape: tuple[int, ...], num_classes: int, pred_kind: PredKind, pred_path: Path | str
) -> str:
    """How a multi-class prediction is read: ``labels`` (same shape as the GT, or with a singleton
    channel axis), or ``prob`` / ``logits`` (K channels first); shape errors name the file."""
    if num_classes > 1 and pred.ndim == len(gt_shape) + 1 and pred.shape[0] == 1:
        pred = pred[0]
    if pred.shape == tuple(gt_shape):
        kind = resolve_kind(pred, pred_kind, multiclass=True, path=pred_path)
        if kind not in ("labels", "mask"):
            raise ShapeError(
                f"{pred_path}: a {kind} prediction needs {num_classes} channels first, got shape {pred.shape}"
            )
        return "labels"
    if pred.ndim != len(gt_shape) + 1 or pred.shape[1:] != tuple(gt_shape):
        raise ShapeError(f"{pred_path}: shape {pred.shape} does not match ground truth shape {tuple(gt_shape)}")
    if pred.shape[0] != num_classes:
        raise ShapeError(f"{pred_path}: {pred.shape[0]} channels, expected {option('num_classes')} {num_classes}")
    kind = resolve_kind(pred, pred_kind, multiclass=True, path=pred_path)
    if kind not in ("prob", "logits"):
        raise ShapeError(f"{pred_path}: a channel-first prediction must be prob or logits, not {kind}")
    return kind


def _check_labels(labels: np.ndarray, num_classes: int, path: Path | str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueRangeError(
            f"{path}: label {bad.flat[0]} outside 0..{num_classes - 1} ({option('num_classes')} {num_classes}) "
            "and not the ignore index"
        )
