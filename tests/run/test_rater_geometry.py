"""A `--rater` file is read and checked beside its GT as the prediction is: another spacing, unit,
origin or axis direction fails its pair (exit 1, one line naming the rater's file), the other
pairs are scored; `--ignore-geometry` and `--spacing` let it through as for a prediction."""

from __future__ import annotations

import csv
import io

import nibabel as nib
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from segcli.cli.main import app

HINT = "pass --spacing to choose (or --ignore-geometry for the GT's)"


def _square(shape=(20, 24)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[4:12, 5:15] = 255
    return mask


def _tif(path, mask, spacing=None, unit="mm"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if spacing is None:
        tifffile.imwrite(path, mask)
    else:
        tifffile.imwrite(path, mask, imagej=True, resolution=(1 / spacing, 1 / spacing), metadata={"unit": unit})


def _nii(path, mask, affine):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(mask, affine), path)


def _run(root, *extra):
    args = ["score", str(root / "pred"), str(root / "gt"), "--rater", str(root / "r2"), "--metrics", "dice,hd95"]
    return CliRunner().invoke(app, [*args, "--workers", "1", *extra])


def _rows(stdout: str) -> dict[str, dict]:
    return {r["name"]: r for r in csv.DictReader(io.StringIO(stdout)) if not r["name"].startswith("summary:")}


@pytest.fixture
def tiffs(tmp_path):
    """Two pairs at spacing 0.5 mm; rater 2 of pair a at 1 mm, of pair b at 0.5 mm."""
    for name in "ab":
        _tif(tmp_path / "pred" / f"{name}.tif", _square(), 0.5)
        _tif(tmp_path / "gt" / f"{name}.tif", _square(), 0.5)
    _tif(tmp_path / "r2/a.tif", _square(), 1.0)
    _tif(tmp_path / "r2/b.tif", np.roll(_square(), 2, axis=1), 0.5)
    return tmp_path


def test_rater_of_another_spacing_fails_its_pair_alone(tiffs):
    result = _run(tiffs)
    assert result.exit_code == 1
    line = f"{tiffs / 'r2/a.tif'}: spacing 1,1 differs from {tiffs / 'gt/a.tif'} spacing 0.5,0.5; {HINT}"
    assert f"segcli: warning: not scored: {line}\n" in result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == ["b"]
    assert float(rows["b"]["rater2.dice"]) == pytest.approx(0.8)  # shifted by 2 of 10 columns
    assert float(rows["b"]["rater2.hd95"]) == pytest.approx(1.0)  # 2 pixels at 0.5 mm


def test_rater_of_another_spacing_is_scored_with_ignore_geometry_or_spacing(tiffs):
    ignored = _run(tiffs, "--ignore-geometry")
    assert ignored.exit_code == 0, ignored.stderr
    rows = _rows(ignored.stdout)
    assert list(rows) == ["a", "b"]
    assert rows["a"]["spacing"] == "0.5x0.5" and rows["a"]["spacing_source"] == "gt"
    assert "not scored" not in ignored.stderr
    chosen = _run(tiffs, "--spacing", "2")
    assert chosen.exit_code == 0, chosen.stderr
    rows = _rows(chosen.stdout)
    assert rows["a"]["spacing_source"] == "option"
    assert float(rows["b"]["rater2.hd95"]) == pytest.approx(4.0)  # 2 pixels at 2


def test_rater_in_another_unit_is_compared_in_physical_length(tmp_path):
    _tif(tmp_path / "pred/a.tif", _square(), 0.5)
    _tif(tmp_path / "gt/a.tif", _square(), 0.5)
    _tif(tmp_path / "pred/b.tif", _square(), 0.5)
    _tif(tmp_path / "gt/b.tif", _square(), 0.5)
    _tif(tmp_path / "r2/a.tif", _square(), 500.0, unit="um")  # 0.5 mm: agrees
    _tif(tmp_path / "r2/b.tif", _square(), 0.5, unit="um")  # 0.0005 mm: does not
    result = _run(tmp_path)
    assert result.exit_code == 1
    line = (
        f"{tmp_path / 'r2/b.tif'}: spacing 0.5,0.5 um (0.0005,0.0005 mm) differs from {tmp_path / 'gt/b.tif'} "
        f"spacing 0.5,0.5 mm; {HINT}"
    )
    assert f"not scored: {line}\n" in result.stderr
    assert list(_rows(result.stdout)) == ["a"]


def test_rater_is_checked_against_the_prediction_where_the_gt_states_no_spacing(tmp_path):
    """The pair is scored in the prediction's spacing then: a rater must agree with it."""
    for name in "ab":
        _tif(tmp_path / "pred" / f"{name}.tif", _square(), 0.5)
        _tif(tmp_path / "gt" / f"{name}.tif", _square())  # no spacing stated
    _tif(tmp_path / "r2/a.tif", _square(), 1.0)
    _tif(tmp_path / "r2/b.tif", _square(), 0.5)
    result = _run(tmp_path)
    assert result.exit_code == 1
    line = f"{tmp_path / 'r2/a.tif'}: spacing 1,1 differs from {tmp_path / 'pred/a.tif'} spacing 0.5,0.5; {HINT}"
    assert f"not scored: {line}\n" in result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == ["b"] and rows["b"]["spacing_source"] == "pred"


def test_rater_with_a_broken_spacing_tag_fails_unless_spacing_is_given(tmp_path):
    volume = np.zeros((3, 20, 24), np.uint8)
    volume[1] = _square()
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "a.tif", volume, imagej=True)
    (tmp_path / "r2").mkdir()
    tifffile.imwrite(
        tmp_path / "r2/a.tif", volume, imagej=True, resolution=(1, 1), metadata={"spacing": -1.0, "unit": "um"}
    )
    result = _run(tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path / 'r2/a.tif'}: bad spacing in ImageJ metadata 'spacing': -1.0" in result.stderr
    given = _run(tmp_path, "--spacing", "1")
    assert given.exit_code == 0, given.stderr


