"""Object scores against independent references: StarDist's ``matching`` (counts, precision,
recall, f1, accuracy = obj_ap, panoptic quality, matched pairs), torchmetrics' panoptic quality,
scikit-image's connected components and scipy's centroids, slow per-object loops written from the
papers (AJI, SEG), a brute-force search over every one-to-one matching; and hand-worked cases
(split, merge, empty maps, an IoU exactly at the threshold, relabelled ids, 3-D, bad input)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from segcli.scores.object_errors import object_table
from segcli.scores.object_labels import BinaryInstancesWarning, label_objects
from segcli.scores.object_matching import match, overlap_table
from segcli.scores.objects import AP_THRESHOLDS, SCORE_NAMES, object_scores, scores_from_table

RATIOS = ("obj_precision", "obj_recall", "obj_f1", "obj_ap", "obj_ap_mean", "pq", "sq", "rq", "aji", "seg")


def _cells(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Non-overlapping balls labelled 1..n (fewer when they do not fit)."""
    labels = np.zeros(shape, np.int32)
    grid = np.indices(shape)
    for label in range(1, n + 1):
        for _ in range(50):
            radius = rng.uniform(3, 7)
            centre = [rng.uniform(0, s) for s in shape]
            ball = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2
            if ball.any() and not labels[ball].any():
                labels[ball] = label
                break
    return labels


def _perturbed(rng: np.random.Generator, gt: np.ndarray, *, shift: int = 3) -> np.ndarray:
    """A prediction with every kind of error: shifted and grown objects, halves split off, objects
    dropped, two objects merged, a false positive."""
    pred = np.roll(gt, tuple(rng.integers(-shift, shift + 1, gt.ndim)), axis=tuple(range(gt.ndim)))
    if rng.random() < 0.5:
        pred = ndimage.grey_dilation(pred, size=(3,) * gt.ndim)
    ids = rng.permutation(np.unique(pred)[1:])
    for label in ids[:4]:
        where = np.nonzero(pred == label)
        half = where[0] < np.median(where[0])
        pred[tuple(w[half] for w in where)] = pred.max() + 1
    for label in ids[4:6]:
        pred[pred == label] = 0
    if ids.size > 7:
        pred[pred == ids[6]] = ids[7]
    corner = tuple(slice(0, 4) for _ in gt.shape)
    pred[corner][pred[corner] == 0] = pred.max() + 1
    return pred


def _off_ties(iou: np.ndarray, thresholds) -> list[float]:
    """Thresholds no IoU is within 1e-6 of: StarDist matches at IoU >= t, segcli at IoU > t."""
    return [t for t in thresholds if not np.any(np.abs(iou - t) < 1e-6)]


@pytest.mark.parametrize("shape, n", [((96, 120), 30), ((24, 40, 36), 25)])
def test_scores_match_stardist(rng, shape, n):
    from stardist.matching import matching

    compared = 0
    for _ in range(6):
        gt = _cells(rng, shape, n)
        pred = _perturbed(rng, gt)
        iou = overlap_table(gt, pred).pair_iou
        for t in _off_ties(iou, (0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)):
            ref = matching(gt, pred, thresh=t, report_matches=True)
            ours = object_scores(gt, pred, iou_threshold=t)
            assert (ours["obj_tp"], ours["obj_fp"], ours["obj_fn"]) == (ref.tp, ref.fp, ref.fn), t
            assert (ours["obj_count_gt"], ours["obj_count_pred"]) == (ref.n_true, ref.n_pred)
            for key, value in (
                ("obj_precision", ref.precision),
                ("obj_recall", ref.recall),
                ("obj_f1", ref.f1),
                ("rq", ref.f1),
                ("obj_ap", ref.accuracy),
                ("pq", ref.panoptic_quality),
                ("sq", ref.mean_matched_score),
            ):
                assert ours[key] == pytest.approx(value, abs=1e-6), (key, t)
            m = match(overlap_table(gt, pred), iou_threshold=t)
            table = overlap_table(gt, pred)
            pairs = set(zip(table.gt_ids[m.gt_index].tolist(), table.pred_ids[m.pred_index].tolist(), strict=True))
            ok = set(np.flatnonzero(np.asarray(ref.matched_scores) >= t).tolist())
            assert pairs == {ref.matched_pairs[k] for k in ok}, t
            compared += 1
    assert compared >= 40


