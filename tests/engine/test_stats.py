"""Packed-bit morphology against scipy.ndimage, on widths either side of the 64-pixel word,
tiny images (every pixel next to the outside), 1D, 2D and 3D."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import confusion_matrix

from segcli.engine.backend import NUMPY, TorchOps
from segcli.engine.stats import (
    BitMask,
    ConfusionCounts,
    border,
    bounding_box,
    confusion_counts,
    dilate_cross,
    erode_cross,
    erode_square,
    safe_divide,
)
from tests.conftest import smooth_mask

SHAPES = [(7,), (130,), (1, 1), (1, 5), (2, 7), (5, 63), (6, 64), (7, 65), (9, 130), (1, 3, 3), (3, 4, 70), (4, 2, 129)]


@pytest.fixture(params=SHAPES, ids=[str(s) for s in SHAPES])
def masks(request, rng):
    shape = request.param
    return [rng.random(shape) < density for density in (0.2, 0.6, 0.95)] + [np.ones(shape, bool)]


def test_erode_cross_and_border_match_scipy(masks):
    for mask in masks:
        cross = ndimage.generate_binary_structure(mask.ndim, 1)
        expected = ndimage.binary_erosion(mask, cross, border_value=0)
        np.testing.assert_array_equal(erode_cross(mask), expected)
        np.testing.assert_array_equal(border(mask), mask & ~expected)


@pytest.mark.parametrize("iterations", [1, 3])
def test_dilate_cross_matches_scipy(masks, iterations):
    for mask in masks:
        sparse = mask & (np.arange(mask.size).reshape(mask.shape) % 11 == 0)  # room to grow
        cross = ndimage.generate_binary_structure(mask.ndim, 1)
        expected = ndimage.binary_dilation(sparse, cross, iterations=iterations)
        np.testing.assert_array_equal(dilate_cross(sparse, iterations), expected)


@pytest.mark.parametrize("iterations", [1, 2])
def test_erode_square_matches_scipy(masks, iterations):
    for mask in masks:
        square = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
        expected = ndimage.binary_erosion(mask, square, iterations=iterations, border_value=0)
        np.testing.assert_array_equal(erode_square(mask, iterations), expected)


# segcli/engine/stats.py: the safe division's 0/0 rule
# and its float64 result, confusion counts per image with and without ignore pixels (numpy and
# torch backends), the identical-pair flag, the packed-bit masks used as a class (packing widths
# that are not a multiple of 8 or 64, chained operations whose padding bits must stay clear, a
# batch of images whose rows carry into each other), and bounding boxes with their padding and
# clipping. References: scikit-learn's confusion matrix, scipy.ndimage morphology, numpy, and
# boxes worked by hand in the tests.


def test_safe_divide_ratio_and_the_zero_over_zero_rule():
    # 3/4, 0/5, then 0/0 for an identical pair (1) and for a different one (0), and 2/0 (0: no
    # ratio exists, the pair is not identical)
    out = safe_divide(np.array([3, 0, 0, 0, 2]), np.array([4, 5, 0, 0, 0]), np.array([True, True, True, False, False]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.75, 0.0, 1.0, 0.0, 0.0])


def test_safe_divide_is_float64_even_for_float32_counts():
    # 1/3 in float64, not float32's 0.33333334: soft counts arrive as float32
    out = safe_divide(np.float32([1.0]), np.float32([3.0]), np.array([False]))
    assert out.dtype == np.float64
    assert out[0] == 1.0 / 3.0
    out = safe_divide(np.float32([1.0]), np.float64([3.0]), np.array([False]))
    assert out[0] == 1.0 / 3.0


def _reference_counts(pred, target, valid):
    """tp, fp, fn, tn per image from scikit-learn, on the valid pixels only."""
    rows = []
    for p, t, v in zip(pred, target, valid, strict=True):
        tn, fp, fn, tp = confusion_matrix(t[v].ravel(), p[v].ravel(), labels=[False, True]).ravel()
        rows.append((tp, fp, fn, tn))
    return np.array(rows, dtype=np.int64).T


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_confusion_counts_per_image_against_scikit_learn(backend, rng):
    ops = NUMPY if backend == "numpy" else TorchOps("cpu")
    # 3 images of 4 x 7 (batch, height and width all differ): counts per image, not pooled
    pred = rng.random((3, 4, 7)) < 0.5
    target = rng.random((3, 4, 7)) < 0.4
    pred[2] = target[2]  # one identical pair
    everything = np.ones_like(pred)
    counts = confusion_counts(pred, target, ops=ops)
    expected = _reference_counts(pred, target, everything)
    for name, row in zip(("tp", "fp", "fn", "tn"), expected, strict=True):
        value = getattr(counts, name)
        assert value.dtype == np.int64
        np.testing.assert_array_equal(value, row, err_msg=name)
    np.testing.assert_array_equal(counts.tp + counts.fp + counts.fn + counts.tn, [28, 28, 28])
    np.testing.assert_array_equal(counts.identical, [False, False, True])

    # ignore pixels: a different number per image, some of them predicted and GT foreground
    valid = rng.random((3, 4, 7)) < 0.7
    valid[1] = True
    counts = confusion_counts(pred, target, valid, ops=ops)
    expected = _reference_counts(pred, target, valid)
    for name, row in zip(("tp", "fp", "fn", "tn"), expected, strict=True):
        np.testing.assert_array_equal(getattr(counts, name), row, err_msg=name)
    np.testing.assert_array_equal(counts.tp + counts.fp + counts.fn + counts.tn, valid.reshape(3, -1).sum(axis=1))


def test_identical_needs_no_false_positive_and_no_false_negative():
    counts = ConfusionCounts(
        tp=np.array([5, 5, 5, 0]), fp=np.array([0, 2, 0, 0]), fn=np.array([0, 0, 3, 0]), tn=np.array([1, 1, 1, 9])
    )
    np.testing.assert_array_equal(counts.identical, [True, False, False, True])


def _cross(ndim):
    return ndimage.generate_binary_structure(ndim, 1)


@pytest.mark.parametrize("width", [1, 5, 7, 9, 63, 64, 65, 127, 128, 130])
def test_pack_unpack_round_trip_and_clear_padding(width, rng):
    """Widths that leave a partial byte and a partial 64-bit word: the round trip returns the
    mask, and the bits past the width are 0 (a full mask gives popcount = pixel count)."""
    mask = rng.random((3, width)) < 0.5
    packed = BitMask.pack(mask)
    assert packed.width == width
    assert packed.words.shape == (3, -(-width // 64))
    np.testing.assert_array_equal(packed.unpack(), mask)
    full = BitMask.pack(np.ones((2, width), bool))
    assert int(np.unpackbits(full.words.view(np.uint8)).sum()) == 2 * width
    grown = full.dilate_cross(2)  # growth stops at the image's edge, also in the padding bits
    assert int(np.unpackbits(grown.words.view(np.uint8)).sum()) == 2 * width


@pytest.mark.parametrize("shape", [(4, 7), (3, 63), (3, 64), (4, 65), (3, 100), (5, 128), (2, 3, 130)])
@pytest.mark.parametrize("steps", [1, 2])
def test_chained_bitmask_dilate_then_erode_matches_scipy(shape, steps, rng):
    """On one BitMask, dilation then erosion (a closing by the cross), and dilation then square
    erosion: a pixel grown into the padding past the width must not keep the last column alive
    under erosion."""
    for density in (0.1, 0.3):
        mask = rng.random(shape) < density
        mask[..., -1] = False
        mask[..., -2] = True  # grows into the last column and past it
        cross = _cross(mask.ndim)
        grown = ndimage.binary_dilation(mask, cross, iterations=steps)
        expected = ndimage.binary_erosion(grown, cross, border_value=0)
        packed = BitMask.pack(mask).dilate_cross(steps)
        np.testing.assert_array_equal(packed.unpack(), grown)
        np.testing.assert_array_equal(packed.erode_cross().unpack(), expected)
        square = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
        expected = ndimage.binary_erosion(grown, square, iterations=steps, border_value=0)
        np.testing.assert_array_equal(packed.erode_square(steps).unpack(), expected)
        ring = packed.and_not(BitMask.pack(mask).erode_cross())
        np.testing.assert_array_equal(ring.unpack(), grown & ~ndimage.binary_erosion(mask, cross, border_value=0))


def test_rows_do_not_carry_into_each_other():
    """A pixel at the end of a row (and at the start of the next) stays in its row: worked by
    hand on two rows of 64 and of 128 pixels."""
    for width in (64, 128):
        mask = np.zeros((2, width), bool)
        mask[0, -1] = True
        grown = dilate_cross(mask)
        expected = np.zeros_like(mask)
        expected[0, -2:] = True
        expected[1, -1] = True
        np.testing.assert_array_equal(grown, expected)
        mask = np.zeros((2, width), bool)
        mask[1, 0] = True
        expected = np.zeros_like(mask)
        expected[1, :2] = True
        expected[0, 0] = True
        np.testing.assert_array_equal(dilate_cross(mask), expected)
        # a full row next to an empty one: erosion of the full row is empty (the empty row and the
        # outside are its neighbours), through the words' carries too
        mask = np.zeros((2, width), bool)
        mask[0] = True
        np.testing.assert_array_equal(BitMask.pack(mask).erode_cross().unpack(), np.zeros_like(mask))


def test_bounding_box_by_hand():
    mask = np.zeros((6, 8), bool)
    mask[2, 3] = mask[3, 5] = True  # rows 2..3, columns 3..5
    assert bounding_box(mask) == (slice(2, 4), slice(3, 6))
    assert bounding_box(mask, pad=1) == (slice(1, 5), slice(2, 7))
    assert bounding_box(mask, pad=(2, 0)) == (slice(0, 6), slice(3, 6))
    assert bounding_box(mask, pad=3) == (slice(0, 6), slice(0, 8))  # clipped on both sides
    assert bounding_box(np.zeros((6, 8), bool)) is None
    volume = np.zeros((4, 5, 6), bool)
    volume[1, 4, 0] = volume[2, 2, 5] = True
    assert bounding_box(volume) == (slice(1, 3), slice(2, 5), slice(0, 6))
    assert bounding_box(volume, pad=(0, 1, 2)) == (slice(1, 3), slice(1, 5), slice(0, 6))
    # the corners: first and last pixel, padding clipped to the image
    corner = np.zeros((3, 3), bool)
    corner[0, 0] = True
    assert bounding_box(corner, pad=1) == (slice(0, 2), slice(0, 2))
    corner = np.zeros((3, 3), bool)
    corner[2, 2] = True
    assert bounding_box(corner, pad=1) == (slice(1, 3), slice(1, 3))
    assert bounding_box(corner) == (slice(2, 3), slice(2, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
def test_masks_of_any_dtype_read_nonzero_as_foreground(dtype, rng):
    """A mask read from a file as 0/1 floats or 0/255 bytes: nonzero is foreground, as in
    scipy.ndimage's binary morphology."""
    mask = rng.random((5, 70)) < 0.6
    values = mask.astype(dtype) * (255 if dtype == np.uint8 else 1)
    cross = _cross(2)
    np.testing.assert_array_equal(BitMask.pack(values).unpack(), mask)
    np.testing.assert_array_equal(
        BitMask.pack(values).erode_cross().unpack(), ndimage.binary_erosion(values, cross, border_value=0)
    )
    np.testing.assert_array_equal(dilate_cross(values), ndimage.binary_dilation(values, cross))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_confusion_counts_of_a_batch_of_no_image(backend):
    """An empty batch has no counts (not a reshape error), on either backend."""
    ops = NUMPY if backend == "numpy" else TorchOps("cpu")
    counts = confusion_counts(np.zeros((0, 4, 5), bool), np.zeros((0, 4, 5), bool), ops=ops)
    assert [getattr(counts, name).tolist() for name in ("tp", "fp", "fn", "tn")] == [[], [], [], []]


