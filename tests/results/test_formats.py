"""What `score` writes (segcli/results/formats.py, summary.py, thresholds.py): the
--thresholds long format in every output format (rows, summary rows, the best threshold), the
terminal tables (one row per image, or transposed when the scores do not fit; their titles, right-
aligned numbers, and the width of a file or a terminal), the interval rows and their default
resamples and seed; the record formats' details (bare newlines, meta columns, missing scores as
nan, ``nonfinite`` entries, messages of failed pairs, JSON indentation), the --empty-distance
counts, quiet summary statistics on inf, and a tie of a lower-is-better score. Values are worked
by hand from the records in each test; the units against segcli.cli._score_run.distance_units."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics

import pytest

from segcli.results.formats import ReportWriter
from segcli.results.summary import best_thresholds, summarize
from segcli.results.thresholds import ThresholdWriter
from segcli.scores.columns import split_threshold

HIGHER = {"dice": True, "hd": False}

COLUMNS = ["dice@0.3", "hd@0.3", "dice@0.5", "hd@0.5"]

RECORDS = [
    ("x", {"dice@0.3": 0.5, "hd@0.3": 2.0, "dice@0.5": 0.7, "hd@0.5": math.inf}),
    ("y", {"dice@0.3": 0.9, "hd@0.3": 1.0, "dice@0.5": 0.7, "hd@0.5": 3.0}),
]


def _thresholds(fmt):
    stream = io.StringIO()
    writer = ThresholdWriter(stream, fmt, COLUMNS, higher_is_better=HIGHER, settings={"thresholds": [0.3, 0.5]})
    for name, values in RECORDS:
        writer.write(name, values)
    summary = writer.finish(failed=["z"], messages={"z": "z.png: broken"})
    return stream.getvalue(), summary


def _cells(text):
    """Rows of rich tables, headers included, as lists of stripped cells."""
    lines = [line.replace("┃", "│") for line in text.splitlines()]
    return [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]


@pytest.mark.parametrize("fmt,delimiter", [("csv", ","), ("tsv", "\t")])
def test_threshold_long_format_rows_summary_and_best(fmt, delimiter):
    """One row per (pair, threshold, score); then per statistic and column a summary row; then
    per score the best threshold: dice ties at 0.7 (the lower threshold wins), hd is lower-better
    and inf at 0.5."""
    text, summary = _thresholds(fmt)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert rows[0] == ["name", "threshold", "score", "value"]
    assert rows[1:9] == [
        ["x", "0.3", "dice", "0.5"],
        ["x", "0.3", "hd", "2"],
        ["x", "0.5", "dice", "0.7"],
        ["x", "0.5", "hd", "inf"],
        ["y", "0.3", "dice", "0.9"],
        ["y", "0.3", "hd", "1"],
        ["y", "0.5", "dice", "0.7"],
        ["y", "0.5", "hd", "3"],
    ]
    expected = {
        "mean": ["0.7", "1.5", "0.7", "inf"],
        "std": ["0.2", "0.5", "0", "nan"],
        "median": ["0.7", "1.5", "0.7", "inf"],
        "min": ["0.5", "1", "0.7", "3"],
        "max": ["0.9", "2", "0.7", "inf"],
        "n_nonfinite": ["0", "0", "0", "1"],
    }
    summary_rows = rows[9:-2]
    assert len(summary_rows) == 24
    for i, row in enumerate(summary_rows):
        statistic = list(expected)[i // 4]
        threshold, score = ("0.3", "0.5")[(i % 4) // 2], ("dice", "hd")[i % 2]
        assert row == [f"summary:{statistic}", threshold, score, expected[statistic][i % 4]], row
    assert rows[-2:] == [["best", "0.3", "dice", "0.7"], ["best", "0.3", "hd", "1.5"]]
    assert summary["hd@0.5"]["n_nonfinite"] == 1


def test_threshold_jsonl_records_and_tail():
    text, _ = _thresholds("jsonl")
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0] == {"name": "x", "threshold": 0.3, "score": "dice", "value": 0.5}
    assert lines[3] == {"name": "x", "threshold": 0.5, "score": "hd", "value": None, "nonfinite": "inf"}
    assert lines[7] == {"name": "y", "threshold": 0.5, "score": "hd", "value": 3.0}
    assert len(lines) == 9
    tail = lines[-1]
    assert tail["summary"]["dice"]["0.3"] == {
        "mean": pytest.approx(0.7),
        "std": pytest.approx(0.2),
        "median": pytest.approx(0.7),
        "min": 0.5,
        "max": 0.9,
        "n_nonfinite": 0,
    }
    assert tail["summary"]["hd"]["0.5"] == {
        "mean": None,
        "std": None,
        "median": None,
        "min": 3.0,
        "max": None,
        "n_nonfinite": 1,
    }
    assert tail["best"] == {
        "dice": {"threshold": 0.3, "mean": pytest.approx(0.7)},
        "hd": {"threshold": 0.3, "mean": 1.5},
    }
    assert tail["failed"] == ["z"]
    assert tail["failures"] == [{"name": "z", "message": "z.png: broken"}]
    assert tail["settings"] == {"thresholds": [0.3, 0.5]}


def test_threshold_json_document():
    text, _ = _thresholds("json")
    document = json.loads(text)
    assert list(document) == ["records", "summary", "best", "failed", "failures", "settings"]
    assert document["records"][3] == {"name": "x", "threshold": 0.5, "score": "hd", "value": None}
    assert document["records"][4] == {"name": "y", "threshold": 0.3, "score": "dice", "value": 0.9}
    assert len(document["records"]) == 8
    assert document["summary"]["hd"]["0.3"]["mean"] == 1.5
    assert document["failures"] == [{"name": "z", "message": "z.png: broken"}]
    assert text.startswith('{\n "records"')  # indented, one key a line


def test_threshold_json_without_messages_has_no_failures():
    stream = io.StringIO()
    writer = ThresholdWriter(stream, "jsonl", COLUMNS[:1], higher_is_better=HIGHER)
    writer.write("x", RECORDS[0][1])
    writer.finish(failed=["z"])
    tail = json.loads(stream.getvalue().splitlines()[-1])
    assert "failures" not in tail and tail["failed"] == ["z"] and tail["settings"] == {}


def test_threshold_table_shows_the_means_when_they_fit(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text, _ = _thresholds("table")
    assert "mean per threshold" in text
    rows = _cells(text)
    assert rows[0] == ["score", "best threshold", "best mean", "0.3", "0.5"]
    assert rows[1:] == [["dice", "0.3", "0.7", "0.7", "0.7"], ["hd", "0.3", "1.5", "1.5", "inf"]]


def test_threshold_table_leaves_the_means_out_when_narrow(monkeypatch):
    # (2 thresholds + 3) * 11 = 55 columns are needed for the means
    monkeypatch.setenv("COLUMNS", "54")
    rows = _cells(_thresholds("table")[0])
    assert rows[0] == ["score", "best threshold", "best mean"]
    assert rows[1:] == [["dice", "0.3", "0.7"], ["hd", "0.3", "1.5"]]
    monkeypatch.setenv("COLUMNS", "55")
    assert _cells(_thresholds("table")[0])[0][-1] == "0.5"


def test_best_thresholds_directions_ties_and_nan():
    summary = {
        "dice@0.3": {"mean": 0.7},
        "dice@0.5": {"mean": 0.7},  # a tie: the lower threshold stays
        "dice@0.7": {"mean": math.nan},  # NaN never wins
        "hd@0.3": {"mean": 4.0},
        "hd@0.5": {"mean": 2.0},  # lower is better
        "hd@0.7": {"mean": 3.0},
        "nsd@0.3": {"mean": 0.2},  # unknown direction: higher is better
        "nsd@0.5": {"mean": 0.4},
        "plain": {"mean": 9.0},  # not a threshold column
    }
    best = best_thresholds(summary, {"dice": True, "hd": False})
    assert best == {"dice": (0.3, 0.7), "hd": (0.5, 2.0), "nsd": (0.5, 0.4)}
    assert best_thresholds({"dice@0.3": {"mean": math.nan}, "dice@0.5": {"mean": 0.1}}, {}) == {"dice": (0.5, 0.1)}


def test_split_threshold():
    assert split_threshold("dice@0.35") == ("dice", 0.35)
    assert split_threshold("dice") == ("dice", None)
    assert split_threshold("dice@high") == ("dice@high", None)
    assert split_threshold("a@b@0.5") == ("a@b", 0.5)


def _table(columns, records, monkeypatch, width, **kwargs):
    monkeypatch.setenv("COLUMNS", str(width))
    stream = io.StringIO()
    writer = ReportWriter(stream, "table", columns, **kwargs)
    for name, values in records:
        writer.write(name, values)
    writer.finish()
    return stream.getvalue()


TABLE_RECORDS = [
    ("a", {"dice": 0.5, "hd": 2.0, "nsd": 1.0, "iou": 0.25, "assd": 1.5}),
    ("b", {"dice": 0.25, "hd": math.inf, "nsd": 0.5, "iou": 0.125, "assd": 0.5}),
    ("c", {"dice": 0.75, "hd": 1.0, "nsd": 0.0, "iou": 0.5}),
    ("d", {"dice": 1.0, "hd": 0.0, "nsd": 1.0, "iou": 1.0, "assd": 0.0}),
]


def test_table_one_row_per_image_when_the_scores_fit(monkeypatch):
    # (5 scores + 1) * 12 = 72 columns fit in 72
    text = _table(["dice", "hd", "nsd", "iou", "assd"], TABLE_RECORDS, monkeypatch, 72)
    rows = _cells(text)
    assert text.lstrip().startswith("per image")
    assert rows[0] == ["name", "dice", "hd", "nsd", "iou", "assd"]
    assert rows[1] == ["a", "0.5", "2", "1", "0.25", "1.5"]
    assert rows[3] == ["c", "0.75", "1", "0", "0.5", "nan"]  # a missing score shows as nan
    assert rows[5] == ["score", "mean", "std", "median", "min", "max", "n_nonfinite"]
    assert rows[6] == ["dice", "0.625", "0.279508", "0.625", "0.25", "1", "0"]
    assert rows[7] == ["hd", "inf", "nan", "1.5", "0", "inf", "1"]
    assert rows[10] == ["assd", "0.666667", "0.62361", "0.5", "0", "1.5", "0"]


def test_table_transposed_when_the_scores_do_not_fit(monkeypatch):
    # 72 columns needed, 71 given: a row per score, (71 - 22) // 12 = 4 images a table
    text = _table(["dice", "hd", "nsd", "iou", "assd"], TABLE_RECORDS, monkeypatch, 71)
    rows = _cells(text)
    assert rows[0] == ["score", "a", "b", "c", "d"]
    assert rows[1] == ["dice", "0.5", "0.25", "0.75", "1"]
    assert rows[5] == ["assd", "1.5", "0.5", "nan", "0"]
    assert rows[6][0] == "score"
    # 58 columns: 3 images, then 1
    rows = _cells(_table(["dice", "hd", "nsd", "iou", "assd"], TABLE_RECORDS, monkeypatch, 58))
    assert rows[0] == ["score", "a", "b", "c"]
    assert rows[6] == ["score", "d"]
    assert rows[7] == ["dice", "1"]


def test_table_with_no_records_still_shows_the_summary(monkeypatch):
    # 5 scores need 72 columns; with no records there is nothing to transpose
    rows = _cells(_table(["dice", "hd", "nsd", "iou", "assd"], [], monkeypatch, 71))
    assert rows[0] == ["name", "dice", "hd", "nsd", "iou", "assd"]
    assert rows[1] == ["score", "mean", "std", "median", "min", "max", "n_nonfinite"]
    assert rows[2] == ["dice", "nan", "nan", "nan", "nan", "nan", "0"]


def test_table_summary_with_intervals(monkeypatch):
    """The summary table gains ci_low and ci_high; a column that is not all finite has none, and
    interval_notes says why."""
    monkeypatch.setenv("COLUMNS", "200")
    stream = io.StringIO()
    writer = ReportWriter(stream, "table", ["dice", "hd"], confidence=0.9, n_resamples=199, seed=3)
    for name, values in TABLE_RECORDS:
        writer.write(name, values)
    summary = writer.finish()
    rows = _cells(stream.getvalue())
    header = next(r for r in rows if r[0] == "score")
    assert header[-2:] == ["ci_low", "ci_high"]
    assert summary["dice"]["ci_low"] < 0.625 < summary["dice"]["ci_high"]
    assert math.isnan(summary["hd"]["ci_low"]) and "finite" in writer.interval_notes["hd"]
    assert "dice" not in writer.interval_notes
    # the seed and the number of resamples given are the ones used
    again = ReportWriter(io.StringIO(), "csv", ["dice"], confidence=0.9, n_resamples=199, seed=3)
    other = ReportWriter(io.StringIO(), "csv", ["dice"], confidence=0.9, n_resamples=199, seed=4)
    for w in (again, other):
        for name, values in TABLE_RECORDS:
            w.write(name, values)
    assert again.finish()["dice"]["ci_low"] == summary["dice"]["ci_low"]
    assert other.finish()["dice"]["ci_low"] != summary["dice"]["ci_low"]


def _titles(text):
    """The lines of a rich table output that are titles (no box characters), stripped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not any(c in line for c in "┏┃┡│└")]


