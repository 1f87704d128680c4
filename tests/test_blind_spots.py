"""The blind spots of issue 21: cases where a plausible wrong formula still passed the suite.

Each test names the class of wrong code it refuses: swapped FP/FN (symmetric data), ignore pixels
left in one side of a surface score, summary statistics and their row labels, the conventions at
the corners (0/0, a distance equal to the tolerance, no foreground class, inf/NaN in a summary),
parameters away from their defaults, ignore pixels in multi-class probabilities, the torch Lovász
sort, median-frequency weights whose mean is not their median, and a failed pair on the device
path while a batch is pending. References are independent (scikit-learn, MONAI, MedPy, torch,
the statistics module) or worked by hand in the test.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from segcli.inputs.images import Image
from segcli.inputs.interpret import BinaryPair
from segcli.results.formats import ReportWriter, summarize
from segcli.run.per_class import score_multiclass_pair
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions, ScoreSettings
from tests.conftest import smooth_mask

REGION = ("dice", "iou", "precision", "recall", "specificity", "accuracy", "mcc", "volume_similarity")


def _binary(name, pred, target, prob=None, **options):
    prob = pred if prob is None else prob
    pair = BinaryPair(prob=prob, hard=pred, target=target)
    return float(BY_NAME[name].compute(BinaryBatch([pair], ScoreOptions(**options)))[0])


def _sklearn_region(pred, target):
    t, p = target.ravel(), pred.ravel()
    tn, fp, fn, tp = skm.confusion_matrix(t, p, labels=[False, True]).ravel()
    return {
        "dice": skm.f1_score(t, p, zero_division=0),
        "iou": skm.jaccard_score(t, p, zero_division=0),
        "precision": skm.precision_score(t, p, zero_division=0),
        "recall": skm.recall_score(t, p, zero_division=0),
        "specificity": skm.recall_score(~t, ~p, zero_division=0),
        "accuracy": skm.accuracy_score(t, p),
        "mcc": skm.matthews_corrcoef(t, p),
        # Taha & Hanbury 2015, from scikit-learn's confusion matrix
        "volume_similarity": 1 - abs(int(fn) - int(fp)) / (2 * tp + fp + fn),
    }


def _asymmetric_cases():
    """(pred, target, FP, FN) with FP != FN: both non-zero, FP zero, FN zero."""
    target = np.zeros((12, 15), bool)
    target[2:9, 3:11] = True  # 56 pixels
    both = np.zeros_like(target)
    both[4:11, 5:14] = True  # FP and FN both non-zero, unequal
    under = target.copy()
    under[2:5, 3:11] = False  # FP = 0, FN = 24
    over = target.copy()
    over[9:12, 0:4] = True  # FP = 12, FN = 0
    return [(both, target), (under, target), (over, target)]


@pytest.mark.parametrize("case", range(3), ids=["fp-and-fn", "fp-zero", "fn-zero"])
def test_region_scores_on_asymmetric_errors_match_scikit_learn(case):
    """Guards against FP and FN swapped (or a wrong weight on one of them) in any region score:
    data whose FP and FN differ, and each of them zero."""
    pred, target = _asymmetric_cases()[case]
    fp, fn = int((pred & ~target).sum()), int((~pred & target).sum())
    assert fp != fn
    expected = _sklearn_region(pred, target)
    for name in REGION:
        assert _binary(name, pred, target) == pytest.approx(expected[name], rel=1e-12), name
    # and the same with prediction and GT exchanged (FP and FN exchange)
    swapped = _sklearn_region(target, pred)
    for name in REGION:
        assert _binary(name, target, pred) == pytest.approx(swapped[name], rel=1e-12), name


def test_tversky_loss_weights_fp_by_alpha_and_fn_by_beta():
    """Guards against alpha and beta exchanged in the Tversky losses: a hard prediction with only
    false positives, then only false negatives (hand-worked: TP = 4, FP or FN = 2)."""
    target = np.zeros((1, 8), bool)
    target[0, :4] = True
    over = np.zeros((1, 8), bool)
    over[0, :6] = True
    # FP only: 1 - 4 / (4 + 0.3 * 2) ; FN only: 1 - 2 / (2 + 0.7 * 2)
    assert _binary("tversky_loss", over, target, smooth=1e-12) == pytest.approx(1 - 4 / 4.6, rel=1e-9)
    assert _binary("tversky_loss", target, over, smooth=1e-12) == pytest.approx(1 - 4 / (4 + 0.7 * 2), rel=1e-9)


# -- conventions at the corners --------------------------------------------------------------------


def test_specificity_of_a_full_gt_with_a_partial_prediction_is_zero():
    """Guards the 0/0 rule: a full GT has no negatives, so specificity is 0/0; prediction and GT
    differ (FN > 0), so it is 0 (scikit-learn with zero_division=0), and 1 only when both are
    full."""
    full = np.ones((6, 7), bool)
    partial = full.copy()
    partial[:2] = False
    assert _binary("specificity", partial, full) == 0.0
    assert skm.recall_score(~full.ravel(), ~partial.ravel(), zero_division=0) == 0.0
    assert _binary("specificity", full, full) == 1.0
    assert _binary("mcc", partial, full) == pytest.approx(skm.matthews_corrcoef(full.ravel(), partial.ravel()))


def test_nsd_counts_a_distance_equal_to_the_tolerance_with_spacing_1_1():
    """Guards the tolerance comparison: the offset (3, 4) px at spacing 1.1 is 5.5 exactly, which
    floating point makes 5.500000000000001; at --nsd-tolerance 5.5 it is within. Hand case:
    prediction pixels at (1, 1) and (1, 12), GT pixel at (4, 5); distances 5.5, sqrt(9 + 49) * 1.1
    and 5.5: nsd = 2/3."""
    assert math.sqrt((3 * 1.1) ** 2 + (4 * 1.1) ** 2) > 5.5  # the floating-point hair this test is about
    pred = np.zeros((7, 14), bool)
    target = np.zeros((7, 14), bool)
    pred[1, [1, 12]] = True
    target[4, 5] = True
    spacing = (1.1, 1.1)
    far = math.sqrt(58) * 1.1
    assert _binary("nsd", pred, target, spacing=spacing, nsd_tolerance=5.5) == pytest.approx(2 / 3)
    assert _binary("nsd", pred, target, spacing=spacing, nsd_tolerance=5.49) == 0.0
    assert _binary("nsd", pred, target, spacing=spacing, nsd_tolerance=far) == 1.0
    assert _binary("hd", pred, target, spacing=spacing) == pytest.approx(far)
    assert _binary("assd", pred, target, spacing=spacing) == pytest.approx((5.5 + far + 5.5) / 3)


K = 3


def _multiclass(pred, gt, metrics, **kwargs):
    settings = ScoreSettings(metrics=tuple(metrics), num_classes=kwargs.pop("num_classes", K), **kwargs)
    return score_multiclass_pair(Image(pred, None, Path("p")), Image(gt, None, Path("g")), settings, ScoreOptions())[0]


def test_multiclass_mean_with_no_foreground_class_present_falls_back_to_every_class():
    """Guards the mean's fallback: with no foreground class in GT or prediction (here every
    foreground pixel of the prediction lies on ignore pixels) the mean is over every foreground
    class, each identical: dice 1, hd 0, not NaN."""
    gt = np.zeros((6, 6), np.uint8)
    gt[:, 4:] = 255
    pred = np.zeros((6, 6), np.uint8)
    pred[1:5, 4:] = 2
    values = _multiclass(pred, gt, ["dice", "hd", "nsd"])
    for c in (1, 2):
        assert values[f"dice_{c}"] == 1.0 and values[f"hd_{c}"] == 0.0 and values[f"nsd_{c}"] == 1.0
    assert values["dice"] == 1.0 and values["hd"] == 0.0 and values["nsd"] == 1.0


def test_an_image_wholly_ignored_scores_as_identical():
    """Guards the 0/0 rule where every count is 0 (every pixel carries the ignore label): each
    region score of each class is 1, as for two empty masks, and no distance is infinite."""
    gt = np.full((4, 5), 255, np.uint8)
    pred = np.zeros((4, 5), np.uint8)
    pred[1:3, 1:4] = 1
    values = _multiclass(pred, gt, [*REGION, "hd"], include_background=True)
    for name in REGION:
        for c in range(K):
            assert values[f"{name}_{c}"] == 1.0, (name, c)
    assert values["hd"] == 0.0


def _ignore_case():
    """A 3-class pair whose prediction puts classes 1 and 2 (and background) in the ignore band,
    far from where the GT has them."""
    gt = np.zeros((20, 26), np.uint8)
    gt[4:10, 3:10] = 1
    gt[12:18, 11:19] = 2
    gt[:, 22:] = 255  # ignore band on the right
    gt[0:2, :] = 255  # and along the top
    pred = np.zeros_like(gt)
    pred[5:11, 4:10] = 1
    pred[11:17, 12:20] = 2
    pred[0:2, 14:21] = 1  # class 1 on ignored pixels
    pred[3:8, 23:26] = 2  # class 2 on ignored pixels
    pred[10:20, 22:26] = 1  # background of the ignore band taken by class 1 (changes class 0's border)
    return pred, gt


def test_ignore_pixels_leave_prediction_and_gt_of_every_class_in_surface_scores():
    """Guards the ignore label in multi-class surface scores: for every class, background
    included, ignore pixels leave both the prediction and the GT. Reference: MedPy (hd, assd) and
    MONAI (hd95, nsd) on the per-class masks with the ignore pixels removed by hand; the scores
    with them left in differ (so the test can tell)."""
    from medpy.metric import binary as medpy
    from monai.metrics import compute_hausdorff_distance, compute_surface_dice

    pred, gt = _ignore_case()
    valid = gt != 255
    values = _multiclass(pred, gt, ["hd", "hd95", "assd", "nsd", "dice"], include_background=True)

    def monai(fn, p, t, **kwargs):
        as_batch = lambda m: torch.from_numpy(m[None, None].astype(np.float32))  # noqa: E731
        return float(fn(as_batch(p), as_batch(t), include_background=True, **kwargs).reshape(-1)[0])

    for c in range(K):
        p, t = (pred == c) & valid, (gt == c) & valid
        assert values[f"hd_{c}"] == pytest.approx(medpy.hd(p, t), rel=1e-6), c
        assert values[f"assd_{c}"] == pytest.approx(medpy.assd(p, t), rel=1e-6), c
        assert values[f"hd95_{c}"] == pytest.approx(monai(compute_hausdorff_distance, p, t, percentile=95), rel=1e-6)
        assert values[f"nsd_{c}"] == pytest.approx(monai(compute_surface_dice, p, t, class_thresholds=[1.0]), rel=1e-6)
        assert values[f"dice_{c}"] == pytest.approx(skm.f1_score(t[valid], p[valid]), rel=1e-12)
        # left in on the prediction's side, the ignore pixels would change every class's hd
        assert medpy.hd(pred == c, t) != pytest.approx(values[f"hd_{c}"], rel=1e-3), c
    assert values["hd"] == pytest.approx(np.mean([values["hd_1"], values["hd_2"]]))


# -- summaries -------------------------------------------------------------------------------------


def test_summary_statistics_are_population_std_and_true_median():
    """Guards std's degrees of freedom (ddof 0, as SPEC says), the median of an even count (the
    mean of the middle two), min, max and a row missing the column: reference the statistics
    module."""
    values = [1.0, 2.0, 4.0, 10.0]
    rows = [{"dice": v} for v in values] + [{"hd": 3.0}]
    s = summarize(["dice", "hd"], rows)["dice"]
    assert s["mean"] == pytest.approx(statistics.fmean(values))
    assert s["std"] == pytest.approx(statistics.pstdev(values))
    assert s["std"] != pytest.approx(statistics.stdev(values))
    assert s["median"] == pytest.approx(statistics.median(values)) and s["median"] == 3.0
    assert (s["min"], s["max"], s["n_nonfinite"]) == (1.0, 10.0, 0)
    assert summarize(["dice", "hd"], rows)["hd"]["mean"] == 3.0


def test_summary_over_a_column_with_inf_or_nan_next_to_finite_values():
    """Guards 'non-finite values take part': inf makes the mean and max inf and the std NaN, the
    median stays the middle value; NaN makes every statistic NaN; each is counted once."""
    s = summarize(["hd", "nsd"], [{"hd": 1.0, "nsd": 0.5}, {"hd": math.inf, "nsd": math.nan}, {"hd": 3.0, "nsd": 1.0}])
    hd, nsd = s["hd"], s["nsd"]
    assert hd["mean"] == math.inf and hd["max"] == math.inf and math.isnan(hd["std"])
    assert (hd["median"], hd["min"], hd["n_nonfinite"]) == (3.0, 1.0, 1)
    assert all(math.isnan(nsd[k]) for k in ("mean", "std", "median", "min", "max"))
    assert nsd["n_nonfinite"] == 1
    assert summarize(["x"], [{"y": 1.0}])["x"]["n_nonfinite"] == 0
    assert math.isnan(summarize(["x"], [{"y": 1.0}])["x"]["mean"])


@pytest.mark.parametrize("fmt,delimiter", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_summary_rows_are_labelled_and_pinned(fmt, delimiter):
    """Guards the summary rows users read in CSV/TSV: their labels, order and values, the
    records before them, inf and nan as text."""
    stream = io.StringIO()
    writer = ReportWriter(stream, fmt, ["dice", "hd"], meta_columns=["spacing"])
    writer.write("a", {"dice": 0.5, "hd": 2.0}, {"spacing": (2.0, 0.5)})
    writer.write("b", {"dice": 1.0, "hd": math.inf}, {"spacing": (2.0, 0.5)})
    writer.write("c", {"dice": 0.25}, {})
    writer.finish()
    rows = list(csv.reader(io.StringIO(stream.getvalue()), delimiter=delimiter))
    assert rows[0] == ["name", "dice", "hd", "spacing"]
    assert rows[1] == ["a", "0.5", "2", "2x0.5"]
    assert rows[2] == ["b", "1", "inf", "2x0.5"]
    assert rows[3] == ["c", "0.25", "nan", ""]
    dice = [0.5, 1.0, 0.25]
    expected = {
        # hd: c has none, so the summary is over 2 and inf: mean, median and max inf, std nan
        "summary:mean": ["0.5833333333", "inf"],
        "summary:std": [f"{statistics.pstdev(dice):.10g}", "nan"],
        "summary:median": ["0.5", "inf"],
        "summary:min": ["0.25", "2"],
        "summary:max": ["1", "inf"],
        "summary:n_nonfinite": ["0", "1"],
    }
    assert [r[0] for r in rows[4:]] == list(expected)
    for row in rows[4:]:
        assert row[1:] == expected[row[0]] + [""], row[0]


def test_json_summary_tells_inf_from_nan_per_statistic():
    """Guards the JSON summary: null for a non-finite value and its kind in ``nonfinite``."""
    stream = io.StringIO()
    writer = ReportWriter(stream, "json", ["hd"])
    writer.write("a", {"hd": 1.0})
    writer.write("b", {"hd": math.inf})
    writer.finish(failed=["c"], messages={"c": "c.png: broken"})
    document = json.loads(stream.getvalue())
    hd = document["summary"]["hd"]
    assert hd["mean"] is None and hd["median"] == math.inf or hd["median"] is None
    assert hd["nonfinite"] == {"mean": "inf", "std": "nan", "median": "inf", "max": "inf"}
    assert hd["min"] == 1.0 and hd["n_nonfinite"] == 1
    assert document["failures"] == [{"name": "c", "message": "c.png: broken"}]
    assert document["images"][1] == {"name": "b", "hd": None, "nonfinite": {"hd": "inf"}}


# -- parameters away from their defaults ------------------------------------------------------------


def _prob_case(seed=7, shape=(30, 34)):
    rng = np.random.default_rng(seed)
    target = smooth_mask(rng, shape)
    prob = np.clip(rng.random(shape) * 0.7 + 0.3 * target, 1e-3, 1 - 1e-3).astype(np.float32)
    return prob, target


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))[None, None]


@pytest.mark.parametrize("gamma,alpha", [(0.5, 0.25), (3.0, 0.6), (1.0, -1.0)])
def test_focal_loss_away_from_gamma_2_matches_monai(gamma, alpha):
    """Guards focal loss's general branch (gamma 2 takes its own) and alpha: MONAI FocalLoss with
    gamma 0.5, 3 and 1, alpha 0.25, 0.6 and off."""
    from monai.losses import FocalLoss

    prob, target = _prob_case()
    logits = np.log(prob.astype(np.float64) / (1 - prob))
    ref = FocalLoss(gamma=gamma, alpha=None if alpha < 0 else alpha, use_softmax=False)(_t(logits), _t(target))
    got = _binary("focal_loss", prob >= 0.5, target, prob=prob, focal_gamma=gamma, focal_alpha=alpha)
    assert got == pytest.approx(ref.item(), rel=1e-4)


def test_dice_and_tversky_options_away_from_defaults_match_monai():
    """Guards --smooth, --tversky-alpha/beta, the focal Tversky exponent and combo's alpha."""
    from monai.losses import DiceLoss, TverskyLoss

    prob, target = _prob_case(seed=3)
    x, y = _t(prob), _t(target)
    dice = DiceLoss(smooth_nr=1.0, smooth_dr=1.0)(x, y).item()
    tversky = TverskyLoss(alpha=0.6, beta=0.4, smooth_nr=1.0, smooth_dr=1.0)(x, y).item()
    options = dict(smooth=1.0, tversky_alpha=0.6, tversky_beta=0.4, focal_tversky_gamma=1.5, combo_alpha=0.2)
    hard = prob >= 0.5
    assert _binary("dice_loss", hard, target, prob=prob, **options) == pytest.approx(dice, rel=1e-5)
    assert _binary("tversky_loss", hard, target, prob=prob, **options) == pytest.approx(tversky, rel=1e-5)
    assert _binary("focal_tversky_loss", hard, target, prob=prob, **options) == pytest.approx(tversky**1.5, rel=1e-5)
    bce = F.binary_cross_entropy(_t(prob), _t(target)).item()
    assert _binary("combo_loss", hard, target, prob=prob, **options) == pytest.approx(0.2 * bce + 0.8 * dice, rel=1e-5)


