"""Region scores against scikit-learn (independent reference) and hand-worked edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from segcli.engine.stats import ConfusionCounts, confusion_counts
from segcli.scores import region
from tests.conftest import smooth_mask


def _counts(pred, target, valid=None):
    return confusion_counts(pred[None], target[None], None if valid is None else valid[None])


@pytest.mark.parametrize("shape", [(40, 57), (9, 20, 13)])
def test_region_scores_match_scikit_learn(rng, shape):
    for _ in range(5):
        pred, target = smooth_mask(rng, shape), smooth_mask(rng, shape)
        c = _counts(pred, target)
        p, t = pred.ravel(), target.ravel()
        assert region.dice(c)[0] == pytest.approx(skm.f1_score(t, p), rel=1e-12)
        assert region.iou(c)[0] == pytest.approx(skm.jaccard_score(t, p), rel=1e-12)
        assert region.precision(c)[0] == pytest.approx(skm.precision_score(t, p), rel=1e-12)
        assert region.recall(c)[0] == pytest.approx(skm.recall_score(t, p), rel=1e-12)
        assert region.specificity(c)[0] == pytest.approx(skm.recall_score(~t, ~p), rel=1e-12)
        assert region.accuracy(c)[0] == pytest.approx(skm.accuracy_score(t, p), rel=1e-12)
        assert region.mcc(c)[0] == pytest.approx(skm.matthews_corrcoef(t, p), rel=1e-9)


def test_volume_similarity_hand_case():
    # TP=2, FP=3, FN=1: 1 - |1 - 3| / (4 + 3 + 1) = 0.75
    c = ConfusionCounts(*(np.array([v]) for v in (2, 3, 1, 4)))
    assert region.volume_similarity(c)[0] == pytest.approx(0.75)


def test_both_empty_is_perfect_agreement():
    empty = np.zeros((5, 5), bool)
    c = _counts(empty, empty)
    for score in (
        region.dice,
        region.iou,
        region.precision,
        region.recall,
        region.specificity,
        region.accuracy,
        region.mcc,
        region.volume_similarity,
    ):
        assert score(c)[0] == 1.0, score.__name__


def test_one_empty_scores_zero():
    empty, some = np.zeros((5, 5), bool), np.zeros((5, 5), bool)
    some[1:3, 1:3] = True
    pred_empty = _counts(empty, some)
    assert region.dice(pred_empty)[0] == 0.0
    assert region.precision(pred_empty)[0] == 0.0  # 0/0 but not identical
    assert region.recall(pred_empty)[0] == 0.0
    assert region.specificity(pred_empty)[0] == 1.0  # TN / (TN + 0)
    assert region.mcc(pred_empty)[0] == 0.0
    assert region.volume_similarity(pred_empty)[0] == 0.0
    gt_empty = _counts(some, empty)
    assert region.recall(gt_empty)[0] == 0.0
    assert region.precision(gt_empty)[0] == 0.0


def test_specificity_both_full_is_one_and_one_full_is_zero():
    full = np.ones((4, 4), bool)
    assert region.specificity(_counts(full, full))[0] == 1.0
    part = full.copy()
    part[0] = False
    assert region.specificity(_counts(full, part))[0] == 0.0  # TN = 0, FP = 4


def test_valid_mask_excludes_pixels():
    pred = np.array([[1, 1, 0, 0]], bool)
    target = np.array([[1, 0, 1, 0]], bool)
    valid = np.array([[1, 0, 1, 1]], bool)  # the false positive is ignored
    c = _counts(pred, target, valid)
    assert (int(c.tp[0]), int(c.fp[0]), int(c.fn[0]), int(c.tn[0])) == (1, 0, 1, 1)
    assert region.dice(c)[0] == pytest.approx(2 / 3)


def test_batch_first_vectorised():
    pred = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], bool)
    target = np.array([[1, 0, 1, 0], [0, 0, 0, 0]], bool)
    np.testing.assert_allclose(region.dice(confusion_counts(pred, target)), [0.5, 1.0])
