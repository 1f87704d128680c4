"""Packed-bit morphology against scipy.ndimage, on widths either side of the 64-pixel word,
tiny images (every pixel next to the outside), 1D, 2D and 3D."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segcli.engine.stats import border, dilate_cross, erode_cross, erode_square

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
