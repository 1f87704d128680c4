"""Trust at the edges of `segcli score`: every interpretation stated, one bad pair never costs
the others, nothing lost or clobbered, every failure one line with its own exit code.

Each test names the guarantee it guards (the README's "Guarantees" lists them).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app

PYTHON = [sys.executable, "-m", "segcli"]


@pytest.fixture
def runner():
    return CliRunner()


def _square(shape=(32, 32), box=(8, 20)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[box[0] : box[1], box[0] : box[1]] = 1
    return mask


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _score(runner, tmp_path, *args):
    return runner.invoke(app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--workers", "1", *args])


def _pair(tmp_path, name, pred, gt):
    (tmp_path / "pred").mkdir(exist_ok=True)
    (tmp_path / "gt").mkdir(exist_ok=True)
    if isinstance(pred, np.ndarray):
        np.save(tmp_path / "pred" / f"{name}.npy", pred)
    if isinstance(gt, np.ndarray):
        np.save(tmp_path / "gt" / f"{name}.npy", gt)


# --- 1. No silent guess ------------------------------------------------------------------------


def test_probability_a_hair_above_one_is_clipped_not_read_as_logits(runner, tmp_path):
    gt = _square()
    prob = gt.astype(np.float32) * 0.9
    prob[0, 0] = 1.0004  # resampling overshoot: one pixel, a false positive once clipped
    _pair(tmp_path, "a", prob, gt)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 0, result.output
    row = _rows(result.stdout)[0]
    assert row["pred_kind"] == "prob"
    assert float(row["dice"]) == pytest.approx(2 * 144 / (2 * 144 + 1))  # read as logits: 0.22
    assert "pred/a.npy: probabilities in [0, 1.0004] clipped to [0, 1]" in result.stderr


def test_float_prediction_neither_probability_nor_logits_fails_its_pair(runner, tmp_path):
    gt = _square()
    _pair(tmp_path, "a", gt.astype(np.float32) * 1.5, gt)
    _pair(tmp_path, "b", gt.astype(np.float32), gt)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 1
    assert "pred/a.npy: floating-point values in [0, 1.5]" in result.stderr
    assert "--pred-kind" in result.stderr
    assert [r["name"] for r in _rows(result.stdout)][:1] == ["b"]
    explicit = _score(runner, tmp_path, "--metrics", "dice", "--pred-kind", "logits")
    assert explicit.exit_code == 0
    assert {r["pred_kind"] for r in _rows(explicit.stdout)[:2]} == {"logits"}


def test_negative_floats_are_logits_and_said_once(runner, tmp_path):
    gt = _square()
    for name in "ab":
        _pair(tmp_path, name, (gt.astype(np.float32) - 0.5) * 8, gt)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 0
    rows = _rows(result.stdout)
    assert [r["pred_kind"] for r in rows[:2]] == ["logits", "logits"]
    assert float(rows[0]["dice"]) == 1.0
    assert result.stderr.count("read as logits") == 1


def test_spacing_recorded_with_its_source(runner, tmp_path):
    gt = _square()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    tifffile.imwrite(tmp_path / "gt/a.tif", gt, resolution=(2.0, 4.0), resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "pred/a.tif", gt)
    tifffile.imwrite(tmp_path / "gt/b.tif", gt)
    tifffile.imwrite(tmp_path / "pred/b.tif", gt, resolution=(2.0, 2.0), resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "gt/c.tif", gt)
    tifffile.imwrite(tmp_path / "pred/c.tif", gt)
    result = _score(runner, tmp_path, "--metrics", "dice", "--format", "json")
    assert result.exit_code == 0, result.output
    images = {i["name"]: i for i in json.loads(result.stdout)["images"]}
    assert (images["a"]["spacing"], images["a"]["spacing_source"]) == ([0.25, 0.5], "gt")
    assert (images["b"]["spacing"], images["b"]["spacing_source"]) == ([0.5, 0.5], "pred")
    assert (images["c"]["spacing"], images["c"]["spacing_source"]) == ([1.0, 1.0], "default")
    option = _score(runner, tmp_path, "--metrics", "dice", "--format", "json", "--spacing", "3")
    assert {(i["spacing_source"], tuple(i["spacing"])) for i in json.loads(option.stdout)["images"]} == {
        ("option", (3.0, 3.0))
    }


def test_pred_and_gt_spacing_disagree_fails_the_pair_unless_spacing_given(runner, tmp_path):
    gt = _square()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    tifffile.imwrite(tmp_path / "gt/a.tif", gt, resolution=(2.0, 2.0), resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "pred/a.tif", gt, resolution=(1.0, 1.0), resolutionunit="CENTIMETER")
    result = _score(runner, tmp_path, "--metrics", "hd")
    assert result.exit_code == 1
    assert "pred/a.tif: spacing 1,1 differs from" in result.stderr and "0.5,0.5" in result.stderr
    assert _score(runner, tmp_path, "--metrics", "hd", "--spacing", "1").exit_code == 0


def test_nan_in_ground_truth_is_an_error_for_its_pair(runner, tmp_path):
    gt = _square().astype(np.float32)
    bad = gt.copy()
    bad[0, 0] = np.nan
    _pair(tmp_path, "a", gt.astype(np.uint8), bad)
    _pair(tmp_path, "b", gt.astype(np.uint8), gt)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 1
    assert "gt/a.npy: ground truth holds NaN" in result.stderr
    assert [r["name"] for r in _rows(result.stdout)][:1] == ["b"]
    multi = _score(runner, tmp_path, "--metrics", "dice", "--num-classes", "2")
    assert multi.exit_code == 1 and "gt/a.npy: ground truth holds NaN" in multi.stderr


def test_label_map_scored_as_binary_is_said(runner, tmp_path):
    labels = _square()
    labels[22:28, 22:28] = 2
    _pair(tmp_path, "a", labels, labels)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 0
    assert "more than two values" in result.stderr and "--num-classes" in result.stderr
    binary = _square() * 255  # 0/255 is binary: no warning
    _pair(tmp_path, "a", binary, binary)
    assert "more than two values" not in _score(runner, tmp_path, "--metrics", "dice").stderr


def test_ignore_index_and_same_directory_warnings(runner, tmp_path):
    labels = _square()
    _pair(tmp_path, "a", labels, labels)
    in_range = _score(runner, tmp_path, "--metrics", "dice", "--num-classes", "3", "--ignore-index", "1")
    assert "--ignore-index 1 is also class 1" in in_range.stderr
    binary = _score(runner, tmp_path, "--metrics", "dice", "--ignore-index", "0")
    assert "--ignore-index applies to multi-class scoring" in binary.stderr
    same = runner.invoke(app, ["score", str(tmp_path / "gt"), str(tmp_path / "gt"), "--metrics", "dice"])
    assert same.exit_code == 0 and "PRED and GT are the same path" in same.stderr


def test_json_tells_inf_from_nan(runner, tmp_path):
    _pair(tmp_path, "a", _square(), np.zeros((32, 32), np.uint8))  # one side empty: hd inf
    result = _score(runner, tmp_path, "--metrics", "dice,hd", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["images"][0]["hd"] is None
    assert doc["images"][0]["nonfinite"] == {"hd": "inf"}
    assert doc["summary"]["hd"]["nonfinite"] == {
        "mean": "inf",
        "median": "inf",
        "min": "inf",
        "max": "inf",
        "std": "nan",
    }
    assert "nonfinite" not in doc["summary"]["dice"]
    jsonl = _score(runner, tmp_path, "--metrics", "dice,hd", "--format", "jsonl")
    assert json.loads(jsonl.stdout.splitlines()[0])["nonfinite"] == {"hd": "inf"}


# --- 2. One bad pair never costs the others -----------------------------------------------------


def test_unexpected_exception_fails_only_its_pair(runner, tmp_path, monkeypatch):
    import segcli.run.pair as scoring

    for name in "abc":
        _pair(tmp_path, name, _square(), _square())
    original = scoring.compute_scores
    calls = {"n": 0}

    def once(batch, metrics, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return original(batch, metrics, **kw)

    monkeypatch.setattr(scoring, "compute_scores", once)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 1
    assert "pred/b.npy: unexpected error while scoring (RuntimeError: boom)" in result.stderr
    assert [r["name"] for r in _rows(result.stdout)][:2] == ["a", "c"]
    assert "Traceback" not in result.stderr


def test_dead_worker_fails_its_pair_and_the_run_goes_on(tmp_path, monkeypatch):
    """A worker killed outright (the OOM killer's SIGKILL) fails the pair it held; the others are
    scored on a new worker, in order."""
    import segcli.run.pair as scoring
    import segcli.run.pipeline as pipeline
    from segcli.inputs.pairing import pair_files
    from segcli.run.outcomes import Failure

    for i in range(8):
        _pair(tmp_path, f"p{i}", _square(), _square())
    original = scoring._score_pair

    def killer(pair, settings):
        if pair.name == "p3":
            os.kill(os.getpid(), signal.SIGKILL)
        return original(pair, settings)

    monkeypatch.setattr(scoring, "_score_pair", killer)  # forked workers inherit it
    pairs = pair_files(tmp_path / "pred", tmp_path / "gt").pairs
    settings = scoring.ScoreSettings(metrics=("dice",))
    outcomes = list(pipeline.score_pairs(pairs, settings, workers=2))
    assert [o.name for o in outcomes] == [f"p{i}" for i in range(8)]
    failed = [o for o in outcomes if isinstance(o, Failure)]
    assert [f.name for f in failed] == ["p3"]
    assert "p3.npy: the worker process died while processing it" in failed[0].message
    assert all(o.values["dice"] == 1.0 for o in outcomes if not isinstance(o, Failure))


def test_internal_error_outside_pairs_is_one_line_exit_4(runner, tmp_path, monkeypatch):
    import segcli.inputs.pairing

    _pair(tmp_path, "a", _square(), _square())

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(segcli.inputs.pairing, "pair_files", broken)
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert result.exit_code == 4
    assert result.stderr.strip().count("\n") == 0 and "internal error (RuntimeError: unexpected)" in result.stderr


# --- 3. Nothing lost, nothing clobbered ---------------------------------------------------------


@pytest.fixture(scope="module")
def many_pairs(tmp_path_factory):
    """Enough pairs that a run takes a few seconds (a kill lands mid-way)."""
    from scipy import ndimage

    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    (root / "pred").mkdir()
    (root / "gt").mkdir()
    for i in range(240):
        field = ndimage.gaussian_filter(rng.standard_normal((160, 160)), 4)
        gt = (field > 0).astype(np.uint8) * 255
        Image.fromarray(gt).save(root / "gt" / f"c{i:03d}.png")
        Image.fromarray(np.roll(gt, i % 4, axis=0)).save(root / "pred" / f"c{i:03d}.png")
    clean = root / "clean.csv"
    subprocess.run([*PYTHON, "score", str(root / "pred"), str(root / "gt"), "-o", str(clean)], check=True)
    return root


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        out |= {int(c) for c in text.split()}
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(") ")[1][0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_run_resumes_to_the_same_bytes(many_pairs, tmp_path, sig):
    out = tmp_path / "r.csv"
    partial = tmp_path / "r.csv.partial"
    command = [*PYTHON, "score", str(many_pairs / "pred"), str(many_pairs / "gt"), "-o", str(out), "--workers", "2"]
    # A suite started in the background (nohup, `&` in a script) hands its children SIGINT
    # ignored, and Python keeps it so: restore the default, as a terminal's Ctrl-C finds it.
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and (not partial.exists() or partial.read_text().count("\n") < 30):
        time.sleep(0.02)
    workers = _children(process.pid)
    if sig == signal.SIGINT:
        os.killpg(process.pid, sig)  # Ctrl-C in a terminal reaches the workers too
    else:
        process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    expected_code = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig]
    assert process.returncode == expected_code, err
    assert not out.exists() and partial.exists()
    lines = partial.read_text().count("\n")
    assert 30 <= lines < 241  # stopped mid-way
    if sig != signal.SIGKILL:
        assert "repeat the command with --resume" in err and "Traceback" not in err
    deadline = time.time() + 20  # a loaded machine reaps late
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    assert workers and not any(_alive(p) for p in workers)  # no orphans, even after SIGKILL
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr  # never starts over silently
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == (many_pairs / "clean.csv").read_bytes()
    assert not partial.exists() and not list(tmp_path.glob(".r.csv*"))


def test_resume_of_a_complete_output_and_of_a_foreign_partial(many_pairs, tmp_path):
    out = tmp_path / "r.jsonl"
    base = [*PYTHON, "score", str(many_pairs / "pred"), str(many_pairs / "gt"), "-o", str(out), "--metrics", "dice"]
    subprocess.run(base, check=True)
    clean = out.read_bytes()
    done = subprocess.run([*base, "--resume"], capture_output=True, text=True)
    assert done.returncode == 0 and "nothing to resume" in done.stderr and out.read_bytes() == clean
    (tmp_path / "r.jsonl.partial").write_text("not json\n")
    refused = subprocess.run([*base, "--resume"], capture_output=True, text=True)
    assert refused.returncode == 2 and "not a segcli journal" in refused.stderr
    assert out.read_bytes() == clean


def test_resume_with_changed_settings_is_refused(many_pairs, tmp_path):
    out = tmp_path / "r.csv"
    base = [*PYTHON, "score", str(many_pairs / "pred"), str(many_pairs / "gt"), "-o", str(out), "--workers", "1"]
    process = subprocess.Popen([*base, "--metrics", "dice,hd95"], stderr=subprocess.PIPE)
    partial = tmp_path / "r.csv.partial"
    deadline = time.time() + 60
    while time.time() < deadline and (not partial.exists() or partial.read_text().count("\n") < 5):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    text = partial.read_text()
    partial.write_text(text + '{"name": "c2", "values": {"dice": 0.' + "1" * 4000)  # cut short by the kill
    changed = subprocess.run([*base, "--metrics", "dice", "--resume"], capture_output=True, text=True)
    assert changed.returncode == 2 and "metrics" in changed.stderr and "differ" in changed.stderr
    resumed = subprocess.run([*base, "--metrics", "dice,hd95", "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run(
        [*PYTHON, "score", str(many_pairs / "pred"), str(many_pairs / "gt"), "--metrics", "dice,hd95"],
        capture_output=True,
        text=True,
    )
    assert out.read_text() == clean.stdout


def test_journal_cut_line_is_dropped_before_appending(tmp_path):
    from segcli.results.journal import Journal

    target = tmp_path / "r.csv"
    header = {"format": "csv", "columns": ["dice"], "settings": {"metrics": ["dice"]}}
    journal = Journal.open(target, header, resume=False, overwrite=False)
    journal.append("a", {"dice": 0.5}, {"pred_kind": "mask"})
    journal.close()
    with open(journal.path, "a") as handle:
        handle.write('{"name": "b", "values": {"dice": 0.' + "1" * 500)  # a kill mid-line
    resumed = Journal.open(target, header, resume=True, overwrite=False)
    assert list(resumed.done) == ["a"]
    resumed.append("c", {"dice": float("inf")}, {})
    resumed.close()
    again = Journal.open(target, header, resume=True, overwrite=False)
    assert again.done == {"a": ({"dice": 0.5}, {"pred_kind": "mask"}), "c": ({"dice": float("inf")}, {})}
    again.close()
    other = {**header, "columns": ["iou"]}
    with pytest.raises(Exception, match="columns differ"):
        Journal.open(target, other, resume=True, overwrite=False)


def test_output_to_a_device_is_written_not_replaced(runner, tmp_path):
    _pair(tmp_path, "a", _square(), _square())
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(fifo))
    assert result.exit_code == 0
    assert reader.communicate(timeout=10)[0].startswith("name,dice")
    assert fifo.is_fifo()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("old"), "exists; pass --overwrite"),
        (None, "is not a directory"),
    ],
)
def test_output_conflicts_found_before_any_work(runner, tmp_path, monkeypatch, make, message):
    import segcli.run.pipeline as pipeline

    _pair(tmp_path, "a", _square(), _square())
    target = tmp_path / "out.csv"
    if make is None:
        target.write_text("a file")
        target = target / "inner.csv"
    else:
        make(target)

    def no_work(*args, **kwargs):
        raise AssertionError("scored before the output was checked")

    monkeypatch.setattr(pipeline, "score_pairs", no_work)
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target))
    assert result.exit_code == 2 and message in result.stderr


def test_second_run_on_the_same_output_refuses_stale_lock_taken_over(runner, tmp_path):
    from segcli.results.outputs import lock_path

    _pair(tmp_path, "a", _square(), _square())
    target = tmp_path / "out.csv"
    lock = lock_path(target)
    lock.write_text(f"{os.getppid()} {os.uname().nodename}\n")  # a live process holds it
    held = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target))
    assert held.exit_code == 2 and "another segcli run" in held.stderr and not target.exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(f"{dead.pid} {os.uname().nodename}\n")
    stale = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target))
    assert stale.exit_code == 0 and "taken over" in stale.stderr
    assert target.exists() and not lock.exists()


def test_concurrent_runs_never_mix(many_pairs, tmp_path):
    out = tmp_path / "r.csv"
    command = [*PYTHON, "score", str(many_pairs / "pred"), str(many_pairs / "gt"), "-o", str(out), "--workers", "1"]
    first = subprocess.Popen([*command, "--metrics", "all"], stderr=subprocess.PIPE, text=True)
    while not (tmp_path / "r.csv.partial").exists():
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)  # frozen mid-run, its lock held, however loaded the machine
    try:
        second = subprocess.run([*command, "--metrics", "iou", "--overwrite"], capture_output=True, text=True)
        plain = subprocess.run([*command, "--metrics", "iou"], capture_output=True, text=True)
    finally:
        first.send_signal(signal.SIGCONT)
    first.communicate(timeout=120)
    assert second.returncode == 2 and "another segcli run" in second.stderr
    assert plain.returncode == 2 and "another segcli run" in plain.stderr  # not "an interrupted run"
    assert first.returncode == 0
    header = _rows(out.read_text())[0].keys()
    assert "hd95" in header and len(_rows(out.read_text())) == 240 + 6


# --- 4. Every failure one line, its own exit code -----------------------------------------------


def _sample_command(tmp_path):
    _pair(tmp_path, "a", _square(), _square())
    _pair(tmp_path, "b", _square(), _square())
    return [*PYTHON, "score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "dice"]


def test_broken_pipe_exits_141_quietly(tmp_path):
    command = _sample_command(tmp_path)
    result = subprocess.run(
        " ".join(command) + " | head -c 1 > /dev/null; echo ${PIPESTATUS[0]}",
        shell=True,
        capture_output=True,
        text=True,
        executable="/bin/bash",
    )
    code = int(result.stdout.strip())
    assert code in (0, 141)  # 0 when the output fitted in the pipe before head exited
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before anything is written
    err = process.stderr.read().decode()
    assert process.wait() == 141 and err == ""


def test_full_disk_and_closed_stdout_are_one_line_exit_3(tmp_path):
    """With stdout buffered (a plain shell) and unbuffered (``PYTHONUNBUFFERED``, which some CI images set):
    buffered, what stdout still holds when the write fails must not fail again at the interpreter's exit
    (exit 120 and an "Exception ignored" traceback)."""
    command = _sample_command(tmp_path)
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for env in (buffered, {**buffered, "PYTHONUNBUFFERED": "1"}):
        with open("/dev/full", "w") as full:
            result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, env=env)
        assert result.returncode == 3, result.stderr
        assert result.stderr.strip() == "segcli: error: stdout: cannot write (no space left on device)"
        closed = subprocess.run(" ".join(command) + " >&-", shell=True, capture_output=True, text=True, env=env)
        assert closed.returncode == 3 and closed.stderr.strip().endswith("stdout: cannot write (closed)")
        assert closed.stderr.count("\n") == 1, closed.stderr
    no_stderr = subprocess.run(" ".join(command) + " --threshold 2 2>&-", shell=True, capture_output=True)
    assert no_stderr.returncode == 2


def test_unwritable_parent_refused_before_work(runner, tmp_path, monkeypatch):
    import segcli.results.outputs

    _pair(tmp_path, "a", _square(), _square())
    real = os.access  # root passes every permission check: deny this one directory
    monkeypatch.setattr(
        segcli.results.outputs.os, "access", lambda path, mode: Path(path) != tmp_path and real(path, mode)
    )
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(tmp_path / "out" / "r.csv"))
    assert result.exit_code == 2 and "permission denied" in result.stderr


def test_a_read_only_file_system_is_called_that(runner, tmp_path, monkeypatch):
    """Root passes every permission check but a read-only mount's: say read-only, not permission
    denied (the file system, not the directory's mode, is what to fix)."""
    import collections

    import segcli.results.outputs

    _pair(tmp_path, "a", _square(), _square())
    real_access, real_statvfs = os.access, os.statvfs
    monkeypatch.setattr(
        segcli.results.outputs.os, "access", lambda path, mode: Path(path) != tmp_path and real_access(path, mode)
    )
    mounted = collections.namedtuple("mounted", "f_flag")

    def statvfs(path):
        return mounted(os.ST_RDONLY) if Path(path) == tmp_path else real_statvfs(path)

    monkeypatch.setattr(segcli.results.outputs.os, "statvfs", statvfs)
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(tmp_path / "out" / "r.csv"))
    assert result.exit_code == 2
    assert f"--output {tmp_path / 'out' / 'r.csv'}: read-only file system in {tmp_path}" in result.stderr
    out_dir = runner.invoke(app, ["weightmap", str(tmp_path / "gt"), "--out", str(tmp_path)])
    assert out_dir.exit_code == 2 and f"--out {tmp_path}: read-only file system" in out_dir.stderr


def test_disk_full_while_journaling_keeps_what_was_saved(runner, tmp_path, monkeypatch):
    import errno

    import segcli.results.journal

    for name in "abc":
        _pair(tmp_path, name, _square(), _square())
    original = segcli.results.journal.Journal.append
    calls = {"n": 0}

    def full(self, name, values, meta, stamp=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise segcli.results.journal.OutputError(
                segcli.results.journal.describe_os_error(OSError(errno.ENOSPC, "No space"), self.path)
            )
        return original(self, name, values, meta, stamp)

    monkeypatch.setattr(segcli.results.journal.Journal, "append", full)
    target = tmp_path / "r.csv"
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target))
    assert result.exit_code == 3
    assert "r.csv.partial: cannot write (no space left on device)" in result.stderr
    assert "1 of 3 pair(s) saved" in result.stderr and not target.exists()
    monkeypatch.setattr(segcli.results.journal.Journal, "append", original)
    resumed = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target), "--resume")
    assert resumed.exit_code == 0 and [r["name"] for r in _rows(target.read_text())][:3] == ["a", "b", "c"]


