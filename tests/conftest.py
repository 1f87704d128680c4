"""Shared fixtures: random masks with smooth shapes (realistic borders), and file helpers."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)


def smooth_mask(rng: np.random.Generator, shape, *, smooth: float = 3.0, fill: float = 0.3) -> np.ndarray:
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape), smooth)
    return field > np.quantile(field, 1.0 - fill)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
