"""segcli/inputs/interpret.py: which reading ``auto`` chooses
for a prediction (mask, prob, logits, labels) at the edges of the tolerance band, so that a
probability map with one value of 1.0001 stays probabilities and one of -0.001 is not logits;
the clipping of those values and its warning; the logits note only when ``auto`` chose logits;
the ground truth's binarisation and its two warnings (fractional values, a label map); singleton
channel axes at either end; the threshold's side; the ignore label and the labels checked in
multi-class mode; and every message as a user reads it, naming the file. Sigmoid and softmax
against scipy.special (expit, softmax); other values worked by hand in the tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special

from segcli.errors import ShapeError, ValueRangeError
from segcli.inputs.interpret import (
    LOGITS_NOTE,
    as_probabilities,
    binary_ground_truth,
    binary_pair,
    multiclass_pair,
    resolve_kind,
    sigmoid,
    softmax,
)

GT = np.array([[0, 1, 1], [0, 0, 1]], np.uint8)


def _quiet(function, *args, **kwargs):
    """Call with every warning an error: the case must give none."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


def _one_warning(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    assert len(caught) == 1, [str(w.message) for w in caught]
    return result, str(caught[0].message)


def test_auto_reading_at_the_edges_of_the_tolerance_band():
    # exactly -0.001 and exactly 1 + 0.001 are still probabilities (the band is closed)
    assert resolve_kind(np.array([-0.001, 0.5]), "auto", multiclass=False) == "prob"
    assert resolve_kind(np.array([0.0, 1.0 + 1e-3]), "auto", multiclass=False) == "prob"
    assert resolve_kind(np.array([0.0, 1.0001]), "auto", multiclass=False) == "prob"
    assert resolve_kind(np.array([0.0005, 0.9]), "auto", multiclass=False) == "prob"  # all positive
    assert resolve_kind(np.array([-0.0011, 0.5]), "auto", multiclass=False) == "logits"
    assert resolve_kind(np.array([-0.0011, 40.0]), "auto", multiclass=False) == "logits"
    assert resolve_kind(np.array([[0, 3]], np.int16), "auto", multiclass=False) == "mask"
    assert resolve_kind(np.array([[0, 3]], np.uint8), "auto", multiclass=True) == "labels"
    assert resolve_kind(np.array([True, False]), "auto", multiclass=False) == "mask"
    # an explicit kind is taken as given, whatever the values
    for kind in ("prob", "logits", "mask", "labels"):
        assert resolve_kind(np.array([0.0, 7.0]), kind, multiclass=False) == kind


@pytest.mark.parametrize("high", [1.0011, 1.5, 2.0, 3.0])
def test_auto_refuses_non_negative_floats_above_the_band(high):
    with pytest.raises(ValueRangeError) as info:
        resolve_kind(np.array([0.0, 0.25, high]), "auto", multiclass=False)
    assert str(info.value) == (
        f"prediction: floating-point values in [0, {high:g}] are neither probabilities (above 1 + 0.001) "
        "nor clearly logits (none negative); choose with pred_kind prob|logits"
    )


def test_unknown_pred_kind_is_a_value_error():
    with pytest.raises(ValueError) as info:
        resolve_kind(np.zeros(3), "sigmoid", multiclass=False)
    assert str(info.value) == ("pred_kind: expected one of ('auto', 'prob', 'logits', 'mask', 'labels'), got 'sigmoid'")


def test_probabilities_inside_0_1_are_float32_unchanged_and_silent():
    pred = np.array([0.0, 0.25, 1.0])  # float64, exactly at both ends
    prob = _quiet(as_probabilities, pred, "p.nii")
    assert prob.dtype == np.float32
    assert prob.tolist() == [0.0, 0.25, 1.0]


@pytest.mark.parametrize(
    ("values", "shown"),
    [([-0.001, 0.5, 1.0], "[-0.001, 1]"), ([0.0, 0.5, 1.001], "[0, 1.001]"), ([-0.0005, 1.0004], "[-0.0005, 1.0004]")],
)
def test_values_a_hair_outside_are_clipped_with_a_warning(values, shown):
    prob, message = _one_warning(as_probabilities, np.array(values), "p.nii")
    assert message == f"p.nii: probabilities in {shown} clipped to [0, 1]"
    assert prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    expected = np.clip(np.array(values, np.float32), 0, 1)
    assert prob.tolist() == expected.tolist()


@pytest.mark.parametrize("values", [[-0.0011, 0.5], [0.5, 1.0011], [-0.5, 1.5]])
def test_probabilities_beyond_the_band_are_an_error_naming_the_file(values):
    with pytest.raises(ValueRangeError) as info:
        as_probabilities(np.array(values), "p.nii")
    low, high = min(values), max(values)
    assert str(info.value) == f"p.nii: probabilities must lie in [0, 1] (to within 0.001), found [{low:g}, {high:g}]"


def test_binary_prob_1_0001_is_clipped_not_read_as_logits():
    pred = np.array([[0.2, 1.0001, 0.7], [0.5, 0.0, 0.49]])
    pair, message = _one_warning(binary_pair, pred, GT, pred_path="p.nii")
    assert pair.kind == "prob"
    assert message == "p.nii: probabilities in [0, 1.0001] clipped to [0, 1]"
    assert pair.prob.dtype == np.float32
    assert pair.prob[0, 1] == 1.0
    # the default threshold is 0.5 and a probability equal to it is foreground
    assert pair.hard.tolist() == [[False, True, True], [True, False, False]]


def test_sigmoid_matches_expit_in_float32_without_overflow_warnings():
    logits = np.array([-200.0, -90.0, -20.0, -1.5, 0.0, 0.3, 4.0, 30.0, 200.0], np.float64)
    got = _quiet(sigmoid, logits)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, special.expit(logits), rtol=1e-6, atol=1e-30)
    assert got[0] == 0.0 and got[4] == 0.5 and got[-1] == 1.0


