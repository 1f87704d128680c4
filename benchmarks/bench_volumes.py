"""A CT-sized NIfTI pair scored by segcli, MONAI, MedPy and seg-metrics, each a whole process.

    python -m benchmarks.bench_volumes                      # 512x512x300, in a temporary folder
    python -m benchmarks.bench_volumes --shape 150,256,256 --no-peers

The pair is a .nii.gz label file of 512x512x300 voxels (0.7 x 0.7 x 1.5 mm, uint8): a liver-sized
structure (about 3% of the voxels) and a prediction whose surface strays from it by millimetres
to a centimetre, with one spurious blob. Every command
reads the two files itself (imports included) and is timed as a whole process; peak RSS is that of
the largest process of the command (segcli's worker, for segcli). "read" only reads the two files
with segcli's reader (nibabel): the floor any scorer pays. segcli computes every region and surface
score (--metrics region,surface); each peer computes the overlap and surface scores it offers:
MONAI Dice, HD, HD95, ASSD and NSD; MedPy Dice, Jaccard, precision, recall, HD, HD95 and ASSD;
seg-metrics all its metrics of label 1. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ZOOMS = (0.7, 0.7, 1.5)  # file axes x, y, z

READ = "from segcli.inputs.images import read_image; read_image({pred!r}); read_image({gt!r})"

MONAI = """
import torch
from monai.transforms import LoadImage
from monai.metrics import (DiceMetric, compute_average_surface_distance, compute_hausdorff_distance,
                           compute_surface_dice)