def test_summary_statistics_are_quiet_on_inf_and_overflow():
    """inf - inf inside the std, and a sum past the largest float inside the mean, are the
    values' own business (inf, nan), not a RuntimeWarning on the user's terminal."""
    import warnings

    from segcli.results.summary import summarize

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarize(["hd", "big"], [{"hd": 1.0, "big": 1e308}, {"hd": math.inf, "big": 1e308}])
    assert summary["hd"]["mean"] == math.inf and math.isnan(summary["hd"]["std"])
    assert summary["big"]["mean"] == math.inf and summary["big"]["n_nonfinite"] == 0


def test_format_spacing_of_no_spacing_is_empty():
    from segcli.results.formats import format_spacing

    assert format_spacing(None) == ""
    assert format_spacing(()) == ""
    assert format_spacing([2, 0.5]) == "2x0.5"


def test_an_unknown_format_is_named_in_the_message():
    with pytest.raises(
        ValueError, match=r"^format: expected one of \('table', 'csv', 'tsv', 'json', 'jsonl'\), got 'xml'$"
    ):
        ReportWriter(io.StringIO(), "xml", ["dice"])


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_delimited_rows_end_in_a_bare_newline_and_show_meta(fmt):
    """Lines end in \\n (not the csv module's \\r\\n), a missing score is nan, the meta columns
    follow: spacing as 2x0.5, other values as text, a missing one empty."""
    stream = io.StringIO()
    writer = ReportWriter(stream, fmt, ["dice", "hd"], meta_columns=("pred_kind", "spacing", "gt_path"))
    writer.write("x", {"dice": 0.5}, {"pred_kind": "prob", "spacing": (2.0, 0.5)})
    writer.finish()
    text = stream.getvalue()
    assert "\r" not in text
    sep = "," if fmt == "csv" else "\t"
    lines = text.split("\n")
    assert lines[0] == sep.join(["name", "dice", "hd", "pred_kind", "spacing", "gt_path"])
    assert lines[1] == sep.join(["x", "0.5", "nan", "prob", "2x0.5", ""])
    assert lines[2] == sep.join(["summary:mean", "0.5", "nan", "", "", ""])
    stream = io.StringIO()
    ThresholdWriter(stream, fmt, ["dice@0.5"], higher_is_better={}).finish()
    assert stream.getvalue().startswith(sep.join(["name", "threshold", "score", "value"]) + "\n")


