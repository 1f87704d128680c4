"""Throughput of the scores that run on a GPU with --device cuda, in megapixels per second.

    python -m benchmarks.bench_device --pairs 64 --size 512 --batch 16 [--device cuda:0]

Generates probability maps in memory and times the region counts and per-pixel losses (the
scores marked GPU in `segcli metrics`) with the numpy backend and with torch on the device
(default: cuda:0 when available, else torch on the CPU). Checks both agree to 1e-4.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.synth import blob_mask, noisy_prediction
from segcli.engine.backend import NUMPY, TorchOps
from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(args.pairs):
        gt = blob_mask(rng, (args.size, args.size), smooth=args.size / 24)
        prob = noisy_prediction(rng, gt)
        pairs.append(BinaryPair(prob=prob, hard=prob >= 0.5, target=gt))
    metrics = [name for name, score in BY_NAME.items() if score.on_device]
    megapixels = args.pairs * args.size * args.size / 1e6
    results = {}
    for label, ops in (("numpy (CPU, 1 core)", NUMPY), (f"torch on {args.device}", TorchOps(args.device))):
        values = []
        start = time.perf_counter()
        for i in range(0, args.pairs, args.batch):
            batch = BinaryBatch(pairs[i : i + args.batch], ScoreOptions(), ops=ops)
            values.append(np.stack([BY_NAME[m].compute(batch) for m in metrics], axis=1))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        results[label] = (seconds, np.concatenate(values))
        print(f"{label:24s} {seconds:7.2f} s  {megapixels / seconds:8.1f} megapixels/s  ({len(metrics)} scores)")
    (a, va), (b, vb) = results.values()
    np.testing.assert_allclose(vb, va, rtol=1e-4, atol=1e-6)
    print(f"agree to 1e-4; torch/numpy speed-up {a / b:.1f}x")


if __name__ == "__main__":
    main()