load = LoadImage(image_only=True)
pred, gt = load({pred!r}), load({gt!r})
spacing = [float(s) for s in gt.pixdim]
p, g = (torch.as_tensor(x > 0)[None, None].float() for x in (pred, gt))
kw = dict(include_background=True, spacing=spacing)
DiceMetric(include_background=True)(p, g)
compute_hausdorff_distance(p, g, **kw)
compute_hausdorff_distance(p, g, percentile=95, **kw)
compute_average_surface_distance(p, g, symmetric=True, **kw)
compute_surface_dice(p, g, class_thresholds=[1.0], **kw)
"""

MEDPY = """
import nibabel as nib, numpy as np
from medpy.metric import binary
pred_image, gt_image = nib.load({pred!r}), nib.load({gt!r})
pred, gt = (np.asanyarray(i.dataobj) > 0 for i in (pred_image, gt_image))
spacing = gt_image.header.get_zooms()
binary.dc(pred, gt); binary.jc(pred, gt); binary.precision(pred, gt); binary.recall(pred, gt)
binary.hd(pred, gt, spacing); binary.hd95(pred, gt, spacing); binary.assd(pred, gt, spacing)
"""

SEG_METRICS = """
import seg_metrics.seg_metrics as sg
sg.write_metrics(labels=[1], gdth_path={gt!r}, pred_path={pred!r}, csv_file={csv!r}, verbose=False)
"""


def make_pair(folder: Path, shape: tuple[int, int, int], seed: int = 0) -> tuple[Path, Path]:
    """A liver-sized structure (an ellipsoid, about 3% of the volume, its surface bent by smooth
    noise) and a prediction whose surface is bent by other noise and that adds a spurious blob;
    drawn at 1/4 resolution and upsampled, so that making it costs seconds. ``shape`` is in array
    order (z, y, x)."""
    import nibabel as nib
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    coarse = tuple(max(8, s // 4) for s in shape)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, c) for c in coarse], indexing="ij"))
    radii = np.array([0.45, 0.35, 0.3])[:, None, None, None]
    ellipsoid = np.sqrt(((grid - np.array([0.0, 0.1, -0.2])[:, None, None, None]) ** 2 / radii**2).sum(0))

    def bent(strength: float) -> np.ndarray:
        noise = ndimage.gaussian_filter(rng.standard_normal(coarse), 2)
        return ellipsoid + strength * noise / noise.std() < 1

    gt_coarse = bent(0.08)
    pred_coarse = bent(0.1) | (np.sqrt(((grid - np.array([0.2, -0.5, 0.5])[:, None, None, None]) ** 2).sum(0)) < 0.08)
    affine = np.diag([*ZOOMS, 1.0])
    paths = []
    for name, coarse_mask in (("pred", pred_coarse), ("gt", gt_coarse)):
        mask = ndimage.zoom(coarse_mask.astype(np.uint8), [s / c for s, c in zip(shape, coarse, strict=True)], order=0)
        path = folder / name / "ct001.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.asfortranarray(mask.T), affine), path)  # file axes x, y, z
        paths.append(path)
    return paths[0], paths[1]


def measure(args: list[str], repeat: int, timeout: float) -> tuple[float, float] | None:
    """Best wall seconds of ``repeat`` runs of a command, and the peak RSS (GiB) of its largest
    process, measured by a wrapper process that waits for it (so the command's workers count);
    None when a run takes longer than ``timeout`` seconds."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "elapsed = time.perf_counter() - start\n"
        "if done.returncode: sys.exit(done.stderr)\n"
        "print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        try:
            done = subprocess.run(
                [sys.executable, "-c", wrapper, *args], capture_output=True, text=True, env=env, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return None
        if done.returncode:
            sys.exit(f"benchmark command failed: {' '.join(args)}\n{done.stderr[-2000:]}")
        elapsed, rss_kib = done.stdout.split()
        best, peak = min(best, float(elapsed)), max(peak, int(rss_kib) / 2**20)
    return best, peak


def available(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="300,512,512", help="array shape z,y,x (the file is x,y,z)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of read and segcli (the best is kept)")
    parser.add_argument("--no-peers", action="store_true", help="time read and segcli only")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a command may run before it is given up")
    parser.add_argument("--skip", default="", help="comma list of peers left out: monai, medpy, seg-metrics")
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pred, gt = make_pair(Path(tmp), shape)
        sizes = sum(p.stat().st_size for p in (pred, gt)) / 2**20
        print(f"pair: {'x'.join(map(str, shape[::-1]))} voxels (file x,y,z), spacing {ZOOMS} mm, "
              f"uint8 .nii.gz, {sizes:.1f} MiB together; made in {time.perf_counter() - start:.0f} s")  # fmt: skip
        paths = {"pred": str(pred), "gt": str(gt), "csv": str(Path(tmp) / "seg_metrics.csv")}
        commands = {
            "read (segcli read_image, both files)": ([sys.executable, "-c", READ.format(**paths)], args.repeat),
            "segcli score --metrics region,surface": (
                [
                    sys.executable,
                    "-m",
                    "segcli",
                    "score",
                    str(pred),
                    str(gt),
                    "--metrics",
                    "region,surface",
                    "--workers",
                    "1",
                    "--format",
                    "csv",
                ],
                args.repeat,
            ),  # fmt: skip
        }
        if not args.no_peers:
            for key, name, module, code in (
                ("monai", "MONAI 1.x (Dice, HD, HD95, ASSD, NSD)", "monai", MONAI),
                ("medpy", "MedPy (Dice, Jaccard, precision, recall, HD, HD95, ASSD)", "medpy", MEDPY),
                ("seg-metrics", "seg-metrics (all its metrics, label 1)", "seg_metrics.seg_metrics", SEG_METRICS),
            ):
                if key in args.skip.split(","):
                    continue
                if available(module):
                    commands[name] = ([sys.executable, "-c", code.format(**paths)], 1)
                else:
                    print(f"{name}: not installed, skipped")
        print(f"\n{'command':<62} {'seconds':>8} {'x read':>7} {'x segcli':>9} {'peak RSS':>9}", flush=True)
        times: dict[str, float] = {}
        for name, (command, repeat) in commands.items():
            measured = measure(command, repeat, args.timeout)
            if measured is None:
                print(f"{name:<62} did not finish in {args.timeout:.0f} s", flush=True)
                continue
            seconds, rss = measured
            times.setdefault("read", seconds)
            times.setdefault("segcli", seconds if "segcli" in name else float("nan"))
            if "segcli" in name:
                times["segcli"] = seconds
            print(
                f"{name:<62} {seconds:8.2f} {seconds / times['read']:7.2f} {seconds / times['segcli']:9.2f} "
                f"{rss:7.2f} GiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