def test_jsonl_records_name_nonfinite_and_missing_scores_and_meta():
    stream = io.StringIO()
    writer = ReportWriter(stream, "jsonl", ["dice", "hd", "nsd"], meta_columns=("pred_kind", "spacing"))
    writer.write("x", {"dice": 0.5, "hd": math.inf}, {"pred_kind": "prob", "spacing": [1.0, 2.0]})
    writer.write("y", {"dice": 1.0, "hd": 1.0, "nsd": 1.0})
    writer.finish(failed=["z", "w"], messages={"z": "z.png: broken"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0] == {
        "name": "x",
        "dice": 0.5,
        "hd": None,
        "nsd": None,
        "pred_kind": "prob",
        "spacing": [1.0, 2.0],
        "nonfinite": {"hd": "inf", "nsd": "nan"},  # nsd was never computed: nan
    }
    assert lines[1] == {"name": "y", "dice": 1.0, "hd": 1.0, "nsd": 1.0, "pred_kind": None, "spacing": None}
    summary = lines[2]["summary"]
    assert "nonfinite" not in summary["dice"]  # all finite: no entry
    assert "n_empty_distance" not in summary["dice"]  # the inf policy counts nothing
    assert summary["hd"]["nonfinite"] == {"mean": "inf", "std": "nan", "median": "inf", "max": "inf"}
    # a failed pair without a message gets an empty one
    assert lines[2]["failures"] == [{"name": "z", "message": "z.png: broken"}, {"name": "w", "message": ""}]


def test_json_document_is_indented_by_one():
    stream = io.StringIO()
    writer = ReportWriter(stream, "json", ["dice"])
    writer.write("x", {"dice": 0.5})
    writer.finish()
    text = stream.getvalue()
    assert text.startswith('{\n "images": [\n  {\n   "name": "x",\n   "dice": 0.5\n  }\n ],\n "summary"')
    assert json.loads(text)["images"] == [{"name": "x", "dice": 0.5}]


@pytest.mark.parametrize("policy", ["nan", "0"])
def test_empty_distance_policies_with_records_that_had_none(policy):
    """Records whose meta names no replaced distance (or that have no meta): nothing left out,
    nothing counted; one that does is counted (and under nan left out of the statistics)."""
    stream = io.StringIO()
    writer = ReportWriter(stream, "json", ["hd"], empty_distance=policy)
    writer.write("x", {"hd": 2.0})
    writer.write("y", {"hd": 4.0}, {"unit": "px"})
    writer.write("z", {"hd": 0.0 if policy == "0" else math.nan}, {"empty_distance": ["hd"]})
    summary = writer.finish()
    assert summary["hd"]["n_empty_distance"] == 1
    assert summary["hd"]["mean"] == (3.0 if policy == "nan" else 2.0)


def test_table_titles_and_right_aligned_numbers(monkeypatch):
    text = _table(["volume_similarity"], [("a", {"volume_similarity": 1.0})], monkeypatch, 200)
    assert _titles(text) == ["per image", "summary"]
    value_line = next(line for line in text.splitlines() if line.startswith("│ a"))
    assert value_line.split("│")[2] == " " * 17 + "1 "  # right-aligned under the 17-wide header
    # a unit note goes in the summary's title; the transposed tables keep theirs
    monkeypatch.setenv("COLUMNS", "40")
    stream = io.StringIO()
    writer = ReportWriter(stream, "table", ["dice", "hd", "nsd"])
    writer.unit_note = "distances in mm"
    for name, values in TABLE_RECORDS[:2]:
        writer.write(name, values)
    writer.finish()
    assert _titles(stream.getvalue()) == ["per image", "per image", "summary (distances in mm)"]


def test_transposed_tables_hold_at_least_one_image(monkeypatch):
    # 30 columns: (30 - 22) // 12 = 0 images would fit; one a table
    rows = _cells(_table(["dice", "hd", "nsd", "iou", "assd"], TABLE_RECORDS[:3], monkeypatch, 30))
    assert [r for r in rows if r[0] == "score"][:3] == [["score", "a"], ["score", "b"], ["score", "c"]]


def test_console_width_of_a_file_and_of_a_terminal(monkeypatch):
    """Written to a file (no COLUMNS): wide enough for every score in one row per image, into that
    file. On a terminal: the terminal's width (80 where it cannot be asked), so 10 scores are
    transposed."""
    import os

    def no_terminal(*args):
        raise OSError("not a terminal")

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    columns = [f"score_number_{i}" for i in range(10)]
    record = ("a", dict.fromkeys(columns, 0.5))
    stream = io.StringIO()
    writer = ReportWriter(stream, "table", columns)
    writer.write(*record)
    writer.finish()
    rows = _cells(stream.getvalue())
    assert rows[0] == ["name", *columns] and rows[1] == ["a"] + ["0.5"] * 10

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    writer = ReportWriter(stream, "table", columns)
    writer.write(*record)
    writer.finish()
    rows = _cells(re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue()))  # a terminal gets colours
    assert rows[0] == ["score", "a"]


