"""Confidence intervals of a score's mean over cases: the bootstrap, done by scipy.

BCa intervals, ``N_RESAMPLES`` resamples from a fixed seed, so the same data always give the
same interval, whatever other columns are computed beside it.
A column that is not all finite, or whose values are all equal, has no interval (nan) and a
reason.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

N_RESAMPLES = 9999
SEED = 0
CONFIDENCE = 0.95


def mean_intervals(
    columns: dict[str, Sequence[float]],
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> dict[str, tuple[float, float, str]]:
    """Per column: ``(low, high, reason)`` of the ``confidence`` bootstrap interval of the mean.

    ``reason`` is empty where an interval was computed; else it says why not (fewer than two
    cases, a non-finite value, all values equal) and the bounds are nan.

    >>> out = mean_intervals({"dice": [0.5, 0.7, 0.9, 0.6, 0.8], "hd": [1.0, float("inf")]})
    >>> low, high, reason = out["dice"]
    >>> bool(0.5 < low < 0.7 < high < 0.9), reason
    (True, '')
    >>> out["hd"]
    (nan, nan, 'not all values are finite')
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples: expected >= 1, got {n_resamples!r}")
    out: dict[str, tuple[float, float, str]] = {}
    from scipy import stats

    for name, values in columns.items():
        values = np.asarray(values, dtype=np.float64)  # pragma: no mutate (float lists stay float64)
        if values.size < 2:
            out[name] = (np.nan, np.nan, "fewer than two cases")
        elif not np.isfinite(values).all():
            out[name] = (np.nan, np.nan, "not all values are finite")
        elif np.all(values == values[0]):  # pragma: no mutate (any element serves: size >= 2 here)
            out[name] = (np.nan, np.nan, "all values are equal")
        else:
            # One column a call: scipy's vectorised BCa over several columns differs from a
            # one-column call where values tie, and a column's interval must not depend on others.
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                # a degenerate resampling (too few resamples) is said in ``reason``, not as scipy's warnings
                warnings.simplefilter("ignore")
                result = stats.bootstrap(
                    (values,),
                    np.mean,
                    confidence_level=confidence,
                    n_resamples=n_resamples,
                    method="BCa",  # pragma: no mutate (scipy's default, and case-insensitive)
                    batch=max(1, 20_000_000 // values.size),  # pragma: no mutate (memory only: same values)
                    rng=np.random.default_rng(seed),
                )
            low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
            if math.isfinite(low) and math.isfinite(high):
                out[name] = (low, high, "")
            else:
                out[name] = (np.nan, np.nan, f"the BCa bootstrap found no interval in {n_resamples} resamples")
    return {name: out[name] for name in columns}
