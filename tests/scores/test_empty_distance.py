"""`--empty-distance`: what a missed structure costs a distance score, worked out by hand."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from segcli.cli.main import app


@pytest.fixture
def pairs(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    gt = np.zeros((30, 40), np.uint8)
    gt[5:10, 5:10] = 1
    np.save(tmp_path / "gt/a.npy", gt)
    np.save(tmp_path / "pred/a.npy", np.zeros_like(gt))  # missed: hd95 inf by default
    shifted = np.roll(gt, 2, axis=1)
    np.save(tmp_path / "gt/b.npy", gt)
    np.save(tmp_path / "pred/b.npy", shifted)  # hd95 2
    return tmp_path


def _run(pairs, *args):
    result = CliRunner().invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--metrics", "dice,hd95,assd,nsd", *args]
    )
    assert result.exit_code == 0, result.output
    if "--format" in args:
        return result, None
    return result, {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}


def test_default_is_inf_and_adds_no_row(pairs):
    result, rows = _run(pairs)
    assert rows["a"]["hd95"] == "inf" and rows["summary:mean"]["hd95"] == "inf"
    assert "summary:n_empty_distance" not in rows


def test_worst_is_the_image_diagonal_in_spacing_units(pairs):
    result, rows = _run(pairs, "--empty-distance", "worst", "--spacing", "2,0.5")
    diagonal = math.hypot(29 * 2.0, 39 * 0.5)  # between the centres of opposite corner pixels
    assert float(rows["a"]["hd95"]) == pytest.approx(diagonal)
    assert float(rows["a"]["assd"]) == pytest.approx(diagonal)
    assert rows["a"]["nsd"] == "0"  # surface Dice stays 0
    assert float(rows["summary:mean"]["hd95"]) == pytest.approx((diagonal + float(rows["b"]["hd95"])) / 2)
    assert rows["summary:n_empty_distance"]["hd95"] == "1" and rows["summary:n_empty_distance"]["dice"] == "0"
    assert "replaced the distance of a missed structure (hd95: 1, assd: 1)" in result.stderr


def test_a_number_and_nan(pairs):
    _, rows = _run(pairs, "--empty-distance", "373.13")
    assert rows["a"]["hd95"] == "373.13"
    assert float(rows["summary:mean"]["hd95"]) == pytest.approx((373.13 + 2.0) / 2)
    _, rows = _run(pairs, "--empty-distance", "nan")
    assert rows["a"]["hd95"] == "nan"
    assert float(rows["summary:mean"]["hd95"]) == pytest.approx(2.0)  # left out of the mean, counted
    assert rows["summary:n_nonfinite"]["hd95"] == "0" and rows["summary:n_empty_distance"]["hd95"] == "1"


def test_json_records_the_policy_and_the_columns(pairs):
    result, _ = _run(pairs, "--empty-distance", "nan", "--format", "json")
    document = json.loads(result.stdout)
    assert document["settings"]["options"]["empty_distance"] == "nan"
    images = {i["name"]: i for i in document["images"]}
    assert images["a"]["nonfinite"] == {"hd95": "nan", "assd": "nan"}


def test_multiclass_mean_over_classes(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    gt = np.zeros((20, 20), np.uint8)
    gt[2:6, 2:6] = 1
    gt[10:15, 10:15] = 2
    pred = gt.copy()
    pred[pred == 2] = 0  # class 2 missed; class 1 perfect (hd95 0)
    np.save(tmp_path / "gt/m.npy", gt)
    np.save(tmp_path / "pred/m.npy", pred)
    base = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "3", "--metrics", "hd95"]
    rows = {
        r["name"]: r
        for r in csv.DictReader(io.StringIO(CliRunner().invoke(app, [*base, "--empty-distance", "nan"]).stdout))
    }
    assert rows["m"]["hd95_2"] == "nan" and float(rows["m"]["hd95"]) == 0.0  # the mean over classes drops it
    worst = {
        r["name"]: r
        for r in csv.DictReader(io.StringIO(CliRunner().invoke(app, [*base, "--empty-distance", "worst"]).stdout))
    }
    diagonal = math.hypot(19, 19)
    assert float(worst["m"]["hd95_2"]) == pytest.approx(diagonal)
    assert float(worst["m"]["hd95"]) == pytest.approx(diagonal / 2)
    assert worst["summary:n_empty_distance"]["hd95_2"] == "1" and worst["summary:n_empty_distance"]["hd95"] == "1"


@pytest.mark.parametrize("value", ["-1", "abc", "-infinity"])  # "infinity" is the inf policy
def test_bad_values(pairs, value):
    result = CliRunner().invoke(app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--empty-distance", value])
    assert result.exit_code == 2 and "--empty-distance" in result.stderr
