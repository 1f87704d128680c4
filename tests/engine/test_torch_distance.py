"""The torch distance transform (segcli.engine.torch_distance) against scipy and the ``edt`` package, and
its morphology and surface distances against the CPU path, on CPU tensors; the CUDA test runs
the same comparison on a GPU and skips cleanly without one."""

from __future__ import annotations

import edt as edt_package
import numpy as np
import pytest
import torch
from scipy import ndimage

from segcli.engine import torch_edt as device_distance
from segcli.engine.distance import InsideOutside
from segcli.engine.maps import boundary_band as cpu_boundary_band
from segcli.engine.stats import border as cpu_border
from segcli.engine.stats import dilate_cross as cpu_dilate_cross
from segcli.engine.torch_distance import (
    border,
    boundary_band,
    boundary_iou,
    boundary_region,
    dilate_cross,
    inside_outside,
    surface_distances,
)
from segcli.engine.torch_edt import edt, squared_distance_to
from segcli.scores import surface as cpu_surface
from tests.conftest import smooth_mask

SPACINGS = (1.0, 0.5, 2.5, 0.3, 1.7)


@pytest.fixture(params=[0, 2, device_distance.DIRECT_OFFSETS])
def direct_offsets(request, monkeypatch):
    """Each test three times: the halving search alone, after two offsets, and as shipped."""
    monkeypatch.setattr(device_distance, "DIRECT_OFFSETS", request.param)
    return request.param


