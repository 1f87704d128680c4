"""segcli/run/per_class.py: --labels (an nnU-Net
dataset.json) and --class-weights parsing with the messages users read, the per-class object
scores' connectivity and IoU threshold, and losses with --labels that hold no region."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import segcli
from segcli.cli.main import app
from segcli.errors import UsageError
from segcli.run.per_class import columns, labels_for_settings, load_class_weights, load_labels
from segcli.settings import ScoreSettings


def _labels(tmp_path, table):
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"labels": table}), encoding="utf-8")
    return path


def test_labels_file_order_ignore_label_and_class_count(tmp_path):
    path = _labels(tmp_path, {"background": 0, "ignore": 255, "liver": 1, "tumor": [2, 1]})
    classes, count, ignore = load_labels(path)
    assert classes == (("background", (0,)), ("liver", (1,)), ("tumor", (1, 2)))  # after "ignore" too
    assert (count, ignore) == (3, 255)
    assert load_labels(_labels(tmp_path, {"background": 0, "a": 1}))[1:] == (2, None)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, 'expected a "labels" object'),
        ("liver", 'expected a "labels" object'),
        ({"background": 0}, "no class besides the background"),
        ({"background": 0, "a": 1, "ignore": [3, 4]}, "the ignore label must be one label, got \\[3, 4\\]"),
        ({"background": 0, "a,b": 1}, "class name 'a,b' cannot be a column name"),
        ({"background": 0, "": 1}, "class name '' cannot be a column name"),
        ({"background": 0, "a": 1, "b": [1]}, "'b' has the labels of another class \\(\\[1\\]\\)"),
        ({"background": 0, "a": 1, "ignore": 1}, "the ignore label 1 is also a class"),
    ],
)
def test_labels_file_errors_name_the_problem(tmp_path, table, message):
    with pytest.raises(UsageError, match=message):
        load_labels(_labels(tmp_path, table))


def test_labels_file_that_is_not_a_labels_object_or_not_json(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[0, 1]", encoding="utf-8")
    with pytest.raises(UsageError, match='expected a "labels" object'):
        load_labels(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match=r"cannot read JSON \(Expecting property name"):
        load_labels(path)


def test_unreadable_labels_file_message_is_one_line_of_at_most_200_characters(tmp_path):
    missing = tmp_path / ("x" * 240 + ".json")
    with pytest.raises(UsageError) as info:
        load_labels(missing)
    reason = str(info.value).split("cannot read JSON (", 1)[1][:-1]
    assert reason.startswith("[Errno 2]") and len(reason) == 200


def test_labels_agree_with_ignore_index_and_num_classes(tmp_path):
    plain = _labels(tmp_path, {"background": 0, "a": 1, "b": 2})
    assert labels_for_settings(plain, num_classes=None, class_names=None, ignore_index=254)[2] == 254
    assert labels_for_settings(plain, num_classes=3, class_names=None, ignore_index=None)[1:] == (3, None)
    ignoring = _labels(tmp_path, {"background": 0, "a": 1, "ignore": 255})
    assert labels_for_settings(ignoring, num_classes=None, class_names=None, ignore_index=255)[2] == 255
    with pytest.raises(UsageError, match="ignores label 255, not ignore_index 254"):
        labels_for_settings(ignoring, num_classes=None, class_names=None, ignore_index=254)
    with pytest.raises(UsageError, match="^labels names the classes already; leave out class_names$"):
        labels_for_settings(plain, num_classes=None, class_names="a,b,c", ignore_index=None)


def test_losses_allowed_with_labels_that_hold_no_region_and_refused_with_one():
    one_label_each = (("background", (0,)), ("a", (1,)), ("b", (2,)))
    plain = ScoreSettings(metrics=("dice", "ce"), num_classes=3, class_labels=one_label_each)
    assert columns(plain) == ["dice", "dice_a", "dice_b", "ce"]
    with_region = (("background", (0,)), ("a", (1,)), ("ab", (1, 2)))
    regions = ScoreSettings(metrics=("dice", "ce", "dice_loss"), num_classes=3, class_labels=with_region)
    with pytest.raises(UsageError, match=r"multi-class losses \(ce, dice_loss\) do not apply"):
        columns(regions)


def test_class_weights_from_a_comma_list_a_json_list_and_a_classweights_json(tmp_path):
    assert load_class_weights("0.5,2,3", "median", 3) == (0.5, 2.0, 3.0)
    listed = tmp_path / "w.txt"  # an existing file is JSON whatever its suffix
    listed.write_text("[1, 2.5]", encoding="utf-8")
    assert load_class_weights(str(listed), "median", 2) == (1.0, 2.5)
    table = tmp_path / "W.JSON"
    table.write_text(json.dumps({"weights": {"median": [0.25, 4], "enet": [1, 1]}}), encoding="utf-8")
    assert load_class_weights(str(table), "median", 2) == (0.25, 4.0)


@pytest.mark.parametrize(
    ("content", "scheme", "k", "message"),
    [
        (None, "median", 2, r"missing.JSON: cannot read JSON \("),
        ("{not json", "median", 2, "cannot read JSON"),
        ({"weights": {"median": [1, 2], "enet": [1, 1]}}, "inverse", 2, "no scheme 'inverse'; has median, enet$"),
        ({}, "median", 2, "no scheme 'median'; has none$"),
        ([1, "a"], "median", 2, "expected a list of numbers"),
        ({"weights": {"median": 3}}, "median", 2, "expected a list of numbers"),
        ([1, 2], "median", None, "class_weights needs num_classes$"),
        ([1, 2], "median", 3, "class_weights: 2 weights for num_classes 3$"),
    ],
)
def test_class_weights_file_errors(tmp_path, content, scheme, k, message):
    path = tmp_path / "missing.JSON"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_class_weights(str(path), scheme, k)


def test_class_weights_comma_list_errors():
    with pytest.raises(UsageError, match="expected a JSON file or comma-separated numbers, got '1;2'"):
        load_class_weights("1;2", "median", 2)
    with pytest.raises(UsageError, match="class_weights needs num_classes"):
        load_class_weights("1,2", "median", None)


def test_object_scores_per_class_use_connectivity_and_iou_threshold(tmp_path):
    """Class 1: two 2x2 blocks touching at a corner, predicted exactly: 2 objects with
    --connectivity 1, 1 with the default full connectivity. Class 2: GT and prediction 4x4
    blocks overlapping on 8 pixels (IoU 8/24 = 1/3): a match above --iou-threshold 0.3, not
    above the default 0.5. Worked by hand."""
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    gt = np.zeros((12, 12), np.uint8)
    gt[0:2, 0:2], gt[2:4, 2:4], gt[6:10, 6:10] = 1, 1, 2
    pred = gt.copy()
    pred[6:10, 6:10] = 0
    pred[6:10, 8:12] = 2
    np.save(tmp_path / "gt/a.npy", gt)
    np.save(tmp_path / "pred/a.npy", pred)

    def run(*extra):
        args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "3", "--metrics", "dice"]
        args += ["--objects", "components", "--workers", "1", "--format", "json", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["images"][0]

    four = run("--connectivity", "1", "--iou-threshold", "0.3")
    assert (four["obj_tp_1"], four["obj_fp_1"], four["obj_fn_1"]) == (2, 0, 0)
    assert (four["obj_tp_2"], four["obj_fp_2"], four["obj_fn_2"]) == (1, 0, 0)
    full = run()
    assert (full["obj_tp_1"], full["obj_fp_1"], full["obj_fn_1"]) == (1, 0, 0)
    assert (full["obj_tp_2"], full["obj_fp_2"], full["obj_fn_2"]) == (0, 1, 1)


def test_losses_with_labels_use_the_classes_the_file_names(tmp_path):
    """--labels without regions: dice_loss averages the foreground classes the file names (1 and
    2 of 0..2), as MONAI's DiceLoss on the one-hot maps without the background channel."""
    import torch
    from monai.losses import DiceLoss

    pred = np.array([[0, 1, 1, 2], [0, 2, 2, 2], [1, 1, 0, 0]])
    target = np.array([[0, 1, 2, 2], [0, 2, 2, 1], [1, 1, 1, 0]])
    path = _labels(tmp_path, {"background": 0, "a": 1, "b": 2})
    got = segcli.score(pred, target, "dice_loss", labels=str(path))["dice_loss"]
    one_hot = [torch.from_numpy(np.stack([a == c for c in range(3)])[None].astype(np.float64)) for a in (pred, target)]
    ref = DiceLoss(include_background=False, smooth_nr=1e-6, smooth_dr=1e-6)(*one_hot)
    assert got == pytest.approx(ref.item(), rel=1e-6)