def test_resume_scores_again_a_pair_whose_files_changed(runner, tmp_path, monkeypatch):
    """A pair scored before the interruption whose prediction was rewritten since is scored again
    on --resume (said, with its name): the output is what a clean run on the files as they are
    now gives, not the old value. Unchanged pairs are kept."""
    import errno

    import segcli.results.journal

    for name in "abc":
        _pair(tmp_path, name, _square(), _square())
    original = segcli.results.journal.Journal.append

    def full_at_third(self, name, values, meta, stamp=None):
        if name == "c":
            raise segcli.results.journal.OutputError(
                segcli.results.journal.describe_os_error(OSError(errno.ENOSPC, "No space"), self.path)
            )
        return original(self, name, values, meta, stamp)

    monkeypatch.setattr(segcli.results.journal.Journal, "append", full_at_third)
    target = tmp_path / "r.csv"
    assert _score(runner, tmp_path, "--metrics", "dice", "-o", str(target)).exit_code == 3
    monkeypatch.setattr(segcli.results.journal.Journal, "append", original)
    rewritten = tmp_path / "pred" / "a.npy"
    np.save(rewritten, _square(box=(8, 14)))  # 36 of the GT's 144 pixels: dice 0.4; the same size
    later = rewritten.stat().st_mtime_ns + 10**9  # a file system with a coarse clock still sees it changed
    os.utime(rewritten, ns=(later, later))
    resumed = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming: 1 of 3 pair(s) already scored" in resumed.stderr
    assert "1 pair(s) whose files changed since they were scored are scored again: a" in resumed.stderr
    rows = {r["name"]: r["dice"] for r in _rows(target.read_text())}
    assert rows["a"] == "0.4" and rows["b"] == "1" and rows["c"] == "1"


