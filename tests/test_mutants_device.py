"""The device modules pinned where mutation testing found them loose (segcli/engine/torch_distance.py,
segcli/run/device.py, segcli/engine/cpus.py). References: scipy.ndimage.distance_transform_edt and
hand-worked cases; the device rule and the CPU plan against the rules their modules state."""

from __future__ import annotations

import json
import os
import sys
import types

import numpy as np
import pytest
import torch
from scipy import ndimage

from segcli.engine import cpus
from segcli.engine import torch_edt as device_distance
from segcli.engine.cpus import _cgroup_quota, available_cpus, plan_cpus
from segcli.engine.torch_edt import edt
from segcli.run import device as device_module
from segcli.run.device import auto_device, gpu_pays, image_shape, needs_distances, recorded_device


def test_edt_takes_tensors_numpy_cannot_read():
    """A tensor that needs grad, or is bfloat16, is read as a tensor, never through numpy."""
    expected = ndimage.distance_transform_edt(np.array([[0, 1, 1, 1, 0]]))
    graded = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]], requires_grad=True)
    np.testing.assert_array_equal(edt(graded).numpy(), expected)
    np.testing.assert_array_equal(edt(graded.detach().to(torch.bfloat16)).numpy(), expected)


def test_edt_lands_on_the_device_asked():
    """``device``: the result is computed and left there (a column needs no nonzero, which the
    meta device cannot run); without it, on the tensor's own device."""
    column = np.array([[1], [1], [0]])
    assert edt(column, device="meta").device.type == "meta"
    assert edt(torch.from_numpy(column).to("meta")).device.type == "meta"
    assert edt(column).tolist() == [[2.0], [1.0], [0.0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("direct_offsets", [0, 2])
def test_the_halving_search_on_cuda_equals_scipy(monkeypatch, direct_offsets):
    """Every tensor the halving search makes lives on the GPU (a CPU one there raises)."""
    monkeypatch.setattr(device_distance, "DIRECT_OFFSETS", direct_offsets)
    rng = np.random.default_rng(7)
    for shape, spacing in [((37, 45), (0.8, 1.3)), ((9, 21, 17), (2.0, 0.7, 0.7))]:
        mask = rng.random(shape) > 0.02
        mask[(0,) * len(shape)] = False
        got = edt(mask, spacing, device="cuda").cpu().numpy()
        np.testing.assert_allclose(got, ndimage.distance_transform_edt(mask, sampling=spacing), rtol=1e-12)


# segcli/run/device.py: the --device auto rule and the headers it reads.


def _fake_torch(monkeypatch, available: bool, count: int):
    cuda = types.SimpleNamespace(is_available=lambda: available, device_count=lambda: count)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))


def _gpu_machine(monkeypatch, tmp_path, *, files: bool = True):
    """A machine whose NVIDIA device file exists (or not), torch seeing 2 GPUs, any run large."""
    if files:
        (tmp_path / "nvidia0").touch()
    monkeypatch.setattr(device_module, "NVIDIA_DEVICE_FILES", (tmp_path / "nvidiactl", tmp_path / "nvidia0"))
    monkeypatch.setattr(device_module, "AUTO_CUDA_PIXELS_PER_WORKER", {2: 1, 3: 1})
    _fake_torch(monkeypatch, True, 2)


def test_a_preset_holding_a_distance_loss_is_distance_work(monkeypatch):
    from segcli.scores import table as registry

    monkeypatch.setitem(registry.PRESETS, "loss_test_distance", ((0.5, "bce"), (0.5, "boundary_loss")))
    assert needs_distances(["dice", "loss_test_distance"])
    assert not needs_distances(["dice", "loss_balanced"])


@pytest.mark.parametrize(("pairs", "pixels", "workers"), [(0, 1, 1), (1, 0, 1), (1, 1, 0), (-1, 5, 5)])
def test_gpu_pays_refuses_each_count_below_one(pairs, pixels, workers):
    with pytest.raises(ValueError, match="pairs, pixels and workers: expected >= 1"):
        gpu_pays(["hd95"], pairs=pairs, pixels=pixels, ndim=2, workers=workers)


