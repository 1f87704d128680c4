"""`--rater`: the prediction against each rater, their majority and STAPLE, and the raters' own
agreement, checked against scikit-learn's F1 and SimpleITK's STAPLE computed here."""

from __future__ import annotations

import csv
import io
import itertools
import sys

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.inputs.interpret import BinaryPair
from segcli.run.raters import majority_vote, rater_columns, rater_scores, staple_available
from segcli.settings import ScoreOptions


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


# segcli/run/raters.py. The CLI scores raters in worker
# processes, so the CLI tests above never reached ``rater_scores`` in the test process; here it is
# called directly: every ``rater<k>.``, ``majority.``, ``staple.`` and ``interrater.`` column, in
# the order of ``rater_columns``, against scikit-learn's F1, Jaccard, precision and log loss and
# SimpleITK's STAPLE computed here; raters given as 0/255 label masks; the interrater mean taken
# over the pairs in the order (one rater as prediction, a later one as truth), seen through the
# asymmetric precision; the majority vote counting a mask once whatever its foreground value; the
# message for no masks; STAPLE's consensus at a probability of exactly 0.5; and ``staple_available``
# when SimpleITK cannot be imported.

METRICS = ["dice", "iou", "precision", "bce"]


def _case():
    """A prediction with probabilities (so that ``bce`` reads ``prob``, not the hard mask) and three
    raters that all differ, so that every consensus and every pair gives its own value."""
    rng = np.random.default_rng(5)
    gt = np.zeros((24, 24), bool)
    gt[4:16, 5:18] = True
    r2 = np.roll(gt, 2, axis=0)
    r3 = np.zeros_like(gt)
    r3[6:20, 3:14] = True
    prob = np.clip(np.where(gt, 0.7, 0.2) + rng.normal(0, 0.15, gt.shape), 0.01, 0.99).astype(np.float32)
    return BinaryPair(prob=prob, hard=prob >= 0.5, target=gt, kind="prob"), gt, r2, r3


def _expected(prob, hard, truth):
    t, h = truth.ravel(), hard.ravel()
    return {
        "dice": skm.f1_score(t, h),
        "iou": skm.jaccard_score(t, h),
        "precision": skm.precision_score(t, h),
        "bce": skm.log_loss(t, prob.ravel().astype(np.float64), labels=[False, True]),
    }


def _staple_reference(masks):
    import SimpleITK as sitk

    flt = sitk.STAPLEImageFilter()
    flt.SetForegroundValue(1)
    probability = sitk.GetArrayFromImage(flt.Execute([sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks]))
    return probability >= 0.5


@pytest.mark.parametrize("rater_dtype", ["bool", "uint8_255"])
def test_rater_scores_every_column_against_references(rater_dtype):
    pytest.importorskip("SimpleITK")
    pair, gt, r2, r3 = _case()
    raters = [r2, r3] if rater_dtype == "bool" else [r2.astype(np.uint8) * 255, r3.astype(np.uint8) * 255]
    values, _ = rater_scores(pair, raters, ScoreOptions(), METRICS, with_staple=True)
    assert list(values) == rater_columns(METRICS, 3, staple=True)
    majority = (gt.astype(int) + r2 + r3) >= 2  # two of three raters
    truths = {"rater2": r2, "rater3": r3, "majority": majority, "staple": _staple_reference([gt, r2, r3])}
    for prefix, truth in truths.items():
        for name, value in _expected(pair.prob, pair.hard, truth).items():
            assert values[f"{prefix}.{name}"] == pytest.approx(value, rel=1e-5), f"{prefix}.{name}"
    # interrater: the earlier rater of each pair read as the prediction, the later as the truth
    # (precision is not symmetric: |a & b| / |a|); no loss column, a rater's mask is no probability
    for name in ("dice", "iou", "precision"):
        pairs = [_expected(a, a, b)[name] for a, b in itertools.combinations([gt, r2, r3], 2)]
        assert values[f"interrater.{name}"] == pytest.approx(np.mean(pairs), rel=1e-9), name
    assert "interrater.bce" not in values


def test_two_raters_without_staple():
    # GT and one rater: the majority of two is where both mark (an even split is background),
    # and the only interrater pair is (GT as prediction, rater 2 as truth)
    pair, gt, r2, _ = _case()
    values, _ = rater_scores(pair, [r2], ScoreOptions(), ["precision", "bce"], with_staple=False)
    columns = ["rater2.precision", "rater2.bce", "majority.precision", "majority.bce", "interrater.precision"]
    assert list(values) == columns
    assert values["majority.precision"] == pytest.approx(skm.precision_score((gt & r2).ravel(), pair.hard.ravel()))
    assert values["interrater.precision"] == pytest.approx(skm.precision_score(r2.ravel(), gt.ravel()))
    # losses only: no interrater column at all
    values, _ = rater_scores(pair, [r2], ScoreOptions(), ["bce"], with_staple=False)
    assert list(values) == ["rater2.bce", "majority.bce"]


def test_staple_foreground_includes_probability_one_half():
    pytest.importorskip("SimpleITK")
    from segcli.run.raters import staple

    # Two raters agreeing on the first pixel and nowhere on the middle two: swapping the raters
    # (with their pixels) and swapping foreground with background both map the case to itself, so
    # STAPLE's sensitivity equals its specificity and a split pixel gets probability exactly 0.5;
    # the documented rule (foreground where >= 0.5) makes both split pixels foreground.
    a, b = np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool)
    import SimpleITK as sitk

    flt = sitk.STAPLEImageFilter()
    flt.SetForegroundValue(1)
    probability = sitk.GetArrayFromImage(flt.Execute([sitk.GetImageFromArray(m.astype(np.uint8)) for m in (a, b)]))
    assert probability[0, 1] == probability[0, 2] == 0.5
    assert staple([a, b]).tolist() == [[True, True, True, False]]


def test_majority_vote_counts_a_mask_once_whatever_its_foreground_value():
    # one mask of three marks the first pixel with the label value 3: one vote of three, background
    masks = [np.array([3, 1, 0], np.uint8), np.array([0, 1, 0], np.uint8), np.zeros(3, np.uint8)]
    assert majority_vote(masks).tolist() == [False, True, False]


def test_majority_vote_of_no_masks_says_so():
    with pytest.raises(ValueError, match=r"^masks: expected at least one mask$"):
        majority_vote([])


def test_staple_available_false_when_simpleitk_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import SimpleITK raises ImportError
    assert staple_available() is False
