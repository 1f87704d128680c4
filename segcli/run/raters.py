"""Several ground truths of one case: the prediction against each rater, against their consensus,
and the raters against each other (the human ceiling a model is measured by).

Binary masks only. Rater 1 is the ground truth given as GT (its scores are the plain columns);
``--rater DIR`` adds raters 2, 3, ... Columns (never colliding with the per-class
``<score>_<label>`` columns, which use ``_``):

* ``rater<k>.<score>``: the prediction against rater k (k >= 2);
* ``majority.<score>``: against the majority vote (a pixel is foreground when more than half of
  the raters mark it; an even split is background);
* ``staple.<score>``: against STAPLE's consensus (SimpleITK's ``STAPLEImageFilter``, foreground
  where its probability is >= 0.5), when SimpleITK is installed;
* ``interrater.<score>``: the mean over every pair of raters of the score of one against the other
  (region and surface scores only: a rater's mask is not a probability map).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np

from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.columns import consensus_prefix, rater_prefix
from segcli.settings import ScoreOptions

STAPLE_NOTE = "STAPLE consensus columns need SimpleITK (pip install SimpleITK); left out"


def staple_available() -> bool:
    try:
        import SimpleITK  # noqa: F401
    except ImportError:
        return False
    return True


def rater_columns(metrics: Sequence[str], n_raters: int, *, staple: bool) -> list[str]:
    """The columns rater scoring adds, in order, for ``n_raters`` raters in all (GT included).

    >>> rater_columns(["dice", "bce"], 2, staple=False)
    ['rater2.dice', 'rater2.bce', 'majority.dice', 'majority.bce', 'interrater.dice']
    """
    from segcli.scores.table import BY_NAME

    out = [rater_prefix(k) + m for k in range(2, n_raters + 1) for m in metrics]
    out += [consensus_prefix("majority") + m for m in metrics]
    if staple:
        out += [consensus_prefix("staple") + m for m in metrics]
    out += [consensus_prefix("interrater") + m for m in metrics if m in BY_NAME and BY_NAME[m].group != "losses"]
    return out


def majority_vote(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Foreground where more than half of the masks are.

    >>> majority_vote([np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)]).tolist()
    [True, False, False, False]
    """
    if not masks:
        raise ValueError("masks: expected at least one mask")
    votes = np.sum(np.stack([np.asarray(m, bool) for m in masks]), axis=0)
    return votes * 2 > len(masks)


def staple(masks: Sequence[np.ndarray]) -> np.ndarray:
    """STAPLE's consensus of binary masks (SimpleITK), foreground where its probability >= 0.5."""
    import SimpleITK as sitk

    images = [sitk.GetImageFromArray(np.asarray(m, np.uint8)) for m in masks]
    flt = sitk.STAPLEImageFilter()
    flt.SetForegroundValue(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probability = sitk.GetArrayFromImage(flt.Execute(images))
    return probability >= 0.5


def rater_scores(
    prediction: BinaryPair,
    raters: Sequence[np.ndarray],
    options: ScoreOptions,
    metrics: Sequence[str],
    *,
    with_staple: bool,
) -> tuple[dict[str, float], list[str]]:
    """The columns of ``rater_columns`` for one case, and those whose distance
    ``--empty-distance`` replaced; ``raters`` are the masks of raters 2, 3, ... (rater 1 is
    ``prediction.target``). A distance between two raters that was replaced is named by its score
    alone (``hd``, not ``interrater.hd``), as the records have always said."""
    from segcli.scores.table import BY_NAME, compute_scores

    everyone = [prediction.target, *[np.asarray(r, bool) for r in raters]]
    values: dict[str, float] = {}
    replaced: list[str] = []

    def against(target: np.ndarray, prefix: str) -> None:
        pair = BinaryPair(prob=prediction.prob, hard=prediction.hard, target=target, kind=prediction.kind)
        scored = compute_scores(BinaryBatch([pair], options), metrics, prefix=prefix)
        values.update(scored.values[0])
        replaced.extend(scored.replaced[0])

    for k, mask in enumerate(everyone[1:], start=2):
        against(mask, rater_prefix(k))
    against(majority_vote(everyone), consensus_prefix("majority"))
    if with_staple:
        against(staple(everyone), consensus_prefix("staple"))
    hard_metrics = [m for m in metrics if m in BY_NAME and BY_NAME[m].group != "losses"]
    if hard_metrics:
        pairs = []
        for a, b in itertools.combinations(everyone, 2):
            scored = compute_scores(BinaryBatch([BinaryPair(prob=a, hard=a, target=b)], options), hard_metrics)
            pairs.append(scored.values[0])
            replaced.extend(scored.replaced[0])
        for metric in hard_metrics:
            values[consensus_prefix("interrater") + metric] = float(np.mean([p[metric] for p in pairs]))
    return values, replaced