def test_ap_mean_is_the_mean_of_stardist_accuracy_over_the_dsb_thresholds(rng):
    from stardist.matching import matching

    assert AP_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    checked = 0
    for _ in range(8):
        gt = _cells(rng, (100, 100), 30)
        pred = _perturbed(rng, gt)
        if len(_off_ties(overlap_table(gt, pred).pair_iou, AP_THRESHOLDS)) < len(AP_THRESHOLDS):
            continue
        expected = np.mean([matching(gt, pred, thresh=t).accuracy for t in AP_THRESHOLDS])
        assert object_scores(gt, pred, iou_threshold=0.3)["obj_ap_mean"] == pytest.approx(expected, abs=1e-6)
        checked += 1
    assert checked >= 3


def test_panoptic_quality_matches_torchmetrics(rng):
    import torch
    from torchmetrics.functional.detection import panoptic_quality

    def encode(labels):  # (category, instance) per pixel; category 1 = cell, 0 = background (stuff)
        return torch.from_numpy(np.stack([labels > 0, labels], -1).astype(np.int64))[None]

    for _ in range(5):
        gt = _cells(rng, (80, 90), 20)
        pred = _perturbed(rng, gt)
        # Row 0 is the one "thing" class (things come before stuffs); columns pq, sq, rq.
        ref = panoptic_quality(
            encode(pred), encode(gt), things={1}, stuffs={0}, return_per_class=True, return_sq_and_rq=True
        )[0].tolist()
        ours = object_scores(gt, pred)
        assert [ours["pq"], ours["sq"], ours["rq"]] == pytest.approx(ref, rel=1e-6)  # its IoUs are float32


def _aji_reference(gt: np.ndarray, pred: np.ndarray) -> float:
    """Kumar et al. 2017, Algorithm 1, one full-image mask per object."""
    shared = union = 0
    used = set()
    for g in np.unique(gt)[1:]:
        mask = gt == g
        best, best_iou = None, 0.0
        for p in np.unique(pred[mask]):
            if p == 0:
                continue
            other = pred == p
            iou = (mask & other).sum() / (mask | other).sum()
            if iou > best_iou:
                best, best_iou = p, iou
        if best is None:
            union += mask.sum()
            continue
        shared += (mask & (pred == best)).sum()
        union += (mask | (pred == best)).sum()
        used.add(best)
    union += sum((pred == p).sum() for p in np.unique(pred)[1:] if p not in used)
    return shared / union


def _seg_reference(gt: np.ndarray, pred: np.ndarray) -> float:
    """Cell Tracking Challenge SEG: per GT object, the IoU with the prediction covering > half of it."""
    values = []
    for g in np.unique(gt)[1:]:
        mask = gt == g
        labels, counts = np.unique(pred[mask], return_counts=True)
        value = 0.0
        for p, count in zip(labels, counts, strict=True):
            if p != 0 and count > mask.sum() / 2:
                value = count / (mask | (pred == p)).sum()
        values.append(value)
    return float(np.mean(values))


@pytest.mark.parametrize("shape, n", [((70, 90), 18), ((16, 30, 30), 12)])
def test_aji_and_seg_match_per_object_loops(rng, shape, n):
    for _ in range(5):
        gt = _cells(rng, shape, n)
        pred = _perturbed(rng, gt)
        ours = object_scores(gt, pred)
        assert ours["aji"] == pytest.approx(_aji_reference(gt, pred), rel=1e-12)
        assert ours["seg"] == pytest.approx(_seg_reference(gt, pred), rel=1e-12)


def test_aji_counts_a_prediction_chosen_twice_twice_and_an_unused_one_in_the_union():
    gt = np.array([[1, 1, 0, 2, 2, 0, 0, 0]])
    pred = np.array([[5, 5, 5, 5, 5, 0, 7, 7]])
    # Both GT objects pick prediction 5: C = 2 + 2, U = 5 + 5 + |7| = 12.
    assert object_scores(gt, pred)["aji"] == pytest.approx(4 / 12)


def test_aji_pairs_by_iou_not_by_shared_pixels_and_ties_go_to_the_smaller_id():
    # GT 0..19; prediction 3 covers 0..5 (IoU 6/20), prediction 4 covers 11..29 (IoU 9/30): a tie
    # at 0.3 going to 3, so C = 6, U = 20 + |4| = 39 (prediction 4 would give 9 / (30 + 6)).
    gt = np.array([[1] * 20 + [0] * 10])
    pred = np.array([[3] * 6 + [0] * 5 + [4] * 19])
    assert object_scores(gt, pred)["aji"] == pytest.approx(6 / 39)
    assert object_table(gt, pred)[0]["best_id"] == 3
    # Prediction 5 shares the most pixels (7, IoU 7/40) but 6 the largest IoU (3/10).
    gt = np.array([[1] * 10 + [0] * 30])
    pred = np.array([[6] * 3 + [5] * 37])
    assert object_scores(gt, pred)["aji"] == pytest.approx(3 / (10 + 37))


