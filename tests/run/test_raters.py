"""`--rater`: the prediction against each rater, their majority and STAPLE, and the raters' own
agreement, checked against scikit-learn's F1 and SimpleITK's STAPLE computed here."""

from __future__ import annotations

import csv
import io
import itertools

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from segcli.cli.main import app


@pytest.fixture
def cases(tmp_path):
    rng = np.random.default_rng(11)
    masks = {}
    for folder in ("pred", "gt", "r2", "r3"):
        (tmp_path / folder).mkdir()
    for i in range(3):
        base = np.zeros((32, 32), np.uint8)
        base[6:22, 5 + i : 24] = 1
        gt, r2, r3 = base, np.roll(base, 1, axis=0), np.roll(base, -2, axis=1)
        pred = (rng.random(base.shape) < 0.1) ^ base.astype(bool)
        for folder, mask in (("gt", gt), ("r2", r2), ("r3", r3), ("pred", pred.astype(np.uint8))):
            np.save(tmp_path / folder / f"c{i}.npy", mask)
        masks[f"c{i}"] = (pred, gt.astype(bool), r2.astype(bool), r3.astype(bool))
    return tmp_path, masks


def _f1(a, b):
    return f1_score(b.ravel(), a.ravel())


def test_every_column_against_references(cases):
    import SimpleITK as sitk

    root, masks = cases
    args = ["score", str(root / "pred"), str(root / "gt"), "--rater", str(root / "r2"), "--rater", str(root / "r3")]
    result = CliRunner().invoke(app, [*args, "--metrics", "dice,hd95"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    for name, (pred, gt, r2, r3) in masks.items():
        row = rows[name]
        assert float(row["dice"]) == pytest.approx(_f1(pred, gt))
        assert float(row["rater2.dice"]) == pytest.approx(_f1(pred, r2))
        assert float(row["rater3.dice"]) == pytest.approx(_f1(pred, r3))
        majority = (gt.astype(int) + r2 + r3) >= 2
        assert float(row["majority.dice"]) == pytest.approx(_f1(pred, majority))
        flt = sitk.STAPLEImageFilter()
        flt.SetForegroundValue(1)
        consensus = sitk.GetArrayFromImage(
            flt.Execute([sitk.GetImageFromArray(m.astype(np.uint8)) for m in (gt, r2, r3)])
        )
        assert float(row["staple.dice"]) == pytest.approx(_f1(pred, consensus >= 0.5))
        pairwise = [_f1(a, b) for a, b in itertools.combinations((gt, r2, r3), 2)]
        assert float(row["interrater.dice"]) == pytest.approx(np.mean(pairwise))
    assert "interrater.bce" not in rows["c0"]


def test_even_split_is_background_and_missing_rater_file_is_named(cases):
    from segcli.run.raters import majority_vote

    a, b = np.array([1, 1, 0], bool), np.array([1, 0, 0], bool)
    assert majority_vote([a, b]).tolist() == [True, False, False]
    root, _ = cases
    (root / "r2" / "c1.npy").unlink()
    result = CliRunner().invoke(app, ["score", str(root / "pred"), str(root / "gt"), "--rater", str(root / "r2")])
    assert result.exit_code == 2 and "r2: no file for c1" in result.stderr


def test_raters_are_binary_only(cases):
    root, _ = cases
    base = ["score", str(root / "pred"), str(root / "gt"), "--rater", str(root / "r2")]
    assert CliRunner().invoke(app, [*base, "--num-classes", "2"]).exit_code == 2
    assert CliRunner().invoke(app, [*base, "--thresholds", "0.5"]).exit_code == 2
