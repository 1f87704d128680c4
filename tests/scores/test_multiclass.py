"""Multi-class scoring against MONAI (per-class Dice / IoU with one-hot inputs and the ignore
region masked out), torch's cross_entropy (ignore_index, weight), MONAI DiceLoss, Berman's
Lovász-softmax written out, and hand cases for absent classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

from benchmarks.synth import label_map
from segcli.errors import ShapeError, ValueRangeError
from segcli.inputs.images import Image
from segcli.inputs.images import Image as SegImage
from segcli.run.per_class import columns, score_multiclass_pair
from segcli.scores.multiclass_losses import cross_entropy, lovasz_softmax, multiclass_dice_loss, multiclass_focal_loss
from segcli.scores.table import MULTICLASS_BY_NAME, PRESETS
from segcli.settings import ScoreOptions, ScoreSettings

K = 4


def _settings(metrics=None, **kwargs):
    names = tuple(metrics or MULTICLASS_BY_NAME)
    return ScoreSettings(metrics=names, num_classes=kwargs.pop("num_classes", K), **kwargs)


def _score(pred, gt, settings=None):
    settings = settings or _settings()
    return score_multiclass_pair(Image(pred, None, Path("p")), Image(gt, None, Path("g")), settings, ScoreOptions())[0]


def _one_hot(labels, valid):
    onehot = F.one_hot(torch.from_numpy(labels.astype(np.int64)), K).movedim(-1, 0).float()
    return (onehot * torch.from_numpy(valid)[None]).unsqueeze(0)


def test_per_class_dice_and_iou_match_monai(rng):
    from monai.metrics import compute_dice, compute_iou

    gt = label_map(rng, (40, 50), num_classes=K)
    logits = rng.standard_normal((K, 40, 50)).astype(np.float32) + 3 * np.eye(K)[np.where(gt == 255, 0, gt)].transpose(
        2, 0, 1
    )
    values = _score(logits, gt)
    valid = gt != 255
    pred_labels = logits.argmax(0)
    dice = compute_dice(
        _one_hot(pred_labels, valid),
        _one_hot(np.where(valid, gt, 0), valid),
        include_background=True,
        ignore_empty=False,
    )[0]
    iou = compute_iou(
        _one_hot(pred_labels, valid),
        _one_hot(np.where(valid, gt, 0), valid),
        include_background=True,
        ignore_empty=False,
    )[0]
    for c in range(1, K):
        assert values[f"dice_{c}"] == pytest.approx(float(dice[c]), rel=1e-5)
        assert values[f"iou_{c}"] == pytest.approx(float(iou[c]), rel=1e-5)
    assert values["dice"] == pytest.approx(float(dice[1:].mean()), rel=1e-5)


def test_cross_entropy_matches_torch_with_ignore_and_weights(rng):
    gt = label_map(rng, (30, 33), num_classes=K)
    logits = rng.standard_normal((K, 30, 33)).astype(np.float32) * 2
    weights = (0.5, 2.0, 1.0, 3.0)
    values = _score(logits, gt, _settings(["ce"], class_weights=weights))
    ref = F.cross_entropy(
        torch.from_numpy(logits)[None].double(),
        torch.from_numpy(gt.astype(np.int64))[None],
        weight=torch.tensor(weights, dtype=torch.float64),
        ignore_index=255,
    )
    assert values["ce"] == pytest.approx(ref.item(), rel=1e-5)
    plain = F.cross_entropy(
        torch.from_numpy(logits)[None].double(), torch.from_numpy(gt.astype(np.int64))[None], ignore_index=255
    )
    assert _score(logits, gt, _settings(["ce"]))["ce"] == pytest.approx(plain.item(), rel=1e-5)


def test_dice_loss_matches_monai_on_valid_pixels(rng):
    from monai.losses import DiceLoss

    gt = label_map(rng, (30, 33), num_classes=K, ignore_share=0.0)
    logits = rng.standard_normal((K, 30, 33)).astype(np.float32)
    values = _score(logits, gt, _settings(["dice_loss", "focal_loss"]))
    ref = DiceLoss(include_background=False, softmax=True, to_onehot_y=True, smooth_nr=1e-6, smooth_dr=1e-6)(
        torch.from_numpy(logits)[None].double(), torch.from_numpy(gt.astype(np.int64))[None, None]
    )
    assert values["dice_loss"] == pytest.approx(ref.item(), rel=1e-5)
    p = torch.softmax(torch.from_numpy(logits).double(), 0)
    pt = p.gather(0, torch.from_numpy(gt.astype(np.int64))[None])[0]
    assert values["focal_loss"] == pytest.approx((-((1 - pt) ** 2) * torch.log(pt)).mean().item(), rel=1e-5)


def _lovasz_softmax_reference(probas, labels):
    """Berman et al.'s lovasz_softmax_flat (classes='present'), written out in torch."""
    losses = []
    for c in range(probas.shape[1]):
        fg = (labels == c).double()
        if fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, descending=True)
        fg_sorted = fg[perm]
        gts = fg_sorted.sum()
        jaccard = 1 - (gts - fg_sorted.cumsum(0)) / (gts + (1 - fg_sorted).cumsum(0))
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
        losses.append(torch.dot(errors_sorted, jaccard))
    return torch.stack(losses).mean().item()


