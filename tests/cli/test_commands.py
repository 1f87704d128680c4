"""The CLI as users script it: exit codes, stdout data, stderr messages, bad inputs, outputs."""

from __future__ import annotations

import csv
import inspect
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.scores.table import BY_NAME, PRESETS, SCORES, select
from segcli.settings import ScoreOptions

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture
def runner():
    return CliRunner()


def _png(path: Path, array) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        gt = np.zeros((20, 24), np.uint8)
        gt[4:12, 5 + i : 15] = 255
        pred = np.roll(gt, 1, axis=0)
        _png(tmp_path / "gt" / f"sub/c{i}.png", gt)
        _png(tmp_path / "pred" / f"sub/c{i}.png", pred)
    (tmp_path / "pred" / "README.txt").write_text("not an image")
    (tmp_path / "gt" / ".hidden.png").write_bytes(b"junk")
    del rng
    return tmp_path


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_score_csv_default_when_not_a_terminal(runner, pairs):
    result = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--metrics", "dice,hd95", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    rows = _csv(result.stdout)
    assert [r["name"] for r in rows[:3]] == ["sub/c0", "sub/c1", "sub/c2"]
    assert rows[3]["name"] == "summary:mean"
    assert list(rows[0]) == ["name", "dice", "hd95", "pred_kind", "spacing", "spacing_source", "pred_path", "gt_path"]
    assert (rows[0]["pred_kind"], rows[0]["spacing"], rows[0]["spacing_source"]) == ("mask", "1x1", "default")
    assert float(rows[0]["hd95"]) == pytest.approx(1.0)


def test_json_is_strict_and_non_finite_is_null(runner, tmp_path):
    _png(tmp_path / "gt/a.png", np.zeros((8, 8)))
    full = np.zeros((8, 8))
    full[2:5, 2:5] = 1
    _png(tmp_path / "pred/a.png", full)
    result = runner.invoke(
        app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--format", "json", "--metrics", "dice,hd"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["images"][0]["hd"] is None
    assert doc["images"][0]["dice"] == 0.0
    assert doc["summary"]["hd"]["n_nonfinite"] == 1
    assert doc["summary"]["hd"]["mean"] is None  # never silently dropped: the mean is infinite
    csv_result = runner.invoke(app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "hd"])
    assert _csv(csv_result.stdout)[0]["hd"] == "inf"


def test_jsonl_and_tsv(runner, pairs):
    result = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--format", "jsonl", "--metrics", "region"]
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4 and "summary" in lines[-1] and lines[0]["name"] == "sub/c0"
    result = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--format", "tsv", "--metrics", "dice"]
    )
    assert result.stdout.splitlines()[0] == "name\tdice\tpred_kind\tspacing\tspacing_source\tpred_path\tgt_path"


def test_unmatched_files_exit_2_and_list_them(runner, pairs):
    _png(pairs / "gt" / "extra.png", np.zeros((4, 4)))
    result = runner.invoke(app, ["score", str(pairs / "pred"), str(pairs / "gt")])
    assert result.exit_code == 2
    assert "extra.png" in result.stderr and "ground truth without prediction" in result.stderr
    skip = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--missing", "skip", "--metrics", "dice"]
    )
    assert skip.exit_code == 0 and "extra" not in skip.stdout and "extra.png" in skip.stderr
    empty = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--missing", "empty", "--metrics", "dice"]
    )
    assert empty.exit_code == 0
    assert [r for r in _csv(empty.stdout) if r["name"] == "extra"][0]["dice"] == "1"  # empty vs empty


def test_bad_file_is_named_others_scored_exit_1(runner, pairs):
    (pairs / "pred" / "sub" / "c1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--metrics", "dice", "--workers", "2"]
    )
    assert result.exit_code == 1
    assert "c1.png" in result.stderr and "Traceback" not in result.stderr
    names = [r["name"] for r in _csv(result.stdout)]
    assert "sub/c0" in names and "sub/c2" in names and "sub/c1" not in names
    fast = runner.invoke(
        app, ["score", str(pairs / "pred"), str(pairs / "gt"), "--metrics", "dice", "--fail-fast", "--workers", "1"]
    )
    assert fast.exit_code == 1 and "sub/c2" not in fast.stdout


