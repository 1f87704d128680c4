"""Time `segcli score` against merely reading the files, on 1 worker and on every core; MONAI
and MedPy on the same pairs.

    python -m benchmarks.bench_score --pairs 1000 --size 512           # 2-D pairs, medians of 3
    python -m benchmarks.bench_score --volumes --volume-pairs 8        # 300x512x512 NIfTI pairs

Generates the pairs in a temporary folder (0/255 PNG hard masks, or liver-sized NIfTI volumes),
then times whole processes, each the median of ``--repeat`` runs: decoding every file only (the
floor: segcli's reader, one process per core, and one process), decoding plus the GT's exact
two-sided distance transform (what distmap_bce and boundary_loss need of every pixel), then
segcli on 1 worker and on every core for each workload (every score; every score but unet_wce;
dice,iou,hd95,assd). Prints seconds, ms per pair, the ratio to the decode floor and the parallel
efficiency (time on 1 worker / (time on N workers x N)); then the fixed start-up of a run (one
pair) and each workload's speed-up beyond it. Then the in-process cost of each score on its own
(ms per pair, the intermediates it needs included; each score run once untimed first, so its
imports are not counted), and MONAI and MedPy computing dice, iou, hd95 and assd.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._common import ROOT, print_table, python, run_timed, segcli
from benchmarks.synth import blob_mask, noisy_prediction
from segcli.scores.table import BY_NAME

READ_ONLY = """
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from segcli.inputs.images import read_image
files = sorted(Path(sys.argv[1]).rglob('*.png'))
workers = int(sys.argv[2])
transform = len(sys.argv) > 3
def read(p):
    array = read_image(p).array
    if transform and p.parent.name == 'gt':
        # the exact distance of every pixel to the other side of the GT: what distmap_bce and
        # boundary_loss cannot do without
        from segcli.engine.distance import InsideOutside
        InsideOutside(array > 0).distance
    return array.shape
if workers == 1:
    for f in files: read(f)
else:
    with ProcessPoolExecutor(workers) as pool: list(pool.map(read, files, chunksize=16))
"""

PEER = """
import sys, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import numpy as np
from PIL import Image
root = Path(sys.argv[1]); peer = sys.argv[2]
names = sorted(p.name for p in (root / 'gt').iterdir())
read = lambda p: np.asarray(Image.open(p)) > 0
if peer == 'monai':
    import torch
    from monai.metrics import compute_dice, compute_iou, compute_hausdorff_distance, compute_average_surface_distance
    for n in names:
        p = torch.from_numpy(read(root / 'pred' / n))[None, None].float()
        g = torch.from_numpy(read(root / 'gt' / n))[None, None].float()
        compute_dice(p, g); compute_iou(p, g)
        compute_hausdorff_distance(p, g, include_background=True, percentile=95)
        compute_average_surface_distance(p, g, include_background=True, symmetric=True)
else:
    from medpy.metric import binary
    for n in names:
        p, g = read(root / 'pred' / n), read(root / 'gt' / n)
        binary.dc(p, g); binary.jc(p, g); binary.hd95(p, g); binary.assd(p, g)
"""


# Every binary score except unet_wce, whose per-cell transforms make it the costliest by far.
WITHOUT_UNET = ",".join(name for name in BY_NAME if name != "unet_wce")
FOUR = "dice,iou,hd95,assd"
WORKLOADS = (("every score", None), ("every score but unet_wce", WITHOUT_UNET), (FOUR, FOUR))

PER_SCORE = """
import sys, time, json
from pathlib import Path
from segcli.scores.batch import BinaryBatch
from segcli.inputs.pairing import Pair
from segcli.run.pair import ScoreSettings, _prepare_binary
from segcli.scores.table import BY_NAME, compute_scores
root = Path(sys.argv[1]); n = int(sys.argv[2])
names = sorted(p.name for p in (root / 'gt').iterdir())[:n]
settings = ScoreSettings(metrics=tuple(BY_NAME))
start = time.perf_counter()
pairs = [_prepare_binary(Pair(x, root / 'pred' / x, root / 'gt' / x), settings) for x in names]
out = {'read and interpret': (time.perf_counter() - start) / n}
for metric in BY_NAME:
    compute_scores(BinaryBatch([pairs[0][0]], pairs[0][1]), [metric])  # its imports: once a run, not a pair
    batches = [BinaryBatch([b], o) for b, o, _ in pairs]
    start = time.perf_counter()
    for batch in batches:
        compute_scores(batch, [metric])
    out[metric] = (time.perf_counter() - start) / n
