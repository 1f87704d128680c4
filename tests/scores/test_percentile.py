"""The faster paths give the same numbers as the plain ones they replace (numpy, scipy)."""

from __future__ import annotations

import numpy as np
import pytest

from segcli.scores.surface import percentile_linear


@pytest.mark.parametrize("q", [0.0, 5.0, 33.3, 50.0, 90.0, 95.0, 99.0, 100.0])
def test_percentile_equals_numpy_to_the_last_bit(q):
    rng = np.random.default_rng(int(q * 10))
    for trial in range(400):
        n = int(rng.integers(1, 40)) if trial % 2 else int(rng.integers(1, 3000))
        values = np.sqrt(rng.integers(0, 60, n).astype(np.float64)) * rng.choice([1.0, 0.7, 2.5])
        assert percentile_linear(values, q) == float(np.percentile(values, q))


def test_percentile_leaves_its_input_alone():
    values = np.array([3.0, 1.0, 2.0])
    percentile_linear(values, 95.0)
    assert values.tolist() == [3.0, 1.0, 2.0]
