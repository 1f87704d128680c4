"""`segcli compare`: paired differences against scipy.stats and hand-worked cases."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.compare import holm


def _write_csv(path, rows, columns=("dice", "hd95")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *columns, "pred_kind"])
        for name, *values in rows:
            writer.writerow([name, *values, "mask"])
        writer.writerow(["summary:mean", *([""] * len(columns)), ""])


def _rows(text):
    return {r["score"]: r for r in csv.DictReader(io.StringIO(text))}


A = [("c1", 0.80, 2.0), ("c2", 0.70, 3.0), ("c3", 0.90, 1.0), ("c4", 0.60, 4.0), ("c5", 0.75, "inf"),
     ("c6", 0.85, 2.0), ("only_a", 0.1, 9.0)]  # fmt: skip
B = [("c1", 0.85, 1.0), ("c2", 0.70, 3.0), ("c3", 0.88, 2.0), ("c4", 0.72, 2.0), ("c5", 0.80, "inf"),
     ("c6", 0.95, 1.0), ("only_b", 0.2, 1.0)]  # fmt: skip


def test_against_scipy_and_by_hand(tmp_path):
    _write_csv(tmp_path / "a.csv", A)
    _write_csv(tmp_path / "b.csv", B)
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    dice_a = np.array([0.80, 0.70, 0.90, 0.60, 0.75, 0.85])
    dice_b = np.array([0.85, 0.70, 0.88, 0.72, 0.80, 0.95])
    d = dice_b - dice_a
    d[1] = 0.0
    dice = rows["dice"]
    assert float(dice["mean_diff"]) == pytest.approx(d.mean())
    w = stats.wilcoxon(d)
    assert float(dice["wilcoxon_statistic"]) == pytest.approx(w.statistic)
    assert float(dice["p_value"]) == pytest.approx(w.pvalue)
    ci = stats.bootstrap((d,), np.mean, n_resamples=9999, method="BCa", rng=np.random.default_rng(0))
    assert float(dice["ci_low"]) == pytest.approx(ci.confidence_interval.low)
    assert float(dice["ci_high"]) == pytest.approx(ci.confidence_interval.high)
    assert (dice["wins"], dice["ties"], dice["losses"]) == ("4", "1", "1")  # c3 lost 0.02
    assert dice["most_changed"].startswith("c4:+0.12;c6:+0.1")
    hd = rows["hd95"]  # lower is better: c1, c4, c6 won, c3 lost, c2 tie, c5 inf vs inf tie
    assert (hd["wins"], hd["ties"], hd["losses"]) == ("3", "2", "1")
    assert (hd["n_nonfinite_diff"], hd["n_cases"]) == ("1", "5")  # inf - inf left out, counted
    assert float(hd["mean_diff"]) == pytest.approx(np.mean([-1.0, 0.0, 1.0, -2.0, -1.0]))
    p = [float(dice["p_value"]), float(hd["p_value"])]
    assert [float(dice["p_holm"]), float(hd["p_holm"])] == pytest.approx(holm(p))
    assert "1 case(s) only in A, left out: only_a" in result.stderr
    assert "1 case(s) only in B, left out: only_b" in result.stderr
    assert "carry no settings" in result.stderr


def test_holm_by_hand():
    # p sorted: 0.01 (x3 = 0.03), 0.02 (x2 = 0.04), 0.04 (x1 = 0.04); monotone; NaN untouched.
    assert holm([0.04, 0.01, math.nan, 0.02]) == pytest.approx([0.04, 0.03, math.nan, 0.04], nan_ok=True)
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_file_formats_agree_and_gt_mode_scores_both(tmp_path):
    (tmp_path / "gt").mkdir()
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        gt = np.zeros((24, 24), np.uint8)
        gt[5:18, 4 + i % 3 : 19] = 255
        Image.fromarray(gt).save(tmp_path / "gt" / f"c{i}.png")
        Image.fromarray(np.roll(gt, int(rng.integers(0, 3)), axis=0)).save(tmp_path / "a" / f"c{i}.png")
        Image.fromarray(np.roll(gt, int(rng.integers(0, 2)), axis=1)).save(tmp_path / "b" / f"c{i}.png")
    runner = CliRunner()
    outputs = {}
    for side, ext in (("a", "jsonl"), ("b", "csv")):
        out = tmp_path / f"{side}.{ext}"
        result = runner.invoke(app, ["score", str(tmp_path / side), str(tmp_path / "gt"), "-o", str(out),
                                     "--metrics", "dice,iou,hd95,assd"])  # fmt: skip
        assert result.exit_code == 0
        outputs[side] = out
    json_out = tmp_path / "b.json"
    runner.invoke(app, ["score", str(tmp_path / "b"), str(tmp_path / "gt"), "-o", str(json_out),
                        "--metrics", "dice,iou,hd95,assd"])  # fmt: skip
    from_files = runner.invoke(app, ["compare", str(outputs["a"]), str(outputs["b"]), "--format", "csv"])
    from_json = runner.invoke(app, ["compare", str(outputs["a"]), str(json_out), "--format", "csv"])
    scored = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--gt", str(tmp_path / "gt"),
                                 "--format", "csv"])  # fmt: skip
    assert scored.exit_code == 0, scored.output
    a, b, c = _rows(from_files.stdout), _rows(from_json.stdout), _rows(scored.stdout)
    for score in ("dice", "hd95"):
        for key in ("mean_diff", "p_value", "wins", "ties", "losses", "ci_low"):
            assert float(a[score][key]) == pytest.approx(float(c[score][key]), rel=1e-8)
            assert float(b[score][key]) == pytest.approx(float(c[score][key]), rel=1e-8)
    as_json = runner.invoke(app, ["compare", str(outputs["a"]), str(json_out), "--format", "json"])
    document = json.loads(as_json.stdout)
    assert document["n_paired"] == 8 and document["comparison"][0]["score"] == "dice"


def test_differing_settings_are_said(tmp_path):
    rows = [("c1", 0.5, 1.0), ("c2", 0.6, 2.0)]
    for name, threshold in (("a", 0.5), ("b", 0.3)):
        lines = [json.dumps({"name": n, "dice": d, "hd95": h}) for n, d, h in rows]
        tail = {"summary": {"dice": {}, "hd95": {}}, "failed": [], "settings": {"threshold": threshold, "device": name}}
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines + [json.dumps(tail)]) + "\n")
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    assert result.exit_code == 0
    assert "different settings: threshold" in result.stderr and "device" not in result.stderr


def test_bad_inputs_are_one_line(tmp_path):
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    _write_csv(tmp_path / "a.csv", A)
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "x.csv"), str(tmp_path / "a.csv")])
    assert result.exit_code == 1 and "x.csv: not a segcli score table" in result.stderr
    _write_csv(tmp_path / "c.csv", [("zz", 0.1, 1.0)])
    disjoint = CliRunner().invoke(app, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "c.csv")])
    assert disjoint.exit_code == 1 and "no case name in common" in disjoint.stderr
