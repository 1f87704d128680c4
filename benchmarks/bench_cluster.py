"""Time `segcli score --scheduler` on a 2-worker Dask LocalCluster against the local pool.

    python -m benchmarks.bench_cluster --pairs 1000 --size 512

Generates N pairs of hard masks (0/255 PNG), starts a LocalCluster of 2 worker processes with one
thread each (warmed up: segcli imported on the workers first, as a long-lived cluster would be),
then times whole `segcli score` processes with dice,iou,hd95,assd: local with 2 workers, and on
the cluster. Prints seconds, ms per pair and the overhead ratio (cluster / local).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._common import print_table, run_timed, segcli
from benchmarks.synth import blob_mask, noisy_prediction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pred").mkdir()
        (root / "gt").mkdir()
        for i in range(args.pairs):
            gt = blob_mask(rng, (args.size, args.size))
            Image.fromarray(gt.astype(np.uint8) * 255).save(root / "gt" / f"c{i:05d}.png")
            Image.fromarray(noisy_prediction(rng, gt).astype(np.uint8) * 255).save(root / "pred" / f"c{i:05d}.png")
        common = ["score", str(root / "pred"), str(root / "gt"), "--metrics", "dice,iou,hd95,assd"]
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                client.run(lambda: __import__("segcli.pipeline"))  # warm workers
            rows = [
                ("local pool, 2 workers", run_timed(segcli(*common, "--workers", "2"), repeat=args.repeat)),
                ("Dask LocalCluster, 2 workers x 1 thread", run_timed(
                    segcli(*common, "--scheduler", cluster.scheduler_address), repeat=args.repeat)),  # fmt: skip
            ]
    print_table(
        f"{args.pairs} pairs {args.size}x{args.size}, dice,iou,hd95,assd, whole processes (best of {args.repeat})",
        rows,
        per=args.pairs,
        unit="pair",
        reference="local pool, 2 workers",
    )


if __name__ == "__main__":
    main()
