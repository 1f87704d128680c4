"""The rows of the object scores (``segcli.scores.objects``): every one comes from the overlap table
of a pair's GT and predicted objects (instance label maps, or the connected components of the
masks: ``--objects instances|components``; per class in multi-class mode). A run computes them
when it names one (or the group ``objects``), or with ``--objects``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from segcli.scores import objects
from segcli.scores.object_matching import OverlapTable
from segcli.scores.row import Score, flag_defaults
from segcli.settings import default

OBJECTS_TEST = "tests/scores/test_objects.py"
STARDIST_TEST = f"{OBJECTS_TEST}::test_scores_match_stardist"
MODES = ("binary", "multiclass", "objects")
MATCHING = ("iou_threshold", "connectivity")  # what a matched count reads


@dataclass
class ObjectBatch:
    """The overlap tables of B pairs and the IoU threshold their objects match at; the scores of
    each table are computed once, for every object row."""

    tables: list[OverlapTable]
    iou_threshold: float = default("iou_threshold")
    _scores: list[dict[str, float]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.tables)

    @property
    def scores(self) -> list[dict[str, float]]:
        if self._scores is None:
            self._scores = [objects.scores_from_table(t, iou_threshold=self.iou_threshold) for t in self.tables]
        return self._scores


def _row(name: str, formula: str, test: str, *, direction: str = "higher", options=MATCHING, peers: str = "") -> Score:
    return Score(
        name,
        "objects",
        formula,
        lambda b: np.array([s[name] for s in b.scores]),
        objects.scores_from_table,
        options=options,
        direction=direction,
        modes=MODES,
        defaults=flag_defaults("iou_threshold") if "iou_threshold" in options else "",
        peers=peers,
        test=test,
    )


PQ_TEST = f"{OBJECTS_TEST}::test_panoptic_quality_matches_torchmetrics"
AJI_TEST = f"{OBJECTS_TEST}::test_aji_and_seg_match_per_object_loops"
COMPONENTS = ("connectivity",)
# Matched objects count up (the GT is the same in two runs compared, so TP + FN is fixed), unmatched
# ones down; the object counts themselves have no direction.
ROWS: tuple[Score, ...] = (
    _row("obj_tp", "matched pairs (IoU > t, one-to-one)", STARDIST_TEST, peers="StarDist matching tp"),
    _row("obj_fp", "unmatched predicted objects", STARDIST_TEST, direction="lower", peers="StarDist matching fp"),
    _row("obj_fn", "unmatched GT objects", STARDIST_TEST, direction="lower", peers="StarDist matching fn"),
    _row("obj_precision", "TP / (TP + FP)", STARDIST_TEST, peers="StarDist matching precision"),
    _row("obj_recall", "TP / (TP + FN)", STARDIST_TEST, peers="StarDist matching recall"),
    _row("obj_f1", "2TP / (2TP + FP + FN) (= rq)", STARDIST_TEST, peers="StarDist matching f1"),
    _row("obj_ap", "TP / (TP + FP + FN)", STARDIST_TEST, peers="StarDist accuracy, cellpose average_precision"),
    _row(
        "obj_ap_mean",
        "mean of obj_ap over t = 0.50, 0.55, ..., 0.95",
        f"{OBJECTS_TEST}::test_ap_mean_is_the_mean_of_stardist_accuracy_over_the_dsb_thresholds",
        options=COMPONENTS,
        peers="Data Science Bowl 2018",
    ),
    _row("pq", "(sum of matched IoUs) / (TP + FP/2 + FN/2)", PQ_TEST, peers="torchmetrics panoptic_quality"),
    _row("sq", "(sum of matched IoUs) / TP", PQ_TEST, peers="Kirillov et al. 2019"),
    _row("rq", "2TP / (2TP + FP + FN)", PQ_TEST, peers="Kirillov et al. 2019"),
    _row(
        "aji",
        "sum |G & P| / (sum |G | P| + unpaired areas), P = the largest-IoU partner of each G",
        AJI_TEST,
        options=COMPONENTS,
        peers="Kumar et al. 2017, cellpose aggregated_jaccard_index",
    ),
    _row(
        "seg",
        "mean over GT objects of IoU(G, P), P covering more than half of G",
        AJI_TEST,
        options=COMPONENTS,
        peers="Cell Tracking Challenge SEG",
    ),
    _row("obj_count_gt", "number of GT objects", STARDIST_TEST, direction="none", options=COMPONENTS),
    _row("obj_count_pred", "number of predicted objects", STARDIST_TEST, direction="none", options=COMPONENTS),
)

BY_NAME: dict[str, Score] = {s.name: s for s in ROWS}


def compute_object_scores(batch: ObjectBatch, names: Sequence[str], *, suffix: str = "") -> list[dict[str, float]]:
    """The named object scores of every pair of the batch, one dict of ``<score><suffix>`` per pair."""
    columns = {f"{name}{suffix}": BY_NAME[name].compute(batch) for name in names}
    return [{key: float(values[i]) for key, values in columns.items()} for i in range(len(batch))]