def test_sigmoid_of_float16_logits_is_computed_in_float32():
    logits = np.array([-15.0, -12.5, -3.0, 0.125, 2.5, 11.0], np.float16)
    got = _quiet(sigmoid, logits)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, special.expit(logits.astype(np.float64)), rtol=1e-6)


def test_softmax_matches_scipy_on_large_logits_and_either_axis():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (3, 4, 5)).astype(np.float32)
    logits[:, 0, 0] = [95.0, 100.0, 98.0]  # exp(100) overflows float32 unless shifted by the max
    got = softmax(logits)  # axis 0 by default
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, special.softmax(logits.astype(np.float64), axis=0), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=0), 1.0, rtol=1e-6)
    got1 = softmax(logits, axis=1)
    np.testing.assert_allclose(got1, special.softmax(logits.astype(np.float64), axis=1), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    "gt",
    [
        np.array([[0, 1], [1, 0]], np.uint8),
        np.array([[0, 2], [2, 0]], np.int32),  # one label other than 0: two values, no label map
        np.array([[0.0, 1.0], [1.0, 0.0]]),
        np.array([[False, True], [True, False]]),
        np.zeros((0, 3), np.int32),
        np.zeros((0, 3), np.float32),
    ],
)
def test_ground_truths_that_read_as_binary_silently(gt):
    target = _quiet(binary_ground_truth, gt, "g.nii")
    assert target.dtype == bool
    assert target.tolist() == (gt > 0).tolist()


@pytest.mark.parametrize(
    ("gt", "low"),
    [
        (np.array([-3, -1, 0, 1, 4]), "-3"),
        (np.array([[-1, 0], [1, 1]], np.int8), "-1"),
        (np.array([0.0, -0.5]), "-0.5"),
    ],
)
def test_negative_ground_truth_values_are_refused_naming_the_file(gt, low):
    """No binary mask holds a negative value: reading it as background was a silent guess (an int8
    copy of a 0/255 mask holds -1 where the foreground is)."""
    with pytest.raises(ValueRangeError, match=rf"^g\.nii: ground truth holds negative values \({low}\); a binary mask"):
        binary_ground_truth(gt, "g.nii")
    target = _quiet(binary_ground_truth, np.array([-3, -1, 0, 1, 4]) == 4, "g.nii")  # a bool mask: fine
    assert target.tolist() == [False, False, False, False, True]