# --- 5. Every option validated at the edge ------------------------------------------------------


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--threshold", "nan"], "--threshold"),
        (["--sigma", "nan"], "--sigma"),
        (["--w0", "-10"], "--w0"),
        (["--nsd-tolerance", "inf"], "--nsd-tolerance"),
        (["--focal-gamma", "nan"], "--focal-gamma"),
        (["--focal-alpha", "2"], "--focal-alpha"),
        (["--tversky-alpha", "-1"], "--tversky-alpha"),
        (["--pos-weight", "0"], "--pos-weight"),
        (["--max-memory", "nan"], "--max-memory"),
        (["--spacing", "1,nan"], "--spacing"),
        (["--num-classes", "1"], "--num-classes"),
        (["--num-classes", "2", "--class-weights", "1,nan"], "--class-weights"),
        (["--num-classes", "2", "--class-weights", "0,0"], "--class-weights"),
        (["--num-classes", "2", "--class-names", "a,a"], "--class-names"),
        (["--workers", "0"], "--workers"),
        (["--resume"], "--resume"),
    ],
)
def test_bad_option_values_exit_2_naming_the_flag(runner, tmp_path, args, flag):
    _pair(tmp_path, "a", _square(), _square())
    result = runner.invoke(app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), *args])
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and "Traceback" not in result.stderr


