"""segcli/results/compare.py pinned where mutation testing found it loose: the settings that differ
between two runs (nested, present in one run only, device and memory budget left out), the
scores chosen by name and the messages when they are not in both runs, and a case that lacks
a score in one run; reading CSV, TSV, JSON and JSONL runs. Values worked by hand; the Wilcoxon
test against scipy."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.errors import InputError, InvalidOption, UsageError
from segcli.results.compare import ScoreTable, compare, holm, read_results, settings_differences


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


# reading the runs ------------------------------------------------------------------------------


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
    with pytest.raises(InputError, match=r": cannot read \(IsADirectoryError: "):
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
