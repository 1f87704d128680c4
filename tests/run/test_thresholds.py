"""`score --thresholds`: every score at every threshold, checked against one run per threshold."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from segcli.cli.main import app


@pytest.fixture(scope="module")
def probs(tmp_path_factory):
    root = tmp_path_factory.mktemp("thresholds")
    (root / "pred").mkdir()
    (root / "gt").mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        field = ndimage.gaussian_filter(rng.standard_normal((36, 40)), 3)
        np.save(root / "gt" / f"c{i}.npy", (field > 0).astype(np.uint8))
        noisy = field + rng.normal(0, 0.05, field.shape)
        np.save(root / "pred" / f"c{i}.npy", (1 / (1 + np.exp(-noisy * 15))).astype(np.float32))
    gt = np.zeros((36, 40), np.uint8)
    gt[5:20, 5:20] = 1
    exact = np.where(gt > 0, 0.9, 0.1).astype(np.float32)
    exact[20:24, 5:20] = 0.5  # exactly at a threshold: p >= t is foreground
    np.save(root / "gt" / "c9.npy", gt)
    np.save(root / "pred" / "c9.npy", exact)
    return root


def _run(root, *args):
    return CliRunner().invoke(app, ["score", str(root / "pred"), str(root / "gt"), "--workers", "1", *args])


def test_long_values_equal_one_run_per_threshold(probs):
    result = _run(probs, "--metrics", "dice,hd95,nsd", "--thresholds", "0.2:0.8:0.3")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["name", "threshold", "score", "value"]
    long = {(r["name"], float(r["threshold"]), r["score"]): r["value"] for r in rows if r["name"].startswith("c")}
    assert {t for _, t, _ in long} == {0.2, 0.5, 0.8}  # STOP included
    means = {}
    for t in (0.2, 0.5, 0.8):
        single = _run(probs, "--metrics", "dice,hd95,nsd", "--threshold", str(t))
        for r in csv.DictReader(io.StringIO(single.stdout)):
            for score in ("dice", "hd95", "nsd"):
                if r["name"].startswith("c"):
                    assert long[(r["name"], t, score)] == r[score]
                elif r["name"] == "summary:mean":
                    means[(score, t)] = float(r[score])
    best = {r["score"]: (float(r["threshold"]), float(r["value"])) for r in rows if r["name"] == "best"}
    for score, higher in (("dice", True), ("hd95", False), ("nsd", True)):
        candidates = {t: means[(score, t)] for t in (0.2, 0.5, 0.8)}
        chosen = (max if higher else min)(candidates, key=candidates.get)
        assert best[score] == (chosen, pytest.approx(candidates[chosen]))


def test_json_and_all_scores(probs):
    result = _run(probs, "--thresholds", "0.3,0.6", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    scores = {r["score"] for r in document["records"]}
    assert "dice" in scores and "hd95" in scores and "bce" not in scores  # "all": threshold-dependent scores
    assert set(document["summary"]["dice"]) == {"0.3", "0.6"}
    assert document["best"]["dice"]["threshold"] in (0.3, 0.6)
    assert document["settings"]["thresholds"] == [0.3, 0.6]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--thresholds", "0.2:0.8:0.3", "--threshold", "0.5"], "not both"),
        (["--thresholds", "0.2:0.8:0.3", "--metrics", "bce"], "do not depend on the threshold"),
        (["--thresholds", "0.8:0.2:0.1"], "STOP"),
        (["--thresholds", "0:1.5:0.5"], "--thresholds"),
        (["--thresholds", "0:1:0"], "step > 0"),
        (["--thresholds", "0.5", "--num-classes", "3"], "binary"),
    ],
)
def test_usage_errors(probs, args, message):
    result = _run(probs, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_report_has_the_threshold_plot(probs, tmp_path):
    page = tmp_path / "r.html"
    result = _run(probs, "--metrics", "dice,hd95", "--thresholds", "0.3:0.7:0.2", "--report", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "id='thresholds'" in text and "the best for dice" in text
