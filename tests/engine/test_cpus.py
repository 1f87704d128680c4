"""The CPU plan (workers x threads, affinity and cgroup quota) and that threads and the surface
crop change no value."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from segcli.engine import cpus
from segcli.engine.cpus import _cgroup_quota, available_cpus, plan_cpus, set_threads, threads
from segcli.scores.surface import surface_distances


@pytest.fixture(autouse=True)
def no_thread_limit(monkeypatch):
    """The plans below assume no OMP_NUM_THREADS from the environment running the tests."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.fixture
def one_thread_after():
    yield
    set_threads(1)


def test_cgroup_v2_quota_is_read_from_the_process_cgroup(tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert _cgroup_quota(tmp_path, "0::/job\n") == 1.5
    assert _cgroup_quota(tmp_path, "0::/\n") is None  # the root: unlimited


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cgroup_quota(tmp_path, "3:cpu,cpuacct:/\n") == 2.5
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_quota(tmp_path, "3:cpu,cpuacct:/\n") is None


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert _cgroup_quota(tmp_path, "") is None


def test_a_quota_below_the_affinity_limits_the_cpus():
    cores = len(os.sched_getaffinity(0))
    assert available_cpus(quota=None) == (cores, "affinity")
    assert available_cpus(quota=0.3) == (1, "cgroup quota")  # rounded up, never 0
    assert available_cpus(quota=cores + 4.0) == (cores, "affinity")  # a quota above the cores changes nothing


@pytest.mark.parametrize(
    ("items", "workers", "cpus", "expected"),
    [
        (1000, None, 16, (16, 1)),  # many pairs: one thread a worker
        (4, None, 16, (4, 4)),  # volumes: the cores shared by the pairs
        (3, None, 16, (3, 5)),
        (1, None, 16, (1, 16)),
        (1000, 1, 16, (1, 1)),  # --workers 1 on many pairs: one process, one thread
        (2, 1, 16, (1, 16)),
        (5, 8, 4, (5, 1)),  # --workers above the cores is respected (capped at the pairs)
        (0, None, 4, (1, 4)),
    ],
)
def test_plan(items, workers, cpus, expected):
    plan = plan_cpus(items, workers, cpus=(cpus, "affinity"))
    assert (plan.workers, plan.threads_per_worker) == expected
    assert plan.record() == {
        "cpus": cpus,
        "cpus_from": "affinity",
        "workers": expected[0],
        "threads_per_worker": expected[1],
    }


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), ("0", 16), ("x", 16), (None, 16)])
def test_omp_num_threads_caps_the_threads(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert plan_cpus(1, cpus=(16, "affinity")).threads_per_worker == expected


@pytest.mark.parametrize(("items", "workers"), [(-1, None), (3, 0), (3, 1.5), (2.0, None)])
def test_plan_arguments_are_checked(items, workers):
    with pytest.raises(ValueError, match="items|workers"):
        plan_cpus(items, workers, cpus=(4, "affinity"))


def test_max_threads_is_checked_and_caps():
    assert plan_cpus(1, cpus=(16, "affinity"), max_threads=3).threads_per_worker == 3
    # OMP_NUM_THREADS=1, the usual setting on shared machines: one thread, not an error
    assert plan_cpus(1, cpus=(16, "affinity"), max_threads=1).threads_per_worker == 1
    with pytest.raises(ValueError, match="max_threads"):
        plan_cpus(1, cpus=(16, "affinity"), max_threads=0)


@pytest.mark.parametrize("count", [0, -2, 1.5])
def test_set_threads_checks_its_argument(count):
    with pytest.raises(ValueError, match="count"):
        set_threads(count)


def _reference_border_distances(pred, target, spacing):
    """Both directed border-distance arrays by brute force over every pair of border pixels
    (borders: a mask minus its erosion by the cross element, outside counting as background)."""

    def border(mask):
        return mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)

    a, b = np.argwhere(border(pred)) * spacing, np.argwhere(border(target)) * spacing
    distances = cdist(a, b)
    return distances.min(axis=1), distances.min(axis=0)


def _small_structures(shape, seed):
    rng = np.random.default_rng(seed)
    pred, target = np.zeros(shape, bool), np.zeros(shape, bool)
    centre = np.array(shape) // 3
    box = tuple(slice(c, c + 6) for c in centre)
    target[box] = rng.random(target[box].shape) < 0.7
    shifted = tuple(slice(c + 2, c + 8) for c in centre)
    pred[shifted] = rng.random(pred[shifted].shape) < 0.7
    return pred, target


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("where", ["inside", "on the image edge"])
def test_surface_distances_of_a_small_structure_in_a_large_image(seed, where):
    pred, target = _small_structures((24, 40, 33), seed)
    if where == "on the image edge":  # the crop's edge is the image's edge
        pred, target = np.roll(pred, -8, axis=0), np.roll(target, -8, axis=2)
        pred[0, 5:9, 5:9] = True
    spacing = (1.5, 0.7, 0.9)
    found = surface_distances(pred, target, spacing)
    pred_to_gt, gt_to_pred = _reference_border_distances(pred, target, np.array(spacing))
    np.testing.assert_allclose(found.pred_to_gt, pred_to_gt, rtol=1e-12)
    np.testing.assert_allclose(found.gt_to_pred, gt_to_pred, rtol=1e-12)


def test_threads_change_no_distance(one_thread_after):
    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.standard_normal((40, 64, 64)), 3)
    target = field > 0.05
    pred = ndimage.gaussian_filter(field + 0.3 * rng.standard_normal(field.shape), 1) > 0.05
    spacing = (2.0, 0.8, 0.8)
    set_threads(1)
    one = surface_distances(pred, target, spacing)
    set_threads(3)
    assert threads() == 3
    many = surface_distances(pred, target, spacing)
    np.testing.assert_array_equal(one.pred_to_gt, many.pred_to_gt)
    np.testing.assert_array_equal(one.gt_to_pred, many.gt_to_pred)


def test_the_run_records_its_cpu_plan(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from segcli.cli.main import app

    pred, gt = tmp_path / "pred", tmp_path / "gt"
    rng = np.random.default_rng(0)
    for folder in (pred, gt):
        folder.mkdir()
        for i in range(3):
            Image.fromarray((rng.random((16, 16)) < 0.5).astype(np.uint8) * 255).save(folder / f"{i}.png")
    result = CliRunner().invoke(app, ["score", str(pred), str(gt), "--metrics", "dice", "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["settings"]["cpu_plan"]
    cpus = available_cpus()[0]
    workers = min(3, cpus)
    assert plan == {
        "cpus": cpus,
        "cpus_from": available_cpus()[1],
        "workers": workers,
        "threads_per_worker": max(1, cpus // workers) if 3 < cpus else 1,
    }


# segcli/engine/cpus.py at its edges: cgroup v1/v2 quotas, affinity, the thread plan, against the rules
# the module states.


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
