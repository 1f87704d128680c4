"""Time the surface scores of segcli against MONAI and MedPy on the same masks, in one process.

    python -m benchmarks.bench_surface --pairs 40

Arrays are generated in memory (no file I/O), 2D 512x512 and 3D 96x128x128 with anisotropic
spacing; each library computes hd, hd95 (its own convention) and assd for every pair. Prints
milliseconds per pair and how many times faster segcli is, and the largest disagreement.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from benchmarks.synth import blob_mask, noisy_prediction


def _segcli(pred, gt, spacing):
    from segcli.scores import surface

    d = [surface.surface_distances(pred, gt, spacing)]
    return surface.hd(d)[0], surface.hd95(d)[0], surface.hd95_pooled(d)[0], surface.assd(d)[0]


def _monai(pred, gt, spacing):
    import torch
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    p = torch.from_numpy(pred)[None, None].float()
    g = torch.from_numpy(gt)[None, None].float()
    kw = {"include_background": True, "spacing": spacing}
    return (
        float(compute_hausdorff_distance(p, g, **kw)),
        float(compute_hausdorff_distance(p, g, percentile=95, **kw)),
        float("nan"),
        float(compute_average_surface_distance(p, g, symmetric=True, **kw)),
    )


def _medpy(pred, gt, spacing):
    from medpy.metric import binary

    return (binary.hd(pred, gt, spacing), float("nan"), binary.hd95(pred, gt, spacing), binary.assd(pred, gt, spacing))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=40)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    cases = {
        "2D 512x512, spacing 1": ((512, 512), (1.0, 1.0), 20.0),
        "3D 96x128x128, spacing 2.5,0.8,0.8": ((96, 128, 128), (2.5, 0.8, 0.8), 6.0),
    }
    for title, (shape, spacing, smooth) in cases.items():
        n = args.pairs if len(shape) == 2 else max(2, args.pairs // 10)
        pairs = []
        for _ in range(n):
            gt = blob_mask(rng, shape, smooth=smooth)
            pairs.append((noisy_prediction(rng, gt, smooth=smooth / 2) >= 0.5, gt))
        times, values = {}, {}
        for name, fn in (("segcli", _segcli), ("MONAI", _monai), ("MedPy", _medpy)):
            fn(*pairs[0], spacing)
            start = time.perf_counter()
            values[name] = np.array([fn(p, g, spacing) for p, g in pairs])
            times[name] = (time.perf_counter() - start) / n
        worst_monai = np.nanmax(
            np.abs(values["segcli"] - values["MONAI"])[:, [0, 1, 3]] / values["MONAI"][:, [0, 1, 3]]
        )
        worst_medpy = np.nanmax(
            np.abs(values["segcli"] - values["MedPy"])[:, [0, 2, 3]] / values["MedPy"][:, [0, 2, 3]]
        )
        print(f"\n{title}: hd, hd95, assd per pair ({n} pairs, one process)")
        for name, seconds in times.items():
            print(f"  {name:8s} {1000 * seconds:9.2f} ms   segcli is {seconds / times['segcli']:6.1f}x faster")
        print(f"  largest relative difference: MONAI {worst_monai:.1e}, MedPy {worst_medpy:.1e}")


if __name__ == "__main__":
    main()