def _brute_force(table, t):
    """(matches, summed IoU) of the best one-to-one matching, by trying every assignment."""
    pairs = zip(table.pair_gt.tolist(), table.pair_pred.tolist(), strict=True)
    iou = dict(zip(pairs, table.pair_iou.tolist(), strict=True))
    n_gt, n_pred = table.gt_ids.size, table.pred_ids.size
    best = (0, 0.0)
    for k in range(min(n_gt, n_pred) + 1):
        for gts in itertools.combinations(range(n_gt), k):
            for preds in itertools.permutations(range(n_pred), k):
                values = [iou.get(pair, 0.0) for pair in zip(gts, preds, strict=True)]
                if all(v > t for v in values):
                    best = max(best, (k, sum(values)))
    return best


@settings(max_examples=150, deadline=None)
@given(
    gt=arrays(np.int8, (3, 6), elements=st.integers(0, 4)),
    pred=arrays(np.int8, (3, 6), elements=st.integers(0, 4)),
    t=st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.45, 0.5, 0.7]),
)
def test_matching_has_the_most_matches_then_the_largest_summed_iou(gt, pred, t):
    table = overlap_table(gt, pred)
    m = match(table, iou_threshold=t)
    assert np.unique(m.gt_index).size == m.gt_index.size and np.unique(m.pred_index).size == m.pred_index.size
    assert np.all(m.iou > t)
    count, total = _brute_force(table, t)
    assert m.iou.size == count
    assert m.iou.sum() == pytest.approx(total, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    gt=arrays(np.uint8, (4, 5), elements=st.integers(0, 5)),
    pred=arrays(np.uint8, (4, 5), elements=st.integers(0, 5)),
)
def test_swapping_gt_and_prediction_swaps_fp_and_fn_and_keeps_pq(gt, pred):
    a, b = object_scores(gt, pred), object_scores(pred, gt)
    assert (a["obj_fp"], a["obj_fn"], a["obj_precision"]) == (b["obj_fn"], b["obj_fp"], b["obj_recall"])
    for key in ("obj_tp", "obj_f1", "obj_ap", "obj_ap_mean", "pq", "sq"):
        assert a[key] == pytest.approx(b[key], abs=1e-12), key
    assert all(0.0 <= a[key] <= 1.0 for key in RATIOS)


def test_greedy_would_miss_a_match_below_one_half():
    # A = 0..9, B = 10..19; X = 3..13 (IoU 7/14 with A, 4/17 with B), Y = 0..2 (IoU 3/10 with A).
    gt = np.array([[1] * 10 + [2] * 10])
    pred = np.array([[4] * 3 + [3] * 11 + [0] * 6])
    s = object_scores(gt, pred, iou_threshold=0.2)
    assert (s["obj_tp"], s["obj_fp"], s["obj_fn"]) == (2, 0, 0)
    assert s["sq"] == pytest.approx((3 / 10 + 4 / 17) / 2)
    assert object_scores(gt, pred, iou_threshold=0.5)["obj_tp"] == 0  # 7/14 is not above 0.5


def test_iou_exactly_at_the_threshold_does_not_match():
    gt = np.zeros((4, 10), np.int32)
    gt[0, :4] = 1  # pred covers 2 of 4: IoU 1/2
    gt[2, :5] = 2  # pred covers 3 of 5: IoU 3/5
    pred = np.zeros_like(gt)
    pred[0, :2] = 7
    pred[2, :3] = 9
    at_half = object_scores(gt, pred, iou_threshold=0.5)
    assert (at_half["obj_tp"], at_half["obj_fp"], at_half["obj_fn"]) == (1, 1, 1)
    assert object_scores(gt, pred, iou_threshold=0.6)["obj_tp"] == 0
    assert object_scores(gt, pred, iou_threshold=0.59)["obj_tp"] == 1
    below = object_scores(gt, pred, iou_threshold=0.49)
    assert below["obj_tp"] == 2 and below["pq"] == pytest.approx((0.5 + 0.6) / 2)
    # 11/20 = 0.55 exactly: not above the DSB threshold 0.55
    gt, pred = np.zeros((1, 30), np.int32), np.zeros((1, 30), np.int32)
    gt[0, :20], pred[0, :11] = 1, 1
    assert object_scores(gt, pred)["obj_ap_mean"] == pytest.approx(0.1)  # matched at 0.50 only