def _random_case(rng, max_side):
    ndim = int(rng.choice([2, 3]))
    shape = tuple(int(n) for n in rng.integers(1, max_side if ndim == 2 else max_side // 2, ndim))
    mask = rng.random(shape) < rng.random()
    spacing = tuple(float(s) for s in rng.choice(SPACINGS, ndim))
    return mask, spacing


def test_edt_equals_scipy_on_random_masks(rng, direct_offsets):
    for _ in range(200):
        mask, spacing = _random_case(rng, 24)
        if mask.all():
            continue  # scipy has no answer without a False pixel
        expected = ndimage.distance_transform_edt(mask, sampling=spacing)
        np.testing.assert_allclose(edt(mask, spacing).numpy(), expected, rtol=1e-12, err_msg=f"{mask.shape} {spacing}")


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 1, 5), (1, 1, 6), (31, 17), (5, 12, 9)])
def test_edt_on_edge_cases(shape):
    empty = np.zeros(shape, bool)
    assert edt(empty).numpy().tolist() == np.zeros(shape).tolist()
    assert np.isinf(edt(~empty).numpy()).all()  # no False pixel: inf, as the module says
    single = np.ones(shape, bool)
    single[tuple(n // 2 for n in shape)] = False
    spacing = (0.7, 1.9, 1.1)[: len(shape)]
    expected = ndimage.distance_transform_edt(single, sampling=spacing)
    np.testing.assert_allclose(edt(single, spacing).numpy(), expected, rtol=1e-12)
    lone = np.zeros(shape, bool)
    lone[(0,) * len(shape)] = True  # a single True pixel at the corner: 1 step to the nearest False
    expected = ndimage.distance_transform_edt(lone, sampling=spacing) if lone.size > 1 else np.full(shape, np.inf)
    np.testing.assert_allclose(edt(lone, spacing).numpy(), expected, rtol=1e-12)


def test_edt_equals_the_edt_package_on_smooth_masks(rng):
    for shape, spacing in [((96, 130), (1.0, 1.0)), ((64, 81), (0.4, 1.3)), ((20, 37, 29), (2.5, 0.8, 0.8))]:
        mask = smooth_mask(rng, shape, fill=0.6)
        expected = edt_package.edt(mask.view(np.uint8), anisotropy=spacing, black_border=False)
        np.testing.assert_allclose(edt(mask, spacing).numpy(), expected, rtol=1e-5)


def test_small_line_chunks_give_the_same_values(rng, monkeypatch, direct_offsets):
    mask = rng.random((3, 23, 19, 11)) < 0.05
    spacing = (1.0, 0.6, 2.0)
    whole = squared_distance_to(torch.from_numpy(mask), spacing)
    monkeypatch.setattr(device_distance, "LINE_CHUNK_ELEMENTS", 40)
    chunked = squared_distance_to(torch.from_numpy(mask), spacing)
    assert torch.equal(whole, chunked)
    for i in range(3):
        expected = ndimage.distance_transform_edt(~mask[i], sampling=spacing) ** 2
        np.testing.assert_allclose(whole[i].numpy(), expected, rtol=1e-12)


def test_queries_are_exact_and_the_rest_never_below(rng, direct_offsets):
    for _ in range(30):
        features = rng.random((2, 40, 33)) < 0.01
        queries = rng.random(features.shape) < 0.05
        spacing = (1.3, 0.9)
        full = squared_distance_to(torch.from_numpy(features), spacing).numpy()
        partial = squared_distance_to(torch.from_numpy(features), spacing, queries=torch.from_numpy(queries)).numpy()
        np.testing.assert_array_equal(partial[queries], full[queries])
        assert np.all(partial >= full)


def test_long_distances_far_past_the_direct_offsets(rng):
    for shape, spacing in [((300, 41), (1.0, 1.0)), ((13, 250, 90), (3.0, 0.45, 1.1)), ((2, 517), (0.9, 2.0))]:
        mask = np.ones(shape, bool)
        mask[tuple(int(rng.integers(0, n)) for n in shape)] = False  # one False pixel: long distances
        mask[tuple(n - 1 for n in shape)] = False
        expected = ndimage.distance_transform_edt(mask, sampling=spacing)
        np.testing.assert_allclose(edt(mask, spacing).numpy(), expected, rtol=1e-12)
        sparse = rng.random(shape) < 0.001
        sparse[(0,) * len(shape)] = True
        expected = ndimage.distance_transform_edt(~sparse, sampling=spacing)
        np.testing.assert_allclose(edt(~sparse, spacing).numpy(), expected, rtol=1e-12)


def test_the_halving_search_does_log_n_levels_of_about_n_candidates(rng, monkeypatch):
    """Not a timing: the work the halving search is meant to do, counted."""
    levels = []
    real = torch.repeat_interleave

    def counting(ids, lengths, output_size):
        levels.append((output_size, lengths.numel()))
        return real(ids, lengths, output_size=output_size)

    monkeypatch.setattr(torch, "repeat_interleave", counting)
    count, n = 5, 200
    lines = torch.from_numpy(np.where(rng.random((count, n)) < 0.05, rng.random((count, n)) * 50, np.inf))
    lines[:, 0] = 1.0  # a finite value on every line
    got = device_distance._envelope_by_halving(lines, 0.7)
    assert len(levels) == int(np.ceil(np.log2(n + 1)))
    for candidates, searches in levels:
        assert candidates <= count * n + searches  # the ranges of a level overlap only at their ends
    index = torch.arange(n, dtype=torch.float64)
    expected = (lines[:, None, :] + ((index[:, None] - index[None, :]) * 0.7) ** 2).amin(dim=2)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)


def test_batch_images_do_not_see_each_other():
    features = torch.zeros(3, 5, 6, dtype=torch.bool)
    features[0, 0, 0] = True
    features[2, 4, 5] = True
    d2 = squared_distance_to(features)
    assert d2[0, 4, 5] == 16 + 25 and d2[2, 0, 0] == 16 + 25
    assert torch.isinf(d2[1]).all()


def test_morphology_equals_the_cpu_path(rng):
    for shape in [(1, 1), (1, 7), (18, 25), (6, 9, 11), (1, 5, 5)]:
        masks = np.stack([smooth_mask(rng, shape) for _ in range(3)] + [np.ones(shape, bool)])
        tensor = torch.from_numpy(masks)
        got = border(tensor).numpy()
        for i, mask in enumerate(masks):
            np.testing.assert_array_equal(got[i], cpu_border(mask))
        for width in (0, 1, 2, 3):
            regions = boundary_region(tensor, width).numpy()
            bands = boundary_band(tensor, width).numpy()
            grown = dilate_cross(tensor, width).numpy()
            for i, mask in enumerate(masks):
                np.testing.assert_array_equal(regions[i], cpu_surface.boundary_region(mask, width=width))
                np.testing.assert_array_equal(bands[i], cpu_boundary_band(mask, width=width))
                np.testing.assert_array_equal(grown[i], cpu_dilate_cross(mask, width))


def test_boundary_iou_equals_the_cpu_path(rng):
    shape = (30, 41)
    pred = np.stack([smooth_mask(rng, shape), np.zeros(shape, bool), np.zeros(shape, bool), smooth_mask(rng, shape)])
    target = np.stack([smooth_mask(rng, shape), np.zeros(shape, bool), smooth_mask(rng, shape), pred[3]])
    for width in (1, 2, 4):
        expected = cpu_surface.boundary_iou(pred, target, width=width)
        got = boundary_iou(torch.from_numpy(pred), torch.from_numpy(target), width=width)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[1] == 1.0 and got[2] == 0.0 and got[3] == 1.0


def _surface_cases(rng, shape):
    """Pairs with every empty / non-empty combination and smooth, offset and touching masks."""
    empty = np.zeros(shape, bool)
    a, b = smooth_mask(rng, shape), smooth_mask(rng, shape)
    edge = np.zeros(shape, bool)
    edge[(slice(0, 2),) + (slice(None),) * (len(shape) - 1)] = True
    return [(a, b), (empty, b), (a, empty), (empty, empty), (a, a), (edge, a), (b, edge)]


@pytest.mark.parametrize("shape, spacing", [((37, 29), None), ((40, 33), (0.5, 1.25)), ((9, 17, 14), (3.0, 0.7, 0.7))])
def test_surface_distances_equal_the_cpu_path(rng, shape, spacing, direct_offsets):
    cases = _surface_cases(rng, shape)
    pred = torch.from_numpy(np.stack([p for p, _ in cases]))
    target = torch.from_numpy(np.stack([g for _, g in cases]))
    got = surface_distances(pred, target, spacing)
    for (p, g), d in zip(cases, got, strict=True):
        expected = cpu_surface.surface_distances(p, g, spacing)
        assert d.pred_to_gt.dtype == np.float64 and d.gt_to_pred.dtype == np.float64
        np.testing.assert_allclose(d.pred_to_gt, expected.pred_to_gt, rtol=1e-6)
        np.testing.assert_allclose(d.gt_to_pred, expected.gt_to_pred, rtol=1e-6)


def test_surface_distances_of_an_all_empty_batch():
    empty = torch.zeros(2, 6, 7, dtype=torch.bool)
    for d in surface_distances(empty, empty):
        assert d.pred_empty and d.gt_empty


def test_inside_outside_equals_the_cpu_path(rng, direct_offsets):
    for shape, spacing in [((35, 48), None), ((30, 22), (0.6, 1.4)), ((8, 15, 12), (2.0, 1.0, 1.0))]:
        empty, full = np.zeros(shape, bool), np.ones(shape, bool)
        masks = [smooth_mask(rng, shape), empty, full, smooth_mask(rng, shape, fill=0.9)]
        distance, degenerate = inside_outside(torch.from_numpy(np.stack(masks)), spacing)
        assert distance.dtype == torch.float32
        for i, mask in enumerate(masks):
            reference = InsideOutside(mask, spacing)
            assert degenerate[i] == reference.degenerate
            if reference.degenerate:
                assert (distance[i] == 0).all()
            else:
                np.testing.assert_allclose(distance[i].numpy(), reference.distance, rtol=1e-6)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="mask: expected a 2-D or 3-D mask, got shape"):
        edt(np.zeros(5, bool))
    with pytest.raises(ValueError, match="mask: expected a 2-D or 3-D mask"):
        edt(np.zeros((2, 2, 2, 2), bool))
    with pytest.raises(ValueError, match="mask: expected a non-empty mask"):
        edt(np.zeros((0, 3), bool))
    for spacing in [(1.0,), (1.0, 0.0), (1.0, -2.0), (1.0, float("nan")), (1.0, float("inf"))]:
        with pytest.raises(ValueError, match=r"spacing: expected 2 finite numbers > 0"):
            edt(np.zeros((3, 3), bool), spacing)


