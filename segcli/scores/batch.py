"""A batch of same-shaped pairs and the intermediate results its scores share.

Every intermediate (confusion counts, per-pixel loss terms, border distances, weight maps) is a
cached property: computed the first time a score asks for it, then reused by every other score.
A run that asks only for dice never computes a distance transform.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from segcli.engine.backend import NUMPY, NumpyOps, TorchOps, TwoLevelMap
from segcli.engine.distance import InsideOutside, kervadec_sdf
from segcli.engine.instances import connected_instances
from segcli.engine.maps import boundary_band, distance_weight_map, unet_weight_map
from segcli.engine.stats import ConfusionCounts, confusion_counts
from segcli.inputs.interpret import BinaryPair, MulticlassPair
from segcli.scores.loss_inputs import LossInputs
from segcli.scores.surface import SurfaceDistances, boundary_iou, surface_distances
from segcli.settings import ScoreOptions, is_number

# The scores --empty-distance applies to: distances, which are inf when exactly one side is empty.
EMPTY_DISTANCE_SCORES = ("hd", "hd95", "hd95_pooled", "assd", "masd")


def image_diagonal(shape: tuple[int, ...], spacing: tuple[float, ...] | None) -> float:
    """The largest distance between two pixel centres of an image, in spacing units.

    >>> image_diagonal((4, 5), (1.0, 1.0))
    5.0
    """
    spacing = spacing or (1.0,) * len(shape)
    return float(math.sqrt(sum(((n - 1) * s) ** 2 for n, s in zip(shape, spacing, strict=True))))


class BinaryBatch:
    """B binary pairs of one shape: ``prob``, ``hard``, ``target`` stacked batch-first.

    Counts and losses run on ``ops`` (numpy, or torch on a GPU). With torch, the surface
    distances, boundary IoU, the boundary band and the GT's inside/outside distance maps run on
    its device too (``segcli.engine.torch_distance``); the U-Net weight map stays on the CPU.
    """

    def __init__(
        self,
        pairs: list[BinaryPair],
        options: ScoreOptions,
        valid: np.ndarray | None = None,
        *,
        ops: NumpyOps | TorchOps = NUMPY,
    ) -> None:
        self.ops = ops
        self.prob = _stack([p.prob for p in pairs])
        self.hard = _stack([p.hard for p in pairs])
        self.target = _stack([p.target for p in pairs])
        self.valid = valid
        self.options = options
        self.score_values: dict[str, np.ndarray] = {}  # each score once per batch (presets reuse them)

    def __len__(self) -> int:
        return self.hard.shape[0]

    @cached_property
    def counts(self) -> ConfusionCounts:
        hard, target = self.device_masks if self.on_torch else (self.hard, self.target)
        return confusion_counts(hard, target, self.valid, ops=self.ops)

    @cached_property
    def loss_inputs(self) -> LossInputs:
        """Per-pixel loss terms; for hard predictions, the exact four-category form (every
        per-pixel term depends only on prediction and target), which costs no pixel pass."""
        if self.prob.dtype == bool and self.valid is None:
            device_masks = (lambda: self.device_masks) if self.on_torch else None
            return LossInputs.of_hard_masks(self.hard, self.target, self.counts, device_masks=device_masks)
        return LossInputs(self.prob, self.target, self.ops)

    @property
    def on_torch(self) -> bool:
        """True when the batch computes on a torch device (its distances included)."""
        return isinstance(self.ops, TorchOps)

    @cached_property
    def device_masks(self):
        """(hard prediction, target) as bool tensors on the torch device, copied there once."""
        from segcli.engine.torch_distance import to_device

        return to_device(self.hard, self.ops.device), to_device(self.target, self.ops.device)

    @cached_property
    def surface(self) -> list[SurfaceDistances]:
        """Both directed border distances of every pair (on the device with torch)."""
        spacing = self.options.spacing
        if self.on_torch:
            from segcli.engine.torch_distance import surface_distances as device_surface_distances

            return device_surface_distances(*self.device_masks, spacing)
        return [surface_distances(p, g, spacing) for p, g in zip(self.hard, self.target, strict=True)]

    def boundary_iou(self, *, width: int) -> np.ndarray:
        """(B,) boundary IoU of the hard predictions, on the batch's device."""
        if self.on_torch:
            from segcli.engine.torch_distance import boundary_iou as device_boundary_iou

            return device_boundary_iou(*self.device_masks, width=width)
        return boundary_iou(self.hard, self.target, width=width)

    @cached_property
    def unet_weights(self) -> np.ndarray:
        o = self.options
        return _stack(
            [unet_weight_map(connected_instances(g), w0=o.w0, sigma=o.sigma, spacing=o.spacing) for g in self.target]
        )

    @cached_property
    def boundary_weights(self) -> TwoLevelMap:
        """``boundary_weight`` within ``boundary_width`` px of the GT border, 1 elsewhere
        (boundary_bce); on the device with torch."""
        o = self.options
        if self.on_torch:
            from segcli.engine.torch_distance import boundary_band as device_boundary_band

            band = device_boundary_band(self.device_masks[1], o.boundary_width)
            if isinstance(self.loss_inputs.ops, TorchOps):
                torch = self.ops.torch
                return torch.where(band, torch.tensor(o.boundary_weight, dtype=torch.float32, device=band.device), 1.0)
            return TwoLevelMap(band, o.boundary_weight, 1.0)  # the band stays on the device
        bands = _stack([boundary_band(g, width=o.boundary_width) for g in self.target])
        return TwoLevelMap(bands, o.boundary_weight, 1.0)

    @cached_property
    def gt_edts(self) -> list[InsideOutside]:
        """EDT(G) and EDT(not G) per image, shared by distmap_bce and boundary_loss."""
        return [InsideOutside(g, self.options.spacing) for g in self.target]

    @cached_property
    def device_gt_distance(self):
        """The ``gt_edts`` distance of every image as one float32 tensor on the torch device, and
        (B,) ``degenerate`` (all-empty or all-full GT: distance 0)."""
        from segcli.engine.torch_distance import inside_outside

        return inside_outside(self.device_masks[1], self.options.spacing)

    def _device_map(self, tensor):
        """A map computed on the device stays there: torch losses read it, and the four-category
        form of hard predictions takes its per-category sums there (only those come back)."""
        return tensor

    @cached_property
    def distance_weights(self) -> np.ndarray:
        """``exp(-distance / tau)`` of the GT (distmap_bce), 1 for an empty or full GT."""
        tau = self.options.distmap_tau
        if self.on_torch:
            if not (is_number(tau) and math.isfinite(tau) and tau > 0):
                raise ValueError(f"tau: expected a finite number > 0, got {tau}")
            distance, _ = self.device_gt_distance  # 0 on a degenerate GT: weight 1, as on the CPU
            return self._device_map((distance * np.float32(-1.0 / tau)).exp())
        return _stack([distance_weight_map(e, tau=tau) for e in self.gt_edts])

    @cached_property
    def kervadec_phi(self) -> np.ndarray:
        """The Kervadec signed distance of the GT (boundary_loss), 0 for an empty or full GT."""
        if self.on_torch:
            distance, degenerate = self.device_gt_distance
            phi = self.ops.torch.where(self.device_masks[1], 1.0 - distance, distance)
            phi[_device_index(degenerate, phi)] = 0.0
            return self._device_map(phi)
        return _stack([kervadec_sdf(e, warn=False) for e in self.gt_edts])