def test_the_negative_value_message_in_full():
    with pytest.raises(ValueRangeError) as refused:
        binary_ground_truth(np.array([0, -1], np.int8), "g.nii")
    assert str(refused.value) == (
        "g.nii: ground truth holds negative values (-1); a binary mask is 0 and positive values "
        "(an int8 copy of a 0/255 mask holds -1: save masks unsigned)"
    )


def test_a_negative_integer_prediction_is_refused_but_float_negatives_are_logits():
    gt = np.array([[0, 1], [1, 0]], np.uint8)
    with pytest.raises(ValueRangeError, match=r"^p\.npy: an integer prediction holds negative values \(-1\)"):
        binary_pair(np.array([[0, -1], [1, 0]], np.int16), gt, pred_path="p.npy")
    pair, _ = _one_warning(binary_pair, np.array([[-2.0, 3.0], [3.0, -2.0]], np.float32), gt, pred_path="p.npy")
    assert pair.kind == "logits" and pair.hard.tolist() == [[False, True], [True, False]]


@pytest.mark.parametrize("gt", [np.array([[0, 1], [2, 0]], np.uint8), np.array([[0.0, 1.0], [2.0, 0.0]])])
def test_a_label_map_ground_truth_warns_once(gt):
    target, message = _one_warning(binary_ground_truth, gt, "g.nii")
    assert target.tolist() == [[False, True], [True, False]]
    assert message == (
        "a ground truth holds more than two values (a label map): scored as binary, every non-zero label "
        "foreground; pass --num-classes K for per-class scores"
    )


def test_a_fractional_ground_truth_warns_with_the_file():
    target, message = _one_warning(binary_ground_truth, np.array([[0.0, 0.4], [1.0, 2.0]]), "g.nii")
    assert target.tolist() == [[False, True], [True, True]]
    assert message == (
        "g.nii: ground truth holds fractional values (soft labels or probabilities?): scored as binary, "
        "every value > 0 foreground"
    )


def test_non_finite_ground_truth_is_an_error_naming_the_file():
    for bad in (np.nan, np.inf):
        gt = np.array([[0.0, 1.0], [bad, 0.0]])
        with pytest.raises(ValueRangeError) as info:
            binary_pair(np.zeros((2, 2), bool), gt, gt_path="g.nii")
        assert str(info.value) == "g.nii: ground truth holds NaN or infinite values"
        with pytest.raises(ValueRangeError) as info:
            multiclass_pair(None, gt, num_classes=3, gt_path="g.nii")
        assert str(info.value) == "g.nii: ground truth holds NaN or infinite values"


def test_missing_prediction_is_an_empty_mask():
    pair = _quiet(binary_pair, None, GT)
    assert pair.kind == "mask"
    assert pair.hard.dtype == bool and pair.prob.dtype == bool
    assert pair.hard.shape == GT.shape and not pair.hard.any() and not pair.prob.any()
    assert pair.target.tolist() == (GT > 0).tolist()


def test_integer_mask_is_foreground_above_zero():
    pred = np.array([[0, 1, 2], [0, 7, 1]], np.int16)
    pair, message = _one_warning(binary_pair, pred, GT)  # more than two values: said
    assert message.startswith("a prediction holds more than two values")
    assert pair.kind == "mask"
    assert pair.hard.tolist() == [[False, True, True], [False, True, True]]
    assert pair.prob.dtype == bool and pair.prob.tolist() == pair.hard.tolist()
    assert _quiet(binary_pair, np.array([[0, 1, 1], [0, 0, 1]], np.int16), GT).hard.tolist() == GT.astype(bool).tolist()