def test_split_and_merge_hand_case():
    gt = np.zeros((10, 20), np.int32)
    gt[1:9, 1:9] = 1  # split in two halves by the prediction
    gt[2:5, 11:14], gt[6:9, 11:14] = 2, 3  # merged into one prediction
    gt[1:3, 17:19] = 4  # missed
    pred = np.zeros_like(gt)
    pred[1:9, 1:5], pred[1:9, 5:9] = 10, 11
    pred[2:9, 11:14] = 12
    pred[8:10, 17:20] = 13  # false
    s = object_scores(gt, pred)
    assert (s["obj_tp"], s["obj_fp"], s["obj_fn"]) == (0, 4, 4)
    assert s["obj_precision"] == 0 and s["obj_recall"] == 0 and s["pq"] == 0 and s["sq"] == 0
    # AJI: GT 1 -> 10 (tie of IoU 1/2, smaller id): 32 / 64; GT 2 and 3 -> 12: 9 / 21 each;
    # GT 4 alone: union 4; prediction 11 (32) and 13 (6) unused.
    assert s["aji"] == pytest.approx((32 + 9 + 9) / (64 + 21 + 21 + 4 + 32 + 6))
    # SEG: only GT 2 and 3 are covered more than half (by 12): 9/21 each.
    assert s["seg"] == pytest.approx((9 / 21 + 9 / 21) / 4)
    kinds = {(r["side"], r["id"]): r["kind"] for r in object_table(gt, pred)}
    assert kinds == {
        ("gt", 1): "split",
        ("gt", 2): "merged",
        ("gt", 3): "merged",
        ("gt", 4): "missed",
        ("pred", 10): "split",
        ("pred", 11): "split",
        ("pred", 12): "merged",
        ("pred", 13): "false",
    }


def test_a_merged_object_that_is_also_split_is_merged():
    # Prediction 5 (0..5 and 10..13) holds more than half of GT 1 (6 of 10) and all of GT 2; prediction
    # 6 lies in GT 1 too, so GT 1 is split as well: merged comes first.
    gt = np.array([[1] * 10 + [2] * 4])
    pred = np.array([[5] * 6 + [6] * 2 + [0] * 2 + [5] * 4])
    kinds = [(r["id"], r["kind"]) for r in object_table(gt, pred)]
    assert kinds == [(1, "merged"), (2, "merged"), (5, "merged"), (6, "split")]


def test_empty_maps():
    empty = np.zeros((6, 7), np.uint16)
    some = empty.copy()
    some[1:3, 1:3] = 4
    both = object_scores(empty, empty)
    assert all(both[key] == 1.0 for key in RATIOS)
    assert [both[k] for k in ("obj_tp", "obj_fp", "obj_fn", "obj_count_gt", "obj_count_pred")] == [0] * 5
    for gt, pred in ((empty, some), (some, empty)):
        one = object_scores(gt, pred)
        assert all(one[key] == 0.0 for key in RATIOS), one
        assert one["obj_fp"] + one["obj_fn"] == 1
    assert object_table(empty, empty) == []


def test_sq_without_a_match_is_zero_and_scores_have_every_key():
    gt, pred = np.array([[1, 1, 0, 0]]), np.array([[0, 2, 2, 2]])
    s = object_scores(gt, pred)
    assert tuple(s) == SCORE_NAMES
    assert all(isinstance(v, float) for v in s.values())
    assert s["sq"] == 0.0 and s["pq"] == 0.0 and s["seg"] == 0.0 and s["aji"] == pytest.approx(1 / 4)


def test_relabelled_ids_give_identical_scores(rng):
    gt = _cells(rng, (80, 80), 20)
    pred = _perturbed(rng, gt)
    expected = object_scores(gt, pred, iou_threshold=0.3)
    for mapping in (rng.permutation(200)[: gt.max() + 1] + 1, 2**40 + 3 * np.arange(gt.max() + 1)):
        mapping[0] = 0
        gt2 = mapping[gt]
        pred2 = np.where(pred > 0, 2**63 - 1 - pred.astype(np.uint64), 0).astype(np.uint64)
        assert object_scores(gt2, pred2, iou_threshold=0.3) == expected
    assert object_scores(gt.astype(np.float32), pred.astype(float), iou_threshold=0.3) == expected
    assert object_scores(label_objects(gt), label_objects(pred), iou_threshold=0.3) == expected
    huge = np.where(gt > 0, np.uint64(2**64 - 1) - gt.astype(np.uint64), 0).astype(np.uint64)
    table = overlap_table(huge, pred)
    assert int(table.gt_ids.max()) == 2**64 - 2
    assert object_scores(huge, pred, iou_threshold=0.3) == expected