def test_edt_takes_tensors_of_any_dtype():
    mask = torch.tensor([[0, 3, 3, 3, 0]], dtype=torch.uint8)
    assert edt(mask).tolist() == [[0.0, 1.0, 2.0, 1.0, 0.0]]
    assert edt(mask.float(), device="cpu").dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_equals_cpu(rng):
    for _ in range(20):
        mask, spacing = _random_case(rng, 40)
        cpu = edt(mask, spacing)
        np.testing.assert_array_equal(edt(mask, spacing, device="cuda").cpu().numpy(), cpu.numpy())
    cases = _surface_cases(rng, (9, 17, 14))
    pred = torch.from_numpy(np.stack([p for p, _ in cases]))
    target = torch.from_numpy(np.stack([g for _, g in cases]))
    on_gpu = surface_distances(pred.cuda(), target.cuda(), (3.0, 0.7, 0.7))
    for a, b in zip(on_gpu, surface_distances(pred, target, (3.0, 0.7, 0.7)), strict=True):
        np.testing.assert_allclose(a.pred_to_gt, b.pred_to_gt, rtol=1e-12)
        np.testing.assert_allclose(a.gt_to_pred, b.gt_to_pred, rtol=1e-12)


# segcli/engine/torch_distance.py at its edges: tensors numpy cannot read, the device asked, the halving search
# on CUDA, boundary_iou's one-pixel boundaries and default width. References: scipy.ndimage.distance_transform_edt
# and hand-worked cases.


