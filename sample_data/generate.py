"""Regenerate the sample data (deterministic): python sample_data/generate.py"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import blob_mask, cell_instances, label_map, noisy_prediction  # noqa: E402

root = Path(__file__).resolve().parent
rng = np.random.default_rng(2026)
for folder in ("pred", "gt", "instances", "labels"):
    (root / folder).mkdir(exist_ok=True)

# 2D: PNG 0/255 masks, float32 TIFF probability maps, NPY logits; 3D TIFF stacks.
for i in range(1, 4):
    gt = blob_mask(rng, (128, 128))
    prob = noisy_prediction(rng, gt, noise=4.0, smooth=9.0)
    Image.fromarray((gt * 255).astype(np.uint8)).save(root / "gt" / f"case{i:02d}.png")
    if i == 1:
        Image.fromarray(((prob >= 0.5) * 255).astype(np.uint8)).save(root / "pred" / f"case{i:02d}.png")
    elif i == 2:
        tifffile.imwrite(root / "pred" / f"case{i:02d}.tif", prob)
    else:
        np.save(root / "pred" / f"case{i:02d}.npy", np.log(prob / (1 - prob)).astype(np.float32))
gt3 = blob_mask(rng, (16, 64, 64), smooth=4)
tifffile.imwrite(
    root / "gt" / "volume01.tif",
    gt3.astype(np.uint8),
    imagej=True,
    resolution=(1 / 0.5, 1 / 0.5),
    metadata={"spacing": 2.0, "unit": "um"},
)
tifffile.imwrite(root / "pred" / "volume01.tif", noisy_prediction(rng, gt3, smooth=4, noise=2.0))

cells = cell_instances(rng, (192, 192), n_cells=40, radius=9)
tifffile.imwrite(root / "instances" / "cells01.tif", cells.astype(np.uint16))
Image.fromarray(((cells > 0) * 255).astype(np.uint8)).save(root / "instances" / "cells01_binary.png")

for i in range(1, 4):
    Image.fromarray(label_map(rng, (96, 96), num_classes=4)).save(root / "labels" / f"scene{i:02d}.png")
