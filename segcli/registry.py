"""The table of scores: name, group, formula, defaults, the peers it agrees with, and how to
compute it from a batch's shared intermediates.

``segcli metrics``, ``--metrics``, the README's score list and the tests all read this table.
Adding a score is one function in ``segcli.scores`` and one row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from segcli.batch import BinaryBatch
from segcli.errors import UsageError
from segcli.scores import losses, multiclass, region, surface

GROUPS = ("region", "surface", "losses")


@dataclass(frozen=True)
class Score:
    name: str
    group: str
    formula: str
    compute: Callable[[BinaryBatch], np.ndarray]  # a MulticlassBatch for multiclass losses
    defaults: str = ""
    peers: str = ""
    higher_is_better: bool = True
    mode: str = "both"  # binary, multiclass, or both (region and surface scores run per class)
    on_device: bool = False  # computed on the GPU in --device cuda runs (else by the CPU workers)


def _o(batch: BinaryBatch):
    return batch.options


_SINGLE_CLASS: tuple[Score, ...] = (
    Score(
        "dice",
        "region",
        "2TP / (2TP + FP + FN)",
        lambda b: region.dice(b.counts),
        peers="MONAI DiceMetric, scikit-learn f1_score",
    ),
    Score(
        "iou",
        "region",
        "TP / (TP + FP + FN)",
        lambda b: region.iou(b.counts),
        peers="MONAI MeanIoU, scikit-learn jaccard_score",
    ),
    Score(
        "precision",
        "region",
        "TP / (TP + FP)",
        lambda b: region.precision(b.counts),
        peers="scikit-learn precision_score",
    ),
    Score("recall", "region", "TP / (TP + FN)", lambda b: region.recall(b.counts), peers="scikit-learn recall_score"),
    Score(
        "specificity",
        "region",
        "TN / (TN + FP)",
        lambda b: region.specificity(b.counts),
        peers="scikit-learn recall_score of the negatives",
    ),
    Score(
        "accuracy", "region", "(TP + TN) / N", lambda b: region.accuracy(b.counts), peers="scikit-learn accuracy_score"
    ),
    Score(
        "mcc",
        "region",
        "(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))",
        lambda b: region.mcc(b.counts),
        peers="scikit-learn matthews_corrcoef",
    ),
    Score(
        "volume_similarity",
        "region",
        "1 - |FN - FP| / (2TP + FP + FN)",
        lambda b: region.volume_similarity(b.counts),
        peers="Taha & Hanbury 2015",
    ),
    Score(
        "hd",
        "surface",
        "max of all border distances (both directions)",
        lambda b: surface.hd(b.surface),
        defaults="spacing 1",
        peers="MONAI HausdorffDistanceMetric, MedPy hd",
        higher_is_better=False,
    ),
    Score(
        "hd95",
        "surface",
        "max of the two directed 95th percentiles (linear)",
        lambda b: surface.hd95(b.surface),
        defaults="spacing 1",
        peers="MONAI HausdorffDistanceMetric(percentile=95), MetricsReloaded",
        higher_is_better=False,
    ),
    Score(
        "hd95_pooled",
        "surface",
        "95th percentile of both directions pooled (linear)",
        lambda b: surface.hd95_pooled(b.surface),
        defaults="spacing 1",
        peers="MedPy hd95, seg-metrics",
        higher_is_better=False,
    ),
    Score(
        "assd",
        "surface",
        "mean of both directions pooled",
        lambda b: surface.assd(b.surface),
        defaults="spacing 1",
        peers="MONAI SurfaceDistanceMetric(symmetric=True), MedPy >= 0.5 assd",
        higher_is_better=False,
    ),
    Score(
        "masd",
        "surface",
        "mean of the two directed means",
        lambda b: surface.masd(b.surface),
        defaults="spacing 1",
        peers="MetricsReloaded masd",
        higher_is_better=False,
    ),
    Score(
        "nsd",
        "surface",
        "share of border pixels within tolerance of the other border",
        lambda b: surface.nsd(b.surface, tolerance=_o(b).nsd_tolerance),
        defaults="--nsd-tolerance 1.0",
        peers="MONAI SurfaceDiceMetric",
    ),
    Score(
        "boundary_iou",
        "surface",
        "IoU of the mask regions within 2 px of each contour",
        lambda b: surface.boundary_iou(b.hard, b.target, width=_o(b).boundary_iou_width),
        defaults="width 2 px",
        peers="Cheng et al. 2021 (square erosion, as their API)",
    ),
    Score(
        "bce",
        "losses",
        "mean(-(g log p + (1-g) log(1-p)))",
        lambda b: losses.bce(b.loss_inputs),
        defaults="p clamped to [1e-7, 1-1e-7]",
        peers="torch binary_cross_entropy",
        higher_is_better=False,
    ),
    Score(
        "balanced_bce",
        "losses",
        "mean(-(b g log p + (1-b)(1-g) log(1-p))), b = share of negatives",
        lambda b: losses.balanced_bce(b.loss_inputs),
        peers="torch binary_cross_entropy(weight)",
        higher_is_better=False,
    ),
    Score(
        "wbce",
        "losses",
        "mean(-(w g log p + (1-g) log(1-p)))",
        lambda b: losses.wbce(b.loss_inputs, pos_weight=_o(b).pos_weight),
        defaults="--pos-weight negatives/positives of the image",
        peers="torch binary_cross_entropy_with_logits(pos_weight)",
        higher_is_better=False,
    ),
    Score(
        "focal_loss",
        "losses",
        "mean(a_t (1-p_t)^gamma bce)",
        lambda b: losses.focal_loss(b.loss_inputs, alpha=_o(b).focal_alpha, gamma=_o(b).focal_gamma),
        defaults="--focal-alpha 0.25 --focal-gamma 2",
        peers="MONAI FocalLoss(alpha=0.25)",
        higher_is_better=False,
    ),
    Score(
        "dice_loss",
        "losses",
        "1 - (2 sum pg + s) / (sum p + sum g + s)",
        lambda b: losses.dice_loss(b.loss_inputs),
        defaults="s = 1e-6",
        peers="MONAI DiceLoss",
        higher_is_better=False,
    ),
    Score(
        "tversky_loss",
        "losses",
        "1 - (TP + s) / (TP + a FP + b FN + s), soft counts",
        lambda b: losses.tversky_loss(b.loss_inputs, alpha=_o(b).tversky_alpha, beta=_o(b).tversky_beta),
        defaults="--tversky-alpha 0.3 --tversky-beta 0.7, s = 1e-6",
        peers="MONAI TverskyLoss",
        higher_is_better=False,
    ),
    Score(
        "focal_tversky_loss",
        "losses",
        "tversky_loss ^ gamma",
        lambda b: losses.focal_tversky_loss(
            b.loss_inputs, alpha=_o(b).tversky_alpha, beta=_o(b).tversky_beta, gamma=_o(b).focal_tversky_gamma
        ),
        defaults="--focal-tversky-gamma 0.75",
        peers="Abraham & Khan 2019",
        higher_is_better=False,
    ),
    Score(
        "lovasz_hinge",
        "losses",
        "relu(1 - logit(p)(2g-1)) sorted . Lovasz gradient",
        lambda b: losses.lovasz_hinge(b.loss_inputs),
        peers="Berman et al. 2018 reference code",
        higher_is_better=False,
    ),
    Score(
        "combo_loss",
        "losses",
        "a bce + (1-a) dice_loss",
        lambda b: losses.combo_loss(b.loss_inputs, alpha=_o(b).combo_alpha),
        defaults="a = 0.5",
        higher_is_better=False,
    ),
    Score(
        "unet_wce",
        "losses",
        "mean(w bce), w = U-Net weight map of the GT",
        lambda b: losses.weighted_bce(b.loss_inputs, b.unet_weights),
        defaults="--w0 10 --sigma 5, 4-connected components",
        peers="Ronneberger et al. 2015",
        higher_is_better=False,
    ),
    Score(
        "boundary_bce",
        "losses",
        "mean(w bce), w = 5 within 3 px of the GT border, else 1",
        lambda b: losses.weighted_bce(b.loss_inputs, b.boundary_weights),
        defaults="weight 5, width 3 px",
        higher_is_better=False,
    ),
    Score(
        "distmap_bce",
        "losses",
        "mean(exp(-|sdf|/5) bce), sdf = EDT(G) - EDT(not G)",
        lambda b: losses.weighted_bce(b.loss_inputs, b.distance_weights),
        defaults="tau 5",
        higher_is_better=False,
    ),
    Score(
        "boundary_loss",
        "losses",
        "mean(p phi), phi = Kervadec signed distance of G",
        lambda b: losses.boundary_loss(b.loss_inputs, b.kervadec_phi),
        peers="Kervadec et al. 2019",
        higher_is_better=False,
    ),
)

_MULTICLASS_LOSSES: tuple[Score, ...] = (
    Score(
        "ce",
        "losses",
        "sum w[g] (-log p_g) / sum w[g] over non-ignored pixels",
        lambda b: multiclass.cross_entropy(b.prob, b.target, b.valid, class_weights=b.class_weights, weights=b.weights),
        defaults="--class-weights none, --ignore-index 255",
        peers="torch cross_entropy(weight, ignore_index)",
        higher_is_better=False,
        mode="multiclass",
    ),
    Score(
        "dice_loss",
        "losses",
        "mean over scored classes of the soft Dice loss",
        lambda b: multiclass.multiclass_dice_loss(b.prob, b.target, b.valid, classes=b.classes, weights=b.weights),
        defaults="s = 1e-6, foreground classes unless --include-background",
        peers="MONAI DiceLoss(softmax, one-hot)",
        higher_is_better=False,
        mode="multiclass",
    ),
    Score(
        "focal_loss",
        "losses",
        "mean of -(1-p_t)^gamma log p_t (softmax)",
        lambda b: multiclass.multiclass_focal_loss(
            b.prob, b.target, b.valid, gamma=b.options.focal_gamma, weights=b.weights
        ),
        defaults="--focal-gamma 2",
        peers="Lin et al. 2017",
        higher_is_better=False,
        mode="multiclass",
    ),
    Score(
        "lovasz_softmax",
        "losses",
        "mean over GT classes of |fg - p_c| sorted . Lovasz gradient",
        lambda b: multiclass.lovasz_softmax(b.prob, b.target, b.valid, weights=b.weights),
        peers="Berman et al. 2018 reference code (classes='present')",
        higher_is_better=False,
        mode="multiclass",
    ),
)

# Weight-map losses need CPU distance transforms per pixel; the rest of the region scores and
# losses are per-pixel arithmetic and reductions, which a GPU batch does well.
_CPU_MAP_LOSSES = {"unet_wce", "boundary_bce", "distmap_bce", "boundary_loss"}


def _binary_row(score: Score) -> Score:
    on_device = score.group == "region" or (score.group == "losses" and score.name not in _CPU_MAP_LOSSES)
    return replace(score, mode="binary" if score.group == "losses" else score.mode, on_device=on_device)


SCORES: tuple[Score, ...] = tuple(_binary_row(s) for s in _SINGLE_CLASS) + _MULTICLASS_LOSSES

BY_NAME: dict[str, Score] = {s.name: s for s in SCORES if s.mode != "multiclass"}
MULTICLASS_BY_NAME: dict[str, Score] = {s.name: s for s in SCORES if s.mode != "binary"}


def select(spec: str | None, *, multiclass: bool = False) -> list[Score]:
    """Scores named by a comma list of score and group names (``all`` or None: every score of
    the mode: binary, or multi-class when ``multiclass``)."""
    table = MULTICLASS_BY_NAME if multiclass else BY_NAME
    if spec is None or spec.strip() in ("", "all"):
        return list(table.values())
    chosen: dict[str, Score] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item in GROUPS:
            chosen.update({s.name: s for s in table.values() if s.group == item})
        elif item in table:
            chosen[item] = table[item]
        else:
            mode = "multi-class" if multiclass else "binary"
            raise UsageError(
                f"--metrics: unknown {mode} score or group {item!r}; known: {', '.join(GROUPS + tuple(table))}"
            )
    return [s for s in table.values() if s.name in chosen]