# The packed-bit morphology's one-iteration defaults and the bounding box's pad, against scipy.ndimage.


def test_morphology_defaults_are_one_iteration():
    rng = np.random.default_rng(8)
    mask = smooth_mask(rng, (23, 70), smooth=1.5)
    cross = ndimage.generate_binary_structure(2, 1)
    square = np.ones((3, 3), bool)
    np.testing.assert_array_equal(dilate_cross(mask), ndimage.binary_dilation(mask, cross))
    np.testing.assert_array_equal(erode_square(mask), ndimage.binary_erosion(mask, square, border_value=0))
    packed = BitMask.pack(mask)
    np.testing.assert_array_equal(packed.dilate_cross().unpack(), ndimage.binary_dilation(mask, cross))
    np.testing.assert_array_equal(packed.erode_square().unpack(), ndimage.binary_erosion(mask, square, border_value=0))


def test_bounding_box_default_pad_and_per_axis_pad():
    """The tight box by default; a pad per axis grows it on both sides, clipped to the image."""
    from segcli.engine.stats import bounding_box

    mask = np.zeros((6, 7), bool)
    mask[2:4, 3] = True
    assert bounding_box(mask) == (slice(2, 4), slice(3, 4))
    assert bounding_box(mask, pad=(1, 2)) == (slice(1, 5), slice(1, 6))
    assert bounding_box(mask, pad=5) == (slice(0, 6), slice(0, 7))
    assert bounding_box(np.zeros((3, 3), bool)) is None
