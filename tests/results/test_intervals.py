"""`score --ci`: bootstrap intervals of each mean, against scipy.stats.bootstrap on the same data."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.results.formats import ReportWriter
from segcli.results.intervals import mean_intervals


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ci")
    (root / "pred").mkdir()
    (root / "gt").mkdir()
    for i in range(9):
        gt = np.zeros((30, 30), np.uint8)
        gt[5:20, 5 : 12 + i] = 255
        pred = np.roll(gt, i % 4, axis=1)
        if i == 4:
            pred[:] = 0  # hd95 inf: no interval for it
        Image.fromarray(gt).save(root / "gt" / f"c{i}.png")
        Image.fromarray(pred).save(root / "pred" / f"c{i}.png")
    return root


def _score(data, *args):
    return CliRunner().invoke(app, ["score", str(data / "pred"), str(data / "gt"), "--workers", "1", *args])


def test_ci_rows_equal_scipy_bootstrap(data):
    plain = _score(data, "--metrics", "dice,hd95,volume_similarity", "--format", "json")
    dice = np.array([r["dice"] for r in json.loads(plain.stdout)["images"]])
    result = _score(data, "--metrics", "dice,hd95", "--ci", "0.9", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    expected = stats.bootstrap(
        (dice,), np.mean, confidence_level=0.9, n_resamples=9999, method="BCa", rng=np.random.default_rng(0)
    ).confidence_interval
    assert float(rows["summary:ci_low"]["dice"]) == pytest.approx(expected.low, rel=1e-9)
    assert float(rows["summary:ci_high"]["dice"]) == pytest.approx(expected.high, rel=1e-9)
    assert rows["summary:ci_low"]["hd95"] == "nan"
    assert "no confidence interval for hd95: not all values are finite" in result.stderr
    seeded = _score(data, "--metrics", "dice", "--ci", "0.9", "--seed", "7", "--bootstrap", "500", "--format", "json")
    other = stats.bootstrap(
        (dice,), np.mean, confidence_level=0.9, n_resamples=500, method="BCa", rng=np.random.default_rng(7)
    ).confidence_interval
    summary = json.loads(seeded.stdout)["summary"]["dice"]
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((other.low, other.high), rel=1e-9)
    assert json.loads(seeded.stdout)["settings"]["seed"] == 7


def test_without_ci_the_output_has_no_interval(data):
    result = _score(data, "--metrics", "dice", "--format", "csv")
    names = [r["name"] for r in csv.DictReader(io.StringIO(result.stdout))]
    assert names[-6:] == [f"summary:{s}" for s in ("mean", "std", "median", "min", "max", "n_nonfinite")]
    assert "ci" not in json.loads(_score(data, "--metrics", "dice", "--format", "json").stdout)["settings"]


def test_all_equal_and_too_few(data):
    out = mean_intervals({"a": [0.5, 0.5, 0.5], "b": [1.0], "c": [0.1, np.nan, 0.3]})
    assert out["a"][2] == "all values are equal" and np.isnan(out["a"][0])
    assert out["b"][2] == "fewer than two cases"
    assert out["c"][2] == "not all values are finite"
    result = _score(data, "--metrics", "dice,hd", "--ci", "0.95")
    assert "no confidence interval for hd: not all values are finite" in result.stderr


@pytest.mark.parametrize("args", [["--ci", "1.5"], ["--ci", "nan"], ["--ci", "0.9", "--bootstrap", "0"]])
def test_bad_ci_options(data, args):
    result = _score(data, *args)
    assert result.exit_code == 2 and ("--ci" in result.stderr or "--bootstrap" in result.stderr)


# The interval's defaults, as the README states them.


def test_intervals_default_to_the_documented_resamples_and_seed():
    from segcli.results.intervals import N_RESAMPLES, SEED

    # 12 distinct values: a bootstrap from another seed gives other bounds
    values = [
        (f"c{i}", {"dice": v})
        for i, v in enumerate([0.5, 0.7, 0.9, 0.6, 0.81, 0.42, 0.77, 0.65, 0.93, 0.55, 0.71, 0.6])
    ]
    summaries = []
    for kwargs in ({}, {"n_resamples": N_RESAMPLES, "seed": SEED}):
        writer = ReportWriter(io.StringIO(), "csv", ["dice"], confidence=0.9, **kwargs)
        for name, row in values:
            writer.write(name, row)
        summaries.append(writer.finish()["dice"])
    assert summaries[0]["ci_low"] == summaries[1]["ci_low"] and summaries[0]["ci_high"] == summaries[1]["ci_high"]
    assert summaries[0]["ci_low"] < 0.678333 < summaries[0]["ci_high"]  # the mean
