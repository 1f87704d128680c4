"""Spacing, length units and geometry: the rules a file read beside its ground truth must meet,
whatever its role (the prediction, a ``--rater``'s ground truth, a report's ``--images`` underlay).

``check_beside_gt`` is the one check: the file's geometry (shape, spacing, origin, direction, as
nnU-Net compares them) and its spacing agree with the GT's, in physical length when both state a
unit, else a ``GeometryError`` (a ``ShapeError``) naming the file, the GT and what differs;
``--spacing`` chooses the spacing and ``--ignore-geometry`` scores with the GT's, for every role
alike. It returns the spacing the pair is scored with and where it came from (``SPACING_SOURCES``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from segcli.errors import ShapeError, option
from segcli.settings import SPACING_RANGE, default

if TYPE_CHECKING:
    from segcli.inputs.images import Image

SPACING_SOURCES = ("option", "gt", "pred", "default")


class GeometryError(ShapeError):
    """A file's spacing or geometry disagrees with its GT's; ``what`` says how, without the file's
    name or a hint (a report's underlay says it in its own words)."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what

    def __reduce__(self):
        return type(self), (str(self), self.what)


# Tolerances of the geometry check (nnU-Net's): spacing relative, origin and direction absolute.
SPACING_RTOL = 1e-5
AFFINE_ATOL = 1e-4

# Metres per length unit, for every unit ``segcli.inputs.images`` names (``micron`` is read as ``um``).
UNIT_LENGTHS = {"nm": 1e-9, "um": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0, "inch": 0.0254}


def unit_scale(unit: str | None, to_unit: str | None) -> float | None:
    """How many ``to_unit`` one ``unit`` is: the factor that turns a length stated in ``unit``
    into ``to_unit``; 1.0 for one unit, None unless both are known length units.

    >>> unit_scale("um", "mm"), unit_scale("mm", "mm"), unit_scale("mm", None), unit_scale("px", "mm")
    (0.001, 1.0, None, None)
    """
    if unit not in UNIT_LENGTHS or to_unit not in UNIT_LENGTHS:
        return None
    if unit == to_unit:
        return 1.0
    return UNIT_LENGTHS[unit] / UNIT_LENGTHS[to_unit]


def resolve_spacing(
    override: tuple[float, ...] | None, stated: tuple[float, ...] | None, ndim: int, path: object
) -> tuple[float, ...] | None:
    """The option wins over the file's metadata; a single value applies to every axis."""
    spacing = override if override is not None else stated
    if spacing is None:
        return None
    if len(spacing) == 1:
        return tuple(spacing) * ndim
    if len(spacing) != ndim:
        raise ShapeError(f"{path}: spacing {','.join(map(str, spacing))} has {len(spacing)} values for a {ndim}D image")
    return tuple(spacing)


def pair_spacing(
    override: tuple[float, ...] | None,
    gt_spacing: tuple[float, ...] | None,
    pred_spacing: tuple[float, ...] | None,
    ndim: int,
    gt_path: object,
    pred_path: object,
    *,
    ignore_geometry: bool = default("ignore_geometry"),
    gt_unit: str | None = None,
    pred_unit: str | None = None,
) -> tuple[tuple[float, ...], str]:
    """The spacing a pair is scored with and where it came from (``SPACING_SOURCES``).

    The option wins. Otherwise the files' spacings must agree (to a relative 1e-5) when both state
    one, else ``GeometryError`` (``ignore_geometry``: the GT's is used); a file that states none
    takes the other's; neither: 1 per axis. When both files state a length unit (``gt_unit``,
    ``pred_unit``, as ``segcli.inputs.images`` names them) the spacings are compared in physical length
    (1000 um agrees with 1 mm) and the pair is scored in the GT's spacing and unit; a unit stated
    by one file only, or by none, leaves the numbers compared as they are. ``pred_*`` is whichever
    file is read beside the GT (a prediction, a rater); the message names ``pred_path``.
    """
    for name, unit in (("gt_unit", gt_unit), ("pred_unit", pred_unit)):
        if unit is not None and not isinstance(unit, str):
            raise TypeError(f"{name}: expected a unit name or None, got {unit!r}")
    if override is not None:
        return resolve_spacing(override, None, ndim, gt_path), "option"
    if gt_spacing is not None and pred_spacing is not None:
        gt_s = resolve_spacing(None, gt_spacing, ndim, gt_path)
        pred_s = resolve_spacing(None, pred_spacing, ndim, pred_path)
        scale = unit_scale(pred_unit, gt_unit)
        converted = scale is not None and scale != 1.0  # both units stated, and different
        physical = tuple(v * scale for v in pred_s) if converted else pred_s
        same = all(math.isclose(a, b, rel_tol=SPACING_RTOL) for a, b in zip(gt_s, physical, strict=True))
        if not same and not ignore_geometry:
            pred_text, gt_text = spacing_text(pred_s), spacing_text(gt_s)
            if converted:
                pred_text = f"{pred_text} {pred_unit} ({spacing_text(physical)} {gt_unit})"
                gt_text = f"{gt_text} {gt_unit}"
            what = f"spacing {pred_text} differs from {gt_path} spacing {gt_text}"
            choose = f"pass {option('spacing')} to choose (or {option('ignore_geometry')} for the GT's)"
            raise GeometryError(f"{pred_path}: {what}; {choose}", what)
        return gt_s, "gt"
    if gt_spacing is not None:
        return resolve_spacing(None, gt_spacing, ndim, gt_path), "gt"
    if pred_spacing is not None:
        return resolve_spacing(None, pred_spacing, ndim, pred_path), "pred"
    return (1.0,) * ndim, "default"


def spacing_text(spacing: tuple[float, ...]) -> str:
    """``0.5,0.5``: a spacing as messages show it."""
    return ",".join(f"{v:g}" for v in spacing)


def check_spacing_range(spacing: tuple[float, ...], gt_path: object) -> None:
    """``ShapeError`` unless every value of the pair's spacing is in ``SPACING_RANGE``."""
    if not all(SPACING_RANGE[0] <= v <= SPACING_RANGE[1] for v in spacing):
        raise ShapeError(
            f"{gt_path}: spacing {spacing_text(spacing)} outside [{SPACING_RANGE[0]:g}, {SPACING_RANGE[1]:g}]"
        )


def geometry_differences(
    pred_shape: tuple[int, ...],
    pred_spacing: tuple[float, ...] | None,
    pred_affine,
    gt_shape: tuple[int, ...],
    gt_spacing: tuple[float, ...] | None,
    gt_affine,
    *,
    pred_unit: str | None = None,
    gt_unit: str | None = None,
) -> list[str]:
    """What differs between a prediction's and a GT's geometry, as nnU-Net checks it: shape,
    spacing (relative 1e-5), origin and direction (absolute 1e-4; the affines are 4x4 arrays, array
    index to world, or None). Only what both files state is compared; each difference is
    ``"<what> <pred> vs <gt>"``.

    When both files state a length unit (``pred_unit``, ``gt_unit``: names as ``segcli.inputs.images``
    gives them) and the units differ, spacing and origin are compared in physical length (the
    prediction's converted to the GT's unit, so 1000 um is 1 mm; the origin tolerance is in the
    GT's unit) and the difference names each side in its own unit, the prediction's spacing also
    in the GT's (``spacing 1,1 um (0.001,0.001 mm) vs 1,1 mm``). Otherwise the numbers are
    compared as they are.
    """
    for name, unit in (("pred_unit", pred_unit), ("gt_unit", gt_unit)):
        if unit is not None and not isinstance(unit, str):
            raise TypeError(f"{name}: expected a unit name or None, got {unit!r}")
    differences = []
    if pred_shape != gt_shape:
        differences.append(f"shape {_join(pred_shape)} vs {_join(gt_shape)}")
        return differences
    scale = unit_scale(pred_unit, gt_unit)
    converted = scale is not None and scale != 1.0  # units differ: compare physical lengths
    pred_in, gt_in = (f" {pred_unit}", f" {gt_unit}") if converted else ("", "")
    if pred_spacing is not None and gt_spacing is not None and len(pred_spacing) == len(gt_spacing):
        physical = [v * scale for v in pred_spacing] if converted else pred_spacing
        if not all(math.isclose(a, b, rel_tol=SPACING_RTOL) for a, b in zip(physical, gt_spacing, strict=True)):
            shown = f" ({_join(physical)}{gt_in})" if converted else ""
            differences.append(f"spacing {_join(pred_spacing)}{pred_in}{shown} vs {_join(gt_spacing)}{gt_in}")
    if pred_affine is not None and gt_affine is not None:
        import numpy as np

        ndim = len(gt_shape)
        pred_origin = pred_affine[:3, 3] * scale if converted else pred_affine[:3, 3]
        if not np.allclose(pred_origin, gt_affine[:3, 3], rtol=0, atol=AFFINE_ATOL):
            differences.append(f"origin {_join(pred_affine[:3, 3])}{pred_in} vs {_join(gt_affine[:3, 3])}{gt_in}")
        pred_dir, gt_dir = _directions(pred_affine, ndim), _directions(gt_affine, ndim)
        if not np.allclose(pred_dir, gt_dir, rtol=0, atol=AFFINE_ATOL):
            differences.append(f"direction {_join(pred_dir.T.ravel())} vs {_join(gt_dir.T.ravel())}")
    return differences


def _directions(affine, ndim: int):
    import numpy as np

    columns = affine[:3, :ndim]
    return columns / np.linalg.norm(columns, axis=0)


def _join(values) -> str:
    return ",".join(f"{float(v) + 0.0:.6g}" for v in values)  # + 0.0: no "-0"


def check_beside_gt(
    image: Image,
    gt: Image,
    *,
    spacing: tuple[float, ...] | None,
    ignore_geometry: bool,
    path: object = None,
    gt_path: object = None,
) -> tuple[tuple[float, ...], str]:
    """Check a file read beside its GT and return the spacing the pair is scored with and its
    source (``pair_spacing``).

    Where both files state an affine (medical volumes), their geometry must agree
    (``geometry_differences``; ``ignore_geometry`` lets files of the same shape through); then their
    spacings (``pair_spacing``: ``spacing``, the option, chooses; ``ignore_geometry`` takes the GT's).
    ``GeometryError`` otherwise, naming ``path`` and ``gt_path`` (default: each file's own).
    """
    path = image.path if path is None else path
    gt_path = gt.path if gt_path is None else gt_path
    if image.affine is not None and gt.affine is not None:
        differences = geometry_differences(
            image.array.shape,
            image.spacing,
            image.affine,
            gt.array.shape,
            gt.spacing,
            gt.affine,
            pred_unit=image.unit,
            gt_unit=gt.unit,
        )
        if differences and not (ignore_geometry and image.array.shape == gt.array.shape):
            hint = (
                ""
                if differences[0].startswith("shape")
                else f"; pass {option('ignore_geometry')} to score with the GT's"
            )
            what = f"geometry differs from {gt_path}: {'; '.join(differences)}"
            raise GeometryError(f"{path}: {what}{hint}", what)
    return pair_spacing(
        spacing,
        gt.spacing,
        image.spacing,
        gt.array.ndim,
        gt_path,
        path,
        ignore_geometry=ignore_geometry,
        gt_unit=gt.unit,
        pred_unit=image.unit,
    )