def test_logits_read_by_auto_warn_the_note_and_match_expit():
    pred = np.array([[-3.0, 0.0, 2.0], [-0.5, 0.5, -0.002]], np.float32)
    pair, message = _one_warning(binary_pair, pred, GT)
    assert pair.kind == "logits"
    assert message == LOGITS_NOTE
    assert message.startswith("floating-point predictions with negative values are read as logits")
    np.testing.assert_allclose(pair.prob, special.expit(pred.astype(np.float64)), rtol=1e-6)
    # sigmoid(0) = 0.5 equals the threshold: foreground; sigmoid(-0.002) just below it: background
    assert pair.hard.tolist() == [[False, True, True], [False, True, False]]


def test_explicit_kinds_give_no_logits_note():
    pred = np.array([[-3.0, 0.0, 2.0], [-0.5, 0.5, 1.0]])
    pair = _quiet(binary_pair, pred, GT, pred_kind="logits")
    assert pair.kind == "logits"
    prob = np.array([[0.1, 0.6, 0.9], [0.3, 0.5, 1.0]])
    pair = _quiet(binary_pair, prob, GT, pred_kind="prob", threshold=0.6)
    assert pair.kind == "prob"
    assert pair.hard.tolist() == [[False, True, True], [False, False, True]]  # 0.6 >= 0.6
    pair = _quiet(binary_pair, prob, GT)  # auto chose prob: no note either
    assert pair.kind == "prob"


def test_explicit_logits_on_values_inside_0_1_use_the_sigmoid():
    pred = np.array([[0.0, 1.0, 0.2], [0.0, 0.0, 0.0]])
    pair = _quiet(binary_pair, pred, GT, pred_kind="logits")
    np.testing.assert_allclose(pair.prob, special.expit(pred), rtol=1e-6)
    assert pair.hard.all()  # sigmoid of non-negative values is >= 0.5


def test_labels_kind_in_binary_mode_is_an_error():
    with pytest.raises(ValueRangeError) as info:
        binary_pair(GT.astype(np.int64), GT, pred_kind="labels", pred_path="p.nii")
    assert str(info.value) == "p.nii: pred_kind labels needs num_classes (multi-class mode)"


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_singleton_channel_axis_at_either_end_is_dropped(where):
    prob = np.array([[0.1, 0.6, 0.9], [0.3, 0.5, 0.2]])
    pred = prob[None] if where == "first" else prob[..., None]
    pair = _quiet(binary_pair, pred, GT)
    assert pair.prob.shape == GT.shape
    assert pair.prob.tolist() == prob.astype(np.float32).tolist()


@pytest.mark.parametrize(
    "shape", [(2, 2, 3), (2, 3, 2), (1, 2, 4), (2, 3, 1, 1), (1, 1, 2, 3), (3, 2), (2, 1, 3), (1, 3, 3)]
)
def test_other_shapes_are_a_shape_error_naming_both_files(shape):
    pred = np.full(shape, 0.5)
    with pytest.raises(ShapeError) as info:
        binary_pair(pred, GT, pred_path="p.nii", gt_path="g.nii")
    assert str(info.value) == f"p.nii: shape {shape} does not match g.nii shape (2, 3)"


def test_default_file_names_in_messages():
    with pytest.raises(ShapeError) as info:
        binary_pair(np.zeros((3, 3)), GT)
    assert str(info.value) == "prediction: shape (3, 3) does not match ground truth shape (2, 3)"
    with pytest.raises(ValueRangeError) as info:
        binary_pair(np.full((2, 3), np.nan), GT)
    assert str(info.value) == "prediction: prediction holds NaN or infinite values"
    with pytest.raises(ValueRangeError) as info:
        binary_pair(np.full((2, 3), 0.5), np.full((2, 3), np.inf))
    assert str(info.value) == "ground truth: ground truth holds NaN or infinite values"
    _, message = _one_warning(binary_pair, np.full((2, 3), 0.5), np.full((2, 3), 0.5))
    assert message.startswith("ground truth: ground truth holds fractional values")
    with pytest.raises(ValueRangeError, match=r"^prediction: floating-point values in \[0, 2\]"):
        binary_pair(np.array([[0.0, 2.0, 1.0], [0.0, 0.0, 0.0]]), GT)
    _, message = _one_warning(binary_pair, np.full((2, 3), 1.0005), GT)
    assert message == "prediction: probabilities in [1.0005, 1.0005] clipped to [0, 1]"


