"""One tester for every score family: a score, as segcli's score table computes it, against an independent
reference over a list of cases (as torchmetrics' ``MetricTester`` runs each metric against its reference).

The cases are where a formula's terms differ, so that a term swapped or dropped changes the value: more
false positives than false negatives and the reverse, an empty prediction, an empty ground truth (the
foreground class absent), both empty, a full ground truth (no true negative), a single pixel, 2-D and 3-D
masks, spacings away from 1 and anisotropic. A reference returns ``None`` for a case it does not define
(MedPy refuses an empty mask): that case is left out for it, and ``check_against_reference`` fails when a
reference compares too few cases to mean anything.

Usage, in ``tests/scores/test_<family>.py``::

    @pytest.mark.parametrize("name", sorted(SKLEARN))
    def test_region_scores_against_scikit_learn(name):
        check_against_reference(name, SKLEARN[name], binary_cases(), rel=1e-9)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pytest

from tests.conftest import smooth_mask


@dataclass(frozen=True)
class Case:
    """A prediction and its ground truth (bool arrays of one shape), the spacing they are scored in and
    the options the score is given; ``id`` says what makes the case worth having."""

    id: str
    pred: np.ndarray
    gt: np.ndarray
    spacing: tuple[float, ...] | None = None
    options: dict = field(default_factory=dict)

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """TP, FP, FN, TN."""
        p, t = self.pred, self.gt
        return int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum()), int((~p & ~t).sum())


@lru_cache(maxsize=1)
def _binary_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(20240530)
    cases = []
    for shape, spacing in (((48, 61), None), ((48, 61), (0.7, 1.9)), ((9, 22, 19), (2.5, 0.8, 0.6))):
        dims = f"{len(shape)}d" + ("" if spacing is None else f"-spacing{spacing}")
        gt = smooth_mask(rng, shape, fill=0.3)
        gt[(0,) * len(shape)] = True  # a border on the image edge
        cases.append(
            Case(f"fp>fn-{dims}", smooth_mask(rng, shape, fill=0.45) | gt & (rng.random(shape) < 0.5), gt, spacing)
        )
        cases.append(Case(f"fn>fp-{dims}", smooth_mask(rng, shape, fill=0.12), gt, spacing))
    shape = (20, 23)
    some = np.zeros(shape, bool)
    some[4:11, 6:15] = True
    other = np.zeros(shape, bool)
    other[7:16, 3:9] = True
    empty = np.zeros(shape, bool)
    full = np.ones(shape, bool)
    pixel = np.zeros(shape, bool)
    pixel[10, 11] = True
    cases += [
        Case("disjoint-spacing(1.1, 0.4)", some, other, (1.1, 0.4)),
        Case("pred-empty", empty, some),
        Case("gt-empty (class absent)", some, empty),
        Case("both-empty", empty, empty),
        Case("gt-full, pred partial (no TN)", some | other, full),
        Case("one pixel each, apart", pixel, np.roll(pixel, (3, -4), axis=(0, 1)), (0.5, 2.0)),
        Case("identical", some, some.copy(), (3.0, 3.0)),
    ]
    for case in cases:
        assert case.pred.shape == case.gt.shape and case.pred.dtype == case.gt.dtype == bool, case.id
    return tuple(cases)


def binary_cases() -> list[Case]:
    """The binary cases, the same every call (a fixed seed)."""
    return list(_binary_cases())


def segcli_score(name: str, case: Case, **options) -> float:
    """The score as ``segcli score`` computes it: its row of the score table over a batch of one pair."""
    from segcli.inputs.interpret import BinaryPair
    from segcli.scores.batch import BinaryBatch
    from segcli.scores.table import BY_NAME
    from segcli.settings import ScoreOptions

    pair = BinaryPair(prob=case.pred, hard=case.pred, target=case.gt)
    settings = ScoreOptions(**{"spacing": case.spacing, **case.options, **options})
    return float(BY_NAME[name].compute(BinaryBatch([pair], settings))[0])


def check_against_reference(
    name: str,
    reference: Callable[[Case], float | None],
    cases: Sequence[Case],
    *,
    rel: float,
    abs: float = 0.0,  # noqa: A002 (pytest.approx's name)
    min_compared: int | None = None,
    **options,
) -> int:
    """Score ``name`` on every case and compare it with ``reference(case)``; every disagreeing case is
    listed in one failure (its id, both values and the confusion counts). Returns how many cases were
    compared; fewer than ``min_compared`` (default: half the cases) is a failure too."""
    failures, compared = [], 0
    for case in cases:
        want = reference(case)
        if want is None:
            continue
        compared += 1
        got = segcli_score(name, case, **options)
        if got != pytest.approx(float(want), rel=rel, abs=abs, nan_ok=True):
            tp, fp, fn, tn = case.counts
            failures.append(
                f"{case.id}: segcli {got!r}, reference {float(want)!r} (TP {tp}, FP {fp}, FN {fn}, TN {tn})"
            )
    needed = len(cases) // 2 if min_compared is None else min_compared
    assert compared >= needed, f"{name}: the reference compared {compared} of {len(cases)} cases, fewer than {needed}"
    assert not failures, f"{name} disagrees with its reference on {len(failures)} case(s):\n" + "\n".join(failures)
    return compared