def test_a_recorded_gpu_without_an_nvidia_file_is_the_cpu(monkeypatch, tmp_path):
    """Rule 1 holds for a resumed run too: no device file, no GPU, whatever the journal says."""
    _gpu_machine(monkeypatch, tmp_path, files=False)
    np.save(tmp_path / "gt.npy", np.zeros((8, 9, 10), np.uint8))
    journal = tmp_path / "out.csv.partial"
    for recorded in ("cuda:1", "cpu"):
        journal.write_text(json.dumps({"segcli_journal": 1, "settings": {"device": recorded}}) + "\n")
        assert auto_device(["hd95"], [tmp_path / "gt.npy"], workers=1, journal=journal) == "cpu"


def test_auto_keeps_the_cpu_for_a_gt_without_a_2d_or_3d_shape(monkeypatch, tmp_path):
    _gpu_machine(monkeypatch, tmp_path)
    good, four_d, broken = tmp_path / "gt.npy", tmp_path / "gt4.npy", tmp_path / "broken.png"
    np.save(good, np.zeros((8, 9, 10), np.uint8))
    np.save(four_d, np.zeros((2, 8, 9, 10), np.uint8))
    broken.write_bytes(b"not a png")
    assert auto_device(["hd95"], [good], workers=1) == "cuda:0"  # the same machine says cuda for a volume
    assert auto_device(["hd95"], [four_d], workers=1) == "cpu"
    assert auto_device(["hd95"], [broken], workers=1) == "cpu"


def test_recorded_device_of_a_header_without_settings(tmp_path):
    journal = tmp_path / "out.csv.partial"
    journal.write_text('{"segcli_journal": 1}\n{"name": "a"}\n')
    assert recorded_device(journal) is None
    journal.write_text('{"segcli_journal": 1, "settings": {"workers": 2}}\n')
    assert recorded_device(journal) is None


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg", ".jpeg", ".PNG", ".JPG"])
def test_image_shape_of_every_2d_format(tmp_path, suffix):
    from PIL import Image

    path = tmp_path / f"gt{suffix}"
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(
        path, format={".bmp": "BMP", ".png": "PNG"}.get(suffix.lower(), "JPEG")
    )
    assert image_shape(path) == (5, 7)


@pytest.mark.parametrize(
    ("array_shape", "expected"),
    [
        ((6, 8), (6, 8)),
        ((6, 8, 3), (6, 8)),  # RGB: channels last
        ((6, 8, 4), (6, 8)),  # RGBA
        ((6, 8, 5), (6, 8, 5)),  # more than 4 last: a volume of 6 slices
        ((4, 6, 8), (4, 6, 8)),
    ],
)
@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_image_shape_of_tiffs(tmp_path, array_shape, expected, suffix):
    import tifffile

    path = tmp_path / f"gt{suffix}"
    photometric = "rgb" if array_shape[-1] in (3, 4) and len(array_shape) == 3 else "minisblack"
    tifffile.imwrite(path, np.zeros(array_shape, np.uint8), photometric=photometric)
    assert image_shape(path) == expected


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".NII.GZ"])
def test_image_shape_of_nifti(tmp_path, suffix):
    import nibabel

    for array_shape, expected in [((5, 6, 7), (5, 6, 7)), ((5, 6, 7, 2), (5, 6, 7)), ((5, 6), (5, 6))]:
        path = tmp_path / f"gt{suffix}"
        nibabel.save(nibabel.Nifti1Image(np.zeros(array_shape, np.uint8), np.eye(4)), path)
        assert image_shape(path) == expected


@pytest.mark.parametrize("suffix", [".nrrd", ".nhdr"])
def test_image_shape_of_nrrd(tmp_path, suffix):
    import nrrd

    path = tmp_path / f"gt{suffix}"
    nrrd.write(str(path), np.zeros((5, 6, 7), np.uint8), detached_header=suffix == ".nhdr")
    assert image_shape(path) == (5, 6, 7)


# segcli/engine/cpus.py: the cgroup quota as the kernel files state it, and the plan at its edges.


def _write(folder, **files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text + "\n")


def test_cgroup_membership_is_read_from_proc_self(monkeypatch, tmp_path):
    real_path = cpus.Path
    membership = tmp_path / "membership"
    monkeypatch.setattr(cpus, "Path", lambda p: membership if p == "/proc/self/cgroup" else real_path(p))
    _write(tmp_path / "job", cpu__max="150000 100000")
    _write(tmp_path, cpu__max="300000 100000")
    membership.write_text("1:cpu:/\n0::/job\n")
    assert _cgroup_quota(tmp_path) == 1.5
    membership.unlink()  # unreadable: the root's quota
    assert _cgroup_quota(tmp_path) == 3.0