def test_non_finite_prediction_is_an_error_naming_the_file():
    for bad in (np.nan, -np.inf):
        pred = np.array([[0.0, 1.0, bad], [0.0, 0.0, 0.0]], np.float32)
        with pytest.raises(ValueRangeError) as info:
            binary_pair(pred, GT, pred_path="p.nii")
        assert str(info.value) == "p.nii: prediction holds NaN or infinite values"


MGT = np.array([[0, 1, 2], [255, 2, 1]], np.uint8)


def test_ignore_label_is_left_out_of_target_and_labels():
    pred = np.array([[0, 1, 1], [2, 2, 1]], np.int32)
    pair = _quiet(multiclass_pair, pred, MGT, num_classes=3)  # ignore_index 255 by default
    assert pair.kind == "labels" and pair.prob is None
    assert pair.valid.tolist() == [[True, True, True], [False, True, True]]
    assert pair.target.tolist() == [[0, 1, 2], [0, 2, 1]]
    assert pair.labels.tolist() == [[0, 1, 1], [0, 2, 1]]
    assert pair.target.dtype == np.int64 and pair.labels.dtype == np.int64


def test_a_prediction_label_on_an_ignored_pixel_is_not_checked():
    pred = np.array([[0, 1, 1], [9, 2, 1]], np.int32)  # 9 >= K only where the GT is ignored
    pair = _quiet(multiclass_pair, pred, MGT, num_classes=3)
    assert pair.labels.tolist() == [[0, 1, 1], [0, 2, 1]]


def test_without_an_ignore_index_every_label_is_checked():
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(None, MGT, num_classes=3, ignore_index=None, gt_path="g.nii")
    assert str(info.value) == "g.nii: label 255 outside 0..2 (num_classes 3) and not the ignore index"
    gt = np.array([[0, 1], [2, 1]])
    pair = _quiet(multiclass_pair, None, gt, num_classes=3, ignore_index=None)
    assert pair.valid.all() and pair.target.tolist() == gt.tolist()
    assert pair.labels.tolist() == [[0, 0], [0, 0]] and pair.labels.dtype == np.int64
    assert pair.prob is None and pair.kind == "labels"


@pytest.mark.parametrize(
    ("gt", "shown"),
    [
        (np.array([[0, 1], [3, 2]]), "label 3 outside 0..2"),  # exactly K
        (np.array([[0, -1], [1, 2]]), "label -1 outside 0..2"),
        (np.array([[0, 1], [5, 7]]), "label 5 outside 0..2"),  # the first bad label, not a good 0 or 1
        (np.array([[0.0, 1.0], [4.0, 2.0]]), "label 4 outside 0..2"),
    ],
)
def test_ground_truth_labels_outside_0_k_name_the_first(gt, shown):
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(None, gt, num_classes=3, gt_path="g.nii")
    assert str(info.value) == f"g.nii: {shown} (num_classes 3) and not the ignore index"


def test_prediction_labels_outside_0_k_name_the_prediction():
    pred = np.array([[0, 1, 0], [0, 1, 3]], np.int64)
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(pred, MGT, num_classes=3, pred_path="p.nii")
    assert str(info.value) == "p.nii: label 3 outside 0..2 (num_classes 3) and not the ignore index"


def test_all_ignored_ground_truth_is_no_error():
    gt = np.full((2, 2), 255, np.uint8)
    pair = _quiet(multiclass_pair, np.zeros((2, 2), np.int64), gt, num_classes=2)
    assert not pair.valid.any() and not pair.target.any()