def test_workers_above_the_cores_are_capped_and_said(runner, tmp_path):
    _pair(tmp_path, "a", _square(), _square())
    result = _score(runner, tmp_path, "--metrics", "dice", "--workers", "4096")
    assert result.exit_code == 0 and "--workers 4096 capped at" in result.stderr


def test_help_shows_every_default():
    result = subprocess.run(
        [*PYTHON, "score", "--help"], capture_output=True, text=True, env=os.environ | {"COLUMNS": "250"}
    )
    for text in (
        "default: table on a terminal",
        "default: from the files' metadata",
        "default: all cores",
        "default: 80% of physical memory",
        "default: 255",
        "default: negatives/positives per image",
    ):
        assert text in result.stdout, text


def test_options_of_the_other_mode_are_said(runner, tmp_path):
    labels = _square()
    _pair(tmp_path, "a", labels, labels)
    multi = _score(runner, tmp_path, "--metrics", "dice", "--num-classes", "2", "--focal-alpha", "0.5", "--w0", "3")
    assert "--focal-alpha applies to binary scoring" in multi.stderr and "--w0 applies to binary" in multi.stderr
    binary = _score(runner, tmp_path, "--metrics", "dice", "--include-background", "--class-names", "a,b")
    assert "--include-background applies to multi-class" in binary.stderr
    assert "--class-names applies to multi-class" in binary.stderr
    quiet = _score(runner, tmp_path, "--metrics", "dice", "--num-classes", "2", "--focal-gamma", "3")
    assert "applies to binary" not in quiet.stderr  # focal_gamma is read by the multi-class focal loss
    assert "--focal-gamma applies to focal_loss, loss_imbalanced; none is asked for" in quiet.stderr  # not by dice