def test_3d_hand_case():
    gt = np.zeros((4, 6, 6), np.int32)
    gt[0:2, 0:3, 0:3] = 1  # 18 voxels
    gt[2:4, 3:6, 3:6] = 2
    pred = np.zeros_like(gt)
    pred[0:2, 0:3, 0:2] = 5  # 12 of 18: IoU 2/3
    pred[3:4, 3:6, 3:6] = 6  # 9 of 18: IoU 1/2, not a match
    s = object_scores(gt, pred)
    assert (s["obj_tp"], s["obj_fp"], s["obj_fn"]) == (1, 1, 1)
    assert s["pq"] == pytest.approx((2 / 3) / 2)
    assert s["seg"] == pytest.approx((2 / 3) / 2)  # 9 of 18 is not more than half
    rows = object_table(gt, pred)
    assert rows[0]["centroid"] == (0.5, 1.0, 1.0) and rows[0]["area"] == 18
    assert rows[1]["kind"] == "missed" and rows[1]["best_id"] == 6 and rows[1]["best_iou"] == 0.5


def _kind_reference(side: str, label: int, matched: bool, gt: np.ndarray, pred: np.ndarray) -> str:
    """The kind of one object from full-image masks, as object_table's docstring defines it."""
    if matched:
        return "matched"
    mine, theirs = (gt, pred) if side == "gt" else (pred, gt)

    def lies_in(small_map, small, big_map, big):
        return 2 * np.count_nonzero((small_map == small) & (big_map == big)) > np.count_nonzero(small_map == small)

    def inside(owner_map, owner, other_map):  # objects of other_map lying in this object
        return sum(lies_in(other_map, o, owner_map, owner) for o in np.unique(other_map[owner_map == owner]) if o)

    if side == "gt":
        if any(inside(pred, p, gt) >= 2 and lies_in(gt, label, pred, p) for p in np.unique(pred[gt == label]) if p):
            return "merged"
        return "split" if inside(gt, label, pred) >= 2 else "missed"
    if inside(pred, label, gt) >= 2:
        return "merged"
    hosts = [g for g in np.unique(theirs[mine == label]) if g and lies_in(pred, label, gt, g)]
    return "split" if hosts and inside(gt, hosts[0], pred) >= 2 else "false"


def test_object_kinds_match_per_object_loops(rng):
    seen = set()
    for shift in (0, 1, 2):
        gt = _cells(rng, (70, 80), 18)
        pred = _perturbed(rng, gt, shift=shift)
        for t in (0.3, 0.5):
            for r in object_table(gt, pred, iou_threshold=t):
                assert r["kind"] == _kind_reference(r["side"], r["id"], r["matched_id"] != 0, gt, pred), r
                seen.add(r["kind"])
    assert seen == {"matched", "missed", "false", "split", "merged"}


def test_object_table_rows_agree_with_the_scores_and_scipy_centroids(rng):
    gt = _cells(rng, (90, 100), 25)
    pred = _perturbed(rng, gt)
    for t in (0.3, 0.5, 0.7):
        s = object_scores(gt, pred, iou_threshold=t)
        rows = object_table(gt, pred, iou_threshold=t, table=overlap_table(gt, pred))
        gt_rows = [r for r in rows if r["side"] == "gt"]
        pred_rows = [r for r in rows if r["side"] == "pred"]
        assert len(gt_rows) == s["obj_count_gt"] and len(pred_rows) == s["obj_count_pred"]
        assert sum(r["kind"] == "matched" for r in gt_rows) == s["obj_tp"]
        assert sum(r["kind"] != "matched" for r in gt_rows) == s["obj_fn"]
        assert sum(r["kind"] != "matched" for r in pred_rows) == s["obj_fp"]
        assert sum(r["iou"] for r in gt_rows) == pytest.approx(s["sq"] * s["obj_tp"])
        by_pred = {r["id"]: r for r in pred_rows}
        for r in gt_rows:
            if r["matched_id"]:
                assert by_pred[r["matched_id"]]["matched_id"] == r["id"]
                assert by_pred[r["matched_id"]]["iou"] == r["iou"] > t
    ids = [r["id"] for r in gt_rows]
    assert [r["area"] for r in gt_rows] == ndimage.sum_labels(np.ones_like(gt), gt, ids).tolist()
    centroids = ndimage.center_of_mass(np.ones_like(gt), gt, ids)
    assert np.allclose([r["centroid"] for r in gt_rows], centroids, rtol=1e-12)
    for r in pred_rows:
        mask = pred == r["id"]
        best = max(
            (((mask & (gt == g)).sum() / (mask | (gt == g)).sum(), -g) for g in np.unique(gt[mask]) if g),
            default=(0.0, 0),
        )
        assert (r["best_iou"], r["best_id"]) == (pytest.approx(best[0]), -best[1])


