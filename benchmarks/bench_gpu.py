"""`segcli score` with --device cpu, cuda and auto on the workloads of the GPU issue, whole processes.

    python -m benchmarks.bench_gpu            # 1000 and 10,000 pairs of 512x512, 20 volumes 300x512x512
    python -m benchmarks.bench_gpu --quick    # 200 and 2,000 pairs, 2 volumes, one run each
    python -m benchmarks.bench_gpu --torch-cpu   # no GPU: only the in-process rates, torch on the CPU

Generates the inputs in a temporary folder (0/255 PNG hard masks, float32 probability TIFFs,
uint8 .npy volumes; the 10,000 pairs are the 1000 linked ten times), then prints for each workload
the decode floor (reading the files with one process per core), the median of ``--repeat`` whole
processes on each device, and the ratios cuda/cpu and auto/best. Then the in-process rate of the
device scores, in megapixels per second: the region scores and per-pixel losses, and the surface
scores with the distance losses, each on batches of the device path. Without CUDA it says so in
one line and stops (``--torch-cpu`` still prints the in-process rates, torch on the CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from benchmarks._common import run_timed, segcli
from benchmarks.bench_score import make_pairs, read_only
from benchmarks.synth import blob_mask, noisy_prediction
from segcli.scores.table import BY_NAME

REGION = "dice,iou,precision,recall,specificity,mcc"
SOFT_LOSSES = "bce,dice_loss,focal_loss,tversky_loss"
VOLUME_SCORES = "dice,hd95,assd,nsd"
DISTANCE = {name for name, s in BY_NAME.items() if s.group == "surface"} | {"distmap_bce", "boundary_loss"}


def make_prob_pairs(root: Path, n: int, size: int, seed: int = 1) -> None:
    """``n`` pairs of a float32 probability TIFF and a 0/255 PNG ground truth."""
    rng = np.random.default_rng(seed)
    for folder in ("pred", "gt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        gt = blob_mask(rng, (size, size), smooth=size / 24)
        tifffile.imwrite(root / "pred" / f"case{i:05d}.tif", noisy_prediction(rng, gt))
        Image.fromarray((gt * 255).astype(np.uint8)).save(root / "gt" / f"case{i:05d}.tif")


def link_copies(source: Path, target: Path, copies: int) -> None:
    """``copies`` hard links of every pair of ``source`` under new names (no new bytes)."""
    for folder in ("pred", "gt"):
        (target / folder).mkdir(parents=True, exist_ok=True)
        for path in sorted((source / folder).iterdir()):
            for c in range(copies):
                os.link(path, target / folder / f"c{c}_{path.name}")


def make_volumes(root: Path, n: int, shape: tuple[int, int, int]) -> None:
    """``n`` uint8 .npy volume pairs: a smooth structure and a prediction that mostly agrees."""
    rng = np.random.default_rng(2)
    for folder in ("pred", "gt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    small = tuple(max(8, s // 8) for s in shape)
    for i in range(n):
        coarse = blob_mask(rng, small, smooth=2.0, fill=0.08)
        gt = np.kron(coarse, np.ones((8, 8, 8), bool))[: shape[0], : shape[1], : shape[2]]
        pred = np.roll(gt, (1, 2, -1), axis=(0, 1, 2))
        np.save(root / "gt" / f"vol{i:03d}.npy", gt.astype(np.uint8))
        np.save(root / "pred" / f"vol{i:03d}.npy", pred.astype(np.uint8))


def time_workload(root: Path, metrics: str | None, pattern: str, repeat: int, cores: int) -> dict[str, float]:
    """Median seconds of the decode floor and of segcli on cpu, cuda and auto."""
    median = lambda args: statistics.median(run_timed(args) for _ in range(repeat))  # noqa: E731
    out = {"floor": median(read_only(root, cores, pattern))}
    extra = ["--metrics", metrics] if metrics else []
    for device in ("cpu", "cuda", "auto"):
        out[device] = median(segcli("score", str(root / "pred"), str(root / "gt"), *extra, "--device", device))
    return out


def print_row(name: str, t: dict[str, float]) -> None:
    best = min(t["cpu"], t["cuda"])
    print(
        f"{name:52s} {t['floor']:7.2f} {t['cpu']:7.2f} {t['cuda']:7.2f} {t['auto']:7.2f}"
        f" {t['cuda'] / t['cpu']:9.2f} {t['auto'] / best:9.2f}"
    )


def in_process_rates(device: str, pairs: int, size: int, batch: int) -> None:
    """Megapixels/s of the device scores on in-memory batches, each group on its own."""
    import torch

    from segcli.engine.backend import TorchOps
    from segcli.inputs.interpret import BinaryPair
    from segcli.scores.batch import BinaryBatch
    from segcli.scores.table import compute_scores
    from segcli.settings import ScoreOptions

    rng = np.random.default_rng(0)
    data = []
    for _ in range(pairs):
        gt = blob_mask(rng, (size, size), smooth=size / 24)
        prob = noisy_prediction(rng, gt)
        data.append(BinaryPair(prob=prob, hard=prob >= 0.5, target=gt))
    ops = TorchOps(device)
    groups = {
        "region scores and per-pixel losses": [m for m, s in BY_NAME.items() if s.on_device and m not in DISTANCE],
        "surface scores and distance losses": [m for m in BY_NAME if m in DISTANCE],
    }
    megapixels = pairs * size * size / 1e6
    print(f"\nin-process, torch on {device}, {pairs} pairs of {size}x{size} (probability maps), batches of {batch}")
    for label, metrics in groups.items():
        compute_scores(BinaryBatch(data[:batch], ScoreOptions(), ops=ops), metrics)  # warm-up
        start = time.perf_counter()
        for i in range(0, pairs, batch):
            compute_scores(BinaryBatch(data[i : i + batch], ScoreOptions(), ops=ops), metrics)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        print(f"{label:40s} {len(metrics):3d} scores {megapixels / seconds:10.1f} megapixels/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 / 2,000 pairs, 2 volumes, 1 run each")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--shape", default="300,512,512", help="volume shape z,y,x")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the median is shown")
    parser.add_argument("--torch-cpu", action="store_true", help="without CUDA: the in-process rates on the CPU")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.volumes, args.repeat = 200, 2, 1
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        print("no CUDA device here: cpu, cuda and auto cannot be compared; nothing timed")
        if args.torch_cpu:
            in_process_rates("cpu", min(args.pairs, 32), args.size, 16)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    card = torch.cuda.get_device_name(0)
    shape = tuple(int(s) for s in args.shape.split(","))
    print(f"{card}, {cores} cores; whole processes, medians of {args.repeat}; seconds")
    print(f"{'workload':52s} {'floor':>7s} {'cpu':>7s} {'cuda':>7s} {'auto':>7s} {'cuda/cpu':>9s} {'auto/best':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_pairs(root / "hard", args.pairs, args.size)
        make_prob_pairs(root / "soft", args.pairs, args.size)
        link_copies(root / "hard", root / "many", 10)
        make_volumes(root / "volumes", args.volumes, shape)
        n, big, size = args.pairs, 10 * args.pairs, args.size
        workloads = [
            (f"{n} pairs {size}^2, every score", root / "hard", None, "*.png"),
            (f"{n} pairs {size}^2, dice,iou,hd95,assd", root / "hard", "dice,iou,hd95,assd", "*.png"),
            (f"{n} pairs {size}^2, region scores", root / "hard", REGION, "*.png"),
            (f"{n} pairs {size}^2, soft losses (TIFF)", root / "soft", SOFT_LOSSES, "*.tif"),
            (f"{big} pairs {size}^2, every score", root / "many", None, "*.png"),
            (f"{args.volumes} volumes {args.shape}, dice,iou", root / "volumes", "dice,iou", "*.npy"),
            (f"{args.volumes} volumes {args.shape}, dice,hd95,assd,nsd", root / "volumes", VOLUME_SCORES, "*.npy"),
        ]
        for name, folder, metrics, pattern in workloads:
            print_row(name, time_workload(folder, metrics, pattern, args.repeat, cores))
    in_process_rates("cuda:0", min(args.pairs, 256), args.size, 64)


if __name__ == "__main__":
    main()