def test_shape_mismatch_and_nan_are_named(runner, tmp_path):
    _png(tmp_path / "gt/a.png", np.zeros((8, 8)))
    _png(tmp_path / "pred/a.png", np.zeros((8, 9)))
    _png(tmp_path / "gt/b.png", np.zeros((4, 4)))
    nan = np.full((4, 4), 0.5, np.float32)
    nan[0, 0] = np.nan
    tifffile.imwrite(tmp_path / "pred/b.tif", nan)
    _png(tmp_path / "gt/c.png", np.zeros((4, 4)))
    np.save(tmp_path / "pred/c.npy", np.full((4, 4), 1.5, np.float32))
    result = runner.invoke(
        app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--pred-kind", "prob", "--metrics", "dice"]
    )
    assert result.exit_code == 1
    assert "a.png: shape (8, 9) does not match" in result.stderr
    assert "b.tif: prediction holds NaN" in result.stderr
    assert "c.npy: probabilities must lie in [0, 1]" in result.stderr


@pytest.mark.parametrize(
    "args, hint",
    [
        (["--threshold", "2"], "--threshold"),
        (["--spacing", "1,x"], "--spacing"),
        (["--metrics", "dcie"], "dcie"),
        (["--device", "tpu"], "--device"),
        (["--format", "xml"], "--format"),
    ],
)
def test_bad_options_exit_2(runner, pairs, args, hint):
    result = runner.invoke(app, ["score", str(pairs / "pred"), str(pairs / "gt"), *args])
    assert result.exit_code == 2, result.output
    assert hint in result.stderr


