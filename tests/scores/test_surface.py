"""Surface scores against MONAI (hd, hd95, assd, nsd) and MedPy (hd, hd95 pooled, assd) on random
2D and 3D masks with anisotropic spacing; hand cases for the empty conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from segcli.inputs.interpret import BinaryPair
from segcli.scores import surface
from segcli.scores.batch import BinaryBatch
from segcli.scores.surface import surface_distances
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions
from tests.conftest import smooth_mask
from tests.scores._reference import binary_cases, check_against_reference

CASES = [
    ((50, 64), (1.0, 1.0)),
    ((50, 64), (0.7, 1.9)),
    ((12, 30, 26), (2.5, 0.8, 0.6)),
    ((12, 30, 26), (1.0, 1.0, 1.0)),
]
TOL = 1e-4


def _monai(fn, pred, target, **kwargs):
    def as_batch(mask):
        return torch.from_numpy(mask[None, None].astype(np.float32))

    return float(fn(as_batch(pred), as_batch(target), include_background=True, **kwargs).reshape(-1)[0])


@pytest.fixture(params=CASES, ids=[f"{len(s)}d-{sp}" for s, sp in CASES])
def pairs(request, rng):
    shape, spacing = request.param
    out = []
    for fill in (0.2, 0.45):
        pred = smooth_mask(rng, shape, fill=fill)
        target = smooth_mask(rng, shape, fill=0.3)
        target[0, 0] = True  # a mask touching the image edge has a border there
        out.append((pred, target))
    return out, spacing


def test_against_monai(pairs):
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

    cases, spacing = pairs
    for pred, target in cases:
        d = [surface_distances(pred, target, spacing)]
        assert surface.hd(d)[0] == pytest.approx(
            _monai(compute_hausdorff_distance, pred, target, spacing=spacing), rel=TOL
        )
        assert surface.hd95(d)[0] == pytest.approx(
            _monai(compute_hausdorff_distance, pred, target, percentile=95, spacing=spacing), rel=TOL
        )
        assert surface.assd(d)[0] == pytest.approx(
            _monai(compute_average_surface_distance, pred, target, symmetric=True, spacing=spacing), rel=TOL
        )
        for tolerance in (1.0, 2.5):
            assert surface.nsd(d, tolerance=tolerance)[0] == pytest.approx(
                _monai(compute_surface_dice, pred, target, class_thresholds=[tolerance], spacing=spacing), rel=TOL
            )


def test_against_medpy(pairs):
    from medpy.metric import binary

    cases, spacing = pairs
    for pred, target in cases:
        d = [surface_distances(pred, target, spacing)]
        assert surface.hd(d)[0] == pytest.approx(binary.hd(pred, target, voxelspacing=spacing), rel=TOL)
        assert surface.hd95_pooled(d)[0] == pytest.approx(binary.hd95(pred, target, voxelspacing=spacing), rel=TOL)
        assert surface.assd(d)[0] == pytest.approx(binary.assd(pred, target, voxelspacing=spacing), rel=TOL)
        masd = 0.5 * (binary.asd(pred, target, voxelspacing=spacing) + binary.asd(target, pred, voxelspacing=spacing))
        assert surface.masd(d)[0] == pytest.approx(masd, rel=TOL)


def test_cropping_does_not_change_distances(rng):
    """Small objects far apart in a large image: the cropped transform equals scipy's full one."""
    from scipy import ndimage

    pred = np.zeros((300, 280), bool)
    target = np.zeros((300, 280), bool)
    pred[20:30, 40:47] = True
    target[200:230, 150:155] = True
    d = surface_distances(pred, target, (0.5, 1.5))
    gt_border = target & ~ndimage.binary_erosion(target)
    pred_border = pred & ~ndimage.binary_erosion(pred)
    full = ndimage.distance_transform_edt(~gt_border, sampling=(0.5, 1.5))[pred_border]
    np.testing.assert_allclose(np.sort(d.pred_to_gt), np.sort(full), rtol=1e-6)


