"""Weight maps and signed distances against straightforward references written here: the
per-instance full-image U-Net computation, and scipy's EDT."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

import segcli.engine.maps
from benchmarks.synth import cell_instances
from segcli.engine.distance import DegenerateMaskWarning, kervadec_sdf
from segcli.engine.instances import connected_instances, nearest_two_instance_distances
from segcli.engine.maps import (
    MergedCellsWarning,
    balanced_class_weights,
    boundary_band,
    boundary_weight_map,
    check_class_weights,
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


# segcli/engine/maps.py. The U-Net map through
# ``map_for_image`` (defaults, spacing, connectivity, balanced and given class weights, sparse
# labels) against the per-instance reference above, built on scipy's EDT; connected
# components against scikit-image; the nearest two distances where they are documented exact
# against one scipy transform per instance; the 1e-6 w0 cutoff and the sdf size limit worked by
# hand; distance maps of label images against scipy; the device form (torch on the CPU) for
# missing classes, its warnings and float32 under a float64 torch default; the preview's colours
# against matplotlib's viridis (five anchors, linear between), its colour bar, non-finite and
# float16 maps, enlargement, and its value labels and caption against Pillow's own rendering of
# the expected text at the expected place; every argument error by the message users read.


def _two_cells():
    instances = np.zeros((12, 30), np.int32)
    instances[2:9, 2:10], instances[3:10, 14:22] = 1, 2
    return instances


def test_numbers_are_checked_and_named():
    cells = _two_cells()
    for call in (lambda **k: map_for_image(cells, "unet", **k), lambda **k: unet_weight_map(cells, **k)):
        with pytest.raises(ValueError, match=r"^w0: expected a finite number >= 0, got -1$"):
            call(w0=-1)
        with pytest.raises(ValueError, match=r"^sigma: expected a finite number > 0, got 0$"):
            call(sigma=0)
        # w0 = 0 (no border term) and w0 below 1 are fine
        np.testing.assert_array_equal(call(w0=0), np.ones(cells.shape))
        np.testing.assert_allclose(call(w0=0.5, sigma=3), unet_reference(cells, w0=0.5, sigma=3), atol=1e-6)
    block = np.zeros((16, 16), bool)
    block[3:13, 6:9] = True
    with pytest.raises(ValueError, match=r"^weight: expected a finite number >= 0, got -1$"):
        boundary_weight_map(block, weight=-1)
    with pytest.raises(ValueError, match=r"^tau: expected a finite number > 0, got 0$"):
        distance_weight_map(block, tau=0)
    for width in (1.5, -1):
        with pytest.raises(ValueError, match=rf"^width: expected an integer >= 0, got {width}$"):
            boundary_weight_map(block, width=width)
    # weight 0 and width 0 are allowed: width 0 is the ring itself, columns {5, 6} and {8, 9} of row 7
    assert boundary_weight_map(block, weight=0, width=0)[7].tolist() == [1] * 5 + [0, 0, 1, 0, 0] + [1] * 6
    # boundary_band's default width is 3 (the band of boundary_bce): columns 2..12 of row 7
    assert np.flatnonzero(boundary_band(block)[7]).tolist() == list(range(2, 13))


def test_options_are_checked_and_named():
    cells = _two_cells()
    kinds = r"\('unet', 'sdf', 'boundary', 'distance'\)"
    with pytest.raises(ValueError, match=rf"^kind: expected one of {kinds}, got 'nope'$"):
        map_for_image(cells, "nope")
    for call in (
        lambda c: map_for_image(cells, "unet", connectivity=c),
        lambda c: connected_instances(cells > 0, connectivity=c),
    ):
        with pytest.raises(ValueError, match=r"^connectivity: expected 1 or 2, got 3$"):
            call(3)
        call(2)
    with pytest.raises(ValueError, match=r"^class_weights: expected uniform, balanced or a vector, got 'heavy'$"):
        map_for_image(cells, "unet", class_weights="heavy")
    message = r"^class_weights: expected two finite numbers >= 0 \(w_background, w_foreground\), got "
    for bad, shown in (
        ([-1, 1], r"\[-1.0, 1.0\]"),
        ([1, 2, 3], r"\[1.0, 2.0, 3.0\]"),
        ([1, math.inf], r"\[1.0, inf\]"),
    ):
        with pytest.raises(ValueError, match=message + shown + "$"):
            check_class_weights(bad)
        with pytest.raises(ValueError, match=message + shown + "$"):
            map_for_image(cells, "unet", class_weights=bad)
    weights = check_class_weights([0, 2])  # 0 is allowed; integers come back as float64
    assert weights.dtype == np.float64 and weights.tolist() == [0.0, 2.0]


@pytest.mark.parametrize("spacing", [(1.0,), (1.0, 1.0, 1.0), (0.0, 1.0), (math.inf, 1.0), (-1.0, 1.0)])
def test_spacing_is_checked_and_named(spacing):
    cells = _two_cells()
    message = rf"^spacing: expected 2 finite numbers > 0, got \[{', '.join(str(s) for s in spacing)}\]$"
    for kind in ("boundary", "distance", "unet", "sdf"):  # boundary maps do not use spacing: checked anyway
        with pytest.raises(ValueError, match=message):
            map_for_image(cells, kind, spacing=spacing)
    with pytest.raises(ValueError, match=message):
        unet_weight_map(cells, spacing=spacing)
    with pytest.raises(ValueError, match=message):
        distance_weight_map(cells > 0, spacing=spacing)


def test_images_that_are_not_masks_or_labels_are_refused():
    with pytest.raises(ValueError, match=r"^array: expected labels >= 0, got -1$"):
        map_for_image(np.array([[0, 1], [2, -1]], np.int16), "boundary")
    message = r"^array: expected a mask or integer labels, got non-integer or non-finite values$"
    for bad in (1.5, math.inf, math.nan):
        with pytest.raises(ValueError, match=message):
            map_for_image(np.array([[0.0, 1.0], [2.0, bad]]), "boundary")
    # floats that hold integers are labels; bool masks pass
    labels = np.array([[0, 1, 1, 0], [0, 2, 2, 0], [0, 0, 0, 0]])
    for kind in ("unet", "boundary", "distance", "sdf"):
        np.testing.assert_array_equal(map_for_image(labels.astype(np.float32), kind), map_for_image(labels, kind))
    np.testing.assert_array_equal(map_for_image(labels > 0, "boundary"), boundary_weight_map(labels > 0))


def _diagonal_cells():
    """Two squares touching only at a corner, and a third apart."""
    mask = np.zeros((14, 20), bool)
    mask[1:5, 1:5] = mask[5:9, 5:9] = mask[2:6, 13:17] = True
    return mask


def test_connected_instances_against_scikit_image(rng):
    measure = pytest.importorskip("skimage.measure")
    masks = [_diagonal_cells(), rng.random((30, 40)) > 0.6, rng.random((8, 12, 10)) > 0.7]
    for mask in masks:
        for connectivity in (1, 2):
            expected = measure.label(mask, connectivity=connectivity if connectivity == 1 else mask.ndim)
            np.testing.assert_array_equal(connected_instances(mask, connectivity=connectivity), expected)
        np.testing.assert_array_equal(connected_instances(mask), measure.label(mask, connectivity=1))
    assert (
        connected_instances(_diagonal_cells()).max() == 3
        and connected_instances(_diagonal_cells(), connectivity=2).max() == 2
    )


def test_binary_masks_are_split_by_the_connectivity_asked_for():
    mask = _diagonal_cells().astype(np.uint8) * 255
    for connectivity, structure in ((1, None), (2, np.ones((3, 3)))):
        with pytest.warns(MergedCellsWarning) as said:
            got = map_for_image(mask, "unet", sigma=2, connectivity=connectivity)
        expected = unet_reference(ndimage.label(mask, structure=structure)[0], w0=10, sigma=2)
        np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.warns(MergedCellsWarning) as said:
        default = map_for_image(mask, "unet", sigma=2)
    (warning,) = said
    with pytest.warns(MergedCellsWarning):
        np.testing.assert_array_equal(default, map_for_image(mask, "unet", sigma=2, connectivity=1))
    assert str(warning.message) == (
        "binary mask split into connected components: touching cells merge into one instance"
    )
    assert warning.filename != segcli.engine.maps.__file__  # points at the caller, not into segcli


def test_unet_defaults_spacing_and_class_weights_through_map_for_image(rng):
    instances = cell_instances(rng, (60, 70), n_cells=10, radius=5)
    # documented defaults: w0 = 10, sigma = 5, uniform class weights
    expected = unet_reference(instances, w0=10, sigma=5)
    np.testing.assert_allclose(map_for_image(instances, "unet"), expected, atol=1e-4)
    np.testing.assert_allclose(unet_weight_map(instances), expected, atol=1e-4)
    spacing = (0.6, 1.7)
    np.testing.assert_allclose(
        map_for_image(instances, "unet", w0=4, sigma=3, spacing=spacing),
        unet_reference(instances, w0=4, sigma=3, spacing=spacing),
        atol=1e-4,
    )
    given = map_for_image(instances, "unet", sigma=3, class_weights=[0.5, 2.0])
    assert given.dtype == np.float32
    np.testing.assert_allclose(given, unet_reference(instances, w0=10, sigma=3, class_weights=(0.5, 2.0)), atol=1e-4)
    assert unet_weight_map(instances, class_weights=np.array([0.5, 2.0])).dtype == np.float32
    # balanced: N / (2 n_c) per class, written out
    n, n_fg = instances.size, np.count_nonzero(instances)
    balanced = (n / (2 * (n - n_fg)), n / (2 * n_fg))
    np.testing.assert_allclose(
        map_for_image(instances, "unet", sigma=3, class_weights="balanced"),
        unet_reference(instances, w0=10, sigma=3, class_weights=balanced),
        atol=1e-4,
    )


def test_balanced_class_weights_of_a_missing_class_are_zero_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert balanced_class_weights(np.zeros(8, bool)).tolist() == [0.5, 0.0]
        assert balanced_class_weights(np.ones((2, 3), bool)).tolist() == [0.0, 0.5]


def test_sparse_labels_give_the_map_of_their_dense_numbering():
    dense = _two_cells()
    dense[9:11, 25:28] = 3
    sparse = np.select([dense == 1, dense == 2, dense == 3], [7, 4_000_000_000, 12345], 0).astype(np.uint32)
    assert sparse.max() > sparse.size
    np.testing.assert_allclose(map_for_image(sparse, "unet", sigma=3), unet_reference(dense, w0=10, sigma=3), atol=1e-4)


def test_the_border_term_is_dropped_exactly_below_1e_6_w0():
    # two one-pixel cells 6 columns apart: the five pixels between have d1 + d2 = 6 * column spacing.
    # sigma = 1, w0 = 1e6: the cutoff is d1 + d2 = sqrt(2 ln 1e6) = 5.2565 (a term of 1e-6 w0 = 1)
    cells = np.zeros((1, 7), np.int32)
    cells[0, 0], cells[0, 6] = 1, 2
    kept = unet_weight_map(cells, w0=1e6, sigma=1, spacing=(1.0, 0.86))  # 5.16: term 1e6 exp(-5.16^2 / 2) = 1.65
    np.testing.assert_allclose(kept[0, 1:6], 1 + 1e6 * math.exp(-(5.16**2) / 2), rtol=1e-5)
    dropped = unet_weight_map(cells, w0=1e6, sigma=1, spacing=(1.0, 0.88))  # 5.28: the term 0.88 < 1 is dropped
    assert dropped.tolist() == [[1.0] * 7]


def _nearest_two_reference(instances, spacing=None):
    stack = np.stack(
        [ndimage.distance_transform_edt(instances != v, sampling=spacing) for v in np.unique(instances) if v != 0]
    )
    stack.sort(axis=0)
    return stack[0], stack[1]


@pytest.mark.parametrize("spacing", [None, (1.3, 0.7)])
def test_nearest_two_distances_are_exact_where_their_sum_is_within_max_distance(rng, spacing):
    instances = cell_instances(rng, (70, 80), n_cells=14, radius=4)
    nearest, second = nearest_two_instance_distances(instances, max_distance=9.0, spacing=spacing)
    d1, d2 = _nearest_two_reference(instances, spacing)
    close = d1 + d2 <= 9.0
    assert close.sum() > 100
    np.testing.assert_allclose(nearest[close], d1[close], rtol=1e-6)
    np.testing.assert_allclose(second[close], d2[close], rtol=1e-6)
    # by hand: one-pixel cells 6 apart, max_distance 6: every pixel of the row is within it,
    # the cells themselves included (d1 = 0, d2 = 6)
    cells = np.zeros((1, 7), np.int32)
    cells[0, 0], cells[0, 6] = 1, 2
    nearest, second = nearest_two_instance_distances(cells, max_distance=6.0)
    assert nearest.tolist() == [[0, 1, 2, 3, 2, 1, 0]] and second.tolist() == [[6, 5, 4, 3, 4, 5, 6]]


def test_sdf_label_maps_leave_a_missing_class_at_zero_without_a_warning():
    labels = np.zeros((12, 14), np.uint8)
    labels[1:5, 1:6], labels[6:11, 7:12] = 1, 3  # class 2 is missing
    for device in (None, "cpu"):
        if device is not None:
            pytest.importorskip("torch")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = map_for_image(labels, "sdf", device=device)
            assert got.shape == (3, 12, 14) and got.dtype == np.float32
            np.testing.assert_array_equal(got[1], 0.0)
            np.testing.assert_allclose(got[2], kervadec_sdf(labels == 3), atol=1e-6)
            np.testing.assert_allclose(got[0], kervadec_sdf(labels == 1), atol=1e-6)
            # a binary mask that is neither empty nor full warns of nothing either
            np.testing.assert_allclose(map_for_image(labels == 1, "sdf", device=device), got[0], atol=1e-6)


def test_the_device_warns_of_an_empty_mask_in_the_cpu_words():
    pytest.importorskip("torch")
    for device in (None, "cpu"):
        with pytest.warns(DegenerateMaskWarning) as said:
            map_for_image(np.zeros((6, 7), bool), "sdf", device=device)
        assert [str(w.message) for w in said] == ["signed distance of an all-empty or all-full mask is taken as zeros"]


def test_device_maps_are_float32_under_a_float64_torch_default():
    torch = pytest.importorskip("torch")
    block = np.zeros((16, 16), bool)
    block[3:13, 6:9] = True
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        maps = {kind: map_for_image(block, kind, device="cpu") for kind in ("boundary", "distance", "sdf")}
    finally:
        torch.set_default_dtype(before)
    for kind, found in maps.items():
        assert found.dtype == np.float32, kind
        np.testing.assert_allclose(found, map_for_image(block, kind), rtol=1e-6, atol=1e-7)


def test_sdf_size_limit_and_its_message(monkeypatch):
    labels = np.array([[0, 1], [2, 2**33]], np.int64)  # 2**33 channels of 4 pixels: 2**37 bytes
    with pytest.raises(
        ValueError,
        match=r"^array: label map with highest label 8589934592 would need 8589934592 sdf channels "
        r"\(128\.0 GiB\); at most 4 GiB$",
    ):
        map_for_image(labels, "sdf")
    # exactly at the limit is allowed, one byte less is not: 3 channels of 10 x 10 float32 = 1200 bytes
    small = np.zeros((10, 10), np.uint8)
    small[1:4, 1:4], small[5:8, 5:8] = 1, 3
    monkeypatch.setattr(segcli.engine.maps, "MAX_SDF_BYTES", 1200)
    assert map_for_image(small, "sdf").shape == (3, 10, 10)
    monkeypatch.setattr(segcli.engine.maps, "MAX_SDF_BYTES", 1199)
    with pytest.raises(ValueError, match=r"^array: label map with highest label 3 would need 3 sdf channels"):
        map_for_image(small, "sdf")


def test_distance_maps_of_label_images_use_every_label():
    labels = np.zeros((14, 16), np.uint8)
    labels[2:6, 2:7], labels[7:12, 8:14] = 1, 2
    spacing = (0.8, 1.25)
    inside = labels > 0
    distance = np.where(
        inside,
        ndimage.distance_transform_edt(inside, sampling=spacing),
        ndimage.distance_transform_edt(~inside, sampling=spacing),
    )
    np.testing.assert_allclose(map_for_image(labels, "distance", spacing=spacing), np.exp(-distance / 5), rtol=1e-6)
    for empty in (np.zeros((5, 6), bool), np.ones((5, 6), bool)):
        flat = distance_weight_map(empty)
        assert flat.dtype == np.float32 and flat.tolist() == [[1.0] * 6] * 5
