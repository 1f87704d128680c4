"""Per-pair sufficient statistics shared by many scores.

Confusion counts (hard), soft counts (on probabilities), borders, and the one safe division that
carries SPEC.md's 0/0 rule. Every array function is batch-first: axis 0 indexes images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segcli.engine.backend import NUMPY, NumpyOps, TorchOps


def safe_divide(numerator: np.ndarray, denominator: np.ndarray, identical: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, with 0/0 = 1 where prediction and GT are identical, else 0.

    >>> safe_divide(np.array([1.0, 0.0, 0.0]), np.array([2.0, 0.0, 0.0]), np.array([False, True, False]))
    array([0.5, 1. , 0. ])
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    zero = denominator == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / np.where(zero, 1.0, denominator)
    return np.where(zero, np.where(identical, 1.0, 0.0), ratio)


@dataclass(frozen=True)
class ConfusionCounts:
    """Hard confusion counts per image, each of shape (B,), int64."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @property
    def identical(self) -> np.ndarray:
        """True where prediction and GT agree on every counted pixel."""
        return (self.fp == 0) & (self.fn == 0)


def confusion_counts(
    pred: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None, *, ops: NumpyOps | TorchOps = NUMPY
) -> ConfusionCounts:
    """Count TP, FP, FN, TN per image for boolean ``pred`` and ``target`` of shape (B, ...).

    ``valid`` (same shape, optional) marks the pixels that take part; the rest are ignored.
    ``ops`` picks the backend the counting runs on (numpy, or torch on a GPU).

    >>> c = confusion_counts(np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool))
    >>> int(c.tp[0]), int(c.fp[0]), int(c.fn[0]), int(c.tn[0])
    (1, 1, 1, 1)
    """
    pred, target = ops.asarray(pred, "bool"), ops.asarray(target, "bool")
    if valid is None:
        n = np.full(pred.shape[0], ops.flat(pred).shape[1], dtype=np.int64)
    else:
        valid = ops.asarray(valid, "bool")
        n = ops.count(valid)
        pred, target = pred & valid, target & valid
    tp = ops.count(pred & target)
    n_pred = ops.count(pred)
    n_target = ops.count(target)
    fp = n_pred - tp
    fn = n_target - tp
    tn = n - tp - fp - fn
    return ConfusionCounts(*(np.asarray(x, dtype=np.int64) for x in (tp, fp, fn, tn)))


