"""Training weight maps: U-Net border weights, boundary band weights, distance weights.

One implementation serves both ``segcli weightmap`` (which writes the maps) and the losses of
``segcli score`` that use them (unet_wce, boundary_bce, distmap_bce, boundary_loss). The
instances and their distances that the U-Net map is built on are ``segcli.engine.instances``;
the PNG preview of a map is ``segcli.engine.map_preview``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from segcli.engine.distance import InsideOutside, Spacing
from segcli.engine.instances import Connectivity, connected_instances, instance_boxes, nearest_two_instance_distances
from segcli.engine.stats import BitMask
from segcli.settings import default

# exp(-(d1+d2)^2 / (2 sigma^2)) < BORDER_TERM_CUTOFF once d1 + d2 > sigma * sqrt(2 ln(1/cutoff)).
BORDER_TERM_CUTOFF = 1e-6


# A label map may ask for one sdf channel per class 1..max: refuse a stack larger than this.
MAX_SDF_BYTES = 4 * 1024**3


# The maps are float32: a weight beyond this would be written as inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_number(name: str, value: float, *, positive: bool) -> float:
    """``value`` as a float that is finite and > 0 (``positive``) or >= 0, and within float32's
    range (the maps' type); ValueError naming it."""
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, got {value}")
    if number > FLOAT32_MAX:
        raise ValueError(f"{name}: {value} is beyond the float32 maps' range (at most {FLOAT32_MAX:.4g})")
    return number


def check_class_weights(class_weights: Sequence[float]) -> np.ndarray:
    """``(w_background, w_foreground)`` as a float64 array, each finite and >= 0."""
    weights = np.asarray(class_weights, dtype=np.float64)
    if weights.shape != (2,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"class_weights: expected two finite numbers >= 0 (w_background, w_foreground), got {weights.tolist()}"
        )
    if np.any(weights > FLOAT32_MAX):
        raise ValueError(f"class_weights: {weights.tolist()} is beyond the float32 maps' range")
    return weights


def _check_spacing(spacing: Spacing | None, ndim: int) -> None:
    if spacing is None:
        return
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing: expected {ndim} finite numbers > 0, got {list(spacing)}")


def check_unet_options(*, w0: float, sigma: float, class_weights=None) -> tuple[float, float, np.ndarray | None]:
    """``(w0, sigma, class_weights)`` of a U-Net map, checked: sigma > 0, w0 >= 0, two class
    weights >= 0, each finite and the largest weight (w0 plus a class weight) within the float32
    maps' range; ValueError naming the argument.

    >>> check_unet_options(w0=1e39, sigma=5)
    Traceback (most recent call last):
    ValueError: w0: 1e+39 is beyond the float32 maps' range (at most 3.403e+38)
    """
    sigma = _check_number("sigma", sigma, positive=True)
    w0 = _check_number("w0", w0, positive=False)
    if class_weights is not None:
        class_weights = check_class_weights(class_weights)
    if w0 + (1.0 if class_weights is None else float(np.max(class_weights))) > FLOAT32_MAX:
        raise ValueError(f"w0: {w0:g} plus a class weight is beyond the float32 maps' range")
    return w0, sigma, class_weights


def unet_weight_map(
    instances: np.ndarray,
    *,
    w0: float = default("w0"),
    sigma: float = default("sigma"),
    class_weights: np.ndarray | None = None,
    spacing: Spacing | None = None,
) -> np.ndarray:
    """U-Net weight map (Ronneberger et al. 2015), float32.

    ``w = w_c + w0 * exp(-(d1 + d2)^2 / (2 sigma^2))`` on background pixels, ``w_c`` on instance
    pixels; d1, d2 the distances to the nearest and second-nearest instance, in spacing units.
    No border term with fewer than two instances. ``class_weights`` = (w_background,
    w_foreground); default 1 everywhere. Exact to ``1e-6 * w0`` (terms below that are dropped).

    >>> m = unet_weight_map(np.array([[1, 0, 2]]), w0=10, sigma=1)
    >>> round(float(m[0, 1]), 4)  # d1 = d2 = 1: 1 + 10 exp(-2)
    2.3534
    """
    w0, sigma, class_weights = check_unet_options(w0=w0, sigma=sigma, class_weights=class_weights)
    _check_spacing(spacing, instances.ndim)
    background = instances == 0
    if class_weights is None:
        weights = np.ones(instances.shape, np.float32)
    else:
        weights = np.where(background, class_weights[0], class_weights[1]).astype(np.float32)
    boxes = instance_boxes(instances)
    if len(boxes) < 2:
        return weights
    cutoff = sigma * math.sqrt(2.0 * math.log(1.0 / BORDER_TERM_CUTOFF))
    nearest, second = nearest_two_instance_distances(instances, max_distance=cutoff, spacing=spacing, boxes=boxes)
    total = nearest + second
    # The term is below the cutoff wherever d1 + d2 > cutoff: only the few pixels between close
    # instances need the exponential.
    near = np.flatnonzero((total < cutoff) & background)
    near_total = total.ravel()[near]
    weights.ravel()[near] += (w0 * np.exp(-(near_total * near_total) / (2.0 * sigma * sigma))).astype(np.float32)
    return weights


def balanced_class_weights(mask: np.ndarray) -> np.ndarray:
    """(w_background, w_foreground) = N / (2 n_c) for the classes present (scikit-learn 'balanced');
    an absent class gets 0.

    >>> balanced_class_weights(np.array([1, 0, 0, 0], bool)).tolist()
    [0.6666666666666666, 2.0]
    """
    counts = np.array([mask.size - np.count_nonzero(mask), np.count_nonzero(mask)], np.float64)
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, mask.size / (2.0 * counts), 0.0)