def test_nonexistent_and_empty_directories(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["score", str(tmp_path / "nope"), str(tmp_path / "empty")])
    assert result.exit_code == 2 and "nope: no such file or directory" in result.stderr
    result = runner.invoke(app, ["score", str(tmp_path / "empty"), str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no image files found" in result.stderr


def test_output_file_atomic_and_no_overwrite(runner, pairs):
    target = pairs / "report.json"
    args = ["score", str(pairs / "pred"), str(pairs / "gt"), "--metrics", "dice", "--output", str(target)]
    assert runner.invoke(app, args).exit_code == 0
    assert json.loads(target.read_text())["summary"]["dice"]["n_nonfinite"] == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert not [p for p in pairs.iterdir() if p.name.endswith(".partial")]


def test_sample_data_all_scores(runner):
    result = runner.invoke(app, ["score", str(SAMPLE / "pred"), str(SAMPLE / "gt"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    from segcli.results.formats import META_COLUMNS

    default_set = {s.name for s in select(None)}  # every score but the opt-in ones
    assert set(doc["images"][0]) - {"nonfinite"} == {"name", *default_set, *META_COLUMNS}
    assert "fbeta" in set(BY_NAME) - default_set
    assert {i["name"] for i in doc["images"]} == {"case01", "case02", "case03", "volume01"}


def test_spacing_from_tiff_metadata_and_override(runner):
    args = [
        "score",
        str(SAMPLE / "pred/volume01.tif"),
        str(SAMPLE / "gt/volume01.tif"),
        "--metrics",
        "hd",
        "--format",
        "json",
    ]
    stated = json.loads(runner.invoke(app, args).stdout)["images"][0]["hd"]
    unit = json.loads(runner.invoke(app, [*args, "--spacing", "1"]).stdout)["images"][0]["hd"]
    assert stated != unit
    wrong = runner.invoke(app, [*args, "--spacing", "1,1"])
    assert wrong.exit_code == 1 and "2 values for a 3D image" in wrong.stderr


def test_multiclass_cli(runner, tmp_path):
    gt = np.array([[0, 1, 1, 255], [2, 2, 1, 255]])
    _png(tmp_path / "gt/a.png", gt)
    _png(tmp_path / "pred/a.png", np.array([[0, 1, 2, 0], [2, 2, 1, 0]]))
    result = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--num-classes",
            "3",
            "--metrics",
            "dice,ce",
            "--class-names",
            "bg,a,b",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    image = json.loads(result.stdout)["images"][0]
    assert image["dice_a"] == pytest.approx(0.8) and image["dice_b"] == pytest.approx(0.8)
    bad = runner.invoke(app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "2"])
    assert bad.exit_code == 1 and "label 2 outside 0..1" in bad.stderr
    wrong_metric = runner.invoke(
        app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--num-classes", "3", "--metrics", "bce"]
    )
    assert wrong_metric.exit_code == 2


def test_metrics_lists_every_score(runner):
    from segcli.scores.table import SCORES

    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 0
    for s in SCORES:
        assert s.name in result.stdout


def test_classweights_cli_formats(runner, tmp_path):
    _png(tmp_path / "d/a.png", [[0, 0, 0, 1], [0, 0, 255, 1]])
    _png(tmp_path / "d/sub/b.png", [[0, 2, 2, 2], [0, 2, 2, 255]])
    result = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"] == [7, 2, 5] and set(doc["weights"]) == {"inverse", "balanced", "median", "enet", "effective"}
    assert "inferred K = 3" in result.stderr
    torch_line = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--format", "torch", "--scheme", "balanced"])
    assert torch_line.stdout.startswith("torch.tensor([0.666667, 2.33333, 0.933333])")
    absent = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--num-classes", "4", "--absent", "error"])
    assert absent.exit_code == 1 and "3" in absent.stderr
    too_small = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--num-classes", "2"])
    assert too_small.exit_code == 1 and "b.png: label 2" in too_small.stderr
    # the JSON feeds score --class-weights
    (tmp_path / "w.json").write_text(result.stdout)
    from segcli.run.per_class import load_class_weights

    assert load_class_weights(str(tmp_path / "w.json"), "balanced", 3) == pytest.approx(doc["weights"]["balanced"])


def test_weightmap_cli_writes_mirrored_tiffs(runner, tmp_path):
    out = tmp_path / "out"
    args = ["weightmap", str(SAMPLE / "instances"), "--out", str(out), "--preview", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cells = tifffile.imread(out / "cells01.tif")
    assert cells.dtype == np.float32 and cells.max() > 1
    assert (out / "cells01.png").exists() and "touching cells merge" in result.stderr
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--overwrite" in again.stderr
    resumed = runner.invoke(app, [*args, "--skip-existing"])
    assert resumed.exit_code == 0 and "skipped" in resumed.stderr
    sdf = runner.invoke(
        app, ["weightmap", str(SAMPLE / "instances/cells01_binary.png"), "--out", str(tmp_path / "s"), "--kind", "sdf"]
    )
    assert sdf.exit_code == 0 and tifffile.imread(tmp_path / "s/cells01_binary.tif").min() < 0


def _run_segcli_in_fresh_python(*argv: str) -> None:
    """Run the CLI in a new interpreter and fail if torch (or, for --help, scipy) was imported."""
    forbidden = ["torch", "scipy"] if argv == ("--help",) else ["torch"]
    code = (
        "import sys\n"
        "from segcli.cli.main import app\n"
        f"sys.argv = ['segcli', *{list(argv)!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"loaded = [m for m in {forbidden!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ | {"COLUMNS": "100"}
    )
    assert done.returncode == 0, done.stderr


def test_help_does_not_import_torch():
    _run_segcli_in_fresh_python("--help")


def test_score_cpu_run_does_not_import_torch():
    _run_segcli_in_fresh_python("score", str(SAMPLE / "pred"), str(SAMPLE / "gt"), "--workers", "1")


def test_max_memory_reports_the_pair_and_scores_the_rest(runner, tmp_path):
    _png(tmp_path / "gt/small.png", np.zeros((8, 8)))
    _png(tmp_path / "pred/small.png", np.zeros((8, 8)))
    _png(tmp_path / "gt/large.png", np.zeros((600, 600)))
    _png(tmp_path / "pred/large.png", np.zeros((600, 600)))
    # all scores on 600x600 need ~40 MB by the estimate; allow 10 MB
    result = runner.invoke(
        app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--max-memory", "0.01", "--workers", "1"]
    )
    assert result.exit_code == 1

    assert f"large.png: scoring {len(select(None))} score(s) on shape (600, 600) needs about" in result.stderr
    assert [r["name"] for r in _csv(result.stdout)][0] == "small"
    light = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--max-memory",
            "0.01",
            "--metrics",
            "dice",
            "--workers",
            "1",
        ],
    )
    assert light.exit_code == 0


def test_weightmap_bad_inputs_named_others_written(runner, tmp_path):
    _png(tmp_path / "m/good.png", np.pad(np.ones((4, 4)), 3) * 255)
    (tmp_path / "m/broken.tif").write_text("this is not a tiff")
    result = runner.invoke(app, ["weightmap", str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 1
    assert "broken.tif: cannot read" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "o/good.tif").exists() and not (tmp_path / "o/broken.tif").exists()
    bad = runner.invoke(app, ["weightmap", str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--sigma", "0"])
    assert bad.exit_code == 2 and "--sigma" in bad.stderr
    missing = runner.invoke(app, ["weightmap", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "nothing: no such file or directory" in missing.stderr


def test_classweights_bad_inputs(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["classweights", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no image files found" in result.stderr
    _png(tmp_path / "d/a.png", [[0, 1]])
    bad_scheme = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--scheme", "inverse,nope"])
    assert bad_scheme.exit_code == 2 and "nope" in bad_scheme.stderr
    _png(tmp_path / "ignored/a.png", [[255, 255]])
    all_ignored = runner.invoke(app, ["classweights", str(tmp_path / "ignored")])
    assert all_ignored.exit_code == 1 and "no labelled pixel" in all_ignored.stderr


def test_usage_errors_are_one_line_through_main(tmp_path):
    """The installed entry point (main) prints usage errors as one line, exit 2."""
    for argv, expected in (
        (["score", str(SAMPLE / "pred"), str(SAMPLE / "gt"), "--threshold", "1.5"], "--threshold"),
        (["score", str(SAMPLE / "pred"), str(SAMPLE / "gt"), "--format", "xml"], "xml"),
        (["score", str(SAMPLE / "pred")], "Missing argument"),
        (["classweights", str(tmp_path / "none")], "no such file or directory"),
    ):
        done = subprocess.run([sys.executable, "-m", "segcli", *argv], capture_output=True, text=True)
        assert done.returncode == 2, (argv, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("segcli: error:") and expected in lines[0], done.stderr


def test_output_file_has_the_usual_permissions(runner, pairs):
    target = pairs / "r.csv"
    assert runner.invoke(app, ["score", str(pairs / "pred"), str(pairs / "gt"), "-o", str(target)]).exit_code == 0
    assert target.stat().st_mode & 0o044  # readable by group/others under the usual umask


# The loss options' CLI defaults are the library's; `segcli metrics` and the README list the losses.

NEW_LOSSES = ("squared_dice_loss", "nearest_cell_bce", *PRESETS)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_cli_defaults_are_the_options_defaults():
    from segcli.cli.score import score

    parameters = inspect.signature(score).parameters
    assert parameters["smooth"].default == ScoreOptions().smooth
    assert parameters["dice_gamma"].default == ScoreOptions().dice_gamma


def test_metrics_command_and_readme_list_the_new_losses():
    result = CliRunner().invoke(_app(), ["metrics"])
    assert result.exit_code == 0
    table_rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    for name in (*NEW_LOSSES, "combined"):
        assert name in result.stdout, name
        assert any(name in row.split("|")[1] for row in table_rows), name
    formulas = {s.formula for s in SCORES if s.name in NEW_LOSSES}
    assert "0.3 bce + 0.4 dice_loss + 0.3 boundary_bce" in formulas


def _app():
    from segcli.cli.main import app

    return app
