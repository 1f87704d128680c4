"""Choosing the device, and the interval's arguments: the rules the README states, pinned."""

from __future__ import annotations

import builtins
import sys
import types

import numpy as np
import pytest

from segcli.device import resolve_device
from segcli.errors import UsageError
from segcli.intervals import mean_intervals


def _fake_torch(monkeypatch, available: bool, count: int):
    cuda = types.SimpleNamespace(is_available=lambda: available, device_count=lambda: count)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))


def test_auto_and_cpu_are_the_cpu_even_beside_a_gpu(monkeypatch):
    _fake_torch(monkeypatch, True, 2)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"


def test_cuda_names_the_device_and_checks_its_index(monkeypatch):
    _fake_torch(monkeypatch, True, 2)
    assert resolve_device("cuda") == "cuda:0"
    assert resolve_device("cuda:1") == "cuda:1"
    for past in ("cuda:2", "cuda:5"):  # indices 0 and 1 exist
        with pytest.raises(UsageError, match=f"--device {past}: only 2 CUDA device"):
            resolve_device(past)
    for bad in ("CPU", "tpu", "cuda:x", "cuda:"):
        with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
            resolve_device(bad)


def test_cuda_without_cuda_or_without_torch(monkeypatch):
    _fake_torch(monkeypatch, False, 0)
    with pytest.raises(UsageError, match="--device cuda: CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.delitem(sys.modules, "torch")
    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(UsageError, match=r"segcli\[gpu\]"):
        resolve_device("cuda")


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_interval_confidence_must_lie_strictly_between_0_and_1(confidence):
    with pytest.raises(ValueError, match="confidence"):
        mean_intervals({"a": [0.1, 0.2, 0.4]}, confidence=confidence)


def test_interval_resamples():
    with pytest.raises(ValueError, match="n_resamples: expected >= 1, got 0"):
        mean_intervals({"a": [0.1, 0.2, 0.4]}, n_resamples=0)
    mean_intervals({"a": np.array([0.1, 0.2, 0.4, 0.3])}, n_resamples=1)  # one resample is allowed
    assert mean_intervals({"a": [0.1, 0.2, 0.4]}, confidence=0.999)["a"][2] == ""
