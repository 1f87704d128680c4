"""The API takes the CLI's --labels and --ignore-geometry, and speaks in argument names."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

import segcli
from segcli.cli.main import app

pytest.importorskip("nibabel")
DATA = "sample_data/nifti"


def test_labels_give_the_cli_records():
    records = list(segcli.score_files(f"{DATA}/pred", f"{DATA}/gt", "dice,hd95", labels=f"{DATA}/dataset.json"))
    result = CliRunner().invoke(
        app, ["score", f"{DATA}/pred", f"{DATA}/gt", "--metrics", "dice,hd95", "--labels", f"{DATA}/dataset.json"]
    )
    assert result.exit_code == 0, result.output
    rows = [r for r in csv.DictReader(io.StringIO(result.stdout)) if not r["name"].startswith("summary")]
    assert [r["name"] for r in records] == [r["name"] for r in rows]
    for record, row in zip(records, rows, strict=True):
        for column in ("dice", "dice_organ", "dice_lesion", "dice_organ_and_lesion", "hd95_lesion"):
            assert record[column] == pytest.approx(float(row[column]), rel=1e-9), column
        assert "dice_background" not in record


def test_labels_on_arrays_score_named_classes_and_regions():
    pred = np.array([[0, 1, 1, 2], [0, 2, 2, 2], [1, 1, 0, 0]])
    target = np.array([[0, 1, 2, 2], [0, 2, 2, 1], [1, 1, 1, 0]])
    values = segcli.score(pred, target, "dice", labels=f"{DATA}/dataset.json")
    per_class = f1_score(target.ravel(), pred.ravel(), labels=[1, 2], average=None)
    assert values["dice_organ"] == pytest.approx(per_class[0])
    assert values["dice_lesion"] == pytest.approx(per_class[1])
    assert values["dice_organ_and_lesion"] == pytest.approx(f1_score(target.ravel() > 0, pred.ravel() > 0))


def test_label_errors_name_the_arguments():
    with pytest.raises(ValueError, match=r"^labels .* not num_classes 5$"):
        segcli.score(np.zeros((4, 4), int), np.zeros((4, 4), int), "dice", num_classes=5, labels=f"{DATA}/dataset.json")
    with pytest.raises(ValueError, match="leave out class_names"):
        segcli.score(np.zeros((4, 4), int), np.zeros((4, 4), int), labels=f"{DATA}/dataset.json", class_names=["a"])


def test_ignore_geometry_scores_pairs_whose_origin_differs(tmp_path):
    import nibabel as nib

    mask = np.zeros((12, 10, 6), np.uint8)
    mask[3:8, 2:7, 1:5] = 1
    for folder, shift in (("pred", 0.5), ("gt", 0.0)):
        affine = np.diag([0.8, 0.8, 2.0, 1.0])
        affine[0, 3] = shift
        (tmp_path / folder).mkdir()
        nib.save(nib.Nifti1Image(mask, affine), tmp_path / folder / "a.nii.gz")
    strict = list(segcli.score_files(tmp_path / "pred", tmp_path / "gt", "dice"))
    assert "error" in strict[0] and "origin" in strict[0]["error"]
    assert "pass ignore_geometry" in strict[0]["error"] and "--" not in strict[0]["error"]  # the API's words
    forced = list(segcli.score_files(tmp_path / "pred", tmp_path / "gt", "dice", ignore_geometry=True))
    assert forced[0]["dice"] == 1.0
