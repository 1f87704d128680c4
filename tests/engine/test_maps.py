"""Weight maps and signed distances against straightforward references written here: the
per-instance full-image U-Net computation, and scipy's EDT."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from benchmarks.synth import cell_instances
from segcli.engine.distance import DegenerateMaskWarning, kervadec_sdf
from segcli.engine.maps import (
    MergedCellsWarning,
    balanced_class_weights,
    boundary_weight_map,
    distance_weight_map,
    map_for_image,
    unet_weight_map,
)
from tests.conftest import smooth_mask


def unet_reference(instances, *, w0, sigma, spacing=None, class_weights=(1.0, 1.0)):
    """One full-image distance transform per instance, then the two smallest per pixel."""
    labels = [v for v in np.unique(instances) if v != 0]
    base = np.where(instances == 0, class_weights[0], class_weights[1]).astype(np.float64)
    if len(labels) < 2:
        return base
    stack = np.stack([ndimage.distance_transform_edt(instances != v, sampling=spacing) for v in labels])
    stack.sort(axis=0)
    border = w0 * np.exp(-((stack[0] + stack[1]) ** 2) / (2 * sigma**2))
    return np.where(instances == 0, base + border, base)


def random_instances_3d(rng, shape, n):
    instances = np.zeros(shape, np.int32)
    for label in range(1, n + 1):
        centre = [rng.integers(2, s - 2) for s in shape]
        box = tuple(slice(max(c - 2, 0), c + 2) for c in centre)
        instances[box] = np.where(instances[box] == 0, label, instances[box])
    return instances


@pytest.mark.parametrize("spacing", [None, (0.6, 1.7)])
@pytest.mark.parametrize("sigma", [2.0, 5.0])
def test_unet_map_equals_per_instance_reference_2d(rng, spacing, sigma):
    instances = cell_instances(rng, (120, 140), n_cells=25, radius=6)
    got = unet_weight_map(instances, w0=10, sigma=sigma, spacing=spacing)
    np.testing.assert_allclose(
        got, unet_reference(instances, w0=10, sigma=sigma, spacing=spacing), atol=1e-5 * 10, rtol=1e-5
    )


def test_unet_map_equals_reference_3d_anisotropic(rng):
    instances = random_instances_3d(rng, (14, 40, 36), 12)
    spacing = (2.0, 0.7, 0.9)
    got = unet_weight_map(instances, w0=8, sigma=3, spacing=spacing)
    np.testing.assert_allclose(got, unet_reference(instances, w0=8, sigma=3, spacing=spacing), atol=1e-5 * 8, rtol=1e-5)


def test_unet_map_fewer_than_two_instances_has_no_border_term():
    one = np.zeros((20, 20), np.int32)
    one[5:9, 5:9] = 3
    np.testing.assert_array_equal(unet_weight_map(one), np.ones((20, 20)))


def test_unet_map_class_weights():
    instances = np.zeros((10, 30), np.int32)
    instances[2:8, 2:8], instances[2:8, 20:26] = 1, 2
    weights = np.array([0.5, 2.0])
    got = unet_weight_map(instances, w0=10, sigma=4, class_weights=weights)
    np.testing.assert_allclose(got, unet_reference(instances, w0=10, sigma=4, class_weights=weights), atol=1e-4)
    np.testing.assert_allclose(balanced_class_weights(instances > 0), [300 / (2 * 228), 300 / (2 * 72)])


def test_binary_mask_is_split_into_components_with_a_warning():
    mask = np.zeros((20, 30), np.uint8)
    mask[2:8, 2:8] = 255
    mask[2:8, 15:20] = 255
    with pytest.warns(MergedCellsWarning):
        got = map_for_image(mask, "unet", w0=10, sigma=3)
    np.testing.assert_allclose(got, unet_reference(ndimage.label(mask)[0], w0=10, sigma=3), atol=1e-4)


@pytest.mark.parametrize("spacing", [None, (1.5, 0.5)])
def test_kervadec_sdf_against_scipy(rng, spacing):
    mask = smooth_mask(rng, (50, 45))
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
    inside = ndimage.distance_transform_edt(mask, sampling=spacing)
    np.testing.assert_allclose(kervadec_sdf(mask, spacing), np.where(mask, -(inside - 1), outside), atol=1e-4)


def test_kervadec_sdf_3d_against_scipy(rng):
    mask = smooth_mask(rng, (10, 24, 20))
    expected = np.where(mask, -(ndimage.distance_transform_edt(mask) - 1), ndimage.distance_transform_edt(~mask))
    np.testing.assert_allclose(kervadec_sdf(mask), expected, atol=1e-4)


def test_kervadec_sdf_degenerate_masks_warn_and_give_zeros():
    for mask in (np.zeros((5, 5), bool), np.ones((5, 5), bool)):
        with pytest.warns(DegenerateMaskWarning):
            np.testing.assert_array_equal(kervadec_sdf(mask), 0)


def test_sdf_per_class_for_label_maps():
    labels = np.zeros((12, 12), np.uint8)
    labels[1:5, 1:5] = 1
    labels[6:11, 6:11] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = map_for_image(labels, "sdf")
    assert got.shape == (2, 12, 12)
    np.testing.assert_allclose(got[1], kervadec_sdf(labels == 2))


def test_boundary_and_distance_maps_hand_cases():
    block = np.zeros((16, 16), bool)
    block[3:13, 6:9] = True
    # row 7: ring = columns {5, 6} and {8, 9}; grown 3 px by cross steps: columns 2..12
    assert boundary_weight_map(block)[7].tolist() == [1, 1] + [5] * 11 + [1, 1, 1]
    mask = np.zeros((1, 12), bool)
    mask[0, 6:] = True
    sdf = np.array([-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6], np.float64)
    np.testing.assert_allclose(distance_weight_map(mask)[0], np.exp(-np.abs(sdf) / 5), rtol=1e-6)
