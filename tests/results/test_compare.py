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
from segcli.results.compare import holm


def _write_csv(path, rows, columns=("dice", "hd95")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *columns, "pred_kind"])
        for name, *values in rows:
            writer.writerow([name, *values, "mask"])
        for statistic in ("mean", "std", "median", "min", "max", "n_nonfinite"):  # as segcli score ends a CSV
            writer.writerow([f"summary:{statistic}", *(["0"] * len(columns)), ""])


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


# case names that must read back, and outputs that must not replace inputs ---------------------

# Every character str.splitlines() ends a line at but csv does not (\x0c \x1c \x1d \x1e \x85
# \u2028 \u2029), what the CSV writer quotes (quote, comma, tab, newline), and names of summary rows.
ODD_NAMES = ("f\x0cx", "g\x1cx", "h\x1dx", "i\x1ex", "j\x85x", "k\u2028x", "l\u2029x", 'q"uo,te', "t\tab",
             "nl\nx", "summary:mean", "summary:std", "plain")  # fmt: skip


def _odd_runs(tmp_path):
    for side in ("pred", "gt"):
        (tmp_path / side).mkdir()
    for i, name in enumerate(ODD_NAMES):
        gt = np.zeros((12, 12), np.uint8)
        gt[2:9, 2 : 5 + i % 5] = 255
        Image.fromarray(gt).save(tmp_path / "gt" / f"{name}.png")
        Image.fromarray(np.roll(gt, 1, axis=0)).save(tmp_path / "pred" / f"{name}.png")


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_every_case_name_score_writes_reads_back(tmp_path, fmt):
    """13 cases with odd names, scored to CSV/TSV and compared with themselves: 13 paired, 13 ties."""
    from segcli.results.compare import read_results

    _odd_runs(tmp_path)
    out = tmp_path / f"x.{fmt}"
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "dice", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(read_results(out).values) == sorted(ODD_NAMES)
    result = CliRunner().invoke(app, ["compare", str(out), str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["n_paired"] == 13
    assert (document["comparison"][0]["n_cases"], document["comparison"][0]["ties"]) == (13, 13)


def test_a_quoted_carriage_return_is_part_of_the_name(tmp_path):
    """A name holding a CR, quoted (as segcli's writer quotes it), keeps its CR: the file is read
    with its line ends as they are, not translated to newlines."""
    from segcli.results.compare import read_results

    path = tmp_path / "run.csv"
    path.write_bytes(b'name,dice\r\n"a\rb",0.5\r\n"c\r\nd",0.25\r\nplain,1\r\n')
    assert read_results(path).values == {"a\rb": {"dice": 0.5}, "c\r\nd": {"dice": 0.25}, "plain": {"dice": 1.0}}


@pytest.mark.parametrize("options", [[], ["--ci", "0.9", "--bootstrap", "99"], ["--empty-distance", "nan"],
                                     ["--ci", "0.9", "--bootstrap", "99", "--empty-distance", "nan"]])  # fmt: skip
def test_a_case_named_like_a_summary_row_is_a_case(tmp_path, options):
    """Cases "summary:mean", "summary:max" and "x" against each summary layout score writes (6, 8,
    7 or 9 rows): 3 cases read, none dropped, the summary rows left out."""
    from segcli.results.compare import read_results

    for side in ("pred", "gt"):
        (tmp_path / side).mkdir()
    for name in ("summary:mean", "summary:max", "x"):
        gt = np.zeros((8, 8), np.uint8)
        gt[2:6, 2:6] = 255
        Image.fromarray(gt).save(tmp_path / "gt" / f"{name}.png")
        Image.fromarray(gt).save(tmp_path / "pred" / f"{name}.png")
    out = tmp_path / "run.csv"
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "dice", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, *options, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert read_results(out).values == {"summary:mean": {"dice": 1.0}, "summary:max": {"dice": 1.0}, "x": {"dice": 1.0}}


def _two_runs(tmp_path):
    (tmp_path / "a.csv").write_text("name,dice\nc1,0.5\nc2,0.6\n")
    (tmp_path / "b.csv").write_text("name,dice\nc1,0.7\nc2,0.6\n")
    return str(tmp_path / "a.csv"), str(tmp_path / "b.csv")


def test_output_never_replaces_an_input_run(tmp_path):
    """-o naming run A, run B, a symbolic link to A or a hard link to B: refused (exit 2, one line)
    with or without --overwrite, the input untouched."""
    import os

    a, b = _two_runs(tmp_path)
    os.symlink(a, tmp_path / "link.csv")
    os.link(b, tmp_path / "hard.csv")
    for target in (a, b, str(tmp_path / "link.csv"), str(tmp_path / "hard.csv")):
        for extra in ([], ["--overwrite"]):
            result = CliRunner().invoke(app, ["compare", a, b, "-o", target, *extra])
            assert result.exit_code == 2, (target, result.output)
            assert result.stderr.strip().endswith("is one of the input files; outputs never replace inputs")
            assert len(result.stderr.strip().splitlines()) == 1
    assert open(a).read() == "name,dice\nc1,0.5\nc2,0.6\n" and open(b).read() == "name,dice\nc1,0.7\nc2,0.6\n"
    ok = CliRunner().invoke(app, ["compare", a, b, "-o", str(tmp_path / "out.csv")])
    assert ok.exit_code == 0 and (tmp_path / "out.csv").read_text().startswith("score,n_cases,")


def test_output_never_replaces_or_lands_among_scored_inputs(tmp_path):
    """With --gt: a GT image, a prediction, a new file inside PRED or GT (or below it), the GT
    directory itself: refused before any scoring (exit 2), nothing written."""
    for side in ("gt", "a", "b"):
        (tmp_path / side).mkdir()
    gt = np.zeros((10, 10), np.uint8)
    gt[2:7, 2:7] = 255
    for i in range(2):
        for side in ("gt", "a", "b"):
            Image.fromarray(np.roll(gt, i if side == "a" else 0, axis=0)).save(tmp_path / side / f"c{i}.png")
    before = (tmp_path / "gt" / "c0.png").read_bytes()
    base = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--gt", str(tmp_path / "gt"), "--overwrite"]
    cases = {
        "gt/c0.png": "is one of the input files",
        "a/c1.png": "is one of the input files",
        "gt/new.csv": f"is inside the input directory {tmp_path / 'gt'}",
        "b/sub/new.csv": f"is inside the input directory {tmp_path / 'b'}",
        "gt": f"is the input directory {tmp_path / 'gt'}",
    }
    for relative, message in cases.items():
        result = CliRunner().invoke(app, [*base, "-o", str(tmp_path / relative)])
        assert result.exit_code == 2, (relative, result.output)
        assert message in result.stderr and "scoring" not in result.stderr, relative
    assert (tmp_path / "gt" / "c0.png").read_bytes() == before
    assert not (tmp_path / "gt" / "new.csv").exists() and not (tmp_path / "b" / "sub").exists()