@pytest.fixture
def volumes(tmp_path):
    """Three NIfTI pairs; rater 2 of a has another origin, of b another axis direction, of c the GT's."""
    mask = np.zeros((12, 14, 6), np.uint8)
    mask[3:8, 4:9, 1:4] = 1
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    moved, flipped = affine.copy(), affine.copy()
    moved[:3, 3] = [5.0, 0.0, 0.0]
    flipped[0, 0] = -0.8
    for name in "abc":
        _nii(tmp_path / "pred" / f"{name}.nii.gz", mask, affine)
        _nii(tmp_path / "gt" / f"{name}.nii.gz", mask, affine)
    _nii(tmp_path / "r2/a.nii.gz", mask, moved)
    _nii(tmp_path / "r2/b.nii.gz", mask, flipped)
    _nii(tmp_path / "r2/c.nii.gz", mask, affine)
    return tmp_path


def test_rater_of_another_origin_or_direction_fails_its_pair_alone(volumes):
    result = _run(volumes)
    assert result.exit_code == 1
    hint = "pass --ignore-geometry to score with the GT's"
    origin = f"{volumes / 'r2/a.nii.gz'}: geometry differs from {volumes / 'gt/a.nii.gz'}: origin 5,0,0 vs 0,0,0"
    direction = (
        f"{volumes / 'r2/b.nii.gz'}: geometry differs from {volumes / 'gt/b.nii.gz'}: "
        "direction 0,0,1,0,1,0,-1,0,0 vs 0,0,1,0,1,0,1,0,0"
    )
    assert f"not scored: {origin}; {hint}\n" in result.stderr
    assert f"not scored: {direction}; {hint}\n" in result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == ["c"] and float(rows["c"]["rater2.dice"]) == 1.0


def test_rater_of_another_geometry_is_scored_with_ignore_geometry(volumes):
    result = _run(volumes, "--ignore-geometry")
    assert result.exit_code == 0, result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == ["a", "b", "c"]
    assert all(row["spacing"] == "2x0.8x0.8" and row["spacing_source"] == "gt" for row in rows.values())


def test_the_memory_check_counts_the_raters(tiffs):
    from segcli.inputs.pairing import pair_files
    from segcli.run.outcomes import Failure
    from segcli.run.pair import score_pair
    from segcli.run.reading import estimate_memory
    from segcli.settings import ScoreSettings

    gt = _square()
    alone = estimate_memory(gt.size, 2 * gt.nbytes, ("dice",), None)
    pair = pair_files(tiffs / "pred", tiffs / "gt").pairs[1]
    settings = ScoreSettings(metrics=("dice",), max_memory=alone + gt.nbytes // 2)
    assert not isinstance(score_pair(pair, settings), Failure)
    from dataclasses import replace

    outcome = score_pair(replace(pair, raters=(tiffs / "r2/b.tif",)), settings)
    assert isinstance(outcome, Failure)
    assert outcome.message.startswith(f"{pair.gt}: scoring 1 score(s) on shape (20, 24) needs about")
