"""segcli/scores/objects.py pinned where mutation testing found it loose: the matching below IoU 1/2 on
two maps where a wrong weight of the IoU, or a cell of the assignment that is no pair, changes the
matches (against StarDist's ``matching``); maps with so many objects that the pairs are counted by
a sort instead of a histogram (against StarDist); uint64 maps and sparse huge ids (relabelled in
place, ids int64); the relabelling of int32 and int64 maps and the dtype of the labels returned;
float labels at exactly 2**53; the default threshold of ``scores_from_table``; a prediction with
exactly half its pixels in a GT object (it does not lie in it); the centroid of a one-pixel object
(against scipy); the warnings' text; the argument named in errors.
References: StarDist, scipy, and cases worked by hand in the comments.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from segcli.scores.object_errors import object_table
from segcli.scores.objects import (
    BinaryInstancesWarning,
    label_objects,
    object_scores,
    overlap_table,
    scores_from_table,
)


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
