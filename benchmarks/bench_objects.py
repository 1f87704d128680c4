"""Time segcli's object scores against StarDist's ``matching``, cellpose's metrics and torchmetrics'
panoptic quality on the same label maps, in one process.

    python -m benchmarks.bench_objects --pairs 5 [--volumes 1] [--cellpose-metrics PATH/metrics.py]

Cases: 2-D 1024x1024 with 300 cells, 3-D 512^3 with 1000 objects (``--volumes 0`` skips it). The
prediction is the GT shifted by a few pixels, with some objects split in two, some dropped and
some false ones added. segcli computes every object score (``object_scores``: 15 numbers, AP at
10 thresholds included); StarDist ``matching`` at t = 0.5 (its numba kernel warmed up first);
cellpose ``average_precision`` at 0.5 plus ``aggregated_jaccard_index`` (cellpose itself cannot be
installed beside this torch: pass its ``metrics.py`` from a downloaded wheel, loaded with a stub
for the plotting helpers it does not use here); torchmetrics ``panoptic_quality`` (2-D only: it
builds per-pixel tensors). Each peer that is not installed is skipped. Also prints the largest
disagreement of the shared numbers (TP, AP at 0.5, PQ, AJI; "-" where the peer has none). StarDist
and cellpose match at IoU >= 0.5 where segcli matches at IoU > 0.5 (so pixelated balls with an IoU
of exactly 1/2 differ by a match), and cellpose's AJI pairs objects one-to-one by its matching,
not Kumar's largest-IoU rule.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
import warnings

import numpy as np

from segcli.scores.objects import object_scores


def balls(rng: np.random.Generator, shape: tuple[int, ...], n: int, radius: float) -> np.ndarray:
    """Up to ``n`` non-overlapping balls labelled 1..n, each drawn in its bounding box."""
    labels = np.zeros(shape, np.int32)
    placed = 0
    for _ in range(n * 20):
        if placed == n:
            break
        r = radius * rng.uniform(0.7, 1.3)
        centre = [rng.uniform(r, s - r) for s in shape]
        box = tuple(slice(int(max(c - r - 1, 0)), int(min(c + r + 2, s))) for c, s in zip(centre, shape, strict=True))
        grid = np.ogrid[box]
        ball = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= r * r
        if (labels[box][ball] != 0).any():
            continue
        placed += 1
        labels[box][ball] = placed
    return labels


def prediction(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    pred = np.roll(gt, tuple(rng.integers(-2, 3, gt.ndim)), axis=tuple(range(gt.ndim)))
    n = int(pred.max())
    ids = rng.permutation(np.arange(1, n + 1))
    stripes = (np.arange(gt.shape[0]) % 16 < 8).reshape((-1,) + (1,) * (gt.ndim - 1))
    split = np.isin(pred, ids[: n // 10]) & stripes
    pred[split] += n
    pred[np.isin(pred, ids[n // 10 : n // 5])] = 0
    return pred


def _segcli(gt, pred):
    s = object_scores(gt, pred)
    return s["obj_tp"], s["obj_ap"], s["pq"], s["aji"]


def _stardist(gt, pred):
    from stardist.matching import matching

    m = matching(gt, pred, thresh=0.5)
    return m.tp, m.accuracy, m.panoptic_quality, float("nan")


def _load_cellpose(path: str):
    parent = types.ModuleType("cellpose")
    parent.__path__ = []
    parent.utils = types.ModuleType("cellpose.utils")
    sys.modules.update({"cellpose": parent, "cellpose.utils": parent.utils})
    spec = importlib.util.spec_from_file_location("cellpose.metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(gt, pred):
        ap, tp, _, _ = module.average_precision(gt, pred, threshold=[0.5])
        return float(tp[0]), float(ap[0]), float("nan"), float(module.aggregated_jaccard_index([gt], [pred])[0])

    return run


def _torchmetrics(gt, pred):
    import torch
    from torchmetrics.functional.detection import panoptic_quality

    def encode(labels):
        return torch.from_numpy(np.stack([labels > 0, labels], -1).astype(np.int64))[None]

    pq = panoptic_quality(encode(pred), encode(gt), things={1}, stuffs={0}, return_per_class=True)
    return float("nan"), float("nan"), float(pq[0, 0]), float("nan")


def _available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--volumes", type=int, default=1, help="3-D pairs (512^3 each)")
    parser.add_argument("--cellpose-metrics", help="path of cellpose/metrics.py from a cellpose wheel")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    peers = {"segcli": _segcli}
    if _available("stardist"):
        peers["StarDist matching"] = _stardist
    if args.cellpose_metrics:
        peers["cellpose AP + AJI"] = _load_cellpose(args.cellpose_metrics)
    if _available("torchmetrics"):
        peers["torchmetrics PQ"] = _torchmetrics
    cases = [("2-D 1024x1024, 300 cells", (1024, 1024), 300, 12.0, args.pairs)]
    if args.volumes:
        cases.append(("3-D 512^3, 1000 objects", (512, 512, 512), 1000, 14.0, args.volumes))
    warm = balls(rng, (64, 64), 5, 6.0)
    for fn in peers.values():
        fn(warm, prediction(rng, warm))  # imports, numba compilation
    for title, shape, n, radius, pairs in cases:
        data = []
        for _ in range(pairs):
            gt = balls(rng, shape, n, radius)
            data.append((gt, prediction(rng, gt)))
        print(f"\n{title}: {pairs} pair(s), {int(data[0][0].max())} GT objects, one process")
        times, values = {}, {}
        for name, fn in peers.items():
            if name == "torchmetrics PQ" and len(shape) == 3:
                continue
            start = time.perf_counter()
            values[name] = np.array([fn(gt, pred) for gt, pred in data], np.float64)
            times[name] = (time.perf_counter() - start) / pairs
        for name, seconds in times.items():
            ratio = seconds / times["segcli"]
            gap = np.abs(values[name] - values["segcli"])
            differs = " ".join(f"{np.nanmax(c, initial=0.0):.1e}" if not np.isnan(c).all() else "-" for c in gap.T)
            print(
                f"  {name:20s} {1000 * seconds:10.1f} ms/pair  {ratio:7.1f}x segcli's time  "
                f"largest difference (TP, AP, PQ, AJI): {differs}"
            )


if __name__ == "__main__":
    main()
