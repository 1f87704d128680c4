"""`segcli compare`: paired differences against scipy.stats and hand-worked cases."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.errors import InputError, InvalidOption, UsageError
from segcli.results.compare import ScoreTable, compare, holm, read_results, settings_differences


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


# segcli/results/compare.py: the settings that differ
# between two runs (nested, present in one run only, device and memory budget left out), the
# scores chosen by name and the messages when they are not in both runs, and a case that lacks
# a score in one run; reading CSV, TSV, JSON and JSONL runs. Values worked by hand; the Wilcoxon
# test against scipy.


def test_settings_differences_nested_one_sided_and_left_out():
    a = {"spacing": [1, 1], "options": {"nsd_tolerance": 1.0, "smooth": 1e-6}, "device": "cpu", "max_memory": 1}
    b = {"spacing": [1, 1], "options": {"nsd_tolerance": 2.0, "smooth": 1e-6}, "device": "cuda", "max_memory": 9}
    assert settings_differences(a, b) == ["options.nsd_tolerance"]
    b["options"]["focal_gamma"] = 2.0  # in one run only
    b["threshold"] = 0.5
    assert settings_differences(a, b) == ["options.focal_gamma", "options.nsd_tolerance", "threshold"]
    assert settings_differences({"options": {"x": 1}, "y": 2}, {"options": {"x": 1}, "y": 2}) == []
    assert settings_differences(a, None) == []
    # a difference before a nested table is kept
    assert settings_differences({"t": 1, "o": {"x": 1}}, {"t": 2, "o": {"x": 1}}) == ["t"]


def _table(path, columns, values):
    return ScoreTable(path=path, columns=list(columns), values=values)


def test_scores_chosen_by_name_and_their_messages():
    a = _table("a.csv", ["dice", "hd95", "iou"], {"x": {"dice": 0.5, "hd95": 3.0, "iou": 0.3}})
    b = _table("b.csv", ["iou", "dice"], {"x": {"dice": 0.7, "iou": 0.4}})
    rows, _ = compare(a, b, scores=["iou"])
    assert [r["score"] for r in rows] == ["iou"]
    rows, _ = compare(a, b)
    assert [r["score"] for r in rows] == ["dice", "iou"]  # the order of run A
    with pytest.raises(InvalidOption, match=r"^scores: score\(s\) not in both runs: hd95, nsd; common: dice, iou$"):
        compare(a, b, scores=["dice", "hd95", "nsd"])
    c = _table("c.csv", ["nsd", "assd"], {"x": {"nsd": 1.0, "assd": 2.0}})
    with pytest.raises(UsageError, match=r"^a.csv and c.csv have no score in common \(dice, hd95, iou / nsd, assd\)$"):
        compare(a, c)


def test_a_case_without_the_score_in_one_run_is_left_out_and_counted():
    names = [f"c{i}" for i in range(6)]
    va = [0.50, 0.60, 0.70, 0.80, 0.40, 0.90]
    vb = [0.55, 0.58, 0.79, 0.86, 0.41, None]
    a = _table("a", ["dice"], {n: {"dice": v} for n, v in zip(names, va, strict=True)})
    b = _table("b", ["dice"], {n: ({"dice": v} if v is not None else {}) for n, v in zip(names, vb, strict=True)})
    (row,), pairing = compare(a, b)
    assert pairing["paired"] == names
    d = [y - x for x, y in zip(va[:5], vb[:5], strict=True)]
    assert row["mean_diff"] == pytest.approx(sum(d) / 5)
    assert row["n_nonfinite_diff"] == 1
    assert (row["wins"], row["ties"], row["losses"]) == (4, 0, 1)
    assert row["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue)
    # the means over the 5 cases both runs scored
    assert (row["n_cases"], row["mean_a"], row["mean_b"]) == (5, pytest.approx(0.6), pytest.approx(0.638))


SUMMARY_ROWS = "".join(f"summary:{s},0.6,inf,\n" for s in ("mean", "std", "median", "min", "max", "n_nonfinite"))


def test_read_csv_blank_cells_short_rows_blank_lines_and_summary_rows(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("name,dice,hd95,pred_kind\na,0.5,3,mask\n\nb,,inf,mask\nc,0.7\nd,1,0\n\n" + SUMMARY_ROWS)
    table = read_results(path)
    assert (table.path, table.columns) == (str(path), ["dice", "hd95"])
    assert table.values["a"] == {"dice": 0.5, "hd95": 3.0}
    assert math.isnan(table.values["b"]["dice"]) and table.values["b"]["hd95"] == math.inf
    assert table.values["c"]["dice"] == 0.7 and math.isnan(table.values["c"]["hd95"])
    assert table.values["d"] == {"dice": 1.0, "hd95": 0.0}  # after a blank line; the summary rows left out
    assert list(table.values) == ["a", "b", "c", "d"]
    # a summary row in the middle, without segcli's summary block at the end: case or summary? refused
    path.write_text("name,dice,hd95,pred_kind\na,0.5,3,mask\nsummary:mean,0.6,inf,\nd,1,0\n")
    with pytest.raises(InputError, match=r"run\.csv: line 3: 'summary:mean' is a case name or a summary row, "):
        read_results(path)


def test_read_csv_errors_name_the_file_line_and_case(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("name,dice\na,0.5\nb,0.x\n")
    with pytest.raises(InputError, match=r"run\.csv: line 3 holds a value that is not a number$"):
        read_results(path)
    path.write_text("name,dice\na,0.5\nb,0.6\na,0.7\n")
    with pytest.raises(InputError, match=r"run\.csv: case 'a' appears twice \(concatenated runs\?\)"):
        read_results(path)


def test_read_tab_separated_by_suffix_or_by_content(tmp_path):
    for name in ("run.TSV", "run.txt"):
        path = tmp_path / name
        path.write_text("name\tdice\tiou\na\t0.5\t0.25\nb\t1\t1\n")
        table = read_results(path)
        assert table.columns == ["dice", "iou"] and table.values["a"] == {"dice": 0.5, "iou": 0.25}, name


def test_read_json_nonfinite_null_settings_and_suffix(tmp_path):
    document = {
        "images": [
            {"name": "a", "dice": 0.5, "hd95": None, "nonfinite": {"hd95": "inf"}},
            {"name": "b", "dice": None, "hd95": 2.0},
        ],
        "summary": {"dice": {}, "hd95": {}},
        "settings": {"threshold": 0.5},
    }
    for name in ("run.JSON", "run.out"):
        path = tmp_path / name
        path.write_text("\n  " + json.dumps(document))
        table = read_results(path)
        assert (table.path, table.columns, table.settings) == (str(path), ["dice", "hd95"], {"threshold": 0.5})
        assert table.values["a"] == {"dice": 0.5, "hd95": math.inf}
        assert math.isnan(table.values["b"]["dice"]) and table.values["b"]["hd95"] == 2.0
    document["images"].append({"name": "a", "dice": 1.0, "hd95": 0.0})
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"run\.out: case 'a' appears twice"):
        read_results(path)
    path = tmp_path / "bad.json"
    path.write_text('{"images": []}')
    with pytest.raises(InputError, match=r"bad\.json: not the JSON of segcli score \(images, summary, settings\)$"):
        read_results(path)


def test_read_unreadable_files(tmp_path):
    with pytest.raises(InputError, match=r": is a directory, not a regular file$"):
        read_results(tmp_path)


def test_read_a_name_that_is_not_utf8_as_its_own_bytes(tmp_path):
    # segcli writes such a name (a Latin-1 file name) back as its bytes; reading gives the same name
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name,dice\n\xe9,0.5\n")
    table = read_results(path)
    assert [os.fsencode(name) for name in table.values] == [b"\xe9"]
    assert table.values[os.fsdecode(b"\xe9")]["dice"] == 0.5


def _jsonl_of_two_cases(tmp_path) -> str:
    """segcli score's JSON lines for case a predicted exactly (Dice 1) and case b with an empty
    prediction (Dice 0)."""
    for side in ("pred", "gt"):
        (tmp_path / side).mkdir()
    gt = np.zeros((6, 6), np.uint8)
    gt[1:4, 1:4] = 1
    for name, pred in (("a", gt), ("b", np.zeros_like(gt))):
        np.save(tmp_path / "gt" / f"{name}.npy", gt)
        np.save(tmp_path / "pred" / f"{name}.npy", pred)
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "dice", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_read_jsonl_by_suffix_and_by_content(tmp_path):
    """segcli score's JSON lines, read by the suffix .jsonl (any case) or by a first record."""
    stdout = _jsonl_of_two_cases(tmp_path)
    for name in ("run.jsonl", "run.JSONL", "run"):
        path = tmp_path / name
        path.write_text(stdout)
        table = read_results(path)
        assert table.path == str(path) and table.columns == ["dice"], name
        assert table.values == {"a": {"dice": 1.0}, "b": {"dice": 0.0}}, name
    lines = stdout.splitlines()
    (tmp_path / "twice.jsonl").write_text("\n".join([*lines, *lines]) + "\n")
    with pytest.raises(InputError, match=r"twice\.jsonl: case 'a' appears twice"):
        read_results(tmp_path / "twice.jsonl")


