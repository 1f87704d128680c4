"""Every distance states its unit: from the file's own unit field, --spacing-unit, or px."""

from __future__ import annotations

import csv
import io
import json

import nibabel
import numpy as np
import tifffile
from typer.testing import CliRunner

from segcli.cli.main import app


def _mask():
    mask = np.zeros((6, 20, 24), np.uint8)
    mask[2:5, 5:15, 6:18] = 1
    return mask


def _run(tmp_path, *args):
    return CliRunner().invoke(
        app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "hd95", "--workers", "1", *args]
    )


def _nifti(path, array, units):
    image = nibabel.Nifti1Image(array, np.diag([0.5, 0.5, 2.0, 1.0]))
    image.header.set_xyzt_units(units)
    nibabel.save(image, path)


def test_units_from_headers_option_and_default(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for name in ("a", "b"):
        _nifti(tmp_path / "gt" / f"{name}.nii.gz", _mask().T.copy(), "mm")
        _nifti(tmp_path / "pred" / f"{name}.nii.gz", np.roll(_mask(), 1, axis=2).T.copy(), "mm")
    result = _run(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["units"] == {"distance": "mm", "pairs": {"mm": 2}}
    table = _run(tmp_path, "--format", "table")
    assert "distances in mm" in table.stdout
    option = _run(tmp_path, "--spacing", "1", "--spacing-unit", "um", "--format", "jsonl")
    assert json.loads(option.stdout.splitlines()[-1])["settings"]["units"]["distance"] == "um"
    plain = _run(tmp_path, "--spacing", "1", "--format", "json")
    assert json.loads(plain.stdout)["settings"]["units"]["distance"] == "unspecified"
    header = next(csv.reader(io.StringIO(_run(tmp_path).stdout)))
    assert "unit" not in header  # CSV/TSV columns stay as they are


def test_mixed_units_are_said(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    mask = _mask()[3]
    np.save(tmp_path / "gt" / "a.npy", mask)
    np.save(tmp_path / "pred" / "a.npy", mask)
    tifffile.imwrite(tmp_path / "gt" / "b.tif", mask, resolution=(2.0, 2.0), resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "pred" / "b.tif", mask, resolution=(2.0, 2.0), resolutionunit="CENTIMETER")
    result = _run(tmp_path, "--format", "json")
    assert json.loads(result.stdout)["settings"]["units"] == {"distance": "mixed", "pairs": {"cm": 1, "px": 1}}
    assert "different units (cm: 1, px: 1)" in result.stderr


def test_unit_names_written_out_are_read(tmp_path):
    """ImageJ's and NRRD's units as people write them ('microns', 'micrometer', 'inches',
    'millimetres') are the units segcli names (um, inch, mm), not an unknown unit."""
    import segcli.inputs.images

    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    mask = _mask()[3]
    written = {"microns": "um", "Micrometer": "um", "micrometres": "um", "inches": "inch", "millimetres": "mm"}
    for number, (unit, _) in enumerate(written.items()):
        for folder in ("pred", "gt"):
            tifffile.imwrite(
                tmp_path / folder / f"c{number}.tif", mask, imagej=True, resolution=(2.0, 2.0), metadata={"unit": unit}
            )
    for number, (unit, name) in enumerate(written.items()):
        assert segcli.inputs.images.spacing_unit(tmp_path / "gt" / f"c{number}.tif") == name, unit
    result = _run(tmp_path, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["settings"]["units"]["pairs"] == {"inch": 1, "mm": 1, "um": 3}