def test_lovasz_softmax_matches_reference(rng):
    gt = label_map(rng, (25, 30), num_classes=K)
    logits = rng.standard_normal((K, 25, 30)).astype(np.float32)
    valid = (gt != 255).ravel()
    probas = torch.softmax(torch.from_numpy(logits).double(), 0).reshape(K, -1).T[valid]
    ref = _lovasz_softmax_reference(probas, torch.from_numpy(gt.ravel()[valid].astype(np.int64)))
    assert _score(logits, gt, _settings(["lovasz_softmax"]))["lovasz_softmax"] == pytest.approx(ref, rel=1e-5)


def test_lovasz_softmax_of_a_label_map_with_tied_errors(rng):
    """A label-map prediction: every error is 0 or 1, so the sort order of ties is arbitrary; the
    loss must not depend on it."""
    gt = label_map(rng, (25, 30), num_classes=K)
    pred = label_map(rng, (25, 30), num_classes=K) % K
    valid = (gt != 255).ravel()
    probas = torch.nn.functional.one_hot(torch.from_numpy(pred.ravel()[valid].astype(np.int64)), K).double()
    ref = _lovasz_softmax_reference(probas, torch.from_numpy(gt.ravel()[valid].astype(np.int64)))
    assert _score(pred, gt, _settings(["lovasz_softmax"]))["lovasz_softmax"] == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("levels", [3, 1000])
def test_lovasz_jaccard_matches_the_reference_sort(rng, levels):
    from segcli.scores.binary_losses import lovasz_jaccard

    errors = (rng.integers(0, levels, 500) / (levels - 1)).astype(np.float32)
    positive = rng.random(500) < 0.3
    labels = torch.from_numpy(positive.astype(np.float64))
    errors_sorted, perm = torch.sort(torch.from_numpy(errors.astype(np.float64)), descending=True)
    fg = labels[perm]
    jaccard = 1 - (fg.sum() - fg.cumsum(0)) / (fg.sum() + (1 - fg).cumsum(0))
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    assert lovasz_jaccard(errors, positive) == pytest.approx(torch.dot(errors_sorted, jaccard).item(), rel=1e-9)


