"""Time `segcli score` against merely reading the files, MONAI and MedPy, on the same pairs.

    python benchmarks/bench_score.py --pairs 1000 --size 512

Generates N pairs of hard masks (0/255 PNG) in a temporary folder, then times whole processes:
reading every file only (with segcli's reader, in one process and with all cores), segcli with
every score, segcli with dice,iou,hd95,assd, and MONAI and MedPy computing those four. Prints
seconds, milliseconds per pair and ratios.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._common import print_table, python, run_timed, segcli
from benchmarks.synth import blob_mask, noisy_prediction
from segcli.registry import BY_NAME

READ_ONLY = """
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from segcli.io import read_image
files = sorted(Path(sys.argv[1]).rglob('*.png'))
workers = int(sys.argv[2])
def read(p):
    return read_image(p).array.shape
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


# Every binary score except unet_wce, distmap_bce and boundary_loss, whose exact full-image
# distance transforms of the GT dominate the cost of "every score".
WITHOUT_DISTANCE_MAPS = ",".join(name for name in BY_NAME if name not in ("unet_wce", "distmap_bce", "boundary_loss"))


def make_pairs(root: Path, n: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for folder in ("pred", "gt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        gt = blob_mask(rng, (size, size), smooth=size / 24)
        pred = noisy_prediction(rng, gt) >= 0.5
        Image.fromarray((gt * 255).astype(np.uint8)).save(root / "gt" / f"case{i:05d}.png")
        Image.fromarray((pred * 255).astype(np.uint8)).save(root / "pred" / f"case{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--peer-pairs", type=int, default=None, help="pairs for MONAI/MedPy (default: all)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_pairs(root, args.pairs, args.size)
        peer_root = root
        if args.peer_pairs and args.peer_pairs < args.pairs:
            peer_root = root / "subset"
            for folder in ("pred", "gt"):
                (peer_root / folder).mkdir(parents=True)
                for f in sorted((root / folder).iterdir())[: args.peer_pairs]:
                    (peer_root / folder / f.name).symlink_to(f)
        n_peer = args.peer_pairs or args.pairs
        pred, gt = str(root / "pred"), str(root / "gt")
        four = "dice,iou,hd95,assd"
        r = args.repeat
        rows = [
            ("read files only, 1 process", run_timed(python(READ_ONLY) + [tmp, "1"], repeat=r)),
            (f"read files only, {cores} processes", run_timed(python(READ_ONLY) + [tmp, str(cores)], repeat=r)),
            (f"segcli score, every score ({cores} workers)", run_timed(segcli("score", pred, gt), repeat=r)),
            (
                f"segcli score, all but the 3 GT distance-map losses ({cores} workers)",
                run_timed(segcli("score", pred, gt, "--metrics", WITHOUT_DISTANCE_MAPS), repeat=r),
            ),
            ("segcli score, every score (1 worker)", run_timed(segcli("score", pred, gt, "--workers", "1"), repeat=r)),
            (
                f"segcli score {four} ({cores} workers)",
                run_timed(segcli("score", pred, gt, "--metrics", four), repeat=r),
            ),
            (
                f"segcli score {four} (1 worker)",
                run_timed(segcli("score", pred, gt, "--metrics", four, "--workers", "1"), repeat=r),
            ),
        ]
        peers = [
            (f"MONAI {four} (1 process)", run_timed(python(PEER) + [str(peer_root), "monai"], repeat=r)),
            (f"MedPy {four} (1 process)", run_timed(python(PEER) + [str(peer_root), "medpy"], repeat=r)),
        ]
    title = f"{args.pairs} pairs of {args.size}x{args.size} hard masks (PNG), whole processes, {cores} cores"
    print_table(title, rows, per=args.pairs, unit="pair", reference=f"read files only, {cores} processes")
    scale = args.pairs / n_peer
    same_four = [(name, seconds) for name, seconds in rows if four in name]
    peer_rows = same_four + [(name + f" [{n_peer} pairs, scaled]", s * scale) for name, s in peers]
    print_table(
        f"{four}: segcli against the peers (peer times scaled to {args.pairs} pairs)",
        peer_rows,
        per=args.pairs,
        unit="pair",
        reference=f"segcli score {four} (1 worker)",
    )


if __name__ == "__main__":
    main()