def test_read_by_suffix_before_content(tmp_path):
    """Only .jsonl or a file without a known suffix is read as JSON lines: a .csv, .tsv or .json
    holding a JSON line is read as (and is not) the JSON of segcli score; a .json that is not a
    JSON object is an error of JSON; an empty or header-only table."""
    line = '{"name": "a", "dice": 1.0}\n'
    for name in ("odd.csv", "odd.tsv", "odd.json"):
        (tmp_path / name).write_text(line)
        with pytest.raises(InputError, match="not the JSON of segcli score"):
            read_results(tmp_path / name)
    (tmp_path / "list.json").write_text("[1, 2]\n")
    with pytest.raises(InputError, match="not the JSON of segcli score"):
        read_results(tmp_path / "list.json")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: empty file$"):
        read_results(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("name,dice\n")
    table = read_results(tmp_path / "header.csv")
    assert (table.columns, table.values) == (["dice"], {})


def test_holm_caps_at_one():
    """Holm by hand: p = (0.6, 0.9) -> min(1, 2 * 0.6) = 1, then max(1, 0.9) = 1."""
    assert holm([0.6, 0.9]) == [1.0, 1.0]
    assert holm([0.04, 0.3]) == pytest.approx([0.08, 0.3])


def test_ties_are_relative_1e_9_and_identical_runs_have_no_test():
    names = ["a", "b", "c", "d"]
    va = [0.5, 1e-6, 0.25, 0.75]
    vb = [0.5000005, 1e-6 + 5e-9, 0.25 * (1 + 1e-10), 0.75]  # win, win, tie, tie
    a = _table("a", ["dice"], {n: {"dice": v} for n, v in zip(names, va, strict=True)})
    b = _table("b", ["dice"], {n: {"dice": v} for n, v in zip(names, vb, strict=True)})
    (row,), _ = compare(a, b)
    assert (row["wins"], row["ties"], row["losses"]) == (2, 2, 0)
    assert [n for n, _ in row["most_changed"]] == ["a", "b"]  # ties (difference 0) are not listed
    (same,), _ = compare(a, a)
    assert (same["wins"], same["ties"], same["mean_diff"], same["most_changed"]) == (0, 4, 0.0, [])
    assert math.isnan(same["wilcoxon_statistic"]) and math.isnan(same["p_value"])


def test_most_changed_leaves_out_non_finite_differences():
    """Six cases, one with inf in run B: the five finite changes are listed, largest first."""
    names = [f"c{i}" for i in range(6)]
    va = [0.5, 0.5, 0.5, 0.5, 0.5, 3.0]
    vb = [0.6, 0.45, 0.8, 0.52, 0.3, math.inf]
    a = _table("a", ["hd95"], {n: {"hd95": v} for n, v in zip(names, va, strict=True)})
    b = _table("b", ["hd95"], {n: {"hd95": v} for n, v in zip(names, vb, strict=True)})
    (row,), _ = compare(a, b)
    assert [n for n, _ in row["most_changed"]] == ["c2", "c4", "c0", "c1", "c3"]
    assert row["n_nonfinite_diff"] == 1


def test_read_jsonl_whose_records_do_not_start_with_the_name(tmp_path):
    """segcli score's JSON lines rewritten by another tool (``jq -S`` sorts the keys: "dice"
    before "name") are still JSON lines by their suffix."""
    stdout = _jsonl_of_two_cases(tmp_path)
    path = tmp_path / "sorted.jsonl"
    path.write_text("".join(json.dumps(json.loads(line), sort_keys=True) + "\n" for line in stdout.splitlines()))
    assert not path.read_text().startswith('{"name"')
    assert read_results(path).values == {"a": {"dice": 1.0}, "b": {"dice": 0.0}}


def test_a_tab_in_a_later_row_of_a_csv_is_part_of_a_name(tmp_path):
    """The first line decides the delimiter: a case named with a tab (quoted by the CSV writer)
    further down does not make the file tab-separated."""
    path = tmp_path / "run.csv"
    path.write_text('name,dice\na,0.5\n"odd\tname",0.25\n')
    table = read_results(path)
    assert table.columns == ["dice"] and table.values == {"a": {"dice": 0.5}, "odd\tname": {"dice": 0.25}}


def test_runs_written_before_the_options_were_renamed_are_compared_under_todays_names():
    """A run of an older segcli (unet_w0, object_connectivity, no fbeta_beta) against today's: the
    same settings, so nothing is said; a setting that really differs still is."""
    from segcli.results.compare import settings_differences

    old = {"options": {"unet_w0": 10.0, "unet_sigma": 5.0}, "object_connectivity": None, "spacing_override": None}
    new = {"options": {"w0": 10.0, "sigma": 5.0}, "connectivity": None, "spacing": None}
    assert settings_differences(old, new) == []
    assert settings_differences(old, new | {"options": {"w0": 3.0, "sigma": 5.0}}) == ["options.w0"]