def test_hand_case_1d_row():
    pred = np.array([[1, 1, 0, 0]], bool)
    target = np.array([[0, 0, 0, 1]], bool)
    d = [surface_distances(pred, target)]
    # pred border {0, 1} -> gt border {3}: [3, 2]; gt -> pred: [2]
    assert surface.hd(d)[0] == 3.0
    assert surface.hd95(d)[0] == pytest.approx(2.95)  # directed: percentile of [2, 3] = 2.95
    assert surface.hd95_pooled(d)[0] == pytest.approx(2.9)  # [2, 2, 3] -> 2.9
    assert surface.assd(d)[0] == pytest.approx(7 / 3)
    assert surface.masd(d)[0] == pytest.approx(2.25)
    assert surface.nsd(d, tolerance=2.0)[0] == pytest.approx(2 / 3)


def test_both_empty_distances_zero_nsd_one():
    empty = np.zeros((6, 7), bool)
    d = [surface_distances(empty, empty)]
    for score in (surface.hd, surface.hd95, surface.hd95_pooled, surface.assd, surface.masd):
        assert score(d)[0] == 0.0
    assert surface.nsd(d)[0] == 1.0
    assert surface.boundary_iou(empty[None], empty[None])[0] == 1.0


@pytest.mark.parametrize("pred_empty", [True, False])
def test_one_empty_distances_inf_nsd_zero(pred_empty):
    empty = np.zeros((6, 7), bool)
    some = empty.copy()
    some[2:4, 2:5] = True
    pred, target = (empty, some) if pred_empty else (some, empty)
    d = [surface_distances(pred, target)]
    for score in (surface.hd, surface.hd95, surface.hd95_pooled, surface.assd, surface.masd):
        assert score(d)[0] == np.inf
    assert surface.nsd(d)[0] == 0.0
    assert surface.boundary_iou(pred[None], target[None])[0] == 0.0


def test_boundary_iou_hand_case():
    pred = np.ones((1, 6, 6), bool)
    target = np.zeros((1, 6, 6), bool)
    target[0, :, :5] = True
    # width 2: pred boundary = 36 - 4 (2x2 core) = 32; target boundary = 30 - 2 = 28, of which the
    # two pixels (2,3), (3,3) are pred's core: intersection 26, union 32 + 28 - 26 = 34
    assert surface.boundary_iou(pred, target)[0] == pytest.approx(26 / 34)


def test_boundary_iou_identical_is_one_and_symmetric(rng):
    a, b = smooth_mask(rng, (40, 40)), smooth_mask(rng, (40, 40))
    assert surface.boundary_iou(a[None], a[None])[0] == 1.0
    assert surface.boundary_iou(a[None], b[None])[0] == surface.boundary_iou(b[None], a[None])[0]


_HUGE = 10**12
FORCED_METHODS = {
    # neighbourhood search never runs out of budget (queries beyond its radius still fall back)
    # (and gathers in small blocks of queries)
    "neighbourhood": {"PROBE_NS": 0, "PROBE_BLOCK": 50},
    "pairs": {"PROBE_NS": _HUGE, "KDTREE_NS_PER_QUERY": _HUGE, "EDT_NS_PER_PIXEL": {2: _HUGE, 3: _HUGE}},
    "kdtree": {"PROBE_NS": _HUGE, "PAIR_NS": _HUGE, "EDT_NS_PER_PIXEL": {2: _HUGE, 3: _HUGE}},
    "transform": {"PROBE_NS": _HUGE, "KDTREE_NS_PER_QUERY": _HUGE, "PAIR_NS": _HUGE},
}


