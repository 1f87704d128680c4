"""Probabilities next to 1 in float32: clamped to 1 - 1e-7 exactly when above it, on numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest

from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions

EDGE = np.array([[1 - 2.0**-23, 1 - 2.0**-24, 1.0]], np.float32)  # below 1 - 1e-7, above it, at 1


def _reference_bce(prob: np.ndarray) -> float:
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)  # the clamp in exact arithmetic
    return float(np.mean(-np.log(p)))


def test_numpy_bce_at_the_float32_edge():
    import segcli

    target = np.ones(EDGE.shape, bool)
    assert segcli.score(EDGE, target, "bce")["bce"] == pytest.approx(_reference_bce(EDGE), rel=1e-3)


def test_torch_bce_at_the_float32_edge():
    pytest.importorskip("torch")
    from segcli.engine.backend import TorchOps

    target = np.ones(EDGE.shape, bool)
    pair = BinaryPair(prob=EDGE, hard=EDGE >= 0.5, target=target, kind="prob")
    value = BY_NAME["bce"].compute(BinaryBatch([pair], ScoreOptions(), ops=TorchOps("cpu")))[0]
    assert float(value) == pytest.approx(_reference_bce(EDGE), rel=1e-3)