# --- Found by an adversarial trial ------------------------------------------------------------


def test_outputs_never_replace_an_input_file(runner, tmp_path):
    _pair(tmp_path, "a", _square(), _square())
    gt_file = tmp_path / "gt" / "a.npy"
    before = gt_file.read_bytes()
    for option in ("-o", "--report", "--objects-out"):
        args = ["--metrics", "dice", option, str(gt_file), "--overwrite"]
        if option == "--objects-out":
            args += ["--objects", "components"]
        result = _score(runner, tmp_path, *args)
        assert result.exit_code == 2 and "is one of the input files" in result.stderr, option
    assert gt_file.read_bytes() == before


def test_an_output_reached_by_another_link_to_an_input_is_refused(runner, tmp_path):
    """The same file under another name (a symbolic or hard link) is still an input."""
    _pair(tmp_path, "a", _square(), _square())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = tmp_path / "gt" / "a.npy"
    before = real.read_bytes()
    (elsewhere / "soft.npy").symlink_to(real)
    os.link(real, elsewhere / "hard.npy")
    for target in (elsewhere / "soft.npy", elsewhere / "hard.npy"):
        result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(target), "--overwrite")
        assert result.exit_code == 2 and "is one of the input files" in result.stderr, target
    assert real.read_bytes() == before


