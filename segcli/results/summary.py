"""The summary of a run: per score column, the mean, std, median, min and max over every image
and the count of non-finite values, and for a ``--thresholds`` run the best threshold per score.

Every value is kept (the median needs them) and non-finite ones take part: an infinite distance
makes the mean infinite rather than disappearing from it. The writers (``segcli.results.formats``,
``segcli.results.thresholds``), the read-back, ``compare`` and the HTML report all take their
statistics from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from segcli.scores.columns import split_threshold

STATISTICS = ("mean", "std", "median", "min", "max", "n_nonfinite")


def summarize(columns: Sequence[str], rows: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per column: mean, std (population), median, min, max over all images, and how many
    images had a non-finite value. Non-finite values take part (an inf makes the mean inf).

    >>> summarize(["hd"], [{"hd": 1.0}, {"hd": 3.0}])["hd"]["mean"]
    2.0
    """
    summary: dict[str, dict[str, float]] = {}
    for column in columns:
        values = np.array([row[column] for row in rows if column in row], dtype=np.float64)
        if values.size == 0:
            summary[column] = {name: math.nan for name in STATISTICS[:-1]} | {"n_nonfinite": 0}
            continue
        # equal values: 0, not the rounding residue of their mean (2.2e-16)
        equal = np.isfinite(values[0]) and np.all(values == values[0])
        with np.errstate(invalid="ignore", over="ignore"):
            summary[column] = {
                "mean": float(np.mean(values)),
                "std": 0.0 if equal else _std(values),
                "median": _median(values),
                "min": float(np.min(values)),
                "max": float(np.max(values)),
                "n_nonfinite": int(np.count_nonzero(~np.isfinite(values))),
            }
    return summary


def _std(values: np.ndarray) -> float:
    """The population std of a non-empty float64 array: ``np.std``'s, bit for bit, wherever that is
    finite. Only where it overflows though every value is finite (np.std squares the deviations:
    values near 1e308, as ``--empty-distance 1e308`` gives) is it computed on the values divided
    by the largest magnitude and scaled back (the std scales with its values).

    >>> _std(np.array([1e308, -1e308]))  # np.std: inf
    1e+308
    """
    with np.errstate(invalid="ignore", over="ignore"):
        std = float(np.std(values))
        if math.isfinite(std) or not np.isfinite(values).all():
            return std
        scale = float(np.max(np.abs(values)))
        return scale * float(np.std(values / scale))


def _median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty float64 array (NaN if any is NaN; the mean of the two middle
    values of an even count), without the masked-array module ``np.median`` imports (7 ms of
    every run's start-up).

    >>> _median(np.array([3.0, 1.0, 2.0, 10.0])), _median(np.array([1.0, np.nan]))
    (2.5, nan)
    """
    if np.isnan(values).any():
        return math.nan
    ordered = np.sort(values)
    half = ordered.size // 2
    return float(ordered[half]) if ordered.size % 2 else float((ordered[half - 1] + ordered[half]) / 2)


def best_thresholds(
    summary: dict[str, dict[str, float]], higher_is_better: dict[str, bool]
) -> dict[str, tuple[float, float]]:
    """Per score: the threshold whose mean is best in the score's direction (the lowest such
    threshold on a tie; NaN means never win) and that mean.

    >>> best_thresholds({"dice@0.3": {"mean": 0.7}, "dice@0.5": {"mean": 0.8}}, {"dice": True})
    {'dice': (0.5, 0.8)}
    """
    best: dict[str, tuple[float, float]] = {}
    for column, stats in summary.items():
        score, threshold = split_threshold(column)
        mean = stats["mean"]
        if threshold is None or math.isnan(mean):
            continue
        better = higher_is_better.get(score, True)
        if score not in best or (mean > best[score][1] if better else mean < best[score][1]):
            best[score] = (threshold, mean)
    return best
