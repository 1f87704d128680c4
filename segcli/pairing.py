"""Finding image files and matching predictions to ground truth.

Files are keyed by their path relative to the root given, without extension (both parts of
``.nii.gz``) and without the
optional suffix (nnU-Net's ``_0000``). A prediction and a ground truth with the same key form a
pair. Unmatched files are an error unless the caller asks to skip them or score them as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from segcli.errors import PairingError, UsageError
from segcli.io import IMAGE_SUFFIXES, image_stem, image_suffix, is_image_file

MissingPolicy = Literal["error", "skip", "empty"]


@dataclass(frozen=True)
class Pair:
    """One prediction / ground-truth pair. ``pred`` is None for a missing prediction scored as empty."""

    name: str
    pred: Path | None
    gt: Path
    raters: tuple[Path, ...] = ()  # further ground truths of the same case (--rater), in order


@dataclass(frozen=True)
class Pairing:
    pairs: list[Pair]
    unmatched_pred: list[Path]
    unmatched_gt: list[Path]


def find_images(root: Path, *, suffix: str = "") -> dict[str, Path]:
    """Map each image under ``root`` (a file or a directory, searched recursively) to its key."""
    root = Path(root)
    if not root.exists():
        raise UsageError(f"{root}: no such file or directory")
    if root.is_file():
        if not is_image_file(root):
            raise UsageError(f"{root}: not a supported image file")
        return {_key(Path(root.name), suffix): root}
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if not is_image_file(path):
            if image_suffix(path) in IMAGE_SUFFIXES and not path.is_dir():
                what = "a broken symbolic link" if path.is_symlink() and not path.exists() else "not a regular file"
                raise UsageError(f"{path}: {what}; an image name that cannot be read is never skipped silently")
            continue
        key = _key(relative, suffix)
        if key in found:
            raise UsageError(f"{path}: same name as {found[key]} once the extension is removed")
        found[key] = path
    if not found:
        raise UsageError(f"{root}: no image files found (TIFF, PNG, BMP, JPEG, NPY, NPZ, NIfTI, NRRD, MHA/MHD)")
    return found


def _key(relative: Path, suffix: str) -> str:
    stem = image_stem(relative).as_posix()
    if suffix and stem.endswith(suffix):
        stem = stem[: -len(suffix)]
    return stem


def pair_files(
    pred_root: Path,
    gt_root: Path,
    *,
    pred_suffix: str = "",
    gt_suffix: str = "",
    missing: MissingPolicy = "error",
) -> Pairing:
    """Match predictions to ground truth by key.

    ``missing``: ``error`` raises ``PairingError`` listing every unmatched file; ``skip`` leaves
    unmatched files out (the caller reports them); ``empty`` scores a ground truth without a
    prediction against an empty prediction and leaves predictions without ground truth out.
    """
    if missing not in ("error", "skip", "empty"):
        raise UsageError(f"--missing: expected error, skip or empty, got {missing!r}")
    preds = find_images(pred_root, suffix=pred_suffix)
    gts = find_images(gt_root, suffix=gt_suffix)
    if Path(pred_root).is_file() and Path(gt_root).is_file():
        # Two single files are a pair whatever their names.
        return Pairing([Pair(next(iter(gts)), Path(pred_root), Path(gt_root))], [], [])
    unmatched_pred = [preds[k] for k in sorted(preds.keys() - gts.keys())]
    unmatched_gt = [gts[k] for k in sorted(gts.keys() - preds.keys())]
    if missing == "error" and (unmatched_pred or unmatched_gt):
        lines = [f"prediction without ground truth: {p}" for p in unmatched_pred]
        lines += [f"ground truth without prediction: {g}" for g in unmatched_gt]
        raise PairingError(f"{len(lines)} unmatched file(s) (use --missing skip|empty): " + "; ".join(lines))
    pairs = [Pair(k, preds[k], gts[k]) for k in sorted(preds.keys() & gts.keys())]
    if missing == "empty":
        pairs += [Pair(k, None, gts[k]) for k in sorted(gts.keys() - preds.keys())]
        pairs.sort(key=lambda pair: pair.name)
    if not pairs:
        raise PairingError(f"no prediction in {pred_root} matches a ground truth in {gt_root}")
    return Pairing(pairs, unmatched_pred, unmatched_gt)