@pytest.mark.parametrize("shape, connectivity", [((30, 41), 1), ((30, 41), 2), ((9, 14, 12), 1), ((9, 14, 12), 3)])
def test_components_match_scikit_image(rng, shape, connectivity):
    from skimage.measure import label

    mask = rng.random(shape) < (0.4 if len(shape) == 2 else 0.15)
    ours = label_objects(mask, "components", connectivity=connectivity)
    ref = label(mask, connectivity=connectivity)
    assert ours.max() == ref.max() > 1
    # the same partition: a one-to-one correspondence of labels
    assert np.unique(np.stack([ours.ravel(), ref.ravel()]), axis=1).shape[1] == ref.max() + 1
    assert np.array_equal(label_objects(mask.astype(np.uint8) * 255, "components"), label(mask, connectivity=None))


def test_instances_are_relabelled_compactly_or_kept():
    labels = np.array([[0, 900, 900], [5, 0, 2**40]], np.int64)
    assert label_objects(labels).tolist() == [[0, 2, 2], [1, 0, 3]]
    assert label_objects(labels).dtype == np.int32
    assert label_objects(labels, keep_ids=True) is labels
    assert label_objects(np.array([[2**40, 5]])).tolist() == [[2, 1]]  # no background, huge ids
    assert overlap_table(np.array([[2**40, 2**40]]), np.array([[2**41, 0]])).pair_count.tolist() == [1]
    compact = np.array([[1, 2]], np.int32)
    assert label_objects(compact) is compact


def test_binary_map_read_as_instances_warns_once_it_has_separate_regions():
    mask = np.zeros((5, 5), bool)
    mask[0, 0] = mask[4, 4] = True
    with pytest.warns(BinaryInstancesWarning, match="2 separate regions"):
        assert label_objects(mask).max() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        label_objects(np.pad(np.ones((2, 2), np.uint8), 1))  # one cell: nothing to warn about
        label_objects(np.array([[1, 0, 2]]))
    with pytest.warns(UserWarning, match="connectivity applies only"):
        label_objects(np.array([[1, 0, 2]]), connectivity=1)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.array([[0, -1]]), ValueError, "mask_or_labels: expected labels >= 0, got -1"),
        (np.array([[0.5, 1.0]]), ValueError, "non-integer"),
        (np.array([[np.nan, 1.0]]), ValueError, "non-finite"),
        (np.array([[2.0**60]]), ValueError, "above 2\\*\\*53"),
        (np.array([["a"]]), TypeError, "mask_or_labels: expected an integer label map"),
        (np.array(3), ValueError, "scalar"),
    ],
)
def test_bad_label_maps_are_errors_naming_the_argument(bad, error, message):
    with pytest.raises(error, match=message):
        label_objects(bad)


def test_bad_arguments_are_errors_naming_the_argument():
    labels = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="mode: expected 'instances' or 'components', got 'instance'"):
        label_objects(labels, "instance")
    for connectivity in (0, 3):
        with pytest.raises(ValueError, match=f"connectivity: expected 1..2 for a 2-D map, got {connectivity}"):
            label_objects(labels, "components", connectivity=connectivity)
    with pytest.raises(TypeError, match="connectivity"):
        label_objects(labels, "components", connectivity=True)
    with pytest.raises(ValueError, match="gt_labels and pred_labels: shapes differ"):
        object_scores(labels, labels[:3])
    with pytest.raises(ValueError, match="pred_labels: expected labels >= 0"):
        object_scores(labels, labels - 1)
    for t in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="iou_threshold: expected a number in \\[0, 1\\)"):
            object_scores(labels, labels, iou_threshold=t)
    with pytest.raises(TypeError, match="iou_threshold"):
        object_scores(labels, labels, iou_threshold="0.5")
    with pytest.raises(TypeError):
        object_scores(labels, labels, 0.5)  # options are keyword-only