print(json.dumps(out))
"""


def make_pairs(root: Path, n: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for folder in ("pred", "gt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        gt = blob_mask(rng, (size, size), smooth=size / 24)
        pred = noisy_prediction(rng, gt) >= 0.5
        Image.fromarray((gt * 255).astype(np.uint8)).save(root / "gt" / f"case{i:05d}.png")
        Image.fromarray((pred * 255).astype(np.uint8)).save(root / "pred" / f"case{i:05d}.png")


def make_volume_pairs(root: Path, n: int, shape: tuple[int, int, int]) -> None:
    """``n`` NIfTI pairs (benchmarks.bench_volumes' liver-sized structure), each its own seed."""
    from benchmarks.bench_volumes import make_pair

    for i in range(n):
        pred, gt = make_pair(root / f"gen{i}", shape, seed=i)
        for folder, path in (("pred", pred), ("gt", gt)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            path.rename(root / folder / f"case{i:03d}.nii.gz")


def median_time(args: list[str], repeat: int) -> float:
    return statistics.median(run_timed(args) for _ in range(repeat))


def read_only(root: Path, workers: int, pattern: str, *, transform: bool = False) -> list[str]:
    return python(READ_ONLY.replace("'*.png'", repr(pattern))) + [str(root), str(workers)] + ["transform"] * transform


def scaling_rows(root: Path, cores: int, repeat: int, workloads, pattern: str) -> list[tuple[str, float, float]]:
    """(what, seconds on 1 worker/process, seconds on every core) for the floor and each workload."""
    pred, gt = str(root / "pred"), str(root / "gt")
    rows = [
        (
            "decode the files only",
            median_time(read_only(root, 1, pattern), repeat),
            median_time(read_only(root, cores, pattern), repeat),
        )
    ]
    if pattern == "*.png":
        rows.append(
            (
                "decode + the GT's exact two-sided transform",
                median_time(read_only(root, 1, pattern, transform=True), repeat),
                median_time(read_only(root, cores, pattern, transform=True), repeat),
            )
        )
    for name, metrics in workloads:
        extra = ["--metrics", metrics] if metrics else []
        one = median_time(segcli("score", pred, gt, *extra, "--workers", "1"), repeat)
        every = median_time(segcli("score", pred, gt, *extra, "--workers", str(cores)), repeat)
        rows.append((f"segcli score, {name}", one, every))
    return rows


def print_scaling(title: str, rows, cores: int, n: int) -> None:
    floor = rows[0][2]
    print(f"\n{title}")
    print(f"decode floor: decoding the files with {cores} processes, {floor:.2f} s; medians of the runs")
    head = f"{'what':44s} {'1 worker s':>10s} {f'{cores} workers s':>12s} {'ms/pair':>8s} {'x floor':>8s}"
    print(head + f" {'speed-up':>8s} {'efficiency':>10s}")
    for name, one, every in rows:
        print(
            f"{name:44s} {one:10.2f} {every:12.2f} {1000 * every / n:8.2f} {every / floor:8.2f}"
            f" {one / every:8.2f} {one / (every * cores):10.0%}"
        )


def print_start_up(root: Path, rows, cores: int, repeat: int) -> None:
    """The fixed cost of each workload's run (interpreter, imports, option parsing, pairing,
    output: one pair on 1 worker), which no worker count shortens, and the speed-up beyond it."""
    one = root / "one"
    for folder in ("pred", "gt"):
        (one / folder).mkdir(parents=True)
        first = min((root / folder).iterdir())
        (one / folder / first.name).symlink_to(first)
    print(f"\nstart-up of a run (one pair, 1 worker), and 1 -> {cores} workers beyond it:")
    for name, metrics in WORKLOADS:
        extra = ["--metrics", metrics] if metrics else []
        fixed = median_time(segcli("score", str(one / "pred"), str(one / "gt"), *extra, "--workers", "1"), repeat)
        seconds_one, seconds_every = next((o, e) for what, o, e in rows if what == f"segcli score, {name}")
        beyond = (seconds_one - fixed) / (seconds_every - fixed)
        print(f"  {name:32s} start-up {fixed:5.2f} s, speed-up beyond it {beyond:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the median is shown")
    parser.add_argument("--peer-pairs", type=int, default=50, help="pairs for MONAI/MedPy (0: skip the peers)")
    parser.add_argument("--per-score-pairs", type=int, default=50, help="pairs for the per-score costs (0: skip)")
    parser.add_argument("--volumes", action="store_true", help="time volume pairs instead (NIfTI)")
    parser.add_argument("--volume-pairs", type=int, default=8)
    parser.add_argument("--shape", default="300,512,512", help="volume shape z,y,x (with --volumes)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.volumes:
            shape = tuple(int(x) for x in args.shape.split(","))
            make_volume_pairs(root, args.volume_pairs, shape)
            workloads = (("dice,hd95,assd", "dice,hd95,assd"), ("dice,iou", "dice,iou"))
            rows = scaling_rows(root, cores, args.repeat, workloads, "*.nii.gz")
            size = "x".join(map(str, shape))
            print_scaling(
                f"{args.volume_pairs} volume pairs of {size} (NIfTI), whole processes, {cores} cores",
                rows,
                cores,
                args.volume_pairs,
            )
            return
        make_pairs(root, args.pairs, args.size)
        rows = scaling_rows(root, cores, args.repeat, WORKLOADS, "*.png")
        print_scaling(
            f"{args.pairs} pairs of {args.size}x{args.size} hard masks (PNG), whole processes, {cores} cores",
            rows,
            cores,
            args.pairs,
        )
        print_start_up(root, rows, cores, args.repeat)
        if args.per_score_pairs:
            done = subprocess.run(
                python(PER_SCORE) + [tmp, str(args.per_score_pairs)],
                capture_output=True,
                text=True,
                env=os.environ | {"PYTHONPATH": str(ROOT)},
                check=True,
            )
            costs = json.loads(done.stdout)
            print(
                f"\nIn-process cost of each score on its own, its intermediates included ({args.per_score_pairs} pairs,"
                " 1 process, each first run once untimed so its imports are not counted; a run that asks for several"
                " shares the intermediates):"
            )
            for name, seconds in sorted(costs.items(), key=lambda kv: -kv[1])[:12]:
                print(f"  {name:24s} {1000 * seconds:7.2f} ms/pair")
        if args.peer_pairs:
            peer_root = root / "subset"
            for folder in ("pred", "gt"):
                (peer_root / folder).mkdir(parents=True)
                for f in sorted((root / folder).iterdir())[: args.peer_pairs]:
                    (peer_root / folder / f.name).symlink_to(f)
            n_peer = min(args.peer_pairs, args.pairs)
            one_worker = next(one for name, one, _ in rows if FOUR in name)
            peer_rows = [(f"segcli score {FOUR} (1 worker)", one_worker * n_peer / args.pairs)] + [
                (f"{peer} {FOUR} (1 process)", median_time(python(PEER) + [str(peer_root), peer.lower()], 1))
                for peer in ("MONAI", "MedPy")
            ]
            print_table(
                f"{FOUR}: segcli against the peers on {n_peer} pairs (segcli's time scaled from its run)",
                peer_rows,
                per=n_peer,
                unit="pair",
                reference=f"segcli score {FOUR} (1 worker)",
            )


if __name__ == "__main__":
    main()
