"""Prediction and GT spacings are compared in physical length when both files state a unit.

1000 um agrees with 1 mm and the pair is scored in the GT's spacing and unit; 0.5 inch does not
agree with 0.5 cm and the pair fails, the message giving both spacings with their units. A unit
stated on one side only, or on none, keeps the numeric comparison. Expectations are worked by hand:
two squares whose right edges are 2 px apart are 2 x spacing apart (hd).
"""

from __future__ import annotations

import json

import nibabel
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.errors import ShapeError
from segcli.inputs.spacing import geometry_differences, pair_spacing


def _squares():
    """GT 6x6, prediction 2 px wider to the right: hd = 2 px (border to border)."""
    gt = np.zeros((16, 16), np.uint8)
    gt[3:9, 3:9] = 1
    pred = np.zeros_like(gt)
    pred[3:9, 3:11] = 1
    return pred, gt


def _run(tmp_path, *args):
    return CliRunner().invoke(
        app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "hd", "--workers", "1", *args]
    )


def _tiffs(tmp_path, gt_resolution, gt_unit, pred_resolution, pred_unit):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    pred, gt = _squares()
    tifffile.imwrite(tmp_path / "gt/a.tif", gt, resolution=(gt_resolution,) * 2, resolutionunit=gt_unit)
    tifffile.imwrite(tmp_path / "pred/a.tif", pred, resolution=(pred_resolution,) * 2, resolutionunit=pred_unit)


def _record(result):
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (image,) = document["images"]
    return image, document["settings"]["units"]["distance"]


# --- TIFF -------------------------------------------------------------------------------------


def test_tiff_half_inch_against_half_centimetre_fails_naming_both_units(tmp_path):
    _tiffs(tmp_path, 2.0, "CENTIMETER", 2.0, "INCH")  # 0.5 cm GT, 0.5 inch (1.27 cm) prediction
    result = _run(tmp_path, "--format", "csv")
    assert result.exit_code == 1
    assert "pred/a.tif: spacing 0.5,0.5 inch (1.27,1.27 cm) differs from" in result.stderr
    assert "gt/a.tif spacing 0.5,0.5 cm" in result.stderr
    assert "\na," not in result.stdout  # not scored


def test_tiff_same_length_in_other_units_is_scored_in_the_gts_spacing_and_unit(tmp_path):
    _tiffs(tmp_path, 2.0, "CENTIMETER", 5.08, "INCH")  # 0.5 cm and 1 / 5.08 inch = 0.5 cm
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], image["spacing_source"], unit) == ([0.5, 0.5], "gt", "cm")
    assert image["hd"] == pytest.approx(1.0)  # 2 px x 0.5 cm


def test_tiff_micrometres_against_centimetres(tmp_path):
    _tiffs(tmp_path, 0.002, "MICROMETER", 20.0, "CENTIMETER")  # 500 um GT, 0.05 cm prediction
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], image["spacing_source"], unit) == ([500.0, 500.0], "gt", "um")
    assert image["hd"] == pytest.approx(1000.0)  # 2 px x 500 um


def test_tiff_same_unit_scores_as_before(tmp_path):
    _tiffs(tmp_path, 2.0, "CENTIMETER", 2.0, "CENTIMETER")
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], unit, image["hd"]) == ([0.5, 0.5], "cm", 1.0)


def test_ignore_geometry_scores_units_that_differ_with_the_gts_spacing(tmp_path):
    _tiffs(tmp_path, 2.0, "CENTIMETER", 2.0, "INCH")
    image, unit = _record(_run(tmp_path, "--format", "json", "--ignore-geometry"))
    assert (image["spacing"], image["spacing_source"], unit, image["hd"]) == ([0.5, 0.5], "gt", "cm", 1.0)


# --- NIfTI ------------------------------------------------------------------------------------


def _volumes():
    """File index order (i, j, k): the prediction is 2 voxels longer along i."""
    gt = np.zeros((12, 12, 6), np.uint8)
    gt[3:8, 3:8, 2:4] = 1
    pred = np.zeros_like(gt)
    pred[3:10, 3:8, 2:4] = 1
    return pred, gt


def _nifti(path, array, zooms, units, origin=(0.0, 0.0, 0.0)):
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = origin
    image = nibabel.Nifti1Image(array, affine)
    image.header.set_xyzt_units(units)
    nibabel.save(image, path)


def _niftis(tmp_path, pred_zooms, pred_units, pred_origin=(0.0, 0.0, 0.0), gt_origin=(0.0, 0.0, 0.0)):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    pred, gt = _volumes()
    _nifti(tmp_path / "gt/a.nii.gz", gt, (0.5, 1.0, 2.0), "mm", gt_origin)
    _nifti(tmp_path / "pred/a.nii.gz", pred, pred_zooms, pred_units, pred_origin)


def test_nifti_1000_micron_agrees_with_1_mm(tmp_path):
    origin = (-20.0, 35.5, -112.0)
    _niftis(tmp_path, (500.0, 1000.0, 2000.0), "micron", tuple(1000 * v for v in origin), origin)
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], image["spacing_source"], unit) == ([2.0, 1.0, 0.5], "gt", "mm")
    assert image["hd"] == pytest.approx(1.0)  # 2 voxels x 0.5 mm


def test_nifti_metres_agree_with_millimetres(tmp_path):
    _niftis(tmp_path, (0.0005, 0.001, 0.002), "meter")
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], unit, image["hd"]) == ([2.0, 1.0, 0.5], "mm", pytest.approx(1.0))


