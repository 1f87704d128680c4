"""`score --objects`: the object columns and --objects-out through the CLI, against the library
(itself checked against StarDist and torchmetrics in tests/scores/test_objects.py) and hand-worked counts."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.scores.object_labels import label_objects
from segcli.scores.objects import SCORE_NAMES, object_scores


@pytest.fixture
def cells(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    gt = np.zeros((40, 40), np.uint16)
    gt[2:10, 2:10], gt[2:10, 20:30], gt[20:35, 5:15] = 1, 2, 3
    pred = np.zeros_like(gt)
    pred[2:10, 3:10], pred[2:10, 20:25], pred[2:10, 25:30], pred[30:38, 30:38] = 7, 8, 9, 5
    np.save(tmp_path / "gt/a.npy", gt)
    np.save(tmp_path / "pred/a.npy", pred)
    return tmp_path, gt, pred


def _run(root, *args):
    return CliRunner().invoke(app, ["score", str(root / "pred"), str(root / "gt"), "--workers", "1", *args])


def test_instances_columns_and_objects_out(cells, tmp_path):
    root, gt, pred = cells
    out = tmp_path / "objects.csv"
    result = _run(root, "--objects", "instances", "--metrics", "dice", "--objects-out", str(out))
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    expected = object_scores(gt, pred)
    for name in SCORE_NAMES:
        assert float(row[name]) == pytest.approx(expected[name]), name
    assert (row["obj_tp"], row["obj_fp"], row["obj_fn"]) == ("1", "3", "2")  # worked by hand
    assert float(row["pq"]) == pytest.approx(0.875 / (1 + 3 / 2 + 2 / 2))
    objects = list(csv.DictReader(io.StringIO(out.read_text())))
    kinds = {(o["side"], o["id"]): o["kind"] for o in objects}
    assert kinds == {("gt", "1"): "matched", ("gt", "2"): "split", ("gt", "3"): "missed", ("pred", "5"): "false",
                     ("pred", "7"): "matched", ("pred", "8"): "split", ("pred", "9"): "split"}  # fmt: skip
    unmatched_gt = sum(o["side"] == "gt" and o["matched_id"] == "0" for o in objects)
    unmatched_pred = sum(o["side"] == "pred" and o["matched_id"] == "0" for o in objects)
    assert (unmatched_gt, unmatched_pred) == (int(row["obj_fn"]), int(row["obj_fp"]))
    assert "more than two values" not in result.stderr


def test_components_chosen_by_name(cells):
    root, gt, pred = cells
    result = _run(root, "--metrics", "dice,obj_f1,pq", "--connectivity", "1")
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert list(row)[:4] == ["name", "dice", "obj_f1", "pq"]
    expected = object_scores(label_objects(gt > 0, "components", connectivity=1),
                             label_objects(pred > 0, "components", connectivity=1))  # fmt: skip
    assert float(row["obj_f1"]) == pytest.approx(expected["obj_f1"]) == pytest.approx(2 / 3)
    assert float(row["pq"]) == pytest.approx(expected["pq"])
    threshold = _run(root, "--metrics", "obj_tp", "--objects", "instances", "--iou-threshold", "0.45")
    assert next(csv.DictReader(io.StringIO(threshold.stdout)))["obj_tp"] == "2"  # IoU 0.5 > 0.45 now


def test_bad_object_inputs(cells):
    root, gt, _ = cells
    np.save(root / "pred/b.npy", np.full(gt.shape, 0.5, np.float32))
    np.save(root / "gt/b.npy", gt)
    result = _run(root, "--objects", "instances", "--metrics", "dice")
    assert result.exit_code == 1 and "pred/b.npy: not an instance label map" in result.stderr
    assert "Traceback" not in result.stderr
    bad = (
        ["--objects", "instances", "--num-classes", "4"],
        ["--objects", "instances", "--iou-threshold", "1"],
        ["--metrics", "dice", "--objects-out", "x.csv"],
        ["--objects", "components", "--connectivity", "5"],
    )
    for args in bad:
        assert _run(root, *args).exit_code == 2, args


def test_multiclass_components_per_class(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    gt = np.zeros((30, 30), np.uint8)
    gt[2:8, 2:8], gt[2:8, 12:18], gt[15:25, 15:25] = 1, 1, 2
    pred = gt.copy()
    pred[2:8, 12:18] = 0  # one of the two class-1 objects missed
    np.save(tmp_path / "gt/a.npy", gt)
    np.save(tmp_path / "pred/a.npy", pred)
    args = ["--num-classes", "3", "--metrics", "obj_tp,obj_fn,obj_f1", "--objects", "components"]
    row = next(csv.DictReader(io.StringIO(_run(tmp_path, *args).stdout)))
    assert (row["obj_tp_1"], row["obj_fn_1"], row["obj_tp_2"], row["obj_fn_2"]) == ("1", "1", "1", "0")
    assert float(row["obj_f1_1"]) == pytest.approx(2 / 3) and float(row["obj_f1"]) == pytest.approx((2 / 3 + 1) / 2)
    assert _run(tmp_path, "--num-classes", "3", "--objects", "instances").exit_code == 2
