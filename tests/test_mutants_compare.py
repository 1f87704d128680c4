"""segcli/compare.py pinned where mutation testing found it loose: the settings that differ
between two runs (nested, present in one run only, device and memory budget left out), the
scores chosen by name and the messages when they are not in both runs, and a case that lacks
a score in one run. Values worked by hand; the Wilcoxon test against scipy."""

from __future__ import annotations

import pytest
from scipy import stats

from segcli.compare import ScoreTable, compare, settings_differences
from segcli.errors import InputError


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
    with pytest.raises(InputError, match=r"^score\(s\) not in both runs: hd95, nsd; common: dice, iou$"):
        compare(a, b, scores=["dice", "hd95", "nsd"])
    c = _table("c.csv", ["nsd", "assd"], {"x": {"nsd": 1.0, "assd": 2.0}})
    with pytest.raises(InputError, match=r"^a.csv and c.csv have no score in common \(dice, hd95, iou / nsd, assd\)$"):
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