def _device_index(flags: np.ndarray, like):
    """(B,) numpy flags as a bool index of the tensor ``like``'s first axis, on its device."""
    import torch

    return torch.from_numpy(np.asarray(flags, bool)).to(like.device)


class MulticlassBatch:
    """B multi-class pairs of one shape: K-channel ``prob``, ``target`` labels and the ``valid``
    mask, batch-first, with ``weights`` (how many pixels each element stands for; None: one);
    ``classes`` are the scored classes.

    Label-map predictions (every pair without probabilities) take the exact compact form: one
    element per (predicted, true) label pair, its one-hot prediction, weighted by how many valid
    pixels have that pair. Every multi-class loss of a one-hot prediction is a function of those
    counts, so the losses cost K^2 elements instead of K x pixels.
    """

    def __init__(
        self,
        pairs: list[MulticlassPair],
        options: ScoreOptions,
        *,
        num_classes: int,
        classes: tuple[int, ...],
        class_weights: tuple[float, ...] | None = None,
    ) -> None:
        self.options = options
        self.classes = classes
        self.class_weights = class_weights
        self.score_values: dict[str, np.ndarray] = {}  # each score once per batch (presets reuse them)
        if all(p.prob is None for p in pairs):
            predicted, true = np.divmod(np.arange(num_classes * num_classes), num_classes)
            self.prob = np.broadcast_to(
                one_hot(predicted, num_classes)[None], (len(pairs), num_classes, predicted.size)
            )
            self.target = np.broadcast_to(true[None], (len(pairs), true.size))
            self.valid = np.ones(self.target.shape, bool)
            self.weights = np.stack([label_pair_counts(p.labels, p.target, p.valid, num_classes) for p in pairs])
        else:
            self.prob = _stack([p.prob if p.prob is not None else one_hot(p.labels, num_classes) for p in pairs])
            self.target = _stack([p.target for p in pairs])
            self.valid = _stack([p.valid for p in pairs])
            self.weights = None

    def __len__(self) -> int:
        return self.target.shape[0]


def label_pair_counts(labels: np.ndarray, target: np.ndarray, valid: np.ndarray, num_classes: int) -> np.ndarray:
    """(K * K,) float64 pixel counts of each (predicted, true) label pair over the valid pixels,
    predicted-major.

    >>> label_pair_counts(np.array([0, 1, 1]), np.array([0, 0, 1]), np.ones(3, bool), 2).tolist()
    [1.0, 0.0, 1.0, 1.0]
    """
    pair = labels[valid].astype(np.int64) * num_classes + target[valid]
    return np.bincount(pair, minlength=num_classes * num_classes).astype(np.float64)


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """Batch-first stack; a single array becomes a view, not a copy (large volumes)."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, ...) float32 one-hot encoding of a label map."""
    return (np.arange(num_classes).reshape((-1,) + (1,) * labels.ndim) == labels[None]).astype(np.float32)