def boundary_band(target: np.ndarray, *, width: int = 3) -> np.ndarray:
    """Pixels within ``width`` cross-steps of the GT border: ``dilate(dilate(G) - erode(G), width)``."""
    packed = BitMask.pack(target)
    ring = packed.dilate_cross().and_not(packed.erode_cross())
    return ring.dilate_cross(width).unpack()


# The defaults of the boundary and distance weight maps, shared by the CPU and device forms.
BOUNDARY_WEIGHT = 5.0
BOUNDARY_WIDTH = 3
DISTANCE_TAU = 5.0


def boundary_weight_map(
    target: np.ndarray, *, weight: float = BOUNDARY_WEIGHT, width: int = BOUNDARY_WIDTH
) -> np.ndarray:
    """``weight`` inside the band of ``width`` px around the GT border, 1 elsewhere (float32).

    >>> boundary_weight_map(np.array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]], bool), width=1).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0]]
    """
    weight = _check_number("weight", weight, positive=False)
    if int(width) != width or width < 0:
        raise ValueError(f"width: expected an integer >= 0, got {width}")
    return np.where(boundary_band(target, width=width), np.float32(weight), np.float32(1.0))


def distance_weight_map(
    target: np.ndarray | InsideOutside, *, tau: float = DISTANCE_TAU, spacing: Spacing | None = None
) -> np.ndarray:
    """``exp(-|sdf| / tau)`` with ``sdf = EDT(G) - EDT(not G)``; 1 everywhere for an empty or full G.

    >>> distance_weight_map(np.array([[0, 1, 0]], bool), tau=1.0).astype(float).round(4).tolist()
    [[0.3679, 0.3679, 0.3679]]
    """
    tau = _check_number("tau", tau, positive=True)
    if not isinstance(target, InsideOutside):
        _check_spacing(spacing, target.ndim)
    edts = target if isinstance(target, InsideOutside) else InsideOutside(target, spacing)
    if edts.degenerate:
        return np.ones(edts.target.shape, np.float32)
    weights = edts.distance * np.float32(-1.0 / tau)
    return np.exp(weights, out=weights)  # in place: one image-sized array, not two


MapKind = Literal["unet", "sdf", "boundary", "distance"]
MAP_KINDS: tuple[str, ...] = ("unet", "sdf", "boundary", "distance")


class MergedCellsWarning(UserWarning):
    """A binary mask was split into connected components: touching cells become one instance."""


def is_binary_mask(array: np.ndarray) -> bool:
    """True when the image holds at most one non-zero value (a binary mask, not instance labels)."""
    return np.unique(array[array != 0]).size <= 1