def _shifted(axis: int, ndim: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    return tuple(slice(start, stop) if a == axis else slice(None) for a in range(ndim))


_ONE = np.uint64(1)
_TOP = np.uint64(63)


class BitMask:
    """A boolean image packed 64 pixels to a word along its last axis, for morphology.

    A shift along the last axis moves bits within words and carries one bit between them; along
    another axis it is a slice of words. Every operation touches 1/8 of the bytes of a bool
    array, several times faster for the border, band and boundary-IoU masks. Outside the image
    counts as background: nothing grows in from there, and pixels next to it erode. The bits
    past the image's width are kept 0.

    >>> BitMask.pack(np.array([[0, 1, 1, 1, 0]], bool)).erode_cross().unpack().astype(int).tolist()
    [[0, 0, 0, 0, 0]]
    >>> BitMask.pack(np.array([[0, 0, 1, 0, 0]], bool)).dilate_cross(1).unpack().astype(int).tolist()
    [[0, 1, 1, 1, 0]]
    """

    def __init__(self, words: np.ndarray, width: int) -> None:
        self.words = words
        self.width = width

    @classmethod
    def pack(cls, mask: np.ndarray) -> BitMask:
        packed = np.packbits(np.asarray(mask, dtype=bool), axis=-1, bitorder="little")
        spare = -packed.shape[-1] % 8
        if spare:
            packed = np.pad(packed, [(0, 0)] * (packed.ndim - 1) + [(0, spare)])
        return cls(np.ascontiguousarray(packed).view("<u8"), mask.shape[-1])

    def unpack(self) -> np.ndarray:
        bits = np.unpackbits(self.words.view(np.uint8), axis=-1, count=self.width, bitorder="little")
        return bits.view(bool)

    def _clear_spare_bits(self, words: np.ndarray) -> np.ndarray:
        if self.width % 64:
            words[..., -1] &= (_ONE << np.uint64(self.width % 64)) - _ONE
        return words

    # Both shifts run on the flat word array (long inner loops), then undo the carries that
    # crossed from one row of words to the next.

    def _from_lower(self, words: np.ndarray) -> np.ndarray:
        """Each pixel takes the value of the pixel before it on the last axis (0 at the start)."""
        flat = words.reshape(-1)
        out = flat << _ONE
        out[1:] |= flat[:-1] >> _TOP
        out = out.reshape(words.shape)
        out[..., 0] &= ~_ONE
        return self._clear_spare_bits(out)

    def _from_higher(self, words: np.ndarray) -> np.ndarray:
        """Each pixel takes the value of the pixel after it on the last axis (0 at the end)."""
        flat = words.reshape(-1)
        out = flat >> _ONE
        out[:-1] |= flat[1:] << _TOP
        out = out.reshape(words.shape)
        out[..., -1] &= ~(_ONE << _TOP)
        return out

    def _erode_axis(self, words: np.ndarray, axis: int) -> np.ndarray:
        """AND with both neighbours along ``axis``, outside counting as background."""
        if axis == words.ndim - 1:
            return words & self._from_lower(words) & self._from_higher(words)
        out = words.copy()
        ndim = words.ndim
        out[_shifted(axis, ndim, 1, None)] &= words[_shifted(axis, ndim, None, -1)]
        out[_shifted(axis, ndim, None, -1)] &= words[_shifted(axis, ndim, 1, None)]
        out[_shifted(axis, ndim, 0, 1)] = 0
        out[_shifted(axis, ndim, -1, None)] = 0
        return out

    def _dilate_axis(self, words: np.ndarray, axis: int) -> np.ndarray:
        """OR with both neighbours along ``axis``; nothing grows in from outside."""
        if axis == words.ndim - 1:
            return words | self._from_lower(words) | self._from_higher(words)
        out = words.copy()
        ndim = words.ndim
        # no mutate: "=" for "|=" loses only each pixel itself, which the last axis's dilation keeps
        out[_shifted(axis, ndim, 1, None)] |= words[_shifted(axis, ndim, None, -1)]  # pragma: no mutate
        out[_shifted(axis, ndim, None, -1)] |= words[_shifted(axis, ndim, 1, None)]
        return out

    def erode_cross(self) -> BitMask:
        """Erosion by the cross (face-connected) element: a 3-wide erosion along every axis of
        the original mask, intersected."""
        out = self._erode_axis(self.words, self.words.ndim - 1)
        for axis in range(self.words.ndim - 1):
            out &= self._erode_axis(self.words, axis)
        return BitMask(out, self.width)

    def dilate_cross(self, iterations: int = 1) -> BitMask:
        """Dilation by the cross element, ``iterations`` times: each a 3-wide dilation along every
        axis of the previous step, united."""
        out = self.words
        for _ in range(iterations):
            previous = out
            out = self._dilate_axis(previous, previous.ndim - 1)
            # no mutate: more axes add nothing (the last is dilated above; one past the last is a no-op)
            for axis in range(previous.ndim - 1):  # pragma: no mutate
                out |= self._dilate_axis(previous, axis)
        return BitMask(out, self.width)

    def erode_square(self, iterations: int = 1) -> BitMask:
        """Erosion by the full 3x3(x3) square, ``iterations`` times: one 3-wide erosion per axis
        in turn (the square element is separable)."""
        out = self.words
        for _ in range(iterations):
            for axis in range(out.ndim):
                out = self._erode_axis(out, axis)
        return BitMask(out, self.width)

    def and_not(self, other: BitMask) -> BitMask:
        """Pixels in this mask and not in ``other``."""
        return BitMask(self.words & ~other.words, self.width)


def erode_cross(mask: np.ndarray) -> np.ndarray:
    """Erosion by the cross (face-connected) element, outside the image counting as background.

    Equals ``scipy.ndimage.binary_erosion(mask, cross, border_value=0)``, on packed bits.

    >>> erode_cross(np.ones((3, 3), bool)).astype(int).tolist()
    [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    """
    return BitMask.pack(mask).erode_cross().unpack()


def dilate_cross(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Dilation by the cross element, ``iterations`` times (nothing grows in from outside).

    >>> dilate_cross(np.array([[0, 0, 1, 0, 0]], bool), 2).astype(int).tolist()
    [[1, 1, 1, 1, 1]]
    """
    return BitMask.pack(mask).dilate_cross(iterations).unpack()


def erode_square(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Erosion by the full 3x3(x3) square, ``iterations`` times, outside counting as background."""
    return BitMask.pack(mask).erode_square(iterations).unpack()


def border(mask: np.ndarray) -> np.ndarray:
    """Border of one spatial mask: mask XOR its erosion by the cross element.

    Pixels outside the image count as background, so a mask touching the image edge has a
    border there.

    >>> border(np.ones((3, 4), bool)).astype(int)
    array([[1, 1, 1, 1],
           [1, 0, 0, 1],
           [1, 1, 1, 1]])
    """
    packed = BitMask.pack(mask)
    return packed.and_not(packed.erode_cross()).unpack()


def bounding_box(mask: np.ndarray, *, pad: int | tuple[int, ...] = 0) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every True pixel, grown by ``pad`` and clipped to the
    image; None for an empty mask."""
    pads = (pad,) * mask.ndim if isinstance(pad, int) else pad
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        if hits.size == 0:
            return None
        box.append(slice(max(hits[0] - pads[axis], 0), min(hits[-1] + 1 + pads[axis], mask.shape[axis])))
    return tuple(box)
