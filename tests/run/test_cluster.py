"""--scheduler: scoring on a Dask cluster equals a local run byte for byte, and a lost worker
costs no pair."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield cluster, client


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from scipy import ndimage

    root = tmp_path_factory.mktemp("cluster")
    (root / "pred").mkdir()
    (root / "gt").mkdir()
    rng = np.random.default_rng(8)
    for i in range(40):
        gt = (ndimage.gaussian_filter(rng.standard_normal((64, 64)), 3) > 0).astype(np.uint8) * 255
        Image.fromarray(gt).save(root / "gt" / f"c{i:02d}.png")
        Image.fromarray(np.roll(gt, i % 3, axis=1)).save(root / "pred" / f"c{i:02d}.png")
    (root / "pred" / "z.png").write_bytes(b"broken")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "gt" / "z.png")
    return root


def test_cluster_output_equals_local_byte_for_byte(cluster, pairs, tmp_path):
    local_cluster, _ = cluster
    base = ["score", str(pairs / "pred"), str(pairs / "gt"), "--metrics", "region,surface,bce"]
    local = CliRunner().invoke(app, [*base, "--workers", "2"])
    remote = CliRunner().invoke(app, [*base, "--scheduler", local_cluster.scheduler_address])
    assert local.exit_code == remote.exit_code == 1  # the broken pair, on both
    assert remote.stdout == local.stdout
    assert "z.png: cannot read" in remote.stderr
    out = tmp_path / "r.csv"
    env = CliRunner().invoke(
        app, [*base, "-o", str(out)], env={"DASK_SCHEDULER_ADDRESS": local_cluster.scheduler_address}
    )
    assert "Dask cluster" in env.stderr and out.read_text() == local.stdout


def test_a_killed_worker_costs_no_pair(cluster, pairs):
    from segcli.inputs.pairing import pair_files
    from segcli.run.outcomes import Record
    from segcli.run.pipeline import score_pairs
    from segcli.settings import ScoreSettings

    _, client = cluster
    found = pair_files(pairs / "pred", pairs / "gt").pairs
    found = [p for p in found if p.name != "z"] * 3
    settings = ScoreSettings(metrics=("dice", "hd95"))
    expected = [o.values for o in score_pairs(found, settings, workers=1)]
    outcomes = []
    for outcome in score_pairs(found, settings, client=client):
        outcomes.append(outcome)
        if len(outcomes) == 10:
            victim = next(iter(client.run(os.getpid).values()))
            os.kill(victim, signal.SIGKILL)
    assert all(isinstance(o, Record) for o in outcomes)
    assert [o.values for o in outcomes] == expected


def test_without_dask_the_option_names_the_extra(monkeypatch, pairs):
    import builtins

    real = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name.startswith("distributed"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    result = CliRunner().invoke(app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--scheduler", "tcp://x:1"])
    assert result.exit_code == 2 and "segcli[dask]" in result.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from tests.inputs.test_remote import make_dataset

    return make_dataset(tmp_path_factory.mktemp("cluster-urls"))


def _on_every_worker_memory(client, root: str) -> None:
    """The files under the memory URL ``root`` copied into each worker's own memory file system."""
    import fsspec

    memory = fsspec.filesystem("memory")
    files = memory.find(root[len("memory://") :])
    client.wait_for_workers(2)  # one the killed-worker test had lost is back
    client.run(memory.pipe, {path: memory.cat_file(path) for path in files})


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_url_inputs_on_the_cluster_give_the_local_records(cluster, dataset, kind):
    from tests.inputs.test_remote import to_memory

    local_cluster, client = cluster
    base = ["--metrics", "dice,hd95,assd,bce", "--missing", "skip"]
    local = CliRunner().invoke(app, ["score", str(dataset / "pred"), str(dataset / "gt"), *base, "--workers", "1"])
    root = f"file://{dataset}"
    if kind == "memory":
        root = to_memory(dataset)
        _on_every_worker_memory(client, root)
    remote = CliRunner().invoke(
        app, ["score", f"{root}/pred", f"{root}/gt", *base, "--scheduler", local_cluster.scheduler_address]
    )
    assert local.exit_code == remote.exit_code == 1  # the broken prediction, on both
    assert remote.stdout.replace(root, str(dataset)) == local.stdout
    assert f"{root}/pred/broken.png: cannot read" in remote.stderr