def test_squared_dice_loss_with_gamma_3_hand_formula():
    """Guards --dice-gamma away from 2 (MONAI has only 2): 1 - (2 sum pg + s) / (sum p^3 + sum g + s)."""
    prob, target = _prob_case(seed=5)
    p = prob.astype(np.float64)
    expected = 1 - (2 * (p * target).sum() + 0.5) / ((p**3).sum() + target.sum() + 0.5)
    got = _binary("squared_dice_loss", prob >= 0.5, target, prob=prob, dice_gamma=3.0, smooth=0.5)
    assert got == pytest.approx(expected, rel=1e-6)


def test_boundary_iou_width_1_hand_case():
    """Guards boundary_iou's width: 1 px bands of a 4x4 and a 4x5 square (hand-counted: 12 and
    14 ring pixels, 10 shared of 16 in the union)."""
    pred = np.zeros((8, 9), bool)
    target = np.zeros((8, 9), bool)
    pred[2:6, 2:6] = True
    target[2:6, 2:7] = True
    assert _binary("boundary_iou", pred, target, boundary_iou_width=1) == pytest.approx(10 / 16)


# -- multi-class losses with ignore pixels -----------------------------------------------------------


def test_multiclass_dice_losses_drop_ignore_pixels_from_the_probabilities():
    """Guards ignore pixels in multi-class Dice losses: they leave the probabilities as well as
    the one-hot GT. Reference: MONAI DiceLoss (plain and squared_pred) on the valid pixels only,
    removed by hand, and the softmax focal loss written out over them."""
    from monai.losses import DiceLoss

    rng = np.random.default_rng(21)
    gt = rng.integers(0, K, (18, 22)).astype(np.uint8)
    gt[:, :6] = 255
    gt[:3] = 255
    logits = (rng.standard_normal((K, 18, 22)) * 2).astype(np.float32)
    logits[2, gt == 255] += 6  # confident class 2 on the ignored pixels: counted, it would move every loss
    values = _multiclass(logits, gt, ["dice_loss", "squared_dice_loss", "focal_loss"])
    valid = gt != 255
    prob = torch.softmax(torch.from_numpy(logits).double(), 0)[:, torch.from_numpy(valid)][None]  # (1, K, N)
    target = torch.from_numpy(gt[valid].astype(np.int64))[None, None]
    kwargs = dict(include_background=False, to_onehot_y=True, smooth_nr=1e-6, smooth_dr=1e-6)
    assert values["dice_loss"] == pytest.approx(DiceLoss(**kwargs)(prob, target).item(), rel=1e-5)
    squared = DiceLoss(squared_pred=True, **kwargs)(prob, target).item()
    assert values["squared_dice_loss"] == pytest.approx(squared, rel=1e-5)
    p_true = prob[0].gather(0, target[0])[0]
    focal = (-((1 - p_true) ** 2) * torch.log(p_true)).mean().item()
    assert values["focal_loss"] == pytest.approx(focal, rel=1e-5)


