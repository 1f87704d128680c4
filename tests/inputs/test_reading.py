"""One check for every file read beside its GT (``segcli.inputs.spacing.check_beside_gt``): what
it returns, the messages it gives naming the file in whatever role it is read, and the
prediction's messages, which stay what they were before raters were checked the same way."""

from __future__ import annotations

import pickle
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.errors import ShapeError
from segcli.inputs.images import Image
from segcli.inputs.spacing import GeometryError, check_beside_gt

HINT = "pass --spacing to choose (or --ignore-geometry for the GT's)"


def _as_the_cli(error) -> str:
    """The message as the CLI prints it: each option marked in it spelled as its flag."""
    return error.spelled(lambda name: "--" + name.replace("_", "-"))


EYE = np.eye(4)


def _image(path, spacing=None, affine=None, unit=None, shape=(4, 5, 6)) -> Image:
    return Image(np.zeros(shape, np.uint8), spacing, Path(path), affine, unit)


def _check(image, gt, **kw):
    return check_beside_gt(image, gt, **({"spacing": None, "ignore_geometry": False} | kw))


def test_agreeing_files_give_the_gt_spacing():
    gt = _image("gt.nii", (2.0, 1.0, 1.0), np.diag([1.0, 1.0, 2.0, 1.0]), "mm")
    rater = _image("r.nii", (2.0, 1.0, 1.0), np.diag([1.0, 1.0, 2.0, 1.0]), "mm")
    assert _check(rater, gt) == ((2.0, 1.0, 1.0), "gt")
    assert _check(_image("r.tif"), gt) == ((2.0, 1.0, 1.0), "gt")  # states none: takes the GT's
    assert _check(_image("r.tif", (3.0,)), _image("gt.tif")) == ((3.0, 3.0, 3.0), "pred")
    assert _check(_image("r.tif"), _image("gt.tif")) == ((1.0, 1.0, 1.0), "default")


def test_another_spacing_names_the_file_in_its_role():
    gt = _image("gt/a.tif", (1.0, 0.5, 0.5))
    rater = _image("r2/a.tif", (1.0, 1.0, 1.0))
    with pytest.raises(GeometryError) as caught:
        _check(rater, gt)
    assert _as_the_cli(caught.value) == f"r2/a.tif: spacing 1,1,1 differs from gt/a.tif spacing 1,0.5,0.5; {HINT}"
    assert caught.value.what == "spacing 1,1,1 differs from gt/a.tif spacing 1,0.5,0.5"
    assert isinstance(caught.value, ShapeError)  # exit 1, as every input error
    with pytest.raises(GeometryError, match="^other/name.tif: spacing 1,1,1 differs from shown.tif spacing"):
        _check(rater, gt, path="other/name.tif", gt_path="shown.tif")


def test_another_geometry_names_the_file_and_what_differs():
    moved = EYE.copy()
    moved[:3, 3] = [0.0, 3.0, 0.0]
    gt = _image("gt/a.nii.gz", (1.0, 1.0, 1.0), EYE, "mm")
    rater = _image("r2/a.nii.gz", (1.0, 1.0, 1.0), moved, "mm")
    with pytest.raises(GeometryError) as caught:
        _check(rater, gt)
    what = "geometry differs from gt/a.nii.gz: origin 0,3,0 vs 0,0,0"
    assert _as_the_cli(caught.value) == f"r2/a.nii.gz: {what}; pass --ignore-geometry to score with the GT's"
    assert str(caught.value) == f"r2/a.nii.gz: {what}; pass ignore_geometry to score with the GT's"  # the API's
    assert caught.value.what == what
    again = pickle.loads(pickle.dumps(caught.value))  # a worker's error may cross a process
    assert (str(again), again.what, type(again)) == (str(caught.value), what, GeometryError)