def _failures(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "not written" in line or "cannot" in line]


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_weightmap_on_the_cluster_writes_the_local_files(cluster, dataset, tmp_path):
    local_cluster, client = cluster
    base = ["weightmap", str(dataset / "masks"), "--preview", "--kind", "unet"]
    local = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "local"), "--workers", "1"])
    with distributed.get_task_stream(client=client) as tasks:
        remote = CliRunner().invoke(
            app,
            [*base, "--out", str(tmp_path / "remote")],
            env={"DASK_SCHEDULER_ADDRESS": local_cluster.scheduler_address},
        )
    assert "on the Dask cluster" in remote.stderr and tasks.data  # the workers did the work
    assert local.exit_code == remote.exit_code == 1  # the broken mask, on both, and the others written
    assert _failures(remote.stderr) == _failures(local.stderr) != []
    written = _files(tmp_path / "local")
    assert len(written) == 6 and _files(tmp_path / "remote") == written  # no partial file left behind
    for name in written:
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    again = CliRunner().invoke(
        app, [*base, "--out", str(tmp_path / "remote"), "--scheduler", local_cluster.scheduler_address]
    )
    assert again.exit_code == 1 and "exists; pass --overwrite or --skip-existing" in again.stderr


def test_classweights_on_the_cluster_equal_local(cluster, dataset):
    local_cluster, client = cluster
    for folder in ("labels", "masks"):  # masks: a broken file, counted as failed on both
        base = ["classweights", str(dataset / folder), "--format", "json"]
        local = CliRunner().invoke(app, [*base, "--workers", "1"])
        with distributed.get_task_stream(client=client) as tasks:
            remote = CliRunner().invoke(app, [*base, "--scheduler", local_cluster.scheduler_address])
        assert tasks.data and remote.exit_code == local.exit_code == (0 if folder == "labels" else 1)
        assert remote.stdout == local.stdout and "counting on the Dask cluster" in remote.stderr
        assert _failures(remote.stderr) == _failures(local.stderr)


def test_a_killed_worker_costs_no_map_and_leaves_no_partial_file(cluster, pairs, tmp_path):
    from segcli.weightmaps import MapJob, MapSettings, run_map_jobs

    _, client = cluster
    client.wait_for_workers(2)
    jobs = [job for job in MapJob.for_inputs(pairs / "gt", tmp_path / "maps") if job.source.name != "z.png"]
    results = []
    for result in run_map_jobs(jobs, MapSettings(kind="sdf"), client=client):
        results.append(result)
        if len(results) == 5:
            victim = next(iter(client.run(os.getpid).values()))
            os.kill(victim, signal.SIGKILL)
    assert [r.job.source for r in results] == [job.source for job in jobs]
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
    written = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert written == sorted(job.target.name for job in jobs)  # every map, and no .partial file


def test_what_a_killed_writer_left_is_removed_and_nothing_else(pairs, tmp_path):
    from segcli.weightmaps import MapJob, MapSettings, run_map_jobs

    jobs = MapJob.for_inputs(pairs / "gt" / "c01.png", tmp_path)
    stale = [tmp_path / ".c01.tif.ab12cd_9.partial", tmp_path / ".c01.png.zz99yy00.partial"]
    others = [tmp_path / ".c011.tif.ab12cd_9.partial", tmp_path / "c01.tif.ab12cd_9.partial", tmp_path / "notes.txt"]
    for path in stale + others:
        path.write_bytes(b"left over")
    results = list(run_map_jobs(jobs, MapSettings(kind="sdf", preview=True), workers=1))
    assert [r.error for r in results] == [None]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c01.tif", "c01.png", *(p.name for p in others)])
