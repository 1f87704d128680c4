"""Regenerate the sample data (deterministic): python sample_data/generate.py"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import nibabel as nib
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

# A NIfTI pair (nifti/): a 3-D label map (1 organ, 2 lesion inside it), anisotropic voxels
# (0.8 x 0.75 x 3 mm) and an oblique, shifted affine, as a CT or MR label file has; the
# prediction's organ is a blurred, thresholded copy and its lesion sits one voxel off.
nifti = root / "nifti"
for folder in ("pred", "gt"):
    (nifti / folder).mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(13)
organ = blob_mask(rng, (12, 40, 48), smooth=3, fill=0.35)  # array axes z, y, x
lesion = organ & blob_mask(rng, organ.shape, smooth=2, fill=0.08)
gt_labels = organ.astype(np.uint8) + lesion.astype(np.uint8)
pred_organ = noisy_prediction(rng, organ, smooth=3, noise=1.5) >= 0.5
pred_labels = pred_organ.astype(np.uint8) + (np.roll(lesion, 1, axis=2) & pred_organ).astype(np.uint8)
angle = np.deg2rad(20)
rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
affine = np.eye(4)
affine[:3, :3] = rotation @ np.diag([0.8, 0.75, 3.0])  # file axes i, j, k = array axes 2, 1, 0
affine[:3, 3] = (-20.0, 35.5, -112.0)
for folder, labels in (("gt", gt_labels), ("pred", pred_labels)):
    image = nib.Nifti1Image(np.asfortranarray(labels.T), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header["descrip"] = b"segcli sample"
    # A fixed gzip header (no time stamp, no name) so that regenerating gives the same bytes.
    (nifti / folder / "patient01.nii.gz").write_bytes(gzip.compress(image.to_bytes(), mtime=0))
(nifti / "dataset.json").write_text(
    json.dumps({"labels": {"background": 0, "organ": 1, "lesion": 2, "organ_and_lesion": [1, 2]}}, indent=1) + "\n"
)