def test_absent_classes_hand_case():
    gt = np.array([[0, 1, 1, 255], [0, 0, 1, 255]], np.uint8)
    pred = np.array([[0, 1, 2, 3], [0, 0, 1, 3]], np.uint8)  # class 2 only in pred; 3 only on ignore pixels
    values = _score(pred, gt, _settings(["dice", "hd"]))
    assert values["dice_1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert values["dice_2"] == 0.0  # present in prediction only
    assert values["dice_3"] == 1.0  # absent from both (its pixels are ignored): identical
    assert values["hd_2"] == np.inf
    assert values["hd_3"] == 0.0
    # mean over foreground classes present in GT or prediction: 1 and 2, not 3
    assert values["dice"] == pytest.approx((0.8 + 0.0) / 2)
    assert values["hd"] == np.inf


def test_columns_and_class_names():
    settings = _settings(["dice", "ce"], class_names=("bg", "road", "car", "sky"), include_background=True)
    assert columns(settings) == ["dice", "dice_bg", "dice_road", "dice_car", "dice_sky", "ce"]


def test_errors_name_the_file():
    gt = np.array([[0, 7]], np.uint8)
    with pytest.raises(ValueRangeError, match="g: label 7 outside 0..3"):
        _score(np.zeros((1, 2), np.uint8), gt)
    with pytest.raises(ShapeError, match="p: 3 channels, expected num_classes 4"):
        _score(np.zeros((3, 1, 2), np.float32), np.zeros((1, 2), np.uint8))


@pytest.mark.parametrize("class_weights", [None, (0.5, 1.0, 2.0, 4.0)])
def test_label_map_losses_equal_their_one_hot_probabilities(rng, class_weights):
    """A label map takes the compact (predicted, true) pair-count path of the losses, its one-hot
    float copy the per-pixel path (checked against torch, MONAI and the reference code above):
    equal, with ignore pixels, a class absent from the GT and one absent from the prediction."""
    gt = label_map(rng, (30, 33), num_classes=K)
    gt[gt == 3] = 2  # class 3 absent from the GT
    pred = label_map(rng, (30, 33), num_classes=K) % K
    pred[pred == 1] = 0  # class 1 absent from the prediction
    one_hot = np.eye(K, dtype=np.float32)[pred].transpose(2, 0, 1)
    settings = _settings(["ce", "dice_loss", "focal_loss", "lovasz_softmax"], class_weights=class_weights)
    from_labels, from_probabilities = _score(pred, gt, settings), _score(one_hot, gt, settings)
    for name, value in from_probabilities.items():
        assert from_labels[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name


# Multi-class losses
# (segcli/scores/multiclass_losses.py): a batch of two images, an image without a valid pixel, the
# pixel-count weights against the repeated pixels, non-default gamma and smooth. References are
# torch's cross_entropy, MONAI's DiceLoss and FocalLoss, and the SPEC formulas written out.

K3 = 3


def _batch(rng, n=2, size=40):
    logits = rng.standard_normal((n, K3, size)) * 2
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    target = rng.integers(0, K3, (n, size))
    valid = rng.random((n, size)) < 0.8
    return prob.astype(np.float32), target, valid


def _t(a, dtype=torch.float64):
    return torch.from_numpy(np.asarray(a)).to(dtype)


def test_cross_entropy_per_image_matches_torch(rng):
    prob, target, valid = _batch(rng)
    w = (0.5, 2.0, 3.0)
    got = cross_entropy(prob, target, valid, class_weights=w)
    for i in range(2):
        labels = np.where(valid[i], target[i], -100)
        ref = F.nll_loss(torch.log(_t(prob[i]).T), _t(labels, torch.int64), weight=_t(w), ignore_index=-100)
        assert got[i] == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0])
def test_multiclass_dice_loss_per_image_matches_monai_and_spec(rng, gamma):
    """gamma 1 and 2 against MONAI (squared_pred), 3 by the formula; smooth 0.5; valid pixels."""
    from monai.losses import DiceLoss

    prob, target, valid = _batch(rng)
    got = multiclass_dice_loss(prob, target, valid, classes=[0, 1, 2], smooth=0.5, gamma=gamma)
    for i in range(2):
        p = prob[i].astype(np.float64) * valid[i]
        g = np.eye(K3)[target[i]].T * valid[i]
        if gamma in (1.0, 2.0):
            ref = DiceLoss(squared_pred=gamma == 2.0, smooth_nr=0.5, smooth_dr=0.5)(_t(p)[None], _t(g)[None]).item()
        else:
            ref = np.mean(1 - (2 * (p * g).sum(1) + 0.5) / ((p**3).sum(1) + g.sum(1) + 0.5))
        assert got[i] == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_multiclass_focal_loss_per_image_matches_monai(rng, gamma):
    from monai.losses import FocalLoss

    prob, target, valid = _batch(rng)
    got = multiclass_focal_loss(prob, target, valid, gamma=gamma)
    for i in range(2):
        keep = valid[i]
        logp = torch.log(_t(prob[i][:, keep]))
        onehot = _t(np.eye(K3)[target[i][keep]].T)
        # MONAI's softmax focal loss sums over the channels and means over the pixels
        ref = FocalLoss(gamma=gamma, use_softmax=True, reduction="none")(logp[None], onehot[None]).sum(1).mean()
        assert got[i] == pytest.approx(ref.item(), rel=1e-5)


