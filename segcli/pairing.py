"""Finding image files and matching predictions to ground truth.

Roots are local paths or fsspec URLs (``segcli.remote``). Files are keyed by their path relative
to the root given, without extension (both parts of ``.nii.gz``) and without the optional suffix
(nnU-Net's ``_0000``). A prediction and a ground truth with the same key form a
pair. Unmatched files are an error unless the caller asks to skip them or score them as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from segcli.errors import PairingError, UsageError
from segcli.io import IMAGE_SUFFIXES, image_stem, image_suffix, is_image_file
from segcli.remote import Url, as_input, list_files

MissingPolicy = Literal["error", "skip", "empty"]


@dataclass(frozen=True)
class Pair:
    """One prediction / ground-truth pair. ``pred`` is None for a missing prediction scored as empty."""

    name: str
    pred: Path | Url | None  # a local path, or an fsspec URL (segcli.remote)
    gt: Path | Url
    raters: tuple[Path | Url, ...] = ()  # further ground truths of the same case (--rater), in order


@dataclass(frozen=True)
class Pairing:
    pairs: list[Pair]
    unmatched_pred: list[Path | Url]
    unmatched_gt: list[Path | Url]


def find_images(root: Path | Url | str, *, suffix: str = "") -> dict[str, Path | Url]:
    """Map each image under ``root`` (a file or a directory, searched recursively; a path or an
    fsspec URL) to its key."""
    return _find(as_input(root), suffix)[1]


def _find(root: Path | Url, suffix: str) -> tuple[bool, dict[str, Path | Url]]:
    """(whether ``root`` is one file, ``find_images`` of it)."""
    if isinstance(root, Url):
        return _find_at_url(root, suffix)
    return root.is_file(), _find_local(root, suffix)


def _find_local(root: Path, suffix: str) -> dict[str, Path]:
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


def _find_at_url(root: Url, suffix: str) -> tuple[bool, dict[str, Url]]:
    """``_find`` of a URL: the rules of a local directory on the listing of its file system."""
    single, files = list_files(root)
    if single:
        if image_suffix(PurePosixPath(root.name)) not in IMAGE_SUFFIXES:
            raise UsageError(f"{root}: not a supported image file")
        return True, {_key(PurePosixPath(root.name), suffix): root}
    found: dict[str, Url] = {}
    for name, url in files.items():
        relative = PurePosixPath(name)
        if any(part.startswith(".") for part in relative.parts) or image_suffix(relative) not in IMAGE_SUFFIXES:
            continue
        key = _key(relative, suffix)
        if key in found:
            raise UsageError(f"{url}: same name as {found[key]} once the extension is removed")
        found[key] = url
    if not found:
        raise UsageError(f"{root}: no image files found (TIFF, PNG, BMP, JPEG, NPY, NPZ, NIfTI, NRRD, MHA/MHD)")
    return False, found


def _key(relative: PurePosixPath, suffix: str) -> str:
    stem = image_stem(relative).as_posix()
    if suffix and stem.endswith(suffix):
        stem = stem[: -len(suffix)]
    return stem


def pair_files(
    pred_root: Path | Url | str,
    gt_root: Path | Url | str,
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
    pred_single, preds = _find(as_input(pred_root), pred_suffix)
    gt_single, gts = _find(as_input(gt_root), gt_suffix)
    if pred_single and gt_single:
        # Two single files are a pair whatever their names.
        return Pairing([Pair(next(iter(gts)), next(iter(preds.values())), next(iter(gts.values())))], [], [])
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