def test_resume_of_a_complete_jsonl_still_writes_the_full_report(runner, tmp_path):
    for name in "abc":
        _pair(tmp_path, name, _square(), _square())
    out, page = tmp_path / "r.jsonl", tmp_path / "r.html"
    assert _score(runner, tmp_path, "--metrics", "dice", "-o", str(out)).exit_code == 0
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(out), "--report", str(page), "--resume")
    assert result.exit_code == 0, result.output
    assert "3 pair(s) scored" in page.read_text()


def test_resume_with_other_inputs_keeps_the_partial(runner, tmp_path):
    from segcli.results.journal import Journal

    for name in "ab":
        _pair(tmp_path, name, _square(), _square())
    out = tmp_path / "r.csv"
    # An interrupted run's journal that holds a pair these inputs lack.
    import json

    settings = json.loads(_score(runner, tmp_path, "--metrics", "dice", "--format", "json").stdout)["settings"]
    settings.pop("units")  # added to the finished output, not part of a journal's header
    journal = Journal.open(out, {"format": "csv", "columns": ["dice"], "settings": settings}, resume=False,
                           overwrite=True)  # fmt: skip
    journal.append("zz", {"dice": 1.0}, {})
    journal.close()
    result = _score(runner, tmp_path, "--metrics", "dice", "-o", str(out), "--resume")
    assert result.exit_code == 2 and "not among these inputs" in result.stderr
    assert journal.path.exists() and not out.exists()


