"""The Python API's arguments, tried as an adversary would: each bad value is a ValueError or
TypeError naming the argument, in the API's words (never a command-line flag)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from typer.testing import CliRunner

import segcli
from segcli.cli.main import app

P = np.array([[0, 1, 1, 0], [0, 1, 2, 2], [0, 0, 2, 1]])
G = np.array([[0, 1, 0, 0], [0, 1, 2, 2], [1, 0, 2, 2]])


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"metrics": 5}, TypeError, "^metrics: "),
        ({"metrics": None}, TypeError, "^metrics: "),
        ({"metrics": ""}, ValueError, "^metrics: .*got nothing"),
        ({"labels": 5}, TypeError, "^labels: "),
        ({"labels": {"a": 1}}, TypeError, "^labels: "),
        ({"spacing": "x"}, ValueError, "^spacing: "),
        ({"spacing": "a,b"}, ValueError, "^spacing: "),
        ({"metrics": "unet_wce", "class_weights": "x"}, ValueError, "^class_weights: "),
        ({"num_classes": 3, "include_background": "no"}, TypeError, "^include_background: "),
        ({"num_classes": 3, "ignore_index": True}, TypeError, "^ignore_index: "),
        ({"num_classes": 3, "ignore_index": "255"}, TypeError, "^ignore_index: "),
        ({"ignore_geometry": "false"}, TypeError, "^ignore_geometry: "),
    ],
)
def test_a_bad_argument_is_named(kwargs, error, pattern):
    kwargs = {"metrics": "dice", **kwargs}
    with pytest.raises(error, match=pattern):
        segcli.score(P, G, **kwargs)


def test_a_label_beyond_the_classes_is_said_in_argument_names():
    with pytest.raises(ValueError, match=r"num_classes 2") as caught:
        segcli.score(P, G, "dice", num_classes=2)
    assert "--" not in str(caught.value)


def test_a_number_written_as_text_is_an_empty_distance_as_on_the_command_line():
    empty = np.zeros((4, 4), bool)
    gt = np.eye(4, dtype=bool)
    assert segcli.score(empty, gt, "hd", empty_distance="7.5")["hd"] == 7.5
    assert segcli.score(empty, gt, "hd", empty_distance=7.5)["hd"] == 7.5


def test_score_files_names_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="no such file or directory"):
        list(segcli.score_files(tmp_path / "nope", tmp_path / "nope2"))
    with pytest.raises(TypeError, match="^pred: "):
        list(segcli.score_files(5, tmp_path))
    with pytest.raises(ValueError, match="^workers: "):
        list(segcli.score_files(tmp_path, tmp_path, workers=True))


# segcli/api.py: each bad argument is an error
# that names it as a user writes it (``pred``, ``target``, ``mask``, ``labels_or_counts``,
# ``spacing``, ``w0``, ``combine``, ...), sequences as well as strings for ``metrics``, scalar
# spacing, ``labels`` with ``ignore_index``, the reading options (``pred_kind``, ``threshold``,
# ``thresholds``, ``combine``, ``include_background``, ``class_weights``) passed down to scoring,
# score_files' spacing, suffixes, ``missing`` and multi-class mode, summarize's columns,
# weight_map's and class_weights' defaults and options. Values against scikit-learn, hand-worked
# formulas or the CLI's output on the same data.

GT = np.zeros((8, 8), bool)

GT[2:6, 2:6] = True

PROB = np.where(GT, 0.6, 0.2)

PROB[1, 1:7] = 0.4  # above 0.3, below 0.5


def _cli(*args):
    result = CliRunner().invoke(app, [*map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


def _files(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    return folder


def test_a_tensor_that_requires_grad_is_scored():
    torch = pytest.importorskip("torch")
    prob = torch.tensor(PROB, requires_grad=True)
    assert segcli.score(prob, torch.from_numpy(GT), "dice") == segcli.score(PROB, GT, "dice")


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: segcli.score([[0, 1], [1]], GT), TypeError, r"^pred: expected an array or tensor, got list \("),
        (lambda: segcli.score(np.array([["a"]]), GT), TypeError, r"^pred: expected a numeric"),
        (lambda: segcli.score(GT, np.array([["a"]])), TypeError, r"^target: expected a numeric"),
        (lambda: segcli.score(np.full(GT.shape, np.nan), GT), ValueError, r"^pred: "),
        (lambda: segcli.score(PROB, np.full(GT.shape, np.nan)), ValueError, r"^target: "),
        (lambda: segcli.score(PROB, GT, ","), ValueError, r"^metrics: expected score or group names.*got nothing"),
        (lambda: segcli.score(PROB, GT, "dice", labels=5), TypeError, r"^labels: .*, got int$"),
        (lambda: segcli.score(PROB, GT, "dice", spacing=True), ValueError, r"^spacing: "),
        (lambda: segcli.score(PROB, GT, "dice", spacing=(-1, 1)), ValueError, r"^spacing: "),
        (lambda: segcli.score(PROB, GT, "dice", spacing=(0, 1)), ValueError, r"^spacing: "),
        (lambda: segcli.score(PROB, GT, "dice", num_classes=3.0), ValueError, r"^num_classes: "),
        (lambda: segcli.score(PROB, GT, "dice", w0=float("nan")), ValueError, r"^w0: "),
        (lambda: segcli.score(PROB, GT, "dice", combine="bce +* x"), ValueError, r"^combine: "),
        (lambda: segcli.score(P, G, "ce", num_classes=3, class_weights="12"), ValueError, r"^class_weights: expected"),
        (lambda: segcli.score(P, G, "ce", num_classes=3, class_weights=[]), ValueError, r"^class_weights: expected"),
        (
            lambda: segcli.score(P, G, "ce", num_classes=3, class_weights=[1, "x", 1]),
            ValueError,
            r"^class_weights: expected",
        ),  # fmt: skip
        (lambda: segcli.weight_map("text"), TypeError, r"^mask: "),
        (lambda: segcli.weight_map(np.zeros((2, 2, 2, 2))), ValueError, r"^mask: expected a 2-D or 3-D image"),
        (lambda: segcli.class_weights([np.array([["a", "b"]] * 2)] * 2), TypeError, r"^labels_or_counts: "),
        (lambda: segcli.class_weights(np.array(["a", "b"])), TypeError, r"^labels_or_counts: "),
        (lambda: segcli.class_weights([3.0, -1.0]), ValueError, r"^labels_or_counts: counts must be finite and >= 0$"),
        (lambda: segcli.class_weights([3.0, np.nan]), ValueError, r"^labels_or_counts: counts must be finite"),
        (lambda: segcli.class_weights([3, 1], num_classes=3), ValueError, r"^num_classes: 3, but 2 counts$"),
        (lambda: segcli.class_weights(G, num_classes=2), ValueError, r"^labels_or_counts: a label >= num_classes 2$"),
        (lambda: segcli.class_weights(G + 0.5), ValueError, r"^labels_or_counts: a label image holds non-integer"),
        (lambda: segcli.class_weights(G - 1), ValueError, r"^labels_or_counts: negative label -1$"),
        (lambda: segcli.class_weights(np.full((2, 2), 65536)), ValueError, r"^labels_or_counts: label 65536 is beyond"),
    ],
)
def test_errors_name_the_argument(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_score_files_names_pred_gt_and_spacing(tmp_path):
    with pytest.raises(TypeError, match=r"^gt: expected a path or URL, got int$"):
        list(segcli.score_files(tmp_path, 5))
    for bad in ((-1.0, 1.0), (0.0, 1.0), (float("inf"), 1.0)):
        with pytest.raises(ValueError, match=r"^spacing: expected positive finite values"):
            list(segcli.score_files(tmp_path, tmp_path, spacing=bad))


def test_unknown_options_are_named_with_the_known_ones():
    with pytest.raises(TypeError) as caught:
        segcli.score(PROB, GT, "dice", smoth=1, nsd_tolerence=1)
    head, known = str(caught.value).split("; known: ")
    assert head == "unexpected option(s) nsd_tolerence, smoth"
    assert {"labels", "w0", "nsd_tolerance", "ignore_geometry", "thresholds"} <= set(known.split(", "))


def test_metrics_as_a_sequence_and_spacing_as_one_number():
    assert segcli.score(PROB, GT, ["dice", "hd95"]) == segcli.score(PROB, GT, "dice,hd95")
    shifted = np.roll(GT, 1, axis=1)
    assert segcli.score(shifted, GT, "hd", spacing=2)["hd"] == 2.0
    assert segcli.score(shifted, GT, "hd", spacing=0.5) == segcli.score(shifted, GT, "hd", spacing=(0.5, 0.5))


def test_pred_kind_threshold_and_thresholds_reach_the_scores():
    dice = segcli.score(PROB, GT, "dice,bce", threshold=0.3)["dice"]
    assert dice == pytest.approx(f1_score(GT.ravel(), PROB.ravel() >= 0.3))
    logits = segcli.score(PROB, GT, "dice", pred_kind="logits")["dice"]  # sigmoid > 0.5 everywhere
    assert logits == pytest.approx(f1_score(GT.ravel(), np.ones(GT.size, bool)))
    for thresholds in ("0.3,0.5", [0.3, 0.5]):
        values = segcli.score(PROB, GT, "dice,bce", thresholds=thresholds)
        assert set(values) == {"dice@0.3", "dice@0.5"}  # losses take no threshold
        assert values["dice@0.3"] == pytest.approx(dice)
        assert values["dice@0.5"] == pytest.approx(f1_score(GT.ravel(), PROB.ravel() >= 0.5))


def test_combine_is_the_weighted_sum_binary_and_multiclass():
    values = segcli.score(PROB, GT, "bce,dice_loss", combine="0.3*bce + 0.7*dice_loss")
    assert values["combined"] == pytest.approx(0.3 * values["bce"] + 0.7 * values["dice_loss"])
    values = segcli.score(P, G, "ce,dice_loss", num_classes=3, combine="ce - 2*dice_loss")
    assert values["combined"] == pytest.approx(values["ce"] - 2 * values["dice_loss"])


def test_multiclass_options_equal_the_cli(tmp_path):
    target = G.copy()
    target[0, 0] = 9  # ignored with ignore_index=9
    _files(tmp_path / "p", {"a": P})
    _files(tmp_path / "g", {"a": target})
    args = ["--num-classes", 3, "--ignore-index", 9, "--include-background", "--class-weights", "1,2,3"]
    cli = json.loads(_cli("score", tmp_path / "p", tmp_path / "g", "--metrics", "dice,ce", "--format", "json", *args))
    api = segcli.score(P, target, "dice,ce", num_classes=3, ignore_index=9, include_background=True,
                       class_weights=[1, 2, 3])  # fmt: skip
    assert "dice_0" in api
    for key, value in api.items():
        assert value == pytest.approx(cli["images"][0][key], rel=1e-12), key
    soft = np.random.default_rng(0).dirichlet([1, 1, 1], size=P.shape).transpose(2, 0, 1)  # K channels first
    weighted = segcli.score(soft, G, "ce", num_classes=3, class_weights=[1, 2, 3])["ce"]
    pixel_ce = -np.log(np.take_along_axis(soft, G[None], 0)[0])
    assert weighted == pytest.approx(np.sum(pixel_ce * (G + 1)) / np.sum(G + 1))
    assert segcli.score(P, G, "dice", num_classes=3, ignore_index=0)["dice_1"] == pytest.approx(
        f1_score(G[G != 0], P[G != 0], labels=[1], average=None)[0])  # fmt: skip


def test_labels_with_and_without_ignore_index():
    labels = "sample_data/nifti/dataset.json"
    target = G.copy()
    target[0, 0] = 7
    kept = target != 7
    dice = segcli.score(P, target, "dice", labels=labels, ignore_index=7)["dice_organ"]
    assert dice == pytest.approx(f1_score(target[kept], P[kept], labels=[1], average=None)[0])
    target[0, 0] = 255  # the default ignore label with a dataset.json naming none
    dice = segcli.score(P, target, "dice", labels=labels)["dice_organ"]
    assert dice == pytest.approx(f1_score(target[kept], P[kept], labels=[1], average=None)[0])


def test_score_files_spacing_suffixes_missing_and_classes(tmp_path):
    shifted = np.roll(GT, 1, axis=1).astype(np.uint8)
    pred = _files(tmp_path / "p", {"a_pred": shifted, "b_pred": shifted})
    gt = _files(tmp_path / "g", {"a_0000": GT.astype(np.uint8)})
    records = list(segcli.score_files(pred, gt, "hd", spacing=0.5, pred_suffix="_pred", gt_suffix="_0000",
                                      missing="skip"))  # fmt: skip
    assert [(r["name"], r["hd"], r["spacing"], r["spacing_source"]) for r in records] == [
        ("a", 0.5, [0.5, 0.5], "option")]  # fmt: skip
    multi = list(segcli.score_files(_files(tmp_path / "mp", {"a": P}), _files(tmp_path / "mg", {"a": G}), "dice",
                                    num_classes=3))  # fmt: skip
    assert multi[0]["dice_2"] == pytest.approx(f1_score(G.ravel(), P.ravel(), labels=[2], average=None)[0])


def test_summarize_leaves_out_failures_and_non_numbers():
    records = [
        {"name": "a", "dice": 0.5, "note": "x", "empty_distance": 3.0, "nonfinite": {"hd": "inf"}},
        {"name": "b", "dice": 1.0, "note": "y", "empty_distance": 3.0},
        {"name": "c", "error": "could not read"},
    ]
    summary = segcli.summarize(records)
    assert list(summary) == ["dice"]
    assert summary["dice"]["mean"] == 0.75
    assert summary["dice"]["min"] == 0.5


def test_weight_map_defaults_and_options_equal_the_cli(tmp_path):
    import tifffile

    mask = np.zeros((16, 16), np.uint8)
    mask[2:6, 2:6] = 1
    mask[6:10, 6:10] = 1  # touches the first square at a corner only: two components at connectivity 1
    (tmp_path / "m").mkdir()
    tifffile.imwrite(tmp_path / "m" / "m.tif", mask)
    _cli("weightmap", tmp_path / "m", "--out", tmp_path / "w")
    assert np.array_equal(tifffile.imread(tmp_path / "w" / "m.tif"), segcli.weight_map(mask.astype(bool)))
    assert not np.array_equal(segcli.weight_map(mask), segcli.weight_map(mask, connectivity=2))
    _cli("weightmap", tmp_path / "m", "--out", tmp_path / "w2", "--spacing", "2,1", "--wc", "1,3")
    expected = tifffile.imread(tmp_path / "w2" / "m.tif")
    assert np.array_equal(expected, segcli.weight_map(mask, spacing=(2, 1), class_weights=(1, 3)))
    assert not np.array_equal(expected, segcli.weight_map(mask, class_weights=(1, 3)))
    volume = np.zeros((4, 8, 8), bool)
    volume[1:3, 2:6, 2:6] = True
    assert segcli.weight_map(volume, "sdf").shape == volume.shape


def test_class_weights_defaults_images_and_counts(tmp_path):
    import tifffile

    a = np.array([[0, 0, 1, 1], [0, 0, 3, 255]], np.uint8)  # class 2 absent
    b = np.array([[0, 1, 1, 1], [3, 3, 255, 255]], np.uint8)
    (tmp_path / "m").mkdir()
    tifffile.imwrite(tmp_path / "m" / "a.tif", a)
    tifffile.imwrite(tmp_path / "m" / "b.tif", b)
    cli = json.loads(_cli("classweights", tmp_path / "m", "--format", "json"))["weights"]
    for scheme in ("inverse", "balanced", "median", "enet", "effective"):
        got = segcli.class_weights([a, b], scheme)
        np.testing.assert_allclose(got, cli[scheme], rtol=1e-12, equal_nan=True)
    assert segcli.class_weights([a, b]).tolist() == pytest.approx(cli["inverse"])  # the default scheme
    # a counts vector: one "image"; a class of count 0 is present in no pixel
    counts = np.array([6.0, 2.0, 0.0, 4.0])
    single = segcli.class_weights(a, "median", ignore_index=None)  # 255 counted as a class
    assert single.size == 256
    np.testing.assert_allclose(segcli.class_weights(counts, "median"),
                               segcli.class_weights([np.repeat([0, 1, 3], [6, 2, 4])[None]], "median", num_classes=4),
                               equal_nan=True)  # fmt: skip
    median = segcli.class_weights(counts, "median")
    frequencies = counts / counts.sum()
    assert median[[0, 1, 3]] == pytest.approx(np.median(frequencies[[0, 1, 3]]) / frequencies[[0, 1, 3]])
    beta = 0.5
    effective = (1 - beta) / (1 - beta ** counts[[0, 1, 3]])
    got = segcli.class_weights(counts[[0, 1, 3]], "effective", beta=beta)
    assert got / got[0] == pytest.approx(effective / effective[0])


def test_class_weights_label_images_as_floats_and_the_largest_label():
    a = np.array([[0.0, 1.0], [2.0, 2.0]])
    assert segcli.class_weights(a, "balanced").tolist() == segcli.class_weights(a.astype(int), "balanced").tolist()
    big = np.array([[0, 65535]])
    assert segcli.class_weights(big, "inverse", ignore_index=None).size == 65536


def test_median_frequency_counts_each_class_over_the_images_that_hold_it():
    """Median-frequency balancing: freq_c = pixels of c / pixels of the images where c occurs.
    Image a holds classes 0 and 2, image b classes 0 and 1 (six pixels each): counts 5, 4, 3 over
    12, 6 and 6 pixels, freq 5/12, 2/3, 1/2, median 1/2, weights 1.2, 0.75, 1 (worked by hand)."""
    a = np.array([[0, 2, 2], [0, 0, 2]])
    b = np.array([[0, 1, 1], [1, 1, 0]])
    assert segcli.class_weights([a, b], "median").tolist() == pytest.approx([1.2, 0.75, 1.0], rel=1e-12)
    # counts alone: every class over all 10 pixels; a class of one pixel is present (freq 0.1)
    assert segcli.class_weights([6, 1, 3], "median").tolist() == pytest.approx([0.5, 3.0, 1.0], rel=1e-12)


def test_a_tensor_subclass_is_read_as_its_values():
    """A subclass of torch.Tensor (a Parameter that requires grad; MONAI's MetaTensor is another)
    is detached and read like the tensor it is."""

    class Tagged(torch.Tensor):
        pass

    target = np.array([[1, 1, 0, 0]], bool)
    prob = np.array([[0.9, 0.2, 0.7, 0.1]], np.float32)
    expected = segcli.score(prob, target, metrics="dice,bce")
    assert segcli.score(torch.nn.Parameter(torch.from_numpy(prob)), target, metrics="dice,bce") == expected
    tagged = torch.from_numpy(prob).as_subclass(Tagged).requires_grad_()
    assert segcli.score(tagged, target, metrics="dice,bce") == expected


def test_empty_distance_policies_by_name_through_the_api():
    """The policies "nan" and "worst" are not numbers written as text: a missed structure's hd is
    NaN, or the image diagonal (sqrt(3^2 + 5^2) for 4 x 6 pixels), as on the command line."""
    target = np.zeros((4, 6), bool)
    target[1:3, 2:4] = True
    empty = np.zeros_like(target)
    assert math.isnan(segcli.score(empty, target, metrics="hd", empty_distance="nan")["hd"])
    assert segcli.score(empty, target, metrics="hd", empty_distance="worst")["hd"] == pytest.approx(math.sqrt(34))
    assert segcli.score(empty, target, metrics="hd", empty_distance="7.5")["hd"] == 7.5
