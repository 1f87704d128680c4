"""Region scores against scikit-learn (independent reference) and hand-worked edge cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn import metrics as skm

from segcli.engine.stats import ConfusionCounts, confusion_counts
from segcli.errors import InvalidOption
from segcli.inputs.interpret import BinaryPair
from segcli.scores import region
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions, ScoreSettings
from tests.conftest import smooth_mask
from tests.scores._reference import binary_cases, check_against_reference, segcli_score


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


# Region scores where their terms differ (FP != FN, a full GT), against scikit-learn.

REGION = ("dice", "iou", "precision", "recall", "specificity", "accuracy", "mcc", "volume_similarity")


def _binary(name, pred, target, prob=None, **options):
    prob = pred if prob is None else prob
    pair = BinaryPair(prob=prob, hard=pred, target=target)
    return float(BY_NAME[name].compute(BinaryBatch([pair], ScoreOptions(**options)))[0])


def _sklearn_region(pred, target):
    t, p = target.ravel(), pred.ravel()
    tn, fp, fn, tp = skm.confusion_matrix(t, p, labels=[False, True]).ravel()
    return {
        "dice": skm.f1_score(t, p, zero_division=0),
        "iou": skm.jaccard_score(t, p, zero_division=0),
        "precision": skm.precision_score(t, p, zero_division=0),
        "recall": skm.recall_score(t, p, zero_division=0),
        "specificity": skm.recall_score(~t, ~p, zero_division=0),
        "accuracy": skm.accuracy_score(t, p),
        "mcc": skm.matthews_corrcoef(t, p),
        # Taha & Hanbury 2015, from scikit-learn's confusion matrix
        "volume_similarity": 1 - abs(int(fn) - int(fp)) / (2 * tp + fp + fn),
    }


def _asymmetric_cases():
    """(pred, target, FP, FN) with FP != FN: both non-zero, FP zero, FN zero."""
    target = np.zeros((12, 15), bool)
    target[2:9, 3:11] = True  # 56 pixels
    both = np.zeros_like(target)
    both[4:11, 5:14] = True  # FP and FN both non-zero, unequal
    under = target.copy()
    under[2:5, 3:11] = False  # FP = 0, FN = 24
    over = target.copy()
    over[9:12, 0:4] = True  # FP = 12, FN = 0
    return [(both, target), (under, target), (over, target)]


@pytest.mark.parametrize("case", range(3), ids=["fp-and-fn", "fp-zero", "fn-zero"])
def test_region_scores_on_asymmetric_errors_match_scikit_learn(case):
    """Guards against FP and FN swapped (or a wrong weight on one of them) in any region score:
    data whose FP and FN differ, and each of them zero."""
    pred, target = _asymmetric_cases()[case]
    fp, fn = int((pred & ~target).sum()), int((~pred & target).sum())
    assert fp != fn
    expected = _sklearn_region(pred, target)
    for name in REGION:
        assert _binary(name, pred, target) == pytest.approx(expected[name], rel=1e-12), name
    # and the same with prediction and GT exchanged (FP and FN exchange)
    swapped = _sklearn_region(target, pred)
    for name in REGION:
        assert _binary(name, target, pred) == pytest.approx(swapped[name], rel=1e-12), name


def test_specificity_of_a_full_gt_with_a_partial_prediction_is_zero():
    """Guards the 0/0 rule: a full GT has no negatives, so specificity is 0/0; prediction and GT
    differ (FN > 0), so it is 0 (scikit-learn with zero_division=0), and 1 only when both are
    full."""
    full = np.ones((6, 7), bool)
    partial = full.copy()
    partial[:2] = False
    assert _binary("specificity", partial, full) == 0.0
    assert skm.recall_score(~full.ravel(), ~partial.ravel(), zero_division=0) == 0.0
    assert _binary("specificity", full, full) == 1.0
    assert _binary("mcc", partial, full) == pytest.approx(skm.matthews_corrcoef(full.ravel(), partial.ravel()))


# The region family against scikit-learn over the shared cases (tests/scores/_reference.py): FP != FN,
# empty masks, a class absent, a full GT. scikit-learn's 0/0 is given as 0 (``zero_division=0``); segcli's
# one convention on top is that identical masks agree perfectly (both empty scores 1 everywhere).


def _identical_is_one(score):
    def reference(case):
        if np.array_equal(case.pred, case.gt):
            return 1.0
        return score(case.gt.ravel(), case.pred.ravel())

    return reference


SKLEARN = {
    "dice": _identical_is_one(lambda t, p: skm.f1_score(t, p, zero_division=0.0)),
    "iou": _identical_is_one(lambda t, p: skm.jaccard_score(t, p, zero_division=0.0)),
    "precision": _identical_is_one(lambda t, p: skm.precision_score(t, p, zero_division=0.0)),
    "recall": _identical_is_one(lambda t, p: skm.recall_score(t, p, zero_division=0.0)),
    "specificity": _identical_is_one(lambda t, p: skm.recall_score(~t, ~p, zero_division=0.0)),
    "accuracy": _identical_is_one(skm.accuracy_score),
    "mcc": _identical_is_one(skm.matthews_corrcoef),
}


def _volume_similarity_by_hand(case):
    """1 - |FP - FN| / (2 TP + FP + FN), Taha and Hanbury (2015), eq. 18; identical masks are 1."""
    tp, fp, fn, _ = case.counts
    return 1.0 if tp + fp + fn == 0 else 1.0 - abs(fp - fn) / (2 * tp + fp + fn)


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_region_scores_against_scikit_learn_over_the_cases(name):
    compared = check_against_reference(name, SKLEARN[name], binary_cases(), rel=1e-9, abs=1e-12)
    assert compared == len(binary_cases())  # scikit-learn defines every case


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0, 3.7])
def test_fbeta_against_scikit_learn_over_the_cases(beta):
    def reference(case):
        if np.array_equal(case.pred, case.gt):
            return 1.0
        return skm.fbeta_score(case.gt.ravel(), case.pred.ravel(), beta=beta, zero_division=0.0)

    cases = [replace(case, options={"fbeta_beta": beta}) for case in binary_cases()]
    assert check_against_reference("fbeta", reference, cases, rel=1e-9, abs=1e-12) == len(cases)
    assert region.fbeta is BY_NAME["fbeta"].function


def test_fbeta_of_beta_one_is_dice_to_the_bit():
    for case in binary_cases():
        assert segcli_score("fbeta", case) == segcli_score("dice", case), case.id


def test_fbeta_hand_case_and_its_option():
    """TP 3, FP 1, FN 2: F2 = 5*3 / (5*3 + 4*2 + 1) = 0.625, F0.5 = 1.25*3 / (1.25*3 + 0.25*2 + 1) = 0.7143."""
    c = ConfusionCounts(*(np.array([v]) for v in (3, 1, 2, 4)))
    assert region.fbeta(c, beta=2.0)[0] == pytest.approx(0.625, rel=1e-15)
    assert region.fbeta(c, beta=0.5)[0] == pytest.approx(3.75 / 5.25, rel=1e-15)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidOption, match="fbeta_beta"):
            ScoreSettings(metrics=("fbeta",), options=ScoreOptions(fbeta_beta=bad))


def test_volume_similarity_against_the_formula_over_the_cases():
    check_against_reference("volume_similarity", _volume_similarity_by_hand, binary_cases(), rel=1e-12)


def test_the_cases_hold_what_the_formulas_need_to_tell_terms_apart():
    """The shared cases are worth their name: FP above FN and below it, each mask empty alone and both,
    a GT without a true negative, and spacings away from 1."""
    cases = binary_cases()
    counts = [case.counts for case in cases]
    assert any(fp > fn for _, fp, fn, _ in counts) and any(fn > fp for _, fp, fn, _ in counts)
    assert any(not case.pred.any() and case.gt.any() for case in cases)
    assert any(case.pred.any() and not case.gt.any() for case in cases)
    assert any(not case.pred.any() and not case.gt.any() for case in cases)
    assert any(case.gt.all() and not case.pred.all() for case in cases)
    assert any(case.spacing is not None and len(set(case.spacing)) > 1 for case in cases)
    assert {case.pred.ndim for case in cases} == {2, 3}
