"""Time `segcli score|weightmap|classweights --scheduler` on a 2-worker Dask LocalCluster against
the local pool, and `file://` URL inputs against plain paths.

    python -m benchmarks.bench_cluster --pairs 1000 --size 512 [--maps 200]

Generates N pairs of hard masks (0/255 PNG), starts a LocalCluster of 2 worker processes with one
thread each (warmed up: segcli imported on the workers first, as a long-lived cluster would be),
then times whole `segcli score` processes with dice,iou,hd95,assd: local with 2 workers, and on
the cluster, each from plain paths and from file:// URLs (fsspec). With ``--maps M``, also
`weightmap` (U-Net maps of the first M ground truths) and `classweights` (every ground truth),
local and on the cluster. Prints seconds, ms per item and the overhead ratios (against local).
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
    parser.add_argument("--maps", type=int, default=0, help="also time weightmap on this many masks, and classweights")
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
        urls = ["score", f"file://{root}/pred", f"file://{root}/gt", "--metrics", "dice,iou,hd95,assd"]
        maps = root / "masks"
        maps.mkdir()
        for path in sorted((root / "gt").iterdir())[: args.maps]:
            (maps / path.name).symlink_to(path)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                client.run(lambda: __import__("segcli.run.pipeline"))  # warm workers
            on_cluster = ["--scheduler", cluster.scheduler_address]
            rows = [
                ("local pool, 2 workers", run_timed(segcli(*common, "--workers", "2"), repeat=args.repeat)),
                (
                    "Dask LocalCluster, 2 workers x 1 thread",
                    run_timed(segcli(*common, *on_cluster), repeat=args.repeat),
                ),
                ("file:// URLs, local pool, 2 workers", run_timed(segcli(*urls, "--workers", "2"), repeat=args.repeat)),
                ("file:// URLs, Dask LocalCluster", run_timed(segcli(*urls, *on_cluster), repeat=args.repeat)),
            ]
            if args.maps:
                weightmap = ["weightmap", str(maps), "--out", str(root / "out"), "--overwrite"]
                counts = ["classweights", str(root / "gt"), "--format", "json"]
                map_rows = [
                    (
                        "weightmap, local pool, 2 workers",
                        run_timed(segcli(*weightmap, "--workers", "2"), repeat=args.repeat),
                    ),
                    ("weightmap, Dask LocalCluster", run_timed(segcli(*weightmap, *on_cluster), repeat=args.repeat)),
                ]
                count_rows = [
                    (
                        "classweights, local pool, 2 workers",
                        run_timed(segcli(*counts, "--workers", "2"), repeat=args.repeat),
                    ),
                    ("classweights, Dask LocalCluster", run_timed(segcli(*counts, *on_cluster), repeat=args.repeat)),
                ]
    print_table(
        f"{args.pairs} pairs {args.size}x{args.size}, dice,iou,hd95,assd, whole processes (best of {args.repeat})",
        rows,
        per=args.pairs,
        unit="pair",
        reference="local pool, 2 workers",
    )
    if args.maps:
        print_table(f"{args.maps} U-Net weight maps {args.size}x{args.size}", map_rows, per=args.maps, unit="map",
                    reference="weightmap, local pool, 2 workers")  # fmt: skip
        print_table(f"class counts of {args.pairs} masks", count_rows, per=args.pairs, unit="mask",
                    reference="classweights, local pool, 2 workers")  # fmt: skip


if __name__ == "__main__":
    main()