def test_float_label_maps_must_hold_integers():
    gt = np.array([[0.0, 1.0], [2.0, 1.0]])
    pair = _quiet(multiclass_pair, np.array([[0.0, 1.0], [2.0, 2.0]]), gt, num_classes=3, pred_kind="labels")
    assert pair.target.dtype == np.int64 and pair.target.tolist() == [[0, 1], [2, 1]]
    assert pair.labels.tolist() == [[0, 1], [2, 2]] and pair.kind == "labels"
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(None, np.array([[0.0, 1.5], [2.0, 1.0]]), num_classes=3, gt_path="g.nii")
    assert str(info.value) == "g.nii: ground truth label map holds non-integer values"
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(np.array([[0.0, 1.5], [2.0, 2.0]]), gt, num_classes=3, pred_kind="labels", pred_path="p.nii")
    assert str(info.value) == "p.nii: label map holds non-integer values"


def test_mask_kind_in_multiclass_mode_reads_a_label_map():
    pred = np.array([[0, 1, 1], [2, 2, 1]], np.int32)
    pair = _quiet(multiclass_pair, pred, MGT, num_classes=3, pred_kind="mask")
    assert pair.kind == "labels" and pair.labels.tolist() == [[0, 1, 1], [0, 2, 1]]


@pytest.mark.parametrize("k", [2, 3])
def test_a_label_map_with_a_singleton_channel_axis(k):
    gt = np.array([[0, 1], [1, 0]], np.uint8)
    pred = np.array([[[1, 1], [0, 0]]], np.uint8)  # (1, 2, 2)
    pair = _quiet(multiclass_pair, pred, gt, num_classes=k)
    assert pair.kind == "labels" and pair.labels.tolist() == [[1, 1], [0, 0]]


def test_one_class_probabilities_keep_their_channel():
    gt = np.zeros((2, 2), np.uint8)
    prob = np.array([[[1.0, 0.5], [0.25, 0.75]]])  # (1, 2, 2): K = 1 channel first
    pair = _quiet(multiclass_pair, prob, gt, num_classes=1)
    assert pair.kind == "prob" and pair.prob.shape == (1, 2, 2)
    assert pair.labels.tolist() == [[0, 0], [0, 0]]


def test_channel_first_probabilities_argmax_and_ignore():
    prob = np.array(
        [[[0.7, 0.1, 0.2], [0.2, 0.3, 0.1]], [[0.2, 0.8, 0.2], [0.7, 0.3, 0.8]], [[0.1, 0.1, 0.6], [0.1, 0.4, 0.1]]]
    )
    pair = _quiet(multiclass_pair, prob, MGT, num_classes=3)
    assert pair.kind == "prob" and pair.prob.dtype == np.float32
    assert pair.prob.tolist() == prob.astype(np.float32).tolist()
    assert pair.labels.tolist() == [[0, 1, 2], [0, 2, 1]]  # class 1 at the ignored pixel: 0


def test_channel_first_logits_softmax_note_and_argmax():
    rng = np.random.default_rng(8)
    logits = rng.normal(0, 2, (3, 2, 3)).astype(np.float32)
    logits[:, 0, 0] = [-1.0, 60.0, 59.0]
    pair, message = _one_warning(multiclass_pair, logits, MGT, num_classes=3, pred_path="p.nii")
    assert message == LOGITS_NOTE
    assert pair.kind == "logits"
    reference = special.softmax(logits.astype(np.float64), axis=0)
    np.testing.assert_allclose(pair.prob, reference, rtol=2e-6, atol=1e-7)
    expected = np.where(MGT != 255, reference.argmax(axis=0), 0)
    assert pair.labels.tolist() == expected.tolist()
    pair = _quiet(multiclass_pair, logits, MGT, num_classes=3, pred_kind="logits")
    assert pair.kind == "logits"