def test_ignore_geometry_and_spacing_let_a_file_through():
    moved = EYE.copy()
    moved[:3, 3] = [0.0, 3.0, 0.0]
    gt = _image("gt.nii", (1.0, 0.5, 0.5), EYE)
    other = _image("r.nii", (1.0, 1.0, 1.0), moved)
    assert _check(other, gt, ignore_geometry=True) == ((1.0, 0.5, 0.5), "gt")
    assert _check(_image("r.tif", (9.0, 9.0, 9.0)), gt, spacing=(2.0,)) == ((2.0, 2.0, 2.0), "option")
    # a shape difference is never ignored: said without the hint
    with pytest.raises(GeometryError, match=r"^r.nii: geometry differs from gt.nii: shape 4,5,7 vs 4,5,6$"):
        _check(_image("r.nii", (1.0, 0.5, 0.5), EYE, shape=(4, 5, 7)), gt, ignore_geometry=True)


def test_units_are_compared_in_physical_length():
    gt = _image("gt.tif", (1.0, 1.0, 1.0), unit="mm")
    assert _check(_image("r.tif", (1000.0,) * 3, unit="um"), gt) == ((1.0, 1.0, 1.0), "gt")
    with pytest.raises(GeometryError) as caught:
        _check(_image("r.tif", (1.0,) * 3, unit="um"), gt)
    assert caught.value.what == "spacing 1,1,1 um (0.001,0.001,0.001 mm) differs from gt.tif spacing 1,1,1 mm"


# --- the prediction's messages, as they were -----------------------------------------------------


def _tif(path: Path, spacing: float | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((16, 16), np.uint8)
    mask[3:9, 4:12] = 1
    if spacing is None:
        tifffile.imwrite(path, mask)
    else:
        tifffile.imwrite(path, mask, imagej=True, resolution=(1 / spacing, 1 / spacing), metadata={"unit": "mm"})


def _score(root: Path, *extra: str):
    args = ["score", str(root / "pred"), str(root / "gt"), "--metrics", "dice", "--workers", "1", *extra]
    return CliRunner().invoke(app, args)


def test_prediction_of_another_spacing_message_is_unchanged(tmp_path):
    _tif(tmp_path / "pred/a.tif", 1.0)
    _tif(tmp_path / "gt/a.tif", 0.5)
    _tif(tmp_path / "pred/b.tif", 0.5)
    _tif(tmp_path / "gt/b.tif", 0.5)
    result = _score(tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"segcli: warning: not scored: {tmp_path / 'pred/a.tif'}: spacing 1,1 differs from "
        f"{tmp_path / 'gt/a.tif'} spacing 0.5,0.5; {HINT}\n"
        "segcli: error: 1 of 2 pair(s) could not be scored\n"
    )
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:2]] == ["b"]


def test_prediction_of_another_geometry_message_is_unchanged(tmp_path):
    mask = np.zeros((6, 7, 5), np.uint8)
    mask[1:4, 2:5, 1:3] = 1
    moved = np.diag([0.5, 0.5, 2.0, 1.0])
    moved[:3, 3] = [-19.5, 35.5, -112.0]
    gt_affine = moved.copy()
    gt_affine[0, 3] = -20.0
    for folder, affine in (("pred", moved), ("gt", gt_affine)):
        (tmp_path / folder).mkdir()
        nib.save(nib.Nifti1Image(mask, affine), tmp_path / folder / "a.nii.gz")
    result = _score(tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"segcli: warning: not scored: {tmp_path / 'pred/a.nii.gz'}: geometry differs from "
        f"{tmp_path / 'gt/a.nii.gz'}: origin -19.5,35.5,-112 vs -20,35.5,-112; "
        "pass --ignore-geometry to score with the GT's\n"
        "segcli: error: 1 of 1 pair(s) could not be scored\n"
    )
    assert _score(tmp_path, "--ignore-geometry").exit_code == 0


def test_spacing_out_of_range_message_is_unchanged(tmp_path):
    _tif(tmp_path / "pred/a.tif", None)
    (tmp_path / "gt").mkdir()
    nib.save(nib.Nifti1Image(np.zeros((16, 16), np.uint8), np.diag([1e10, 1e10, 1.0, 1.0])), tmp_path / "gt/a.nii")
    result = _score(tmp_path, "--pred-suffix", ".tif", "--gt-suffix", ".nii")
    assert result.exit_code == 1
    assert f"not scored: {tmp_path / 'gt/a.nii'}: spacing 1e+10,1e+10 outside [1e-09, 1e+09]\n" in result.stderr