def test_nifti_1_micron_against_1_mm_fails_naming_both_units(tmp_path):
    _niftis(tmp_path, (0.5, 1.0, 2.0), "micron")  # the same numbers, a thousandth of the length
    result = _run(tmp_path, "--format", "csv")
    assert result.exit_code == 1
    assert "geometry differs from" in result.stderr
    assert "spacing 2,1,0.5 um (0.002,0.001,0.0005 mm) vs 2,1,0.5 mm" in result.stderr
    assert "\na," not in result.stdout


def test_nifti_origin_is_compared_in_physical_length(tmp_path):
    origin = (-20.0, 35.5, -112.0)
    _niftis(tmp_path, (500.0, 1000.0, 2000.0), "micron", origin, origin)  # origin numbers unscaled
    result = _run(tmp_path, "--format", "csv")
    assert result.exit_code == 1
    assert "origin -20,35.5,-112 um vs -20,35.5,-112 mm" in result.stderr


def test_nifti_same_unit_scores_as_before(tmp_path):
    _niftis(tmp_path, (0.5, 1.0, 2.0), "mm")
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], unit, image["hd"]) == ([2.0, 1.0, 0.5], "mm", 1.0)


def test_unit_on_one_side_only_keeps_the_numeric_comparison(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    pred, gt = _volumes()
    _nifti(tmp_path / "gt/a.nii.gz", gt, (0.5, 1.0, 2.0), "mm")
    # NRRD "spacings" without "space units": spacing without a unit (and without an affine)
    nrrd.write(str(tmp_path / "pred/a.nrrd"), pred, {"spacings": [0.5, 1.0, 2.0]}, index_order="F")
    image, unit = _record(_run(tmp_path, "--format", "json"))
    assert (image["spacing"], unit, image["hd"]) == ([2.0, 1.0, 0.5], "mm", 1.0)
    (tmp_path / "pred/a.nrrd").unlink()
    nrrd.write(str(tmp_path / "pred/a.nrrd"), pred, {"spacings": [500.0, 1000.0, 2000.0]}, index_order="F")
    result = _run(tmp_path, "--format", "csv")  # 1000 without a unit is not 1 mm
    assert result.exit_code == 1
    assert "spacing 2000,1000,500 differs from" in result.stderr and "spacing 2,1,0.5;" in result.stderr


# --- the functions ----------------------------------------------------------------------------


def test_unit_scale():
    from segcli.inputs.spacing import unit_scale

    assert unit_scale("um", "mm") == pytest.approx(1e-3)
    assert unit_scale("inch", "cm") == pytest.approx(2.54)
    assert unit_scale("m", "nm") == pytest.approx(1e9)
    assert unit_scale("mm", "mm") == 1.0
    assert unit_scale("mm", None) is None and unit_scale(None, "mm") is None and unit_scale("px", "mm") is None


def test_pair_spacing_compares_physical_lengths():
    same = pair_spacing(None, (1.0, 2.0), (1000.0, 2000.0), 2, "g", "p", gt_unit="mm", pred_unit="um")
    assert same == ((1.0, 2.0), "gt")
    with pytest.raises(ShapeError, match=r"p: spacing 1,2 um \(0.001,0.002 mm\) differs from g spacing 1,2 mm"):
        pair_spacing(None, (1.0, 2.0), (1.0, 2.0), 2, "g", "p", gt_unit="mm", pred_unit="um")
    # a unit on one side only, or none: the numbers as they are
    for units in ({"gt_unit": "mm"}, {"pred_unit": "um"}, {}):
        assert pair_spacing(None, (1.0, 2.0), (1.0, 2.0), 2, "g", "p", **units) == ((1.0, 2.0), "gt")
        with pytest.raises(ShapeError, match=r"p: spacing 1000,2000 differs from g spacing 1,2;"):
            pair_spacing(None, (1.0, 2.0), (1000.0, 2000.0), 2, "g", "p", **units)
    assert pair_spacing(None, (1.0, 1.0), (1.0, 1.0), 2, "g", "p", ignore_geometry=True, gt_unit="cm",
                        pred_unit="inch") == ((1.0, 1.0), "gt")  # fmt: skip
    with pytest.raises(TypeError, match="pred_unit"):
        pair_spacing(None, (1.0,), (1.0,), 1, "g", "p", pred_unit=1.0)


def test_geometry_differences_in_physical_length():
    eye = np.eye(4)
    micron = np.diag([1000.0, 1000.0, 1000.0, 1.0])
    shape = (4, 4, 4)
    assert (
        geometry_differences(shape, (1000.0,) * 3, micron, shape, (1.0,) * 3, eye, pred_unit="um", gt_unit="mm") == []
    )
    assert geometry_differences(shape, (1.0,) * 3, eye, shape, (1.0,) * 3, eye, pred_unit="um", gt_unit="mm") == [
        "spacing 1,1,1 um (0.001,0.001,0.001 mm) vs 1,1,1 mm"
    ]
    # without both units: the numbers as they are (as before)
    assert geometry_differences(shape, (1000.0,) * 3, micron, shape, (1.0,) * 3, eye, gt_unit="mm") == [
        "spacing 1000,1000,1000 vs 1,1,1"
    ]
    with pytest.raises(TypeError, match="gt_unit"):
        geometry_differences(shape, None, None, shape, None, None, gt_unit=3)
