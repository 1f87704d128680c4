"""Choosing the device, and the interval's arguments: the rules the README states, pinned."""

from __future__ import annotations

import builtins
import sys
import types

import numpy as np
import pytest

from segcli.errors import UsageError
from segcli.results.intervals import mean_intervals
from segcli.run import device as device_module
from segcli.run.device import auto_device, gpu_pays, image_shape, needs_distances, recorded_device, resolve_device


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


def _no_gpu_files(monkeypatch, tmp_path):
    monkeypatch.setattr(device_module, "NVIDIA_DEVICE_FILES", (tmp_path / "nvidiactl", tmp_path / "nvidia0"))


def _gpu_files(monkeypatch, tmp_path):
    (tmp_path / "nvidia0").touch()
    _no_gpu_files(monkeypatch, tmp_path)


def _volumes(tmp_path, count, shape=(30, 64, 64)):
    paths = []
    for i in range(count):
        path = tmp_path / f"gt{i}.npy"
        np.save(path, np.zeros(shape, np.uint8))
        paths.append(path)
    return paths


def _refuse_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    real = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise AssertionError("torch imported for a CPU decision")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)


def test_auto_without_an_nvidia_device_file_is_the_cpu_without_importing_torch(monkeypatch, tmp_path):
    _no_gpu_files(monkeypatch, tmp_path)
    monkeypatch.setattr(device_module, "AUTO_CUDA_PIXELS_PER_WORKER", {2: 1, 3: 1})
    gts = _volumes(tmp_path, 3)
    _refuse_torch(monkeypatch)
    assert auto_device(["hd95", "assd"], gts, workers=1) == "cpu"


def test_auto_picks_cuda_only_for_distance_work_large_per_worker(monkeypatch, tmp_path):
    _gpu_files(monkeypatch, tmp_path)
    _fake_torch(monkeypatch, True, 1)
    monkeypatch.setattr(device_module, "AUTO_CUDA_PIXELS_PER_WORKER", {2: 10**9, 3: 200_000})
    gts = _volumes(tmp_path, 2)  # 2 x 122,880 voxels
    assert auto_device(["dice", "hd95"], gts, workers=1) == "cuda:0"
    assert auto_device(["boundary_loss"], gts, workers=1) == "cuda:0"
    assert auto_device(["dice", "hd95"], gts, workers=2) == "cpu"  # 122,880 per worker
    assert auto_device(["dice", "hd95"], gts[:1], workers=1) == "cpu"
    assert auto_device(["dice", "iou", "bce", "dice_loss"], gts, workers=1) == "cpu"  # no distance work
    assert auto_device(["dice", "hd95"], gts, workers=1, device_path=False) == "cpu"
    assert auto_device(["dice", "hd95"], [], workers=1) == "cpu"
    png = tmp_path / "gt.png"
    from PIL import Image

    Image.fromarray(np.zeros((600, 700), np.uint8)).save(png)
    assert auto_device(["hd95"], [png] * 3, workers=1) == "cpu"  # 2-D: its own, higher threshold
    monkeypatch.setattr(device_module, "AUTO_CUDA_PIXELS_PER_WORKER", {2: 3 * 600 * 700, 3: 200_000})
    assert auto_device(["hd95"], [png] * 3, workers=1) == "cuda:0"
    _fake_torch(monkeypatch, False, 0)  # the files exist but torch sees no CUDA
    assert auto_device(["dice", "hd95"], gts, workers=1) == "cpu"


def test_auto_resumes_on_the_recorded_device(monkeypatch, tmp_path):
    monkeypatch.setattr(device_module, "AUTO_CUDA_PIXELS_PER_WORKER", {2: 1, 3: 1})
    gts = _volumes(tmp_path, 2)
    journal = tmp_path / "out.csv.partial"
    journal.write_text('{"segcli_journal": 1, "settings": {"device": "cpu"}}\n{"name": "a"}\n')
    _gpu_files(monkeypatch, tmp_path)
    _fake_torch(monkeypatch, True, 2)
    assert recorded_device(journal) == "cpu"
    assert auto_device(["hd95"], gts, workers=1, journal=journal) == "cpu"  # the rule alone: cuda:0
    assert auto_device(["hd95"], gts, workers=1) == "cuda:0"
    journal.write_text('{"segcli_journal": 1, "settings": {"device": "cuda:1"}}\n')
    assert auto_device(["dice"], gts, workers=1, journal=journal) == "cuda:1"  # the rule alone: cpu
    _fake_torch(monkeypatch, True, 1)  # that GPU is gone: the rule decides
    assert auto_device(["hd95"], gts, workers=1, journal=journal) == "cuda:0"
    assert auto_device(["dice"], gts, workers=1, journal=journal) == "cpu"
    for text in ("not json\n", '{"settings": {"device": "tpu"}}\n', "[1]\n"):
        journal.write_text(text)
        assert recorded_device(journal) is None
    assert recorded_device(tmp_path / "missing.partial") is None


def test_distance_work_and_run_size():
    assert needs_distances(["hd"]) and needs_distances(["boundary_iou"]) and needs_distances(["distmap_bce"])
    assert not needs_distances(["dice", "bce", "unet_wce", "boundary_bce", "loss_boundary"])
    limit = device_module.AUTO_CUDA_PIXELS_PER_WORKER[3]
    assert gpu_pays(["hd"], pairs=1, pixels=limit, ndim=3, workers=1)
    assert not gpu_pays(["hd"], pairs=1, pixels=limit - 1, ndim=3, workers=1)
    assert not gpu_pays(["dice"], pairs=1, pixels=limit, ndim=3, workers=1)
    with pytest.raises(ValueError, match="pairs, pixels and workers: expected >= 1, got 0, 1, 1"):
        gpu_pays(["hd"], pairs=0, pixels=1, ndim=2, workers=1)
    with pytest.raises(ValueError, match="ndim: expected 2 or 3, got 4"):
        gpu_pays(["hd"], pairs=1, pixels=1, ndim=4, workers=1)
    with pytest.raises(ValueError, match="workers: expected >= 1, got 0"):
        auto_device(["hd"], [], workers=0)


def test_image_shape_reads_headers(tmp_path):
    import tifffile
    from PIL import Image

    Image.fromarray(np.zeros((5, 7), np.uint8)).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((4, 6, 8), np.uint8))
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((6, 8), np.uint8))
    np.save(tmp_path / "d.npy", np.zeros((3, 4, 5), bool))
    (tmp_path / "e.png").write_bytes(b"broken")
    (tmp_path / "f.xyz").write_bytes(b"")
    assert image_shape(tmp_path / "a.png") == (5, 7)
    assert image_shape(tmp_path / "b.tif") == (4, 6, 8)
    assert image_shape(tmp_path / "c.tif") == (6, 8)
    assert image_shape(tmp_path / "d.npy") == (3, 4, 5)
    assert image_shape(tmp_path / "e.png") is None
    assert image_shape(tmp_path / "f.xyz") is None


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_interval_confidence_must_lie_strictly_between_0_and_1(confidence):
    with pytest.raises(ValueError, match="confidence"):
        mean_intervals({"a": [0.1, 0.2, 0.4]}, confidence=confidence)


def test_interval_resamples():
    with pytest.raises(ValueError, match="n_resamples: expected >= 1, got 0"):
        mean_intervals({"a": [0.1, 0.2, 0.4]}, n_resamples=0)
    mean_intervals({"a": np.array([0.1, 0.2, 0.4, 0.3])}, n_resamples=1)  # one resample is allowed
    assert mean_intervals({"a": [0.1, 0.2, 0.4]}, confidence=0.999)["a"][2] == ""
