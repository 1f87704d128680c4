"""The rows of the region scores (from the confusion counts) and the surface scores (from the border
distances): hard masks only, binary and per class, all computed on the device in ``--device cuda``
runs."""

from __future__ import annotations

from collections.abc import Callable

from segcli.scores import region, surface
from segcli.scores.row import Score, flag_defaults, once_per_batch

REGION_TEST = "tests/scores/test_region.py::test_region_scores_match_scikit_learn"
MONAI_TEST = "tests/scores/test_surface.py::test_against_monai"
MEDPY_TEST = "tests/scores/test_surface.py::test_against_medpy"
# What a distance reads: the spacing it is measured in, and what replaces an inf (one side empty).
DISTANCE_OPTIONS = ("spacing", "empty_distance")


def _region(name: str, formula: str, function: Callable, peers: str, test: str = REGION_TEST) -> Score:
    return Score(
        name, "region", formula, lambda b: function(b.counts), function, on_device=True, peers=peers, test=test
    )


def _distance(name: str, formula: str, function: Callable, peers: str, test: str) -> Score:
    return Score(
        name,
        "surface",
        formula,
        lambda b: function(b.surface),
        function,
        options=DISTANCE_OPTIONS,
        direction="lower",
        on_device=True,
        defaults="spacing 1",
        peers=peers,
        test=test,
    )


REGION_ROWS: tuple[Score, ...] = (
    _region("dice", "2TP / (2TP + FP + FN)", region.dice, "MONAI DiceMetric, scikit-learn f1_score"),
    _region("iou", "TP / (TP + FP + FN)", region.iou, "MONAI MeanIoU, scikit-learn jaccard_score"),
    _region("precision", "TP / (TP + FP)", region.precision, "scikit-learn precision_score"),
    _region("recall", "TP / (TP + FN)", region.recall, "scikit-learn recall_score"),
    _region("specificity", "TN / (TN + FP)", region.specificity, "scikit-learn recall_score of the negatives"),
    _region("accuracy", "(TP + TN) / N", region.accuracy, "scikit-learn accuracy_score"),
    _region(
        "mcc",
        "(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))",
        region.mcc,
        "scikit-learn matthews_corrcoef",
    ),
    _region(
        "volume_similarity",
        "1 - |FN - FP| / (2TP + FP + FN)",
        region.volume_similarity,
        "Taha & Hanbury 2015",
        "tests/scores/test_region.py::test_volume_similarity_hand_case",
    ),
    Score(
        "fbeta",
        "region",
        "(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP), b = --fbeta-beta",
        lambda b: region.fbeta(b.counts, beta=b.options.fbeta_beta),
        region.fbeta,
        options=("fbeta_beta",),
        on_device=True,
        defaults=flag_defaults("fbeta_beta") + " (Dice)",
        peers="scikit-learn fbeta_score, torchmetrics FBetaScore",
        test="tests/scores/test_region.py::test_fbeta_against_scikit_learn_over_the_cases",
        default=False,  # opt-in: the default output stays as it was
    ),
)

SURFACE_ROWS: tuple[Score, ...] = (
    _distance(
        "hd",
        "max of all border distances (both directions)",
        surface.hd,
        "MONAI HausdorffDistanceMetric, MedPy hd",
        MONAI_TEST,
    ),
    _distance(
        "hd95",
        "max of the two directed 95th percentiles (linear)",
        surface.hd95,
        "MONAI HausdorffDistanceMetric(percentile=95), MetricsReloaded",
        MONAI_TEST,
    ),
    _distance(
        "hd95_pooled",
        "95th percentile of both directions pooled (linear)",
        surface.hd95_pooled,
        "MedPy hd95, seg-metrics",
        MEDPY_TEST,
    ),
    _distance(
        "assd",
        "mean of both directions pooled",
        surface.assd,
        "MONAI SurfaceDistanceMetric(symmetric=True), MedPy >= 0.5 assd",
        MONAI_TEST,
    ),
    _distance("masd", "mean of the two directed means", surface.masd, "MetricsReloaded masd", MEDPY_TEST),
    Score(
        "nsd",
        "surface",
        "share of border pixels within tolerance of the other border",
        lambda b: surface.nsd(b.surface, tolerance=b.options.nsd_tolerance),
        surface.nsd,
        options=("spacing", "nsd_tolerance"),
        on_device=True,
        defaults=flag_defaults("nsd_tolerance"),
        peers="MONAI SurfaceDiceMetric",
        test=MONAI_TEST,
    ),
    Score(
        "boundary_iou",
        "surface",
        "IoU of the mask regions within 2 px of each contour",
        lambda b: b.boundary_iou(width=b.options.boundary_iou_width),
        surface.boundary_iou,
        on_device=True,
        defaults="width 2 px",
        peers="Cheng et al. 2021 (square erosion, as their API)",
        test="tests/scores/test_surface.py::test_boundary_iou_hand_case",
    ),
)

ROWS: tuple[Score, ...] = tuple(once_per_batch(s) for s in REGION_ROWS + SURFACE_ROWS)