def test_best_threshold_tie_of_a_lower_is_better_score_keeps_the_lower_threshold():
    summary = {"hd@0.3": {"mean": 2.0}, "hd@0.5": {"mean": 2.0}, "hd@0.7": {"mean": 3.0}}
    assert best_thresholds(summary, {"hd": False}) == {"hd": (0.3, 2.0)}


def test_threshold_writer_missing_values_metas_and_a_score_without_best(monkeypatch):
    """A record without a column: nan in every format; the records' meta is kept for the units
    (an absent meta as {}); a score whose means are all nan shows nan as its best."""
    from segcli.cli._score_run import distance_units

    for fmt in ("csv", "jsonl"):
        stream = io.StringIO()
        writer = ThresholdWriter(stream, fmt, ["dice@0.3", "hd@0.3"], higher_is_better=HIGHER)
        writer.write("x", {"dice@0.3": 0.5})
        writer.write("y", {"dice@0.3": 0.7}, {"unit": "mm"})
        assert writer.metas == [{}, {"unit": "mm"}]
        assert distance_units(writer.metas) == {"distance": "mm", "pairs": {"mm": 1}}
        writer.finish()
        text = stream.getvalue()
        if fmt == "csv":
            assert text.splitlines()[2] == "x,0.3,hd,nan"
        else:
            assert json.loads(text.splitlines()[1]) == {
                "name": "x",
                "threshold": 0.3,
                "score": "hd",
                "value": None,
                "nonfinite": "nan",
            }
    monkeypatch.setenv("COLUMNS", "100")
    stream = io.StringIO()
    writer = ThresholdWriter(stream, "table", ["dice@0.3", "hd@0.3"], higher_is_better=HIGHER)
    writer.write("x", {"dice@0.3": 0.5})
    writer.finish()
    text = stream.getvalue()
    assert _titles(text) == ["mean per threshold"]
    assert _cells(text)[1:] == [["dice", "0.3", "0.5", "0.5"], ["hd", "nan", "nan", "nan"]]