def _method_case(rng, spacing):
    """A target in one corner, queries near it and far beyond the neighbourhood radius (a speck
    in the empty corner), the whole scene away from the image origin (the search crops a box
    that does not start at 0)."""
    shape = (90, 100) if spacing is None or len(spacing) == 2 else (24, 40, 36)
    target = np.zeros(shape, bool)
    target[tuple(slice(0, n // 3) for n in shape)] = smooth_mask(rng, tuple(n // 3 for n in shape), fill=0.5)
    target[(0,) * len(shape)] = True  # never empty
    pred = smooth_mask(rng, shape)
    pred[tuple(slice(n - 3, n - 1) for n in shape)] = True  # a speck far from the target
    margin = tuple((5, 2) for _ in shape)
    return np.pad(target, margin), np.flatnonzero(np.pad(pred, margin))


@pytest.mark.parametrize("method", FORCED_METHODS)
@pytest.mark.parametrize("spacing", [None, (0.6, 0.8), (2.0, 0.5, 0.7)])
def test_each_distance_method_matches_scipy(rng, monkeypatch, spacing, method):
    """Every exact method, forced, against scipy's full distance transform (float64)."""
    from scipy import ndimage

    import segcli.engine.distance as distance

    target, queries = _method_case(rng, spacing)
    for name, value in FORCED_METHODS[method].items():
        monkeypatch.setattr(distance, name, value)
    expected = ndimage.distance_transform_edt(~target, sampling=spacing).ravel()[queries]
    got = distance.distances_to_mask(target, queries, spacing)
    assert expected.max() > 32 * min(spacing or (1.0,))  # some queries lie beyond the search radius
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("spacing", [None, (0.6, 0.8), (2.0, 0.5, 0.7)])
def test_the_method_chosen_changes_no_bit(monkeypatch, spacing):
    """Which method answers depends on a cost model (and on whether scipy.spatial is imported
    yet): the distances must not, or a run's output would depend on its history."""
    import segcli.engine.distance as distance

    answers = {}
    for method, settings in FORCED_METHODS.items():
        target, queries = _method_case(np.random.default_rng(3), spacing)
        with monkeypatch.context() as patch:
            for name, value in settings.items():
                patch.setattr(distance, name, value)
            answers[method] = distance.distances_to_mask(target, queries, spacing)
    for method, got in answers.items():
        assert got.tobytes() == answers["neighbourhood"].tobytes(), method


TIED_OFFSETS = {
    # offsets of one exact length whose float lengths differ in the last bit when each axis'
    # term is rounded on its own: (35, 0) and (21, 28) at 0.1; (5, 0) and (3, 2) at (0.1, 0.2)
    (0.1, 0.1): [(35, 0), (21, 28), (-21, 28)],
    (0.1, 0.2): [(5, 0), (3, 2), (-3, 2)],
    (0.1, 0.1, 0.1): [(0, 35, 0), (0, 21, 28), (21, 0, 28)],
}


@pytest.mark.parametrize("spacing", list(TIED_OFFSETS))
def test_pixels_at_the_same_exact_distance_give_the_same_bits_by_every_method(monkeypatch, spacing):
    """Beyond the search radius, each method may find a different one of several target pixels at
    the same exact distance: the length reported must not depend on which."""
    import segcli.engine.distance as distance

    shape = (120,) * len(spacing)
    query = (50,) * len(spacing)
    target = np.zeros(shape, bool)
    for offset in TIED_OFFSETS[spacing]:
        target[tuple(q + o for q, o in zip(query, offset, strict=True))] = True
    queries = np.array([np.ravel_multi_index(query, shape)])
    answers = set()
    for settings in FORCED_METHODS.values():
        with monkeypatch.context() as patch:
            for name, value in settings.items():
                patch.setattr(distance, name, value)
            answers.add(distance.distances_to_mask(target, queries, spacing)[0])
    assert len(answers) == 1, answers


def test_nsd_counts_a_distance_equal_to_the_tolerance():
    pred = np.zeros((6, 6), bool)
    target = np.zeros((6, 6), bool)
    pred[1, 1] = True
    target[2, 2] = True  # diagonal neighbour: sqrt(0.6^2 + 0.8^2) = 1 exactly, in exact arithmetic
    assert surface.nsd([surface_distances(pred, target, (0.6, 0.8))], tolerance=1.0)[0] == 1.0
    assert surface.nsd([surface_distances(pred, target, (0.6, 0.8))], tolerance=0.99)[0] == 0.0


# boundary_iou's two-pixel region and NSD's default tolerance of 1 (a distance on the limit is within).


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


# NSD at exactly the tolerance with spacing 1,1; boundary_iou of width 1, by hand.


def _binary(name, pred, target, prob=None, **options):
    prob = pred if prob is None else prob
    pair = BinaryPair(prob=prob, hard=pred, target=target)
    return float(BY_NAME[name].compute(BinaryBatch([pair], ScoreOptions(**options)))[0])


def test_nsd_counts_a_distance_equal_to_the_tolerance_with_spacing_1_1():
    """Guards the tolerance comparison: the offset (3, 4) px at spacing 1.1 is 5.5 exactly, which
    floating point makes 5.500000000000001; at --nsd-tolerance 5.5 it is within. Hand case:
    prediction pixels at (1, 1) and (1, 12), GT pixel at (4, 5); distances 5.5, sqrt(9 + 49) * 1.1
    and 5.5: nsd = 2/3."""
    assert math.sqrt((3 * 1.1) ** 2 + (4 * 1.1) ** 2) > 5.5  # the floating-point hair this test is about
    pred = np.zeros((7, 14), bool)
    target = np.zeros((7, 14), bool)
    pred[1, [1, 12]] = True
    target[4, 5] = True
    spacing = (1.1, 1.1)
    far = math.sqrt(58) * 1.1
    assert _binary("nsd", pred, target, spacing=spacing, nsd_tolerance=5.5) == pytest.approx(2 / 3)
    assert _binary("nsd", pred, target, spacing=spacing, nsd_tolerance=5.49) == 0.0
    assert _binary("nsd", pred, target, spacing=spacing, nsd_tolerance=far) == 1.0
    assert _binary("hd", pred, target, spacing=spacing) == pytest.approx(far)
    assert _binary("assd", pred, target, spacing=spacing) == pytest.approx((5.5 + far + 5.5) / 3)


def test_boundary_iou_width_1_hand_case():
    """Guards boundary_iou's width: 1 px bands of a 4x4 and a 4x5 square (hand-counted: 12 and
    14 ring pixels, 10 shared of 16 in the union)."""
    pred = np.zeros((8, 9), bool)
    target = np.zeros((8, 9), bool)
    pred[2:6, 2:6] = True
    target[2:6, 2:7] = True
    assert _binary("boundary_iou", pred, target, boundary_iou_width=1) == pytest.approx(10 / 16)


# The surface family against MONAI and MedPy over the shared cases (tests/scores/_reference.py): FP != FN,
# spacings away from 1 and anisotropic, one-pixel and disjoint masks. Neither library defines a distance
# to an empty mask the way segcli does (--empty-distance, tests/scores/test_empty_distance.py): those cases
# are left out for them, except both empty, where segcli's convention (distances 0, NSD 1) is the reference.


def _both_empty_or(reference, both_empty):
    def wrapped(case):
        if not case.pred.any() and not case.gt.any():
            return both_empty
        if not case.pred.any() or not case.gt.any():
            return None
        return reference(case)

    return wrapped


def _monai_case(fn, **kwargs):
    return lambda case: _monai(fn, case.pred, case.gt, spacing=case.spacing, **kwargs)


def _medpy_case(fn):
    return lambda case: fn(case.pred, case.gt, voxelspacing=case.spacing)


def _monai_references():
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

    return {
        "hd": _both_empty_or(_monai_case(compute_hausdorff_distance), 0.0),
        "hd95": _both_empty_or(_monai_case(compute_hausdorff_distance, percentile=95), 0.0),
        "assd": _both_empty_or(_monai_case(compute_average_surface_distance, symmetric=True), 0.0),
        "nsd": _both_empty_or(_monai_case(compute_surface_dice, class_thresholds=[1.0]), 1.0),
    }


def _medpy_references():
    from medpy.metric import binary

    def masd(case):
        there = binary.asd(case.pred, case.gt, voxelspacing=case.spacing)
        back = binary.asd(case.gt, case.pred, voxelspacing=case.spacing)
        return 0.5 * (there + back)

    return {
        "hd": _both_empty_or(_medpy_case(binary.hd), 0.0),
        "hd95_pooled": _both_empty_or(_medpy_case(binary.hd95), 0.0),
        "assd": _both_empty_or(_medpy_case(binary.assd), 0.0),
        "masd": _both_empty_or(masd, 0.0),
    }


@pytest.mark.parametrize("name", ["hd", "hd95", "assd", "nsd"])
def test_surface_scores_against_monai_over_the_cases(name):
    check_against_reference(name, _monai_references()[name], binary_cases(), rel=TOL, abs=1e-6)


@pytest.mark.parametrize("tolerance", [0.5, 2.5])
def test_nsd_at_other_tolerances_against_monai_over_the_cases(tolerance):
    from monai.metrics import compute_surface_dice

    reference = _both_empty_or(_monai_case(compute_surface_dice, class_thresholds=[tolerance]), 1.0)
    check_against_reference("nsd", reference, binary_cases(), rel=TOL, abs=1e-6, nsd_tolerance=tolerance)


@pytest.mark.parametrize("name", ["hd", "hd95_pooled", "assd", "masd"])
def test_surface_scores_against_medpy_over_the_cases(name):
    check_against_reference(name, _medpy_references()[name], binary_cases(), rel=TOL, abs=1e-6)
