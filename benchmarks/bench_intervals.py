"""Time the summary interval of one score over many cases (9,999 BCa bootstrap resamples).

    python -m benchmarks.bench_intervals --cases 10000

The interval `segcli score --ci 0.95` adds to the summary, computed by segcli.results.intervals (scipy's
bootstrap, batched) on one column of N synthetic Dice values. Prints seconds and the interval.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from segcli.results.intervals import mean_intervals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=9_999)
    args = parser.parse_args()
    values = np.random.default_rng(0).beta(8, 2, args.cases)
    start = time.perf_counter()
    low, high, _ = mean_intervals({"dice": values}, n_resamples=args.resamples)["dice"]
    elapsed = time.perf_counter() - start
    print(f"{args.cases} cases, {args.resamples} resamples: {elapsed:.2f} s")
    print(f"mean {values.mean():.5f}, interval [{low:.5f}, {high:.5f}]")


if __name__ == "__main__":
    main()
