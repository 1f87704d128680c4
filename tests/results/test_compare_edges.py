"""`segcli compare` / `segcli report` at the edges of their options and inputs: a score named twice
in --metrics is compared once (Holm's correction counts it once), --metrics naming nothing or an
unknown score and a missing input are usage errors (exit 2, one line), and the long CSV/TSV of a
--thresholds run reads as its JSONL does (``<score>@<threshold>`` columns)."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.errors import InputError, InvalidOption, UsageError
from segcli.results.compare import ScoreTable, compare, read_results

# Four cases, B better than A on every one: Wilcoxon's exact two-sided p of four differences of
# one sign is 2 * (1/2)**4 = 0.125; Holm's correction of a single test leaves it 0.125.
A = [("c1", 0.80, 2.0), ("c2", 0.70, 3.0), ("c3", 0.90, 1.0), ("c4", 0.60, 4.0)]
B = [("c1", 0.85, 1.0), ("c2", 0.75, 2.0), ("c3", 0.95, 0.5), ("c4", 0.72, 2.5)]


def _write_csv(path, rows, columns=("dice", "hd95")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *columns])
        for name, *values in rows:
            writer.writerow([name, *values])
        for statistic in ("mean", "std", "median", "min", "max", "n_nonfinite"):
            writer.writerow([f"summary:{statistic}", *(["0"] * len(columns))])


def _runs(tmp_path):
    _write_csv(tmp_path / "a.csv", A)
    _write_csv(tmp_path / "b.csv", B)
    return str(tmp_path / "a.csv"), str(tmp_path / "b.csv")


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def _one_error_line(*args, code=2):
    """The real entry point (``main``: click's usage errors as one line), in a process of its own."""
    result = subprocess.run([sys.executable, "-m", "segcli", *map(str, args)], capture_output=True, text=True)
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("segcli: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


# 1. a score named twice is compared once --------------------------------------------------------


def test_a_score_named_twice_is_one_row_and_one_test_in_holm(tmp_path):
    a, b = _runs(tmp_path)
    result = _invoke("compare", a, b, "--metrics", "dice,dice", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r["score"] for r in rows] == ["dice"]
    assert float(rows[0]["p_value"]) == pytest.approx(0.125)
    assert float(rows[0]["p_holm"]) == pytest.approx(0.125)  # was 0.25: the one test counted twice
    assert "--metrics names dice more than once: compared once each" in result.stderr
    # two scores, each named twice: Holm over two tests, 2 * 0.125 = 0.25 for both
    both = _rows(_invoke("compare", a, b, "--metrics", "hd95,dice,hd95, dice", "--format", "csv").stdout)
    assert [(r["score"], float(r["p_holm"])) for r in both] == [("hd95", 0.25), ("dice", 0.25)]


def test_the_library_compares_a_score_named_twice_once():
    a = ScoreTable("a", ["dice"], {n: {"dice": d} for n, d, _ in A})
    b = ScoreTable("b", ["dice"], {n: {"dice": d} for n, d, _ in B})
    rows, _ = compare(a, b, scores=["dice", "dice"])
    assert [(r["score"], r["p_holm"]) for r in rows] == [("dice", pytest.approx(0.125))]
    with pytest.raises(InvalidOption, match=r"^scores: no score named"):
        compare(a, b, scores=[])
    with pytest.raises(InvalidOption, match=r"^scores: score\(s\) not in both runs: hd95; common: dice$"):
        compare(a, b, scores=["dice", "hd95"])


# 2. and 3. --metrics naming nothing or an unknown score, missing inputs: exit 2 ------------------


@pytest.mark.parametrize("metrics", ["", " ", ",", " , ,"])
def test_metrics_naming_nothing_is_refused(tmp_path, metrics):
    a, b = _runs(tmp_path)
    line = _one_error_line("compare", a, b, "--metrics", metrics)
    assert "--metrics" in line and "got nothing" in line


def test_metrics_naming_nothing_is_refused_with_gt_too(tmp_path):
    (tmp_path / "gt").mkdir()
    line = _one_error_line("compare", tmp_path / "gt", tmp_path / "gt", "--gt", tmp_path / "gt",
                           "--metrics", "")  # fmt: skip
    assert "--metrics" in line and "got nothing" in line


def test_an_unknown_score_is_a_usage_error_naming_it(tmp_path):
    a, b = _runs(tmp_path)
    line = _one_error_line("compare", a, b, "--metrics", "dice,nonsense")
    assert line == "segcli: error: Invalid value for --metrics: score(s) not in both runs: nonsense; common: dice, hd95"


def test_an_unknown_score_with_gt_is_refused_before_scoring(tmp_path):
    (tmp_path / "gt").mkdir()  # empty: nothing to pair, so pairing first would say something else
    line = _one_error_line("compare", tmp_path / "no_a", tmp_path / "no_b", "--gt", tmp_path / "gt",
                           "--metrics", "dice,nonsense")  # fmt: skip
    assert "--metrics" in line and "'nonsense'" in line


@pytest.mark.parametrize("which", [0, 1])
def test_a_missing_run_is_a_usage_error_naming_it(tmp_path, which):
    runs = list(_runs(tmp_path))
    runs[which] = str(tmp_path / "missing.csv")
    out = tmp_path / "out.csv"
    line = _one_error_line("compare", *runs, "-o", out)
    assert line == f"segcli: error: {tmp_path / 'missing.csv'}: no such file or directory"
    assert not out.exists()
    with pytest.raises(UsageError, match="missing.csv: no such file or directory"):
        read_results(tmp_path / "missing.csv")


def test_a_directory_without_gt_is_a_usage_error(tmp_path):
    a, _ = _runs(tmp_path)
    line = _one_error_line("compare", a, tmp_path)
    assert f"{tmp_path}: is a directory" in line and "--gt" in line


def test_report_of_a_missing_run_or_a_directory_is_a_usage_error(tmp_path):
    line = _one_error_line("report", tmp_path / "missing.jsonl", "-o", tmp_path / "r.html")
    assert line == f"segcli: error: {tmp_path / 'missing.jsonl'}: no such file or directory"
    line = _one_error_line("report", tmp_path, "-o", tmp_path / "r.html")
    assert f"{tmp_path}: is a directory" in line
    assert not (tmp_path / "r.html").exists()


# 4. the long CSV/TSV of a --thresholds run ------------------------------------------------------


def _long(path, cases, tail=True, delimiter=","):
    """A --thresholds run's table as segcli score writes it: threshold by threshold per case,
    then summary rows per statistic, then one best row per score."""
    columns = [(t, s) for t in ("0.3", "0.5") for s in ("dice", "hd95")]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["name", "threshold", "score", "value"])
        for name, values in cases:
            for (t, s), v in zip(columns, values, strict=True):
                writer.writerow([name, t, s, v])
        if tail:
            for statistic in ("mean", "std", "median", "min", "max", "n_nonfinite"):
                for t, s in columns:
                    writer.writerow([f"summary:{statistic}", t, s, "0"])
            writer.writerow(["best", "0.5", "dice", "0"])
            writer.writerow(["best", "0.3", "hd95", "0"])


def test_read_long_csv_and_tsv_by_hand(tmp_path):
    cases = [("x", (0.5, 3.0, 0.6, "inf")), ("best", (0.7, 1.0, "", 2.0)), ("summary:mean", (1, 2, 3, 4))]
    for suffix, delimiter in ((".csv", ","), (".tsv", "\t")):
        _long(tmp_path / f"t{suffix}", cases, delimiter=delimiter)
        table = read_results(tmp_path / f"t{suffix}")
        # score by score, thresholds in file order: as the JSONL of a --thresholds run reads
        assert table.columns == ["dice@0.3", "dice@0.5", "hd95@0.3", "hd95@0.5"]
        assert list(table.values) == ["x", "best", "summary:mean"]  # cases, before score's closing rows
        assert table.values["x"] == {"dice@0.3": 0.5, "hd95@0.3": 3.0, "dice@0.5": 0.6, "hd95@0.5": math.inf}
        assert math.isnan(table.values["best"]["dice@0.5"])
        assert table.values["summary:mean"]["hd95@0.5"] == 4.0


def test_read_long_refuses_what_it_would_have_to_guess(tmp_path):
    _long(tmp_path / "cut.csv", [("x", (0.5, 3.0, 0.6, 1.0)), ("best", (0.7, 1.0, 0.8, 2.0))], tail=False)
    with pytest.raises(InputError, match=r"line 6: 'best' is a case name or a summary row"):
        read_results(tmp_path / "cut.csv")
    _long(tmp_path / "twice.csv", [("x", (0.5, 3.0, 0.6, 1.0)), ("x", (0.7, 1.0, 0.8, 2.0))])
    with pytest.raises(InputError, match=r"case 'x' has dice@0.3 twice"):
        read_results(tmp_path / "twice.csv")
    (tmp_path / "bad.csv").write_text("name,threshold,score,value\nx,half,dice,0.5\n")
    with pytest.raises(InputError, match=r"bad.csv: line 2: not a threshold and a score \('half', 'dice'\)"):
        read_results(tmp_path / "bad.csv")
    (tmp_path / "nan.csv").write_text("name,threshold,score,value\nx,0.5,dice,half\n")
    with pytest.raises(InputError, match=r"nan.csv: line 2 holds a value that is not a number"):
        read_results(tmp_path / "nan.csv")


def _thresholds_runs(tmp_path):
    """Eight probability maps per side (B closer to GT than A), scored at 0.3 and 0.5 into CSV,
    TSV, JSONL and JSON."""
    for side in ("gt", "a", "b"):
        (tmp_path / side).mkdir()
    rng = np.random.default_rng(1)
    for i in range(8):
        gt = np.zeros((24, 24), np.uint8)
        gt[4 + i % 3 : 18, 5:19] = 1
        Image.fromarray(gt * 255).save(tmp_path / "gt" / f"c{i}.png")
        for side, noise in (("a", 0.45), ("b", 0.3)):
            prob = np.clip(gt + rng.normal(0, noise, gt.shape), 0, 1).astype(np.float32)
            Image.fromarray(prob, mode="F").save(tmp_path / side / f"c{i}.tif")
    for side in ("a", "b"):
        for ext in ("csv", "tsv", "jsonl", "json"):
            result = _invoke("score", tmp_path / side, tmp_path / "gt", "--thresholds", "0.3,0.5",
                             "--metrics", "dice,hd95", "-o", tmp_path / f"{side}.{ext}")  # fmt: skip
            assert result.exit_code == 0, result.output


def test_compare_of_a_thresholds_run_csv_tsv_and_jsonl_give_the_same_rows(tmp_path):
    _thresholds_runs(tmp_path)
    compared = {}
    for ext in ("csv", "tsv", "jsonl"):
        result = _invoke("compare", tmp_path / f"a.{ext}", tmp_path / f"b.{ext}", "--format", "csv")
        assert result.exit_code == 0, result.output
        compared[ext] = _rows(result.stdout)
    jsonl = compared["jsonl"]
    assert [r["score"] for r in jsonl] == ["dice@0.3", "dice@0.5", "hd95@0.3", "hd95@0.5"]
    for ext in ("csv", "tsv"):
        assert [r["score"] for r in compared[ext]] == [r["score"] for r in jsonl]
        for text_row, json_row in zip(compared[ext], jsonl, strict=True):
            for key in ("n_cases", "wins", "ties", "losses", "n_nonfinite_diff", "better", "wilcoxon_statistic",
                        "p_value", "p_holm"):  # fmt: skip
                assert text_row[key] == json_row[key], (ext, text_row["score"], key)
            for key in ("mean_a", "mean_b", "mean_diff"):  # CSV keeps 10 significant digits
                assert float(text_row[key]) == pytest.approx(float(json_row[key]), rel=1e-8)
            names = [part.split(":")[0] for part in text_row["most_changed"].split(";")]
            assert names == [part.split(":")[0] for part in json_row["most_changed"].split(";")]
    # the JSON of a --thresholds run writes inf and nan alike as null: refused, pointing at JSONL/CSV
    line = _one_error_line("compare", tmp_path / "a.json", tmp_path / "b.jsonl", code=1)
    assert "a.json: the JSON of a --thresholds run" in line and "JSONL or CSV/TSV" in line


def test_read_long_one_score_no_closing_rows_and_score_order(tmp_path):
    # one score: its single best row is the only one left out, the summary block then found
    rows = ["name,threshold,score,value", "x,0.5,iou,0.25", "y,0.5,iou,0.75"]
    rows += [f"summary:{s},0.5,iou,0" for s in ("mean", "std", "median", "min", "max", "n_nonfinite")]
    (tmp_path / "one.csv").write_text("\n".join([*rows, "best,0.5,iou,0.5"]) + "\n")
    table = read_results(tmp_path / "one.csv")
    assert table.columns == ["iou@0.5"] and table.values == {"x": {"iou@0.5": 0.25}, "y": {"iou@0.5": 0.75}}
    # no closing rows at all (a file whose cases carry no reserved names): every row is a case
    (tmp_path / "bare.csv").write_text("name,threshold,score,value\nx,0.5,iou,0.25\nx,0.5,dice,0.5\n")
    table = read_results(tmp_path / "bare.csv")
    assert table.columns == ["iou@0.5", "dice@0.5"]  # score by score in file order, not alphabetical
    assert table.values == {"x": {"iou@0.5": 0.25, "dice@0.5": 0.5}}
    (tmp_path / "short.csv").write_text("name,threshold,score,value\nx,0.5,iou\n")
    with pytest.raises(InputError, match=r"short.csv: line 2: expected 4 fields \(name, threshold, score, value\)"):
        read_results(tmp_path / "short.csv")


def test_read_the_json_of_a_thresholds_run_is_refused(tmp_path):
    import json

    document = {"records": [{"name": "x", "threshold": 0.5, "score": "dice", "value": None}], "best": {}}
    (tmp_path / "t.json").write_text(json.dumps(document))
    with pytest.raises(InputError, match="the JSON of a --thresholds run writes inf and nan alike as null"):
        read_results(tmp_path / "t.json")


def test_class_weights_beyond_float32_are_refused_by_the_library():
    from segcli.engine.maps import check_class_weights

    with pytest.raises(ValueError, match=r"class_weights: \[1.0, 1e\+39\] is beyond the float32 maps' range"):
        check_class_weights((1.0, 1e39))
    assert check_class_weights((1.0, 3e38)).tolist() == [1.0, 3e38]