# segcli/scores/objects.py, object_labels.py, object_matching.py: the matching below IoU 1/2 on
# two maps where a wrong weight of the IoU, or a cell of the assignment that is no pair, changes the
# matches (against StarDist's ``matching``); maps with so many objects that the pairs are counted by
# a sort instead of a histogram (against StarDist); uint64 maps and sparse huge ids (relabelled in
# place, ids int64); the relabelling of int32 and int64 maps and the dtype of the labels returned;
# float labels at exactly 2**53; the default threshold of ``scores_from_table``; a prediction with
# exactly half its pixels in a GT object (it does not lie in it); the centroid of a one-pixel object
# (against scipy); the warnings' text; the argument named in errors.
# References: StarDist, scipy, and cases worked by hand in the comments.


def _against_stardist(gt, pred, t, stardist_thresh=None):
    from stardist.matching import matching

    s = object_scores(gt, pred, iou_threshold=t)
    ref = matching(gt, pred, thresh=t if stardist_thresh is None else stardist_thresh)
    assert (s["obj_tp"], s["obj_fp"], s["obj_fn"]) == (ref.tp, ref.fp, ref.fn)
    assert s["sq"] == pytest.approx(ref.mean_matched_score, rel=1e-6)
    assert s["pq"] == pytest.approx(ref.panoptic_quality, rel=1e-6)
    return s


def test_below_one_half_more_matches_beat_a_larger_summed_iou():
    # IoU > 0 (StarDist: >= 1e-9, the same pairs): one matching has 5 matches and a summed IoU
    # of 1.797, another only 4 but a summed IoU of 2.322; the rule takes the most matches first.
    gt = np.array([[1, 1, 0, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6]])
    pred = np.array([[1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 0, 0, 4, 4, 4, 4, 4, 4, 4, 5]])
    s = _against_stardist(gt, pred, 0.0, stardist_thresh=1e-9)
    assert s["obj_tp"] == 5.0


def test_below_one_half_no_match_is_made_of_objects_that_do_not_overlap():
    # a group of candidate pairs where not every GT object can be matched: the assignment also
    # pairs the rest with objects they do not touch, and those are no matches (8, not 9)
    gt = np.array([[1, 1, 0, 0, 0, 2, 3, 3, 4, 5, 5, 6, 7, 7, 7, 0, 8, 9, 10]])
    pred = np.array([[1, 2, 3, 3, 0, 4, 5, 6, 7, 7, 8, 8, 8, 9, 10, 10, 11, 11, 12]])
    s = _against_stardist(gt, pred, 0.1)
    assert s["obj_tp"] == 8.0
    rows = object_table(gt, pred, iou_threshold=0.1)
    assert all(r["iou"] > 0.1 for r in rows if r["matched_id"])