def test_pred_kind_labels_reads_a_float_label_map():
    """A label map stored as floats is read as labels when pred_kind says so (auto refuses it)."""
    from sklearn.metrics import f1_score

    pred = np.array([[0, 1, 1, 2], [0, 2, 2, 2], [1, 1, 0, 0]])
    target = np.array([[0, 1, 2, 2], [0, 2, 2, 1], [1, 1, 1, 0]])
    values = segcli.score(pred.astype(np.float64), target, "dice", num_classes=3, pred_kind="labels")
    per_class = f1_score(target.ravel(), pred.ravel(), labels=[1, 2], average=None)
    assert (values["dice_1"], values["dice_2"]) == pytest.approx(tuple(per_class))


def test_missing_prediction_scored_as_empty_in_multiclass_mode(tmp_path):
    """--missing empty: a GT without prediction is scored against an empty (all background)
    prediction: Dice 0 for each class the GT holds."""
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    target = np.array([[0, 1, 2, 2], [0, 2, 2, 1]], np.uint8)
    for name in ("a", "b"):
        np.save(tmp_path / "gt" / f"{name}.npy", target)
    np.save(tmp_path / "pred/a.npy", target)
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "3", "--metrics", "dice"]
    result = CliRunner().invoke(app, [*args, "--missing", "empty", "--workers", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    images = {r["name"]: r for r in json.loads(result.stdout)["images"]}
    assert (images["a"]["dice_1"], images["a"]["dice_2"]) == (1.0, 1.0)
    assert (images["b"]["dice_1"], images["b"]["dice_2"], images["b"]["dice"]) == (0.0, 0.0, 0.0)


def test_ignore_pixels_leave_the_true_negatives_of_every_class():
    """Accuracy and specificity per class count true negatives over the valid pixels only
    (scikit-learn on the pixels that are not the ignore index)."""
    from sklearn.metrics import accuracy_score, recall_score

    pred = np.array([[0, 1, 1, 2, 0], [0, 2, 2, 2, 1], [1, 1, 0, 0, 0]])
    target = np.array([[0, 1, 2, 2, 255], [0, 2, 2, 1, 255], [1, 1, 1, 0, 255]])
    values = segcli.score(pred, target, "accuracy,specificity", num_classes=3, ignore_index=255)
    keep = target != 255
    for c in (1, 2):
        t, p = target[keep] == c, pred[keep] == c
        assert values[f"accuracy_{c}"] == pytest.approx(accuracy_score(t, p))
        assert values[f"specificity_{c}"] == pytest.approx(recall_score(t, p, pos_label=False))


def test_empty_distance_nan_with_every_class_replaced_gives_nan():
    """--empty-distance nan: a class whose prediction is empty has no distance (NaN) and is left
    out of the mean over classes; when that is every class, the mean is NaN (not inf, not an
    error)."""
    gt = np.zeros((6, 6), int)
    gt[1:3, 1:3] = 1
    values = segcli.score(np.zeros((6, 6), int), gt, "hd95", num_classes=2, empty_distance="nan")
    assert np.isnan(values["hd95_1"]) and np.isnan(values["hd95"])
    assert segcli.score(np.zeros((6, 6), int), gt, "hd95", num_classes=2)["hd95"] == np.inf
