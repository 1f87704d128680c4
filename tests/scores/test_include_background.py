"""``<score>`` in multi-class mode: the mean over the foreground classes present, and over class 0
too when the background is scored (``--include-background``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score

import segcli

PRED = np.array([[0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], [0, 0, 0, 1, 1, 2]])
TARGET = np.array([[0, 0, 1, 1, 1, 2], [0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 2]])


@pytest.mark.parametrize(("include_background", "labels"), [(False, [1, 2]), (True, [0, 1, 2])])
def test_the_mean_covers_the_scored_classes(include_background, labels):
    values = segcli.score(PRED, TARGET, "dice,iou", num_classes=3, include_background=include_background)
    dice = f1_score(TARGET.ravel(), PRED.ravel(), labels=labels, average=None)
    iou = jaccard_score(TARGET.ravel(), PRED.ravel(), labels=labels, average=None)
    assert values["dice"] == pytest.approx(dice.mean(), rel=1e-9)
    assert values["iou"] == pytest.approx(iou.mean(), rel=1e-9)
    for label, expected in zip(labels, dice, strict=True):
        assert values[f"dice_{label}"] == pytest.approx(expected, rel=1e-9)


def test_an_absent_class_stays_out_of_the_mean_with_the_background():
    pred, target = np.where(PRED == 2, 0, PRED), np.where(TARGET == 2, 0, TARGET)  # class 2 nowhere
    values = segcli.score(pred, target, "dice", num_classes=3, include_background=True)
    dice = f1_score(target.ravel(), pred.ravel(), labels=[0, 1], average=None)
    assert values["dice_2"] == 1.0  # absent from both: identical, in its own column
    assert values["dice"] == pytest.approx(dice.mean(), rel=1e-9)
