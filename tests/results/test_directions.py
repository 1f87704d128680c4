"""`segcli compare`: which way each column of `segcli score` gets better, and wins / ties / losses
counted that way. Expectations by hand: run B is the ground truth itself (perfect on every case),
run A is shifted, so B must win every case of every column with a direction."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.results.compare import ScoreTable, compare, direction

# Written by hand from `segcli metrics` (the "better" column), the object scores' definitions
# (segcli/scores/objects.py) and the column names score writes with --rater, --combine, --objects,
# --thresholds and --num-classes (with and without --class-names).
EXPECTED = {
    "dice": "higher",
    "iou": "higher",
    "nsd": "higher",
    "boundary_iou": "higher",
    "mcc": "higher",
    "hd": "lower",
    "hd95": "lower",
    "hd95_pooled": "lower",
    "assd": "lower",
    "masd": "lower",
    "bce": "lower",
    "dice_loss": "lower",
    "loss_medical": "lower",
    "ce": "lower",
    "lovasz_softmax": "lower",
    "combined": "lower",  # a weighted sum of losses
    # --rater: the base score decides
    "rater2.hd95": "lower",
    "rater2.dice": "higher",
    "rater12.bce": "lower",
    "rater2.combined": "lower",
    "majority.hd95": "lower",
    "majority.combined": "lower",
    "majority.nsd": "higher",
    "staple.hd95": "lower",
    "staple.combined": "lower",
    "interrater.hd95": "lower",
    "interrater.dice": "higher",
    # --objects
    "obj_tp": "higher",
    "obj_fp": "lower",
    "obj_fn": "lower",
    "obj_precision": "higher",
    "obj_recall": "higher",
    "obj_f1": "higher",
    "obj_ap": "higher",
    "obj_ap_mean": "higher",
    "pq": "higher",
    "sq": "higher",
    "rq": "higher",
    "aji": "higher",
    "seg": "higher",
    "obj_count_gt": "none",
    "obj_count_pred": "none",
    # --num-classes: <score>_<class index or --class-names name>
    "dice_1": "higher",
    "hd95_2": "lower",
    "hd95_pooled_1": "lower",
    "hd_hd95": "lower",  # hd of a class named hd95
    "dice_a_b": "higher",
    "obj_fp_liver": "lower",
    "obj_ap_mean_a_b": "higher",
    "obj_count_gt_liver": "none",
    "obj_count_pred_2": "none",
    # --thresholds (read from JSON lines as <score>@<threshold>)
    "dice@0.5": "higher",
    "hd95@0.35": "lower",
    # not a column segcli writes
    "my_score": "unknown",
    "rater2.my_score": "unknown",
    "summary": "unknown",
}


@pytest.mark.parametrize(("column", "expected"), EXPECTED.items())
def test_direction_of_every_kind_of_column(column, expected):
    assert direction(column) == expected


def test_every_registered_and_object_score_has_a_direction():
    """No score segcli can write falls to "unknown" (a new score would need its direction here)."""
    from segcli.scores.objects import SCORE_NAMES
    from segcli.scores.table import BY_NAME, MULTICLASS_BY_NAME

    for name in (*BY_NAME, *MULTICLASS_BY_NAME, *SCORE_NAMES, "combined"):
        assert direction(name) in ("higher", "lower", "none"), name
        assert direction(f"rater3.{name}") == direction(name), name


def _table(path, columns, values):
    return ScoreTable(path=path, columns=list(columns), values=values)


def test_no_direction_no_wins_ties_losses():
    """obj_count_gt (a count) and an unknown column: the difference is tested, but there is no
    verdict; hd95 next to them is counted (lower wins)."""
    a = _table("a", ["obj_count_gt", "mystery", "hd95"], {
        "x": {"obj_count_gt": 2.0, "mystery": 1.0, "hd95": 3.0},
        "y": {"obj_count_gt": 3.0, "mystery": 1.0, "hd95": 1.0},
    })  # fmt: skip
    b = _table("b", ["obj_count_gt", "mystery", "hd95"], {
        "x": {"obj_count_gt": 4.0, "mystery": 2.0, "hd95": 1.0},
        "y": {"obj_count_gt": 3.0, "mystery": 0.5, "hd95": 1.0},
    })  # fmt: skip
    count, mystery, hd95 = compare(a, b)[0]
    assert (count["better"], count["wins"], count["ties"], count["losses"]) == ("none", None, None, None)
    assert (mystery["better"], mystery["wins"], mystery["ties"], mystery["losses"]) == ("unknown", None, None, None)
    assert count["mean_diff"] == pytest.approx(1.0) and mystery["mean_diff"] == pytest.approx(0.25)
    assert (hd95["better"], hd95["wins"], hd95["ties"], hd95["losses"]) == ("lower", 1, 1, 0)


def _rows(text):
    return {r["score"]: r for r in csv.DictReader(io.StringIO(text))}


def _run(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_perfect_b_wins_every_case_of_every_directed_column(tmp_path):
    """4 cases; GT = a second rater = run B (perfect); run A is the GT shifted by i + 1 rows. B is
    better on every case in dice, hd95 and combined against the GT, each rater, the majority and
    STAPLE: 4 wins each. interrater (GT against the second rater) is the same in both runs: 4 ties."""
    for side in ("gt", "r2", "pa", "pb"):
        (tmp_path / side).mkdir()
    for i in range(4):
        mask = np.zeros((40, 40), np.uint8)
        mask[10:25, 8 + i : 30] = 255
        for side in ("gt", "r2", "pb"):
            Image.fromarray(mask).save(tmp_path / side / f"c{i}.png")
        Image.fromarray(np.roll(mask, i + 1, axis=0)).save(tmp_path / "pa" / f"c{i}.png")
    for side in ("a", "b"):
        _run(["score", str(tmp_path / f"p{side}"), str(tmp_path / "gt"), "--rater", str(tmp_path / "r2"),
              "--metrics", "dice,hd95", "--combine", "bce+dice_loss", "--workers", "1",
              "-o", str(tmp_path / f"{side}.jsonl")])  # fmt: skip
    rows = _rows(_run(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--format", "csv"]).stdout)
    directed = [f"{p}{s}" for p in ("", "rater2.", "majority.", "staple.") for s in ("dice", "hd95", "combined")]
    assert sorted(rows) == sorted([*directed, "interrater.dice", "interrater.hd95"])
    verdicts = {c: (rows[c]["n_cases"], rows[c]["wins"], rows[c]["ties"], rows[c]["losses"]) for c in directed}
    assert verdicts == dict.fromkeys(directed, ("4", "4", "0", "0"))
    for column in directed:
        assert rows[column]["better"] == ("higher" if column.endswith("dice") else "lower"), column
    for column in ("interrater.dice", "interrater.hd95"):
        assert (rows[column]["wins"], rows[column]["ties"], rows[column]["losses"]) == ("0", "4", "0"), column


def test_object_counts_have_no_verdict_and_false_objects_lose(tmp_path):
    """3 cases, GT with two squares. A misses the second square and has a false square far away:
    obj_tp 1, obj_fp 1, obj_fn 1; B = GT: obj_tp 2, obj_fp 0, obj_fn 0. B wins obj_tp, obj_fp and
    obj_fn on all 3 cases; both have 2 GT and 2 predicted objects: no direction, cells empty."""
    for side in ("gt", "pa", "pb"):
        (tmp_path / side).mkdir()
    for i in range(3):
        gt = np.zeros((40, 40), np.uint8)
        gt[2:10, 2 + i : 10 + i] = 255
        gt[20:30, 20:30] = 255
        a = gt.copy()
        a[20:30, 20:30] = 0
        a[32:38, 2:8] = 255
        for side, mask in (("gt", gt), ("pb", gt), ("pa", a)):
            Image.fromarray(mask).save(tmp_path / side / f"c{i}.png")
    for side in ("a", "b"):
        _run(["score", str(tmp_path / f"p{side}"), str(tmp_path / "gt"), "--objects", "components",
              "--metrics", "obj_tp,obj_fp,obj_fn,obj_count_gt,obj_count_pred", "--workers", "1",
              "-o", str(tmp_path / f"{side}.csv")])  # fmt: skip
    result = _run(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--format", "csv"])
    rows = _rows(result.stdout)
    verdicts = {c: (rows[c]["wins"], rows[c]["ties"], rows[c]["losses"]) for c in rows}
    assert verdicts == {"obj_tp": ("3", "0", "0"), "obj_fp": ("3", "0", "0"), "obj_fn": ("3", "0", "0"),
                        "obj_count_gt": ("", "", ""), "obj_count_pred": ("", "", "")}  # fmt: skip
    assert {c: rows[c]["better"] for c in rows} == {"obj_tp": "higher", "obj_fp": "lower", "obj_fn": "lower",
                                                    "obj_count_gt": "none", "obj_count_pred": "none"}  # fmt: skip
    for column in ("obj_count_gt", "obj_count_pred"):
        assert float(rows[column]["mean_diff"]) == 0.0 and rows[column]["n_cases"] == "3"
    assert "no better direction, so no wins/ties/losses: obj_count_gt (none), obj_count_pred (none)" in result.stderr
    as_json = _run(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--format", "json"])
    import json

    by_score = {r["score"]: r for r in json.loads(as_json.stdout)["comparison"]}
    assert by_score["obj_count_gt"]["wins"] is None and by_score["obj_fn"]["wins"] == 3
    assert not math.isnan(float(rows["obj_tp"]["mean_diff"])) and float(rows["obj_tp"]["mean_diff"]) == 1.0