def test_an_image_without_valid_pixels_scores_zero(rng):
    """An image wholly ignored: 0 for cross-entropy, focal and Lovász (nothing to average), the
    other image of the batch unchanged."""
    prob, target, valid = _batch(rng)
    valid[1] = False
    for loss in (cross_entropy, multiclass_focal_loss, lovasz_softmax):
        both = loss(prob, target, valid)
        assert both[1] == 0.0
        assert both[0] == pytest.approx(loss(prob[:1], target[:1], valid[:1])[0], rel=1e-12)


@pytest.mark.parametrize("loss", ["ce", "dice", "focal", "lovasz"])
def test_pixel_count_weights_equal_the_repeated_pixels(rng, loss):
    """``weights``: how many pixels each element stands for; a weight of 0 is no pixel at all."""
    prob, target, valid = _batch(rng, n=1)
    counts = rng.integers(0, 4, prob.shape[-1])
    functions = {
        "ce": lambda *a, **k: cross_entropy(*a, class_weights=(1.0, 0.5, 2.0), **k),
        "dice": lambda *a, **k: multiclass_dice_loss(*a, classes=[0, 2], gamma=2.0, **k),
        "focal": lambda *a, **k: multiclass_focal_loss(*a, gamma=1.5, **k),
        "lovasz": lovasz_softmax,
    }
    f = functions[loss]
    weighted = f(prob, target, valid, weights=counts[None].astype(np.float64))
    repeated = f(np.repeat(prob, counts, axis=2), np.repeat(target, counts, axis=1), np.repeat(valid, counts, axis=1))
    assert weighted[0] == pytest.approx(repeated[0], rel=1e-6)


def test_cross_entropy_with_fewer_pixels_than_classes_and_class_weights_below_one():
    """One valid pixel of class 2 among 3 classes (the class weights are indexed by class, not
    by pixel), and class weights whose valid-pixel total is below 1 (still a weighted mean)."""
    prob = np.array([[[0.2, 0.5], [0.3, 0.25], [0.5, 0.25]]])  # (1, K3=3, 2 pixels)
    target = np.array([[2, 0]])
    valid = np.array([[True, False]])
    assert cross_entropy(prob, target, valid)[0] == pytest.approx(-np.log(0.5))
    w = (0.1, 0.2, 0.25)
    got = cross_entropy(prob, target, valid, class_weights=w)[0]
    ref = F.nll_loss(torch.log(_t(prob[0]).T), _t([2, -100], torch.int64), weight=_t(w), ignore_index=-100)
    assert got == pytest.approx(ref.item()) == pytest.approx(-np.log(0.5))


def test_focal_loss_with_fractional_pixel_weights_is_still_a_mean():
    """A weighted mean does not change when every weight is scaled, below 1 included:
    one pixel at p_t = 0.5 gives 0.25 * ln 2 whatever its weight."""
    prob, target, valid = np.array([[[0.5], [0.5]]]), np.array([[0]]), np.ones((1, 1), bool)
    for w in (0.5, 1.0, 3.0):
        got = multiclass_focal_loss(prob, target, valid, weights=np.array([[w]]))
        assert got[0] == pytest.approx(0.25 * np.log(2.0))


def test_lovasz_softmax_hand_worked_asymmetric_case():
    """Two pixels, labels (0, 1), p(class 0) = (0.8, 0.4). Class 0: errors (0.2 fg, 0.4 bg),
    sorted (0.4 bg, 0.2 fg), Lovász gradient (0.5, 0.5) -> 0.3. Class 1: errors (0.2 bg,
    0.4 fg), sorted (0.4 fg, 0.2 bg), gradient (1, 0) -> 0.4. Mean 0.35. A background pixel's
    error is its probability p_c, not 1 - p_c."""
    prob = np.array([[[0.8, 0.4], [0.2, 0.6]]])
    got = lovasz_softmax(prob, np.array([[0, 1]]), np.ones((1, 2), bool))
    assert got[0] == pytest.approx(0.35, abs=1e-6)