@pytest.mark.parametrize("seed", range(4))
def test_summary_median_equals_numpys(seed):
    """The summary's median is numpy's, bit for bit: odd and even counts, infinities, a NaN
    (NaN), two huge values whose sum overflows (inf, as numpy's mean of the middle two)."""
    import numpy as np

    from segcli.results.summary import summarize

    rng = np.random.default_rng(seed)
    cases = [rng.normal(size=n) * 10.0 ** rng.integers(-3, 300) for n in range(1, 40)]
    cases += [
        np.array([1.0, math.inf, -math.inf, 2.0]),
        np.array([math.inf, -math.inf]),
        np.array([3.0, math.nan, 1.0]),
    ]
    cases += [np.array([1.7e308, 1.7e308]), np.array([0.1, 0.2]), np.array([-0.0, 0.0])]
    for values in cases:
        with np.errstate(all="ignore"):
            got = summarize(["v"], [{"v": float(v)} for v in values])["v"]["median"]
            want = float(np.median(values))
        assert got == want or (math.isnan(got) and math.isnan(want)), (values, got, want)
        assert math.copysign(1.0, got) == math.copysign(1.0, want) or math.isnan(want)


def test_summary_does_not_import_masked_arrays():
    """Summarizing a run does not pay for numpy's masked-array module (np.median imports it)."""
    import subprocess
    import sys

    code = (
        "import sys; from segcli.results.summary import summarize; summarize(['v'], [{'v': 1.0}, {'v': 2.0}]);"
        " print('numpy.ma' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


# Summary statistics: population std, the true median, inf and nan next to finite values, the CSV/TSV
# summary rows and JSON's inf/nan per statistic.


def test_summary_statistics_are_population_std_and_true_median():
    """Guards std's degrees of freedom (ddof 0, as SPEC says), the median of an even count (the
    mean of the middle two), min, max and a row missing the column: reference the statistics
    module."""
    values = [1.0, 2.0, 4.0, 10.0]
    rows = [{"dice": v} for v in values] + [{"hd": 3.0}]
    s = summarize(["dice", "hd"], rows)["dice"]
    assert s["mean"] == pytest.approx(statistics.fmean(values))
    assert s["std"] == pytest.approx(statistics.pstdev(values))
    assert s["std"] != pytest.approx(statistics.stdev(values))
    assert s["median"] == pytest.approx(statistics.median(values)) and s["median"] == 3.0
    assert (s["min"], s["max"], s["n_nonfinite"]) == (1.0, 10.0, 0)
    assert summarize(["dice", "hd"], rows)["hd"]["mean"] == 3.0


def test_summary_over_a_column_with_inf_or_nan_next_to_finite_values():
    """Guards 'non-finite values take part': inf makes the mean and max inf and the std NaN, the
    median stays the middle value; NaN makes every statistic NaN; each is counted once."""
    s = summarize(["hd", "nsd"], [{"hd": 1.0, "nsd": 0.5}, {"hd": math.inf, "nsd": math.nan}, {"hd": 3.0, "nsd": 1.0}])
    hd, nsd = s["hd"], s["nsd"]
    assert hd["mean"] == math.inf and hd["max"] == math.inf and math.isnan(hd["std"])
    assert (hd["median"], hd["min"], hd["n_nonfinite"]) == (3.0, 1.0, 1)
    assert all(math.isnan(nsd[k]) for k in ("mean", "std", "median", "min", "max"))
    assert nsd["n_nonfinite"] == 1
    assert summarize(["x"], [{"y": 1.0}])["x"]["n_nonfinite"] == 0
    assert math.isnan(summarize(["x"], [{"y": 1.0}])["x"]["mean"])


@pytest.mark.parametrize("fmt,delimiter", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_summary_rows_are_labelled_and_pinned(fmt, delimiter):
    """Guards the summary rows users read in CSV/TSV: their labels, order and values, the
    records before them, inf and nan as text."""
    stream = io.StringIO()
    writer = ReportWriter(stream, fmt, ["dice", "hd"], meta_columns=["spacing"])
    writer.write("a", {"dice": 0.5, "hd": 2.0}, {"spacing": (2.0, 0.5)})
    writer.write("b", {"dice": 1.0, "hd": math.inf}, {"spacing": (2.0, 0.5)})
    writer.write("c", {"dice": 0.25}, {})
    writer.finish()
    rows = list(csv.reader(io.StringIO(stream.getvalue()), delimiter=delimiter))
    assert rows[0] == ["name", "dice", "hd", "spacing"]
    assert rows[1] == ["a", "0.5", "2", "2x0.5"]
    assert rows[2] == ["b", "1", "inf", "2x0.5"]
    assert rows[3] == ["c", "0.25", "nan", ""]
    dice = [0.5, 1.0, 0.25]
    expected = {
        # hd: c has none, so the summary is over 2 and inf: mean, median and max inf, std nan
        "summary:mean": ["0.5833333333", "inf"],
        "summary:std": [f"{statistics.pstdev(dice):.10g}", "nan"],
        "summary:median": ["0.5", "inf"],
        "summary:min": ["0.25", "2"],
        "summary:max": ["1", "inf"],
        "summary:n_nonfinite": ["0", "1"],
    }
    assert [r[0] for r in rows[4:]] == list(expected)
    for row in rows[4:]:
        assert row[1:] == expected[row[0]] + [""], row[0]


def test_json_summary_tells_inf_from_nan_per_statistic():
    """Guards the JSON summary: null for a non-finite value and its kind in ``nonfinite``."""
    stream = io.StringIO()
    writer = ReportWriter(stream, "json", ["hd"])
    writer.write("a", {"hd": 1.0})
    writer.write("b", {"hd": math.inf})
    writer.finish(failed=["c"], messages={"c": "c.png: broken"})
    document = json.loads(stream.getvalue())
    hd = document["summary"]["hd"]
    assert hd["mean"] is None and hd["median"] == math.inf or hd["median"] is None
    assert hd["nonfinite"] == {"mean": "inf", "std": "nan", "median": "inf", "max": "inf"}
    assert hd["min"] == 1.0 and hd["n_nonfinite"] == 1
    assert document["failures"] == [{"name": "c", "message": "c.png: broken"}]
    assert document["images"][1] == {"name": "b", "hd": None, "nonfinite": {"hd": "inf"}}
