"""What `score` writes, pinned where mutation testing found it loose (segcli/report.py): the
--thresholds long format in every output format (rows, summary rows, the best threshold), the
terminal tables (one row per image, or transposed when the scores do not fit), and the interval
rows. Values are worked by hand from the records in each test."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from segcli.report import ReportWriter, ThresholdWriter, best_thresholds, split_threshold

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
