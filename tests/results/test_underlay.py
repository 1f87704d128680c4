"""`--images` underlays of the HTML report's thumbnails are checked beside the case's GT by the
rule that checks a prediction (``segcli.inputs.spacing``): one of another spacing, origin or axis
direction is not drawn under the masks, a warning names it and what differs, and the scores stay."""

from __future__ import annotations

import html
import json

import nibabel as nib
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from segcli.cli.main import app

AFFINE = np.diag([0.8, 0.8, 2.0, 1.0])


def _nii(path, array, affine=AFFINE):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)


@pytest.fixture
def volumes(tmp_path):
    """Two NIfTI pairs and their images: a's at another origin, b's at the GT's."""
    rng = np.random.default_rng(3)
    mask = np.zeros((12, 14, 6), np.uint8)
    mask[3:8, 4:9, 1:4] = 1
    moved = AFFINE.copy()
    moved[:3, 3] = [5.0, 0.0, 0.0]
    for name, affine in (("a", moved), ("b", AFFINE)):
        _nii(tmp_path / "pred" / f"{name}.nii.gz", np.roll(mask, 1, axis=0))
        _nii(tmp_path / "gt" / f"{name}.nii.gz", mask)
        _nii(tmp_path / "img" / f"{name}.nii.gz", rng.random(mask.shape).astype(np.float32), affine)
    return tmp_path


def _report(root, *extra):
    run = root / "run.jsonl"
    scored = CliRunner().invoke(
        app,
        [
            "score",
            str(root / "pred"),
            str(root / "gt"),
            "--metrics",
            "dice",
            "-o",
            str(run),
            "--workers",
            "1",
            "--overwrite",
            *extra,
        ],
    )
    assert scored.exit_code == 0, scored.stderr
    page = root / "r.html"
    result = CliRunner().invoke(
        app, ["report", str(run), "-o", str(page), "--images", str(root / "img"), "--overwrite"]
    )
    return result, page, run


def test_an_underlay_of_another_origin_is_not_drawn_and_said(volumes):
    result, page, run = _report(volumes)
    assert result.exit_code == 0, result.stderr
    said = (
        f"{volumes / 'img/a.nii.gz'}: not used as the background, geometry differs from "
        f"{volumes / 'gt/a.nii.gz'}: origin 5,0,0 vs 0,0,0; the GT mask is shown instead"
    )
    assert f"segcli: warning: {said}\n" in result.stderr
    assert said in html.unescape(page.read_text())
    assert "img/b.nii.gz" not in result.stderr  # agrees: used
    rows = [json.loads(line) for line in run.read_text().splitlines()[:2]]
    assert [(r["name"], r["dice"]) for r in rows] == [("a", pytest.approx(0.8)), ("b", pytest.approx(0.8))]


def test_an_underlay_of_another_geometry_is_used_with_ignore_geometry_or_spacing(volumes):
    for extra in (("--ignore-geometry",), ("--spacing", "2,0.8,0.8")):
        result, _, _ = _report(volumes, *extra)
        assert result.exit_code == 0, result.stderr
        assert "not used as the background" not in result.stderr, extra


def test_an_underlay_of_another_spacing_is_not_drawn(tmp_path):
    mask = np.zeros((16, 18), np.uint8)
    mask[4:10, 3:12] = 255
    for folder, spacing in (("pred", 0.5), ("gt", 0.5), ("img", 1.0)):
        (tmp_path / folder).mkdir()
        image = mask if folder != "img" else np.arange(mask.size, dtype=np.uint16).reshape(mask.shape)
        tifffile.imwrite(
            tmp_path / folder / "a.tif", image, imagej=True, resolution=(1 / spacing,) * 2, metadata={"unit": "mm"}
        )
    result, _, _ = _report(tmp_path)
    assert result.exit_code == 0, result.stderr
    said = (
        f"{tmp_path / 'img/a.tif'}: not used as the background, spacing 1,1 differs from {tmp_path / 'gt/a.tif'} "
        "spacing 0.5,0.5; the GT mask is shown instead"
    )
    assert f"segcli: warning: {said}\n" in result.stderr


def test_the_thumbnail_is_drawn_over_an_agreeing_underlay_and_over_the_gt_mask_otherwise(volumes):
    """The picture itself: the disagreeing underlay gives the GT-mask thumbnail, the agreeing one another."""
    from segcli.results.thumbnails import case_masks, case_thumbnail, thumbnail

    settings = {"spacing_override": None, "ignore_geometry": False}
    for name, used in (("a", False), ("b", True)):
        meta = {
            "gt_path": str(volumes / "gt" / f"{name}.nii.gz"),
            "pred_path": str(volumes / "pred" / f"{name}.nii.gz"),
        }
        notes: list[str] = []
        picture = case_thumbnail(meta, settings, volumes / "img" / f"{name}.nii.gz", notes=notes)
        over_gt = thumbnail(*case_masks(meta, settings))
        assert (picture != over_gt) is used and (not notes) is used
        ignored = case_thumbnail(meta, settings | {"ignore_geometry": True}, volumes / "img" / f"{name}.nii.gz")
        assert ignored != over_gt


def test_an_underlay_volume_of_another_depth_is_not_drawn(volumes):
    """Its slices have the masks' shape, but not the GT's slices: said, not drawn."""
    _nii(volumes / "img/b.nii.gz", np.zeros((12, 14, 7), np.float32))
    result, _, _ = _report(volumes)
    said = "not used as the background, its shape (7, 14, 12) differs from the GT's (6, 14, 12)"
    assert f"{volumes / 'img/b.nii.gz'}: {said}" in result.stderr