def test_many_objects_pairs_counted_by_sorting():
    # 2100 GT and 2100 predicted objects: (2100 + 1)**2 > 2**22 bins, so the pairs are counted by
    # np.unique. GT: column j is object j + 1 (2 pixels). Even columns predicted whole (IoU 1),
    # odd columns only on the top row (IoU 1/2, no match at t = 0.5, but one at 0.4).
    n = 2100
    gt = np.tile(np.arange(1, n + 1), (2, 1))
    pred = np.zeros_like(gt)
    pred[:, ::2] = 5000 + np.arange(0, n, 2)
    pred[0, 1::2] = 9000 + np.arange(1, n, 2)
    s = _against_stardist(gt, pred, 0.5, stardist_thresh=0.5 + 1e-6)  # StarDist: IoU >= t, float32
    assert (s["obj_tp"], s["obj_fp"], s["obj_fn"]) == (1050.0, 1050.0, 1050.0)
    assert s["sq"] == 1.0
    s = _against_stardist(gt, pred, 0.4)
    assert s["obj_tp"] == 2100.0 and s["sq"] == pytest.approx(0.75)
    table = overlap_table(gt, pred)
    assert table.gt_areas.tolist() == [2] * n
    assert sorted(table.pred_areas.tolist()) == [1] * (n // 2) + [2] * (n // 2)


def test_uint64_maps_score_like_int64_maps():
    gt = np.array([[1, 1, 1, 0, 2, 2]])
    pred = np.array([[3, 3, 0, 4, 4, 4]])  # IoUs 2/3 and 2/3 (the ``match`` example)
    expected = object_scores(gt, pred)
    assert object_scores(gt.astype(np.uint64), pred.astype(np.uint64)) == expected
    assert expected["obj_tp"] == 2.0
    assert label_objects(pred.astype(np.uint64)).tolist() == [[1, 1, 0, 2, 2, 2]]


def test_sparse_huge_ids_are_relabelled_in_place_and_kept_int64():
    # ids far above 2**22: the values are sorted (np.unique) instead of counted
    big = np.array([[0, 10**9], [10**9, 3 * 10**9]], np.int64)
    assert label_objects(big).tolist() == [[0, 1], [1, 2]]
    assert label_objects(big + 1).tolist() == [[1, 2], [2, 3]]  # no background
    table = overlap_table(np.array([[0, 4 * 10**9]], np.uint32), np.zeros((1, 2), int))
    assert table.gt_ids.dtype == np.int64 and table.gt_ids.tolist() == [4 * 10**9]
    top = np.array([[0, 2**63 - 1]], np.uint64)  # the largest uint64 id that fits int64
    assert overlap_table(top, top).gt_ids.dtype == np.int64


def test_relabelling_and_dtype_of_label_maps():
    assert label_objects(np.array([[7, 0, 40]], np.int32)).tolist() == [[1, 0, 2]]
    assert label_objects(np.array([[0, 5]], np.int32)).tolist() == [[0, 1]]
    assert label_objects(np.array([[1, 3, 7]], np.int32)).tolist() == [[1, 2, 3]]
    compact = label_objects(np.array([[1, 2, 0]], np.int64))
    assert compact.dtype == np.int32 and compact.tolist() == [[1, 2, 0]]
    many = label_objects(np.arange(100).reshape(10, 10))
    assert many.dtype == np.int32 and many.max() == 99
    mask = np.zeros((8, 8), bool)
    mask[1:3, 1:3] = mask[5:7, 5:7] = True
    components = label_objects(mask, "components")
    assert components.dtype == np.int32 and components.max() == 2
    empty = label_objects(np.zeros((0, 4), np.uint8), keep_ids=True)
    assert empty.dtype.kind == "i" and empty.shape == (0, 4)


def test_float_labels_at_exactly_two_to_the_53_are_accepted():
    labels = np.array([[0.0, 2.0**53]])
    assert label_objects(labels, keep_ids=True).tolist() == [[0, 2**53]]
    with pytest.raises(ValueError, match=r"store the labels as integers$"):
        label_objects(np.array([[0.0, 2.0**53 + 2]]))


def test_scores_from_table_default_threshold_is_one_half():
    gt = np.array([[1, 1, 1, 0, 2, 2]])
    pred = np.array([[3, 3, 0, 4, 4, 4]])  # IoUs 2/3 and 2/3: both match at 0.5
    s = scores_from_table(overlap_table(gt, pred))
    assert s["obj_tp"] == 2.0 and s["sq"] == pytest.approx(2 / 3)


def test_a_prediction_half_in_a_gt_object_does_not_lie_in_it():
    # G1 = pixels 0..3; P1 = pixels 0, 1 (all in G1); P2 = pixels 3, 4 (one of two in G1: not
    # more than half). IoU(G1, P1) = 2/4, no match. Only P1 lies in G1, so G1 is not split:
    # G1 missed, P1 and P2 false.
    gt = np.array([[1, 1, 1, 1, 0, 0]])
    pred = np.array([[1, 1, 0, 2, 2, 0]])
    kinds = [(r["side"], r["id"], r["kind"]) for r in object_table(gt, pred)]
    assert kinds == [("gt", 1, "missed"), ("pred", 1, "false"), ("pred", 2, "false")]


def test_centroid_of_a_one_pixel_object():
    gt = np.zeros((6, 7), int)
    gt[3, 4] = 1
    gt[0:2, 0:2] = 2
    rows = object_table(gt, gt)
    expected = ndimage.center_of_mass(gt > 0, gt, [1, 2])
    assert [r["centroid"] for r in rows if r["side"] == "gt"] == [tuple(c) for c in expected]
    assert rows[0]["centroid"] == (3.0, 4.0)


def test_warnings_text():
    with pytest.warns(UserWarning, match=r"^connectivity applies only to mode='components'; ignored$") as record:
        label_objects(np.array([[1, 0, 2]]), connectivity=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        label_objects(np.array([[1, 0, 1]]))
    (warning,) = record
    assert warning.category is BinaryInstancesWarning
    assert str(warning.message) == (
        "mask_or_labels: one non-zero value (1) over 2 separate regions is read as one object "
        "(instances: one object per value); use mode='components' to count the regions"
    )


@pytest.mark.parametrize("function", [overlap_table, object_table])
def test_errors_name_the_argument(function):
    good, bad = np.zeros((2, 2), int), np.array([[0, -1], [0, 0]])
    with pytest.raises(ValueError, match=r"^gt_labels: expected labels >= 0, got -1$"):
        function(bad, good)
    with pytest.raises(ValueError, match=r"^pred_labels: expected labels >= 0, got -1$"):
        function(good, bad)