# -- the torch Lovász sort, median-frequency weights, the device path ----------------------------------


def _lovasz_hinge_reference(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Berman et al.'s lovasz_hinge_flat, written out in torch."""
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    errors_sorted, perm = torch.sort(errors, descending=True)
    gt_sorted = labels[perm]
    gts = gt_sorted.sum()
    jaccard = 1.0 - (gts - gt_sorted.cumsum(0)) / (gts + (1 - gt_sorted).cumsum(0))
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return torch.dot(F.relu(errors_sorted), jaccard).item()


@pytest.mark.parametrize("kind", ["distinct", "tied"])
def test_torch_lovasz_hinge_sort_matches_the_reference(kind):
    """Guards the torch backend's Lovász hinge (its own descending sort and gradient), on
    distinct errors and on errors with many ties, against the reference code."""
    from segcli.engine.backend import TorchOps

    prob, target = _prob_case(seed=11, shape=(17, 19))
    if kind == "tied":
        prob = np.round(prob * 4) / 4
        prob = np.clip(prob, 0.05, 0.95).astype(np.float32)
    pair = BinaryPair(prob=prob, hard=prob >= 0.5, target=target)
    got = float(BY_NAME["lovasz_hinge"].compute(BinaryBatch([pair], ScoreOptions(), ops=TorchOps("cpu")))[0])
    p = torch.from_numpy(prob.astype(np.float64)).clamp(1e-7, 1 - 1e-7).ravel()
    ref = _lovasz_hinge_reference(torch.log(p) - torch.log1p(-p), torch.from_numpy(target.ravel()).double())
    assert got == pytest.approx(ref, rel=1e-5)


def test_median_frequency_weights_when_mean_and_median_differ(tmp_path):
    """Guards median-frequency balancing's median (not the mean) and its per-class denominator
    (pixels of the images where the class occurs), counted from files. freq = n_c / pixels of
    the images holding c, w_c = median(freq) / freq_c (Eigen & Fergus 2015)."""
    from segcli import classweights as cw

    images = [
        np.array([[0, 0, 0, 1], [0, 0, 0, 0]], np.uint8),
        np.array([[2, 2, 2, 2], [2, 0, 3, 3]], np.uint8),
        np.array([[0, 0, 0, 0], [3, 3, 3, 255]], np.uint8),
    ]
    paths = []
    for i, image in enumerate(images):
        np.save(tmp_path / f"{i}.npy", image)
        paths.append(tmp_path / f"{i}.npy")
    counts = cw.count_classes(paths, num_classes=4)
    freq = []
    for c in range(4):
        n = sum(int((im == c).sum()) for im in images)
        pixels = sum(int((im != 255).sum()) for im in images if (im == c).any())
        freq.append(n / pixels)
    assert statistics.fmean(freq) != pytest.approx(statistics.median(freq))
    np.testing.assert_allclose(cw.median(counts), statistics.median(freq) / np.array(freq), rtol=1e-12)


def test_device_path_failure_while_a_batch_is_pending_keeps_records_in_order(tmp_path):
    """Guards the order of records on the device path: a pair that fails while earlier pairs
    wait in an unfinished batch comes after them and before the later ones, and every value
    equals the CPU path's."""
    from PIL import Image as PILImage

    from segcli.inputs.pairing import Pair
    from segcli.run.pipeline import score_pairs

    rng = np.random.default_rng(2)
    (tmp_path / "p").mkdir()
    (tmp_path / "g").mkdir()
    pairs = []
    for i in range(4):
        for folder in ("p", "g"):
            mask = smooth_mask(rng, (20, 24))
            PILImage.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / folder / f"{i}.png")
        pairs.append(Pair(str(i), tmp_path / "p" / f"{i}.png", tmp_path / "g" / f"{i}.png"))
    (tmp_path / "p" / "bad.png").write_bytes(b"not a png")
    PILImage.fromarray(np.zeros((20, 24), np.uint8)).save(tmp_path / "g" / "bad.png")
    pairs.insert(1, Pair("bad", tmp_path / "p" / "bad.png", tmp_path / "g" / "bad.png"))
    settings = ScoreSettings(metrics=("dice", "hd", "bce"))
    cpu = list(score_pairs(pairs, settings, workers=1))
    device = list(score_pairs(pairs, settings, workers=1, torch_device="cpu", batch_size=3))
    assert [o.name for o in device] == ["0", "bad", "1", "2", "3"] == [o.name for o in cpu]
    assert type(device[1]).__name__ == "Failure" and "bad.png" in device[1].message
    for a, b in zip(cpu, device, strict=True):
        if hasattr(a, "values"):
            for name in settings.metrics:
                assert b.values[name] == pytest.approx(a.values[name], rel=1e-5), name