def test_cgroup_v2_paths_with_colons_and_leading_letters(tmp_path):
    _write(tmp_path / "Xa:b", cpu__max="150000 100000")
    _write(tmp_path, cpu__max="300000 100000")
    assert _cgroup_quota(tmp_path, "0::/Xa:b\n") == 1.5
    assert _cgroup_quota(tmp_path, "0::/gone\n") == 3.0  # the process's folder missing: the root's


def test_cgroup_v2_unlimited_is_final(tmp_path):
    """``max`` in cpu.max: no quota, even where a v1 file would give one."""
    _write(tmp_path, cpu__max="max 100000")
    _write(tmp_path / "cpu", cpu__cfs_quota_us="50000", cpu__cfs_period_us="100000")
    assert _cgroup_quota(tmp_path, "0::/\n") is None


def test_cgroup_v1_quota_of_the_process_cgroup(tmp_path):
    _write(tmp_path / "cpu" / "Xjob", cpu__cfs_quota_us="250000", cpu__cfs_period_us="100000")
    _write(tmp_path / "cpu", cpu__cfs_quota_us="50000", cpu__cfs_period_us="100000")
    membership = "4:memory:/other\n3:cpu,cpuacct:/Xjob\n"
    assert _cgroup_quota(tmp_path, membership) == 2.5
    assert _cgroup_quota(tmp_path, "3:cpu,cpuacct:/gone\n") == 0.5  # the process's folder missing: the root's
    assert _cgroup_quota(tmp_path, "4:memory:/Xjob\n") == 0.5  # not the cpu controller's path


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [("1", "100000", 1e-5), ("2", "1", 2.0), ("0", "100000", None), ("-1", "100000", None), ("100000", "0", None)],
)
def test_cgroup_v1_quota_is_quota_over_period_when_both_positive(tmp_path, quota, period, expected):
    _write(tmp_path / "cpu", cpu__cfs_quota_us=quota, cpu__cfs_period_us=period)
    assert _cgroup_quota(tmp_path, "3:cpu:/\n") == expected


def test_available_cpus_reads_the_quota_and_keeps_a_quota_at_or_above_the_cores(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    assert available_cpus(quota=float(cores)) == (cores, "affinity")
    assert available_cpus(quota=0.0) == (cores, "affinity")  # 0: no quota
    monkeypatch.setattr(cpus, "_cgroup_quota", lambda: 0.5)
    assert available_cpus() == (1, "cgroup quota")


def test_available_cpus_without_affinity(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert available_cpus(quota=None) == (3, "cpu count")
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one
    assert available_cpus(quota=None) == (1, "cpu count")


def test_plan_threads_at_the_edges(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the plan with no cap asked
    assert plan_cpus(3, cpus=(4, "affinity")).threads_per_worker == 1  # 4 // 3 CPUs a worker
    assert plan_cpus(4, workers=1, cpus=(4, "affinity")).threads_per_worker == 1  # the items fill the CPUs
    assert plan_cpus(3, workers=1, cpus=(4, "affinity")).threads_per_worker == 4


def test_boundary_iou_of_one_pixel_boundaries():
    """Hand-worked: a lone pixel is its own boundary region (union 1): IoU 1 with itself, 0 with
    an empty mask; two empty masks: 1."""
    from segcli.engine.torch_distance import boundary_iou

    one = torch.zeros(1, 5, 5, dtype=torch.bool)
    one[0, 2, 2] = True
    empty = torch.zeros_like(one)
    assert boundary_iou(one, one, width=1).tolist() == [1.0]
    assert boundary_iou(one, empty, width=1).tolist() == [0.0]
    assert boundary_iou(empty, empty, width=1).tolist() == [1.0]


def test_boundary_iou_default_width_is_2():
    """Hand-worked, 7x7 full vs. full with a hole at the centre: width 2 leaves the full mask's
    3x3 centre out of its region (40 pixels) and takes all 48 of the other: IoU 40/48."""
    from segcli.engine.torch_distance import boundary_iou

    full = torch.ones(1, 7, 7, dtype=torch.bool)
    holed = full.clone()
    holed[0, 3, 3] = False
    assert boundary_iou(full, holed).tolist() == [40 / 48]
