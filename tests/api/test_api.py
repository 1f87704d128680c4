"""The Python API: equal to the CLI's records on the same data, numpy and torch alike, and
arguments checked at the edge with messages that name them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from sklearn.metrics import f1_score
from typer.testing import CliRunner

import segcli
from segcli.cli.main import app


def _cli_record(tmp_path, pred, gt, *args):
    (tmp_path / "p").mkdir(parents=True, exist_ok=True)
    (tmp_path / "g").mkdir(parents=True, exist_ok=True)
    np.save(tmp_path / "p" / "case.npy", pred)
    np.save(tmp_path / "g" / "case.npy", gt)
    result = CliRunner().invoke(app, ["score", str(tmp_path / "p"), str(tmp_path / "g"), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["images"][0]
    odd = record.pop("nonfinite", {})
    return {k: (float(odd[k]) if k in odd else v) for k, v in record.items()}


def _same(api: dict, cli: dict):
    for key, value in api.items():
        assert (math.isnan(value) and cli[key] is None) or value == pytest.approx(cli[key], rel=1e-12, abs=0), key


@pytest.fixture
def masks():
    rng = np.random.default_rng(4)
    field = ndimage.gaussian_filter(rng.standard_normal((40, 44)), 3)
    gt = field > 0
    prob = 1 / (1 + np.exp(-(field + rng.normal(0, 0.1, field.shape)) * 10))
    return gt, prob.astype(np.float32)


def test_2d_probabilities_and_masks_equal_the_cli(tmp_path, masks):
    gt, prob = masks
    api = segcli.score(prob, gt)
    _same(api, _cli_record(tmp_path, prob, gt.astype(np.uint8)))
    hard = prob > 0.5
    _same(segcli.score(hard, gt, nsd_tolerance=2.0, focal_gamma=3.0), _cli_record(
        tmp_path / "m", hard, gt.astype(np.uint8), "--nsd-tolerance", "2", "--focal-gamma", "3"))  # fmt: skip
    assert all(type(v) is float for v in api.values())  # plain Python floats, not numpy scalars


def test_3d_with_spacing_equals_the_cli(tmp_path):
    rng = np.random.default_rng(2)
    gt = ndimage.gaussian_filter(rng.standard_normal((12, 24, 20)), 2) > 0
    pred = np.roll(gt, 1, axis=2)
    api = segcli.score(pred, gt, "region,surface", spacing=(2.5, 0.8, 0.8))
    cli = _cli_record(tmp_path, pred, gt, "--metrics", "region,surface", "--spacing", "2.5,0.8,0.8")
    _same(api, cli)


def test_multiclass_labels_equal_the_cli(tmp_path):
    gt = np.zeros((30, 30), np.uint8)
    gt[2:12, 2:12] = 1
    gt[15:28, 15:28] = 2
    gt[0, :] = 255
    pred = np.roll(gt, 2, axis=0)
    pred[pred == 255] = 0
    api = segcli.score(pred, gt, "dice,hd95,ce,dice_loss", num_classes=3, class_names=["bg", "a", "b"])
    cli = _cli_record(tmp_path, pred, gt, "--metrics", "dice,hd95,ce,dice_loss", "--num-classes", "3",
                      "--class-names", "bg,a,b")  # fmt: skip
    _same(api, cli)
    assert "dice_a" in api and "dice_bg" not in api


def test_torch_tensors_equal_numpy(masks):
    torch = pytest.importorskip("torch")
    gt, prob = masks
    assert segcli.score(torch.from_numpy(prob), torch.from_numpy(gt)) == segcli.score(prob, gt)
    cells = np.zeros((16, 16), np.uint8)
    cells[2:6, 2:6] = 1
    cells[2:6, 9:13] = 2
    assert np.array_equal(segcli.weight_map(torch.from_numpy(cells)), segcli.weight_map(cells))


def test_score_files_and_summarize_equal_the_cli(tmp_path, masks):
    gt, prob = masks
    for i in range(3):
        (tmp_path / "p").mkdir(exist_ok=True)
        (tmp_path / "g").mkdir(exist_ok=True)
        np.save(tmp_path / "p" / f"c{i}.npy", np.roll(prob, i, axis=0))
        np.save(tmp_path / "g" / f"c{i}.npy", gt.astype(np.uint8))
    np.save(tmp_path / "p" / "c9.npy", np.full((3, 3), np.nan, np.float32))
    np.save(tmp_path / "g" / "c9.npy", np.zeros((3, 3), np.uint8))
    records = list(segcli.score_files(tmp_path / "p", tmp_path / "g", "dice,hd95,bce"))
    assert [r["name"] for r in records] == ["c0", "c1", "c2", "c9"]
    assert "prediction holds NaN" in records[3]["error"]
    result = CliRunner().invoke(
        app, ["score", str(tmp_path / "p"), str(tmp_path / "g"), "--metrics", "dice,hd95,bce", "--format", "json"]
    )
    document = json.loads(result.stdout)
    for api, cli in zip(records[:3], document["images"], strict=True):
        assert api == cli
    summary = segcli.summarize(records)
    assert summary.keys() == document["summary"].keys()
    for column, stats in summary.items():
        assert stats == pytest.approx(document["summary"][column])


def test_metric_and_loss_functions_equal_their_columns(masks):
    gt, prob = masks
    hard = prob >= 0.5
    assert segcli.metrics.dice(prob, gt) == pytest.approx(f1_score(gt.ravel(), hard.ravel()))
    columns = segcli.score(prob, gt, spacing=(1.5, 0.5))
    assert segcli.metrics.hausdorff_distance(prob, gt, spacing=(1.5, 0.5)) == columns["hd"]
    assert segcli.metrics.hausdorff_distance(prob, gt, percentile=95, spacing=(1.5, 0.5)) == columns["hd95"]
    assert segcli.metrics.hausdorff_distance(prob, gt, percentile=95, pooled=True, spacing=(1.5, 0.5)) == columns[
        "hd95_pooled"]  # fmt: skip
    assert segcli.metrics.average_surface_distance(prob, gt, symmetric="mean", spacing=(1.5, 0.5)) == columns["masd"]
    assert segcli.losses.focal_loss(prob, gt) == columns["focal_loss"]
    assert segcli.losses.unet_wce(prob, gt, spacing=(1.5, 0.5)) == columns["unet_wce"]
    other = segcli.score(prob, gt, "focal_loss,tversky_loss", focal_alpha=0.6, focal_gamma=1.5, tversky_alpha=0.5,
                         tversky_beta=0.5)  # fmt: skip
    assert segcli.losses.focal_loss(prob, gt, alpha=0.6, gamma=1.5) == other["focal_loss"]
    assert segcli.losses.tversky_loss(prob, gt, alpha=0.5, beta=0.5) == other["tversky_loss"]


def test_weight_map_and_class_weights_equal_the_cli(tmp_path):
    cells = np.zeros((24, 24), np.uint16)
    cells[2:8, 2:8] = 1
    cells[2:8, 10:16] = 2
    cells[14:20, 4:12] = 3
    (tmp_path / "m").mkdir()
    tifffile.imwrite(tmp_path / "m" / "cells.tif", cells)
    CliRunner().invoke(
        app, ["weightmap", str(tmp_path / "m"), "--out", str(tmp_path / "w"), "--w0", "8", "--sigma", "4"]
    )
    assert np.array_equal(tifffile.imread(tmp_path / "w" / "cells.tif"), segcli.weight_map(cells, w0=8, sigma=4))
    result = CliRunner().invoke(app, ["classweights", str(tmp_path / "m"), "--format", "json"])
    document = json.loads(result.stdout)
    for scheme in ("inverse", "balanced", "median", "enet", "effective"):
        assert segcli.class_weights(cells, scheme).tolist() == pytest.approx(document["weights"][scheme])
    counts = np.bincount(cells.ravel())
    assert segcli.class_weights(counts, "balanced").tolist() == pytest.approx(document["weights"]["balanced"])


@pytest.mark.parametrize(
    "call, error, text",
    [
        (lambda a, b: segcli.score(a, b, nsd_tolerance=-1), ValueError, "nsd_tolerance"),
        (lambda a, b: segcli.score(a, b, w0=float("nan")), ValueError, "w0"),
        (lambda a, b: segcli.score(a, b, sigma=0), ValueError, "sigma"),
        (lambda a, b: segcli.score(a, b, nsd_tolerence=1), TypeError, "nsd_tolerence"),
        (lambda a, b: segcli.score(a, b, "dise"), ValueError, "dise"),
        (lambda a, b: segcli.score(a[None, None], b[None, None]), ValueError, "target"),
        (lambda a, b: segcli.score(a[:5], b), ValueError, "shape"),
        (lambda a, b: segcli.score(a, b, num_classes=1), ValueError, "num_classes"),
        (lambda a, b: segcli.score(a, b, spacing=(1, 2, 3)), ValueError, "spacing"),
        (lambda a, b: segcli.score("text", b), TypeError, "pred"),
        (lambda a, b: segcli.metrics.hausdorff_distance(a, b, percentile=90), ValueError, "percentile"),
        (lambda a, b: segcli.weight_map(b, "unet", sigma=-1), ValueError, "sigma"),
        (lambda a, b: segcli.class_weights([1, 2], "nope"), ValueError, "scheme"),
    ],
)
def test_arguments_checked_at_the_edge(masks, call, error, text):
    gt, prob = masks
    with pytest.raises(error, match=text) as caught:
        call(prob, gt)
    assert "--" not in str(caught.value).replace("--pred-kind", "")  # names arguments, not CLI flags


def test_import_segcli_is_light():
    import subprocess
    import sys

    code = "import sys, segcli; print('numpy' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
