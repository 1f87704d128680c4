"""Array operations the per-pixel scores need, for numpy (CPU) and torch (GPU batches).

The loss and count functions are written once against these few operations; ``NUMPY`` runs them
on the CPU, ``TorchOps("cuda:0")`` on a GPU. Per-pixel work stays on the device; what leaves it is
one float64 value per image. torch is imported only when a ``TorchOps`` is made.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from segcli.settings import is_number_array


@dataclass(frozen=True)
class TwoLevelMap:
    """A map that is ``inside`` on ``mask`` and ``outside`` elsewhere, kept as the mask. It turns
    into the float32 map wherever an array is asked of it; a backend that needs only the map's
    sums per category (hard predictions) counts mask pixels instead.

    >>> np.asarray(TwoLevelMap(np.array([True, False]), 5.0, 1.0)).tolist()
    [5.0, 1.0]
    """

    mask: np.ndarray
    inside: float
    outside: float

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = np.where(self.mask, np.float32(self.inside), np.float32(self.outside))
        return values if dtype is None else values.astype(dtype)


class _PixelOps:
    """What the numpy and torch backends share: one array element per pixel."""

    def flat(self, x):
        # the pixel count spelled out: -1 cannot be inferred for a batch of no image
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def pixel_count(self, x) -> np.ndarray:
        """(B,) number of pixels per image of a batch like ``x``."""
        return np.full(x.shape[0], self.flat(x).shape[1], np.int64)

    def pixel_map(self, array: Any):
        """A per-pixel map of the batch's shape (weights, signed distances), on this backend."""
        return self.asarray(array, "float32")


class NumpyOps(_PixelOps):
    """The CPU backend: plain numpy arrays."""

    name = "numpy"

    def asarray(self, array: Any, dtype: str) -> np.ndarray:
        return np.asarray(array, dtype=dtype)

    def where(self, condition, a, b):
        # Python numbers as float32, so that a float32 batch stays float32 (half the memory
        # traffic of the float64 that np.where makes of them).
        return np.where(condition, _float32_if_number(a), _float32_if_number(b))

    def log(self, x):
        return np.log(x)

    def exp(self, x):
        return np.exp(x)

    def clamp_min(self, x, low: float):
        return np.clip(x, low, None)

    def per_image(self, values: np.ndarray, like) -> np.ndarray:
        """(B,) values shaped to broadcast against a batch like ``like``, in float32."""
        return np.asarray(values, np.float32).reshape((-1,) + (1,) * (like.ndim - 1))

    def mean(self, x) -> np.ndarray:
        return np.mean(self.flat(x), axis=1, dtype=np.float64)

    def sum(self, x) -> np.ndarray:
        return np.sum(self.flat(x), axis=1, dtype=np.float64)

    def count(self, x) -> np.ndarray:
        # one image at a time: numpy's count along an axis sums bytes, about 9x slower
        return np.array([np.count_nonzero(image) for image in self.flat(x)], np.int64)

    def sort_descending(self, x):
        order = np.argsort(-x, kind="stable")
        return x[order], order

    def cumsum(self, x):
        return np.cumsum(x, dtype=np.float64)

    def dot(self, a, b) -> float:
        return float(np.dot(a, b))

    def to_float64(self, x):
        return x.astype(np.float64)  # pragma: no mutate (astype(None) is float64 too)


def _float32_if_number(value):
    # numpy scalars and 0-dim arrays as Python numbers: a float64 one would make the batch float64
    return np.float32(value) if isinstance(value, numbers.Real) or is_number_array(value) else value


NUMPY = NumpyOps()


class TorchOps(_PixelOps):
    """The torch backend: tensors on ``device`` (``cpu`` for tests, ``cuda:N`` for speed)."""

    name = "torch"

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)

    def asarray(self, array: Any, dtype: str):
        torch = self.torch
        if isinstance(array, torch.Tensor):
            return array.to(device=self.device, dtype=getattr(torch, dtype))
        array = np.ascontiguousarray(array)
        return torch.from_numpy(array).to(device=self.device, dtype=getattr(torch, dtype), non_blocking=True)

    def where(self, condition, a, b):
        torch = self.torch
        a = a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=torch.float32, device=self.device)
        b = b if isinstance(b, torch.Tensor) else torch.tensor(b, dtype=torch.float32, device=self.device)
        return torch.where(condition, a, b)

    def log(self, x):
        return self.torch.log(x)

    def exp(self, x):
        return self.torch.exp(x)

    def clamp_min(self, x, low: float):
        return self.torch.clamp(x, min=low)

    def per_image(self, values: np.ndarray, like):
        return self.asarray(np.asarray(values, np.float32), "float32").reshape((-1,) + (1,) * (like.ndim - 1))

    def mean(self, x) -> np.ndarray:
        return self.flat(x).to(self.torch.float64).mean(dim=1).cpu().numpy()

    def sum(self, x) -> np.ndarray:
        return self.flat(x).to(self.torch.float64).sum(dim=1).cpu().numpy()

    def count(self, x) -> np.ndarray:
        return self.flat(x).sum(dim=1, dtype=self.torch.int64).cpu().numpy()

    def sort_descending(self, x):
        return self.torch.sort(x, descending=True, stable=True)

    def cumsum(self, x):
        return self.torch.cumsum(x.to(self.torch.float64), dim=0)

    def dot(self, a, b) -> float:
        return float(self.torch.dot(a.to(self.torch.float64), b.to(self.torch.float64)))

    def to_float64(self, x):
        return x.to(self.torch.float64)