def test_multiclass_prob_1_0001_is_clipped_not_logits():
    prob = np.full((2, 2, 3), 0.5)
    prob[0, 0, 0] = 1.0001
    prob[1, 0, 0] = 0.0
    pair, message = _one_warning(multiclass_pair, prob, MGT[:, :] % 2, num_classes=2, pred_path="p.nii")
    assert pair.kind == "prob" and message == "p.nii: probabilities in [0, 1.0001] clipped to [0, 1]"
    assert pair.prob[0, 0, 0] == 1.0


def test_multiclass_shape_messages_name_the_file():
    def error(pred, kind="auto"):
        with pytest.raises(ShapeError) as info:
            multiclass_pair(pred, MGT, num_classes=3, pred_kind=kind, pred_path="p.nii")
        return str(info.value)

    assert error(np.full((2, 3), 0.5)) == "p.nii: a prob prediction needs 3 channels first, got shape (2, 3)"
    assert error(np.full((2, 3), -0.5)) == "p.nii: a logits prediction needs 3 channels first, got shape (2, 3)"
    assert error(np.full((3, 2, 4), 0.5)) == "p.nii: shape (3, 2, 4) does not match ground truth shape (2, 3)"
    assert error(np.full((3, 3, 3), 0.5)) == "p.nii: shape (3, 3, 3) does not match ground truth shape (2, 3)"
    assert error(np.full((3, 2, 3, 1), 0.5)) == "p.nii: shape (3, 2, 3, 1) does not match ground truth shape (2, 3)"
    assert error(np.full((4, 2, 3), 0.25)) == "p.nii: 4 channels, expected num_classes 3"
    assert (
        error(np.zeros((3, 2, 3), np.int64)) == "p.nii: a channel-first prediction must be prob or logits, not labels"
    )
    assert error(np.full((3, 2, 3), 0.2), "labels") == (
        "p.nii: a channel-first prediction must be prob or logits, not labels"
    )


def test_every_multiclass_message_names_the_file_given_or_the_default():
    gt = np.array([[0, 1, 2], [1, 2, 0]], np.uint8)
    neither = np.array([[0.0, 2.0, 1.0], [0.0, 0.5, 0.5]])  # non-negative, above 1.001
    with pytest.raises(ValueRangeError, match=r"^p\.nii: floating-point values in \[0, 2\] are neither"):
        binary_pair(neither, gt > 0, pred_path="p.nii")
    with pytest.raises(ValueRangeError, match=r"^p\.nii: floating-point values in \[0, 2\] are neither"):
        multiclass_pair(neither, gt, num_classes=3, pred_path="p.nii")  # the label-map-shaped branch
    with pytest.raises(ValueRangeError, match=r"^p\.nii: floating-point values in \[0, 2\] are neither"):
        multiclass_pair(np.stack([neither] * 3), gt, num_classes=3, pred_path="p.nii")  # channel first
    nan = np.full((3, 2, 3), 0.5)
    nan[1, 1, 1] = np.nan
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(nan, gt, num_classes=3, pred_path="p.nii")
    assert str(info.value) == "p.nii: prediction holds NaN or infinite values"
    # the defaults
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(None, np.array([[0, 4]]), num_classes=3)
    assert str(info.value) == "ground truth: label 4 outside 0..2 (num_classes 3) and not the ignore index"
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(np.array([[0, 3]]), np.array([[0, 1]]), num_classes=3)
    assert str(info.value) == "prediction: label 3 outside 0..2 (num_classes 3) and not the ignore index"
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(nan, gt, num_classes=3)
    assert str(info.value) == "prediction: prediction holds NaN or infinite values"
    with pytest.raises(ShapeError) as info:
        multiclass_pair(np.zeros((2, 2), np.int64), gt, num_classes=3)
    assert str(info.value) == "prediction: shape (2, 2) does not match ground truth shape (2, 3)"
    with pytest.raises(ValueRangeError) as info:
        multiclass_pair(None, np.array([[0.5, 1.0]]), num_classes=3)
    assert str(info.value) == "ground truth: ground truth label map holds non-integer values"