# Multi-class squared Dice against MONAI; degenerate images stay finite.

REL5 = 1e-5


def _mc_values(pred, gt, metrics, **options):
    settings = ScoreSettings(metrics=tuple(metrics), num_classes=K, options=ScoreOptions(**options))
    return score_multiclass_pair(
        SegImage(pred, None, Path("p")), SegImage(gt, None, Path("g")), settings, settings.options
    )[0]


def test_multiclass_squared_dice_matches_monai(rng):
    from monai.losses import DiceLoss

    gt = label_map(rng, (30, 33), num_classes=K, ignore_share=0.0)
    logits = rng.standard_normal((K, 30, 33)).astype(np.float32)
    values = _mc_values(logits, gt, ["squared_dice_loss"], smooth=0.5)
    ref = DiceLoss(
        include_background=False, softmax=True, to_onehot_y=True, squared_pred=True, smooth_nr=0.5, smooth_dr=0.5
    )(torch.from_numpy(logits)[None].double(), torch.from_numpy(gt.astype(np.int64))[None, None])
    assert values["squared_dice_loss"] == pytest.approx(ref.item(), rel=REL5)


def test_multiclass_degenerate_images_are_finite():
    for gt in (np.zeros((6, 7), np.uint8), np.full((6, 7), 2, np.uint8)):
        for pred in (np.zeros_like(gt), np.full_like(gt, 3)):
            with pytest.warns(UserWarning):
                values = _mc_values(pred, gt, (*MULTICLASS_BY_NAME,))
            assert all(np.isfinite(values[name]) for name in ("squared_dice_loss", *PRESETS)), values


# Multi-class means with no foreground class present, a wholly ignored image, ignore pixels in surface
# scores and Dice losses.

REGION = ("dice", "iou", "precision", "recall", "specificity", "accuracy", "mcc", "volume_similarity")


def _multiclass(pred, gt, metrics, **kwargs):
    settings = ScoreSettings(metrics=tuple(metrics), num_classes=kwargs.pop("num_classes", K3), **kwargs)
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
        for c in range(K3):
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

    for c in range(K3):
        p, t = (pred == c) & valid, (gt == c) & valid
        assert values[f"hd_{c}"] == pytest.approx(medpy.hd(p, t), rel=1e-6), c
        assert values[f"assd_{c}"] == pytest.approx(medpy.assd(p, t), rel=1e-6), c
        assert values[f"hd95_{c}"] == pytest.approx(monai(compute_hausdorff_distance, p, t, percentile=95), rel=1e-6)
        assert values[f"nsd_{c}"] == pytest.approx(monai(compute_surface_dice, p, t, class_thresholds=[1.0]), rel=1e-6)
        assert values[f"dice_{c}"] == pytest.approx(skm.f1_score(t[valid], p[valid]), rel=1e-12)
        # left in on the prediction's side, the ignore pixels would change every class's hd
        assert medpy.hd(pred == c, t) != pytest.approx(values[f"hd_{c}"], rel=1e-3), c
    assert values["hd"] == pytest.approx(np.mean([values["hd_1"], values["hd_2"]]))


def test_multiclass_dice_losses_drop_ignore_pixels_from_the_probabilities():
    """Guards ignore pixels in multi-class Dice losses: they leave the probabilities as well as
    the one-hot GT. Reference: MONAI DiceLoss (plain and squared_pred) on the valid pixels only,
    removed by hand, and the softmax focal loss written out over them."""
    from monai.losses import DiceLoss

    rng = np.random.default_rng(21)
    gt = rng.integers(0, K3, (18, 22)).astype(np.uint8)
    gt[:, :6] = 255
    gt[:3] = 255
    logits = (rng.standard_normal((K3, 18, 22)) * 2).astype(np.float32)
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