def test_soft_ground_truth_is_said_and_4d_is_refused(runner, tmp_path):
    rng = np.random.default_rng(0)
    _pair(tmp_path, "soft", _square(), rng.random((32, 32)).astype(np.float32))
    _pair(tmp_path, "batch", np.zeros((2, 1, 32, 32), np.uint8), np.zeros((2, 1, 32, 32), np.uint8))
    result = _score(runner, tmp_path, "--metrics", "dice")
    assert "gt/soft.npy: ground truth holds fractional values" in result.stderr
    assert result.exit_code == 1 and "gt/batch.npy: expected a 2-D or 3-D image in binary mode" in result.stderr


def test_broken_link_among_predictions_is_an_error(runner, tmp_path):
    _pair(tmp_path, "a", _square(), _square())
    np.save(tmp_path / "gt" / "b.npy", _square())
    (tmp_path / "pred" / "b.npy").symlink_to(tmp_path / "nowhere.npy")
    result = _score(runner, tmp_path, "--metrics", "dice", "--missing", "empty")
    assert result.exit_code == 2 and "pred/b.npy: a broken symbolic link" in result.stderr


@pytest.mark.parametrize("args", [["--spacing", "1e308"], ["--spacing", "1e-320"], ["--num-classes", "1000000000"]])
def test_extreme_values_are_usage_errors(runner, tmp_path, args):
    _pair(tmp_path, "a", _square(), _square())
    result = _score(runner, tmp_path, "--metrics", "dice", *args)
    assert result.exit_code == 2 and args[0] in result.stderr, result.output


def test_compare_refuses_duplicate_cases(runner, tmp_path):
    (tmp_path / "a.csv").write_text("name,dice\nc0,0.5\nc1,0.6\n")
    (tmp_path / "b.csv").write_text("name,dice\nc0,0.7\nc1,0.8\nc0,0.1\n")
    result = runner.invoke(app, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert result.exit_code == 1 and "case 'c0' appears twice" in result.stderr


def test_empty_metrics_labels_without_classes_and_stray_report_options(runner, tmp_path):
    _pair(tmp_path, "a", _square(), _square())
    assert _score(runner, tmp_path, "--metrics", ",").exit_code == 2
    assert _score(runner, tmp_path, "--pred-kind", "labels").exit_code == 2
    stray = _score(runner, tmp_path, "--metrics", "dice", "--report-sort", "hd95")
    assert stray.exit_code == 0 and "without --report they do nothing" in stray.stderr


def test_table_written_to_a_file_cuts_no_value(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    _pair(tmp_path, "a", _square(), np.roll(_square(), 1, axis=0))
    out = tmp_path / "t.txt"
    result = _score(runner, tmp_path, "--format", "table", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "…" not in text and "volume_similarity" in text and "boundary_iou" in text