def test_edt_takes_tensors_numpy_cannot_read():
    """A tensor that needs grad, or is bfloat16, is read as a tensor, never through numpy."""
    expected = ndimage.distance_transform_edt(np.array([[0, 1, 1, 1, 0]]))
    graded = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]], requires_grad=True)
    np.testing.assert_array_equal(edt(graded).numpy(), expected)
    np.testing.assert_array_equal(edt(graded.detach().to(torch.bfloat16)).numpy(), expected)


def test_edt_lands_on_the_device_asked():
    """``device``: the result is computed and left there (a column needs no nonzero, which the
    meta device cannot run); without it, on the tensor's own device."""
    column = np.array([[1], [1], [0]])
    assert edt(column, device="meta").device.type == "meta"
    assert edt(torch.from_numpy(column).to("meta")).device.type == "meta"
    assert edt(column).tolist() == [[2.0], [1.0], [0.0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("direct_offsets", [0, 2])
def test_the_halving_search_on_cuda_equals_scipy(monkeypatch, direct_offsets):
    """Every tensor the halving search makes lives on the GPU (a CPU one there raises)."""
    monkeypatch.setattr(device_distance, "DIRECT_OFFSETS", direct_offsets)
    rng = np.random.default_rng(7)
    for shape, spacing in [((37, 45), (0.8, 1.3)), ((9, 21, 17), (2.0, 0.7, 0.7))]:
        mask = rng.random(shape) > 0.02
        mask[(0,) * len(shape)] = False
        got = edt(mask, spacing, device="cuda").cpu().numpy()
        np.testing.assert_allclose(got, ndimage.distance_transform_edt(mask, sampling=spacing), rtol=1e-12)


def test_boundary_iou_of_one_pixel_boundaries():
    """Hand-worked: a lone pixel is its own boundary region (union 1): IoU 1 with itself, 0 with
    an empty mask; two empty masks: 1."""
    from segcli.engine.torch_distance import boundary_iou

    one = torch.zeros(1, 5, 5, dtype=torch.bool)
    one[0, 2, 2] = True
    empty = torch.zeros_like(one)
    assert boundary_iou(one, one, width=1).tolist() == [1.0]
    assert boundary_iou(one, empty, width=1).tolist() == [0.0]
    assert boundary_iou(empty, empty, width=1).tolist() == [1.0]


def test_boundary_iou_default_width_is_2():
    """Hand-worked, 7x7 full vs. full with a hole at the centre: width 2 leaves the full mask's
    3x3 centre out of its region (40 pixels) and takes all 48 of the other: IoU 40/48."""
    from segcli.engine.torch_distance import boundary_iou

    full = torch.ones(1, 7, 7, dtype=torch.bool)
    holed = full.clone()
    holed[0, 3, 3] = False
    assert boundary_iou(full, holed).tolist() == [40 / 48]
