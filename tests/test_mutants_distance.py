"""Distance maps and morphology pinned where mutation testing found them loose
(segcli/engine/distance.py, segcli/engine/stats.py, segcli/scores/surface.py): the signed distance with
anisotropic spacing and a shared ``InsideOutside``, the one-iteration defaults of the packed-bit
morphology and boundary_iou's two-pixel region. References are
scipy.ndimage's transforms and morphology."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segcli.engine.distance import InsideOutside, signed_distance
from segcli.engine.stats import BitMask, dilate_cross, erode_square
from tests.conftest import smooth_mask


@pytest.mark.parametrize("shape,spacing", [((30, 41), (0.7, 1.9)), ((130, 120), (2.0, 0.5)), ((6, 14, 11), None)])
def test_signed_distance_matches_scipy_with_spacing(shape, spacing):
    """EDT(G) - EDT(not G) in spacing units, both below and above the size where the edt
    package takes over; the same from a shared InsideOutside."""
    mask = smooth_mask(np.random.default_rng(4), shape)
    expected = ndimage.distance_transform_edt(mask, sampling=spacing) - ndimage.distance_transform_edt(
        ~mask, sampling=spacing
    )
    np.testing.assert_allclose(signed_distance(mask, spacing), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(signed_distance(InsideOutside(mask, spacing)), expected, rtol=1e-5, atol=1e-5)


def test_signed_distance_of_an_empty_or_full_mask_is_zeros_of_its_shape():
    for mask in (np.zeros((3, 5), bool), np.ones((3, 5), bool)):
        out = signed_distance(mask)
        assert out.shape == (3, 5) and out.dtype == np.float32 and not out.any()


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


def test_boundary_region_default_is_two_pixels():
    """boundary_iou's region (Cheng et al. 2021): the mask minus its erosion by the 3x3 square,
    twice by default, outside the image counting as background."""
    from segcli.scores.surface import boundary_region

    mask = smooth_mask(np.random.default_rng(9), (26, 70), smooth=2.0, fill=0.5)
    eroded = ndimage.binary_erosion(mask, np.ones((3, 3), bool), iterations=2, border_value=0)
    np.testing.assert_array_equal(boundary_region(mask), mask & ~eroded)


def test_nsd_default_tolerance_is_one_and_a_distance_on_the_limit_is_within():
    """surface.nsd's default tolerance is 1 px (MONAI's class_thresholds in the README); a
    distance exactly on the slackened limit tolerance * (1 + 1e-9) counts as within, from both
    sides. Hand case: one pixel each, 5 px apart."""
    from segcli.scores import surface

    pred, target = np.zeros((1, 8), bool), np.zeros((1, 8), bool)
    pred[0, 0], target[0, 5] = True, True
    d = [surface.surface_distances(pred, target)]
    two_apart = [surface.surface_distances(pred, np.roll(pred, 2))]
    assert surface.nsd(two_apart)[0] == 0.0
    assert surface.nsd([surface.surface_distances(pred, np.roll(pred, 1))])[0] == 1.0
    on_limit = 5.0 / (1 + 1e-9)
    assert on_limit * (1.0 + 1e-9) == 5.0
    assert surface.nsd(d, tolerance=on_limit)[0] == 1.0


def test_bounding_box_default_pad_and_per_axis_pad():
    """The tight box by default; a pad per axis grows it on both sides, clipped to the image."""
    from segcli.engine.stats import bounding_box

    mask = np.zeros((6, 7), bool)
    mask[2:4, 3] = True
    assert bounding_box(mask) == (slice(2, 4), slice(3, 4))
    assert bounding_box(mask, pad=(1, 2)) == (slice(1, 5), slice(1, 6))
    assert bounding_box(mask, pad=5) == (slice(0, 6), slice(0, 7))
    assert bounding_box(np.zeros((3, 3), bool)) is None


@pytest.mark.parametrize("shape", [(20, 30), (150, 100)], ids=["scipy below 12000 px", "edt package above"])
@pytest.mark.parametrize("spacing", [None, (0.7, 1.9)])
def test_edt_matches_scipy_in_float32_on_both_paths(shape, spacing):
    """``edt`` is float32 (the maps weightmap writes) and exact, whichever transform runs."""
    from segcli.engine.distance import edt

    mask = smooth_mask(np.random.default_rng(5), shape)
    got = edt(mask, spacing)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ndimage.distance_transform_edt(mask, sampling=spacing), rtol=1e-6)


@pytest.mark.parametrize("shape", [(8, 9), (150, 100)])
def test_kervadec_sdf_is_float32_and_warns_on_a_degenerate_mask(shape):
    """Degenerate masks: zeros of the shape, float32 like every other map, and a
    DegenerateMaskWarning with its message, pointing at the caller, not at segcli (mutmut's call
    layer stands between the two, so the caller's file itself is not asserted)."""
    import segcli.engine.distance as module
    from segcli.engine.distance import DegenerateMaskWarning, kervadec_sdf

    mask = smooth_mask(np.random.default_rng(6), shape)
    assert kervadec_sdf(mask).dtype == np.float32
    for degenerate in (np.zeros(shape, bool), np.ones(shape, bool)):
        with pytest.warns(DegenerateMaskWarning) as caught:
            sdf = kervadec_sdf(degenerate)
        assert sdf.dtype == np.float32 and sdf.shape == shape and not sdf.any()
        assert str(caught[0].message) == "signed distance of an all-empty or all-full mask is taken as zeros"
        assert caught[0].filename != module.__file__