def map_for_image(
    array: np.ndarray,
    kind: MapKind,
    *,
    w0: float = default("w0"),
    sigma: float = default("sigma"),
    class_weights: np.ndarray | Literal["uniform", "balanced"] = default("class_weights", "weightmap"),
    connectivity: Connectivity = default("connectivity", "weightmap"),
    spacing: Spacing | None = None,
    device: str | None = None,
) -> np.ndarray:
    """The map ``segcli weightmap`` writes for one mask / label / instance image, float32.

    unet: instance images as they are, binary masks split into connected components (with a
    ``MergedCellsWarning``); sdf: the Kervadec signed distance of a binary mask, or one channel
    per class 1..max for a label map; boundary / distance: the weight maps of boundary_bce and
    distmap_bce on ``array > 0``.

    ``device``: a torch device (``cuda:0``; ``cpu`` runs the same torch code on the CPU) for the
    sdf, boundary and distance maps: the same exact transforms (``segcli.engine.torch_distance``),
    equal to the CPU maps to float32 precision. unet maps (a transform per instance) always run
    on the CPU.

    Raises ValueError naming the argument for a bad option, and for an ``array`` that is not a
    mask or label image (non-integer or negative values, a label map too large for its sdf stack).
    """
    import warnings

    from segcli.engine.distance import kervadec_sdf

    w0, sigma, class_weights = _check_map_options(kind, w0, sigma, class_weights, connectivity, spacing, array.ndim)
    array = _check_labels(array)
    if kind == "unet":
        binary = is_binary_mask(array)
        if binary:
            warnings.warn(
                "binary mask split into connected components: touching cells merge into one instance",
                MergedCellsWarning,
                stacklevel=2,
            )
        instances = _instances(array, binary, connectivity)
        if isinstance(class_weights, str):
            weights = None if class_weights == "uniform" else balanced_class_weights(instances != 0)
        else:
            weights = class_weights
        return unet_weight_map(instances, w0=w0, sigma=sigma, class_weights=weights, spacing=spacing)
    if kind == "sdf":
        if is_binary_mask(array):
            if device is not None:
                return _device_maps(np.asarray(array != 0)[None], "sdf", spacing, device, warn=True)[0]
            return kervadec_sdf(array != 0, spacing)
        channels = int(array.max())
        if channels * array.size * 4 > MAX_SDF_BYTES:
            raise ValueError(
                f"array: label map with highest label {channels} would need {channels} sdf channels "
                f"({channels * array.size * 4 / 1024**3:.1f} GiB); at most {MAX_SDF_BYTES // 1024**3} GiB"
            )
        classes = range(1, channels + 1)
        if device is not None:
            return _device_maps(np.stack([array == c for c in classes]), "sdf", spacing, device)
        return np.stack([kervadec_sdf(array == c, spacing, warn=False) for c in classes])
    if device is not None:
        return _device_maps(np.asarray(array != 0)[None], kind, spacing, device)[0]
    if kind == "boundary":
        return boundary_weight_map(array != 0)
    return distance_weight_map(array != 0, spacing=spacing)


def _check_map_options(kind, w0, sigma, class_weights, connectivity, spacing, ndim: int):
    """``(w0, sigma, class_weights)`` of ``map_for_image``, checked with its other options;
    ValueError naming the argument."""
    if kind not in MAP_KINDS:
        raise ValueError(f"kind: expected one of {MAP_KINDS}, got {kind!r}")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity: expected 1 or 2, got {connectivity!r}")
    w0 = _check_number("w0", w0, positive=False)
    sigma = _check_number("sigma", sigma, positive=True)
    _check_spacing(spacing, ndim)
    if isinstance(class_weights, str):
        if class_weights not in ("uniform", "balanced"):
            raise ValueError(f"class_weights: expected uniform, balanced or a vector, got {class_weights!r}")
    else:
        class_weights = check_class_weights(class_weights)
    return w0, sigma, class_weights


def _instances(array: np.ndarray, binary: bool, connectivity: Connectivity) -> np.ndarray:
    """The instances of a unet map: a binary mask's connected components, or the labels as they are."""
    if binary:
        return connected_instances(array != 0, connectivity=connectivity)
    instances = array.astype(np.int64, copy=False)
    if int(instances.max()) > instances.size:
        # Sparse labels (e.g. 4e9 in a uint32 image): number them 1..n, so per-label
        # tables stay the size of the image.
        instances = np.unique(instances, return_inverse=True)[1].reshape(instances.shape)
    return instances


def _device_maps(masks: np.ndarray, kind: str, spacing: Spacing | None, device: str, *, warn: bool = False):
    """sdf, boundary or distance maps (float32 numpy) of a bool batch, computed on a torch device
    with the same formulas as ``kervadec_sdf``, ``boundary_weight_map`` and ``distance_weight_map``
    (with their defaults)."""
    import torch

    from segcli.engine.torch_distance import boundary_band, inside_outside, to_device

    target = to_device(np.ascontiguousarray(masks), torch.device(device))
    if kind == "boundary":
        band = boundary_band(target, BOUNDARY_WIDTH)
        return torch.where(band, BOUNDARY_WEIGHT, 1.0).to(torch.float32).cpu().numpy()
    distance, degenerate = inside_outside(target, spacing)
    flat = torch.as_tensor(degenerate, device=target.device).reshape((-1,) + (1,) * (target.ndim - 1))
    if kind == "distance":  # exp(-d / tau); d is 0 on an empty or full mask: 1 everywhere
        return torch.exp(distance * np.float32(-1.0 / DISTANCE_TAU)).cpu().numpy()
    if warn and degenerate.any():
        import warnings

        from segcli.engine.distance import DegenerateMaskWarning

        warnings.warn(
            "signed distance of an all-empty or all-full mask is taken as zeros", DegenerateMaskWarning, stacklevel=3
        )
    phi = torch.where(target, 1.0 - distance, distance)  # Kervadec: 1 - d inside, d outside
    return torch.where(flat, 0.0, phi).to(torch.float32).cpu().numpy()


def _check_labels(array: np.ndarray) -> np.ndarray:
    """A mask or label image: bool or integer values >= 0 (floats that hold integers pass)."""
    if array.dtype == bool:
        return array
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise ValueError("array: expected a mask or integer labels, got non-integer or non-finite values")
    if array.size and array.min() < 0:
        raise ValueError(f"array: expected labels >= 0, got {array.min()}")
    return array
