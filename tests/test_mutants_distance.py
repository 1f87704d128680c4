"""Distance maps and morphology pinned where mutation testing found them loose
(segcli/distance.py, segcli/stats.py): the signed distance with anisotropic spacing and a shared
``InsideOutside``, and the one-iteration defaults of the packed-bit morphology. References are
scipy.ndimage's transforms and morphology."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segcli.distance import InsideOutside, signed_distance
from segcli.stats import dilate_cross, erode_square
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
