"""Thumbnails of a case for the HTML report: the pair read again from the paths in its record and
drawn with numpy: GT contour green, prediction contour yellow, false positives tinted red, false
negatives tinted blue, over the case's own image (``--images``) or the GT mask."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segcli.errors import InputError

if TYPE_CHECKING:
    from segcli.inputs.images import Image

THUMBNAIL_SIZE = 256  # longest side in pixels
CONTOUR_GT = (40, 220, 40)
CONTOUR_PRED = (255, 210, 0)
TINT_FP = (230, 40, 40)
TINT_FN = (40, 90, 255)


def _contour(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def _background(
    path: Path | None, shape: tuple[int, ...], slice_index: int | None, beside: Callable[[Image], str] | None = None
) -> tuple[np.ndarray | None, str]:
    """The case's image as RGB uint8 of ``shape`` (2-D), percentile-stretched, and ""; or None and
    why it cannot be used (nothing to say without a path). ``beside(image)``: why an image read
    with its header disagrees with the GT ("" when it agrees)."""
    if path is None:
        return None, ""
    try:
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
            from PIL import Image as Picture

            with Picture.open(path) as img:
                array = np.asarray(img.convert("RGB")).astype(np.float64)
        else:
            from segcli.inputs.images import read_image

            image = read_image(path)
            why = beside(image) if beside is not None else ""
            if why:
                return None, why
            array = image.array.astype(np.float64)
            if slice_index is not None and array.ndim == 3:
                array = array[slice_index]
            if array.ndim == 2:
                array = np.repeat(array[..., None], 3, axis=-1)
    except Exception as exc:  # a thumbnail's background is a nicety: fall back to the GT, and say so
        return None, f"cannot read ({type(exc).__name__}: {str(exc)[:120]})"
    if array.shape[:2] != tuple(shape):
        return None, f"its shape {tuple(array.shape[:2])} differs from the masks' {tuple(shape)}"
    low, high = np.percentile(array, (1, 99))
    scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8), ""


def thumbnail(
    pred_mask: np.ndarray,
    gt_mask: np.ndarray,
    image_path: Path | None = None,
    *,
    size: int = THUMBNAIL_SIZE,
    notes: list[str] | None = None,
    beside: Callable[[Image], str] | None = None,
) -> bytes:
    """PNG bytes: contours and error tints of two boolean masks (2-D, or 3-D: the slice along the
    first axis with the most errors, else the most foreground), over ``image_path`` where it can
    be used, else over the GT mask (``notes`` gets why the image was not used). ``beside``: as
    ``_background``'s (``case_thumbnail`` checks the image against the GT with it)."""
    slice_index = None
    if gt_mask.ndim == 3:
        errors = (pred_mask ^ gt_mask).sum(axis=(1, 2))
        weight = errors if errors.any() else (pred_mask | gt_mask).sum(axis=(1, 2))
        slice_index = int(np.argmax(weight))
        pred_mask, gt_mask = pred_mask[slice_index], gt_mask[slice_index]
    base, why = _background(image_path, gt_mask.shape, slice_index, beside)
    if why and notes is not None:
        notes.append(f"{image_path}: not used as the background, {why}; the GT mask is shown instead")
    if base is None:
        base = np.full((*gt_mask.shape, 3), 24, np.uint8)
        base[gt_mask] = 90
    rgb = base.astype(np.float64)
    for mask, tint in ((pred_mask & ~gt_mask, TINT_FP), (gt_mask & ~pred_mask, TINT_FN)):
        rgb[mask] = 0.45 * rgb[mask] + 0.55 * np.array(tint)
    factor = max(1, math.ceil(max(gt_mask.shape) / size))
    from scipy import ndimage

    for mask, colour in ((gt_mask, CONTOUR_GT), (pred_mask, CONTOUR_PRED)):
        line = _contour(mask)
        if factor > 1 and line.any():
            line = ndimage.binary_dilation(line, iterations=factor - 1)
        rgb[line] = colour
    from PIL import Image as Picture

    picture = Picture.fromarray(rgb.astype(np.uint8))
    if factor > 1:
        picture = picture.resize(
            (max(1, gt_mask.shape[1] // factor), max(1, gt_mask.shape[0] // factor)), Picture.Resampling.BOX
        )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def case_thumbnail(
    meta: dict, settings: dict, image_path: Path | None, *, base_dir: Path | None = None, notes: list[str] | None = None
) -> bytes:
    """The thumbnail of one case of a run (``thumbnail`` of ``case_masks``) over ``image_path``
    where it agrees with the case's GT as a prediction must (``segcli.inputs.spacing``: shape,
    spacing, units, origin, direction, under the run's ``--spacing`` and ``--ignore-geometry``),
    else over the GT mask, ``notes`` saying what differs: the scores never depend on it."""
    pred_mask, gt_mask, gt = _quietly(meta, settings, base_dir)
    return thumbnail(pred_mask, gt_mask, image_path, notes=notes, beside=partial(_disagreement, gt, settings))


def _disagreement(gt: Image, settings: dict, image: Image) -> str:
    """What differs between an underlay read with its header and the GT, "" when they agree (a GT
    read under --spacing states neither spacing nor geometry: nothing is compared)."""
    from segcli.inputs.spacing import GeometryError, check_beside_gt

    shape, gt_shape = tuple(image.array.shape), tuple(gt.array.shape)
    if shape != gt_shape:  # a volume of another depth has slices of the masks' shape: said here
        return f"its shape {shape} differs from the GT's {gt_shape}" if len(shape) == 3 == len(gt_shape) else ""
    try:
        check_beside_gt(image, gt, spacing=None, ignore_geometry=bool(settings.get("ignore_geometry")))
    except GeometryError as exc:
        return exc.what
    return ""


def case_masks(meta: dict, settings: dict, base_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a pair again from the paths in its record and interpret it as the run did: the hard
    prediction and the GT as boolean foreground masks (multi-class: every non-background label).
    What the run said about reading them (logits, label maps, clipping) is not said again."""
    return _quietly(meta, settings, base_dir)[:2]


def _quietly(meta: dict, settings: dict, base_dir: Path | None) -> tuple[np.ndarray, np.ndarray, Image]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _case_masks(meta, settings, base_dir)


def _case_masks(meta: dict, settings: dict, base_dir: Path | None) -> tuple[np.ndarray, np.ndarray, Image]:
    """``case_masks``' masks and the GT as read."""
    from segcli.inputs.images import read_image
    from segcli.inputs.interpret import binary_pair, multiclass_pair

    gt_path = _locate(meta.get("gt_path"), base_dir)
    if gt_path is None:
        raise InputError("the record names no readable ground-truth file")
    pred_path = _locate(meta.get("pred_path"), base_dir) if meta.get("pred_path") else None
    if meta.get("pred_path") and pred_path is None:
        raise InputError(f"{meta['pred_path']}: no longer readable")
    # as the run read them: under --spacing, no header's (older records name it spacing_override)
    stated = settings.get("spacing", settings.get("spacing_override")) is None
    gt_image = read_image(gt_path, spacing=stated)
    gt = gt_image.array
    pred = read_image(pred_path, spacing=stated).array if pred_path is not None else None
    num_classes = settings.get("num_classes")
    if num_classes:
        pair = multiclass_pair(
            pred,
            gt,
            num_classes=num_classes,
            ignore_index=settings.get("ignore_index", 255),
            pred_kind=settings.get("pred_kind", "auto"),
            pred_path=pred_path or "prediction",
            gt_path=gt_path,
        )
        return (pair.labels > 0) & pair.valid, (pair.target > 0) & pair.valid, gt_image
    pair = binary_pair(
        pred,
        gt,
        pred_kind=settings.get("pred_kind", "auto"),
        threshold=settings.get("threshold", 0.5),
        pred_path=pred_path or "prediction",
        gt_path=gt_path,
    )
    return pair.hard, pair.target, gt_image


def _locate(path: str | None, base_dir: Path | None) -> Path | None:
    if not path:
        return None
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    if base_dir is not None and not candidate.is_absolute() and (base_dir / candidate).is_file():
        return base_dir / candidate
    return None
