"""The table of scores: name, group, formula, defaults, the peers it agrees with, and how to
compute it from a batch's shared intermediates.

``segcli metrics``, ``--metrics``, the README's score list and the tests all read this table.
Adding a score is one function in ``segcli.scores`` and one row here.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from segcli.errors import InvalidOption, UsageError, option
from segcli.scores import binary_losses as losses
from segcli.scores import multiclass_losses, region, surface
from segcli.scores.batch import BinaryBatch

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
        lambda b: b.boundary_iou(width=_o(b).boundary_iou_width),
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
        "nearest_cell_bce",
        "losses",
        "mean(-(w g log p + (1-g) log(1-p))), w = b/(1-b) + exp(-d^2), b = share of negatives, "
        "d = distance to the nearest GT pixel (0 on GT pixels: w = negatives/positives + 1)",
        lambda b: losses.nearest_cell_bce(b.loss_inputs),
        defaults="no parameters",
        peers="weighted cross entropy, 'distance to the nearest cell' variant",
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
        lambda b: losses.dice_loss(b.loss_inputs, smooth=_o(b).smooth),
        defaults="--smooth 1e-6",
        peers="MONAI DiceLoss",
        higher_is_better=False,
    ),
    Score(
        "squared_dice_loss",
        "losses",
        "1 - (2 sum pg + s) / (sum p^gamma + sum g^gamma + s)",
        lambda b: losses.squared_dice_loss(b.loss_inputs, gamma=_o(b).dice_gamma, smooth=_o(b).smooth),
        defaults="--dice-gamma 2 --smooth 1e-6",
        peers="MONAI DiceLoss(squared_pred=True); V-Net (Milletari et al. 2016)",
        higher_is_better=False,
    ),
    Score(
        "tversky_loss",
        "losses",
        "1 - (TP + s) / (TP + a FP + b FN + s), soft counts",
        lambda b: losses.tversky_loss(
            b.loss_inputs, alpha=_o(b).tversky_alpha, beta=_o(b).tversky_beta, smooth=_o(b).smooth
        ),
        defaults="--tversky-alpha 0.3 --tversky-beta 0.7 --smooth 1e-6",
        peers="MONAI TverskyLoss",
        higher_is_better=False,
    ),
    Score(
        "focal_tversky_loss",
        "losses",
        "tversky_loss ^ gamma",
        lambda b: losses.focal_tversky_loss(
            b.loss_inputs,
            alpha=_o(b).tversky_alpha,
            beta=_o(b).tversky_beta,
            gamma=_o(b).focal_tversky_gamma,
            smooth=_o(b).smooth,
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
        lambda b: losses.combo_loss(b.loss_inputs, alpha=_o(b).combo_alpha, smooth=_o(b).smooth),
        defaults="a = 0.5, --smooth 1e-6",
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
        lambda b: multiclass_losses.cross_entropy(
            b.prob, b.target, b.valid, class_weights=b.class_weights, weights=b.weights
        ),
        defaults="--class-weights none, --ignore-index 255",
        peers="torch cross_entropy(weight, ignore_index)",
        higher_is_better=False,
        mode="multiclass",
    ),
    Score(
        "dice_loss",
        "losses",
        "mean over scored classes of the soft Dice loss",
        lambda b: multiclass_losses.multiclass_dice_loss(
            b.prob, b.target, b.valid, classes=b.classes, smooth=b.options.smooth, weights=b.weights
        ),
        defaults="--smooth 1e-6, foreground classes unless --include-background",
        peers="MONAI DiceLoss(softmax, one-hot)",
        higher_is_better=False,
        mode="multiclass",
    ),
    Score(
        "squared_dice_loss",
        "losses",
        "mean over scored classes of 1 - (2 sum p_c g_c + s) / (sum p_c^gamma + sum g_c + s)",
        lambda b: multiclass_losses.multiclass_dice_loss(
            b.prob,
            b.target,
            b.valid,
            classes=b.classes,
            smooth=b.options.smooth,
            gamma=b.options.dice_gamma,
            weights=b.weights,
        ),
        defaults="--dice-gamma 2 --smooth 1e-6, foreground classes unless --include-background",
        peers="MONAI DiceLoss(softmax, one-hot, squared_pred=True)",
        higher_is_better=False,
        mode="multiclass",
    ),
    Score(
        "focal_loss",
        "losses",
        "mean of -(1-p_t)^gamma log p_t (softmax)",
        lambda b: multiclass_losses.multiclass_focal_loss(
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
        lambda b: multiclass_losses.lovasz_softmax(b.prob, b.target, b.valid, weights=b.weights),
        peers="Berman et al. 2018 reference code (classes='present')",
        higher_is_better=False,
        mode="multiclass",
    ),
)

# Weighted sums of losses: the four presets of the common "loss factory" recipe
# (create_segmentation_loss). Each component follows its own options.
Terms = tuple[tuple[float, str], ...]
PRESETS: dict[str, Terms] = {
    "loss_balanced": ((0.5, "bce"), (0.5, "dice_loss")),
    "loss_imbalanced": ((0.5, "dice_loss"), (0.5, "focal_loss")),
    "loss_boundary": ((0.3, "bce"), (0.4, "dice_loss"), (0.3, "boundary_bce")),
    "loss_medical": ((0.5, "dice_loss"), (0.5, "tversky_loss")),
}
# A binary loss's multi-class form, where one exists; the others have none.
MULTICLASS_FORM = {"bce": "ce", "dice_loss": "dice_loss", "focal_loss": "focal_loss"}


def describe(terms: Terms) -> str:
    """``0.3 bce + 0.7 dice_loss``."""
    return " + ".join(f"{weight:g} {name}" for weight, name in terms).replace("+ -", "- ")


def weighted_sum(batch, terms: Terms, *, multiclass: bool = False) -> np.ndarray:
    """``sum weight * loss`` per image, each loss computed from the batch as its own column is."""
    table = MULTICLASS_BY_NAME if multiclass else BY_NAME
    total = np.zeros(len(batch))
    for weight, name in terms:
        total = total + weight * table[name].compute(batch)
    return total


def multiclass_preset(name: str) -> tuple[Terms, tuple[str, ...]]:
    """A preset's terms in multi-class mode (bce as ce) and the components with no multi-class
    form, which are left out (the other weights stay as they are)."""
    terms = tuple((w, MULTICLASS_FORM[c]) for w, c in PRESETS[name] if c in MULTICLASS_FORM)
    return terms, tuple(c for _, c in PRESETS[name] if c not in MULTICLASS_FORM)


def _multiclass_preset_compute(name: str) -> Callable:
    terms, left_out = multiclass_preset(name)

    def compute(batch) -> np.ndarray:
        if left_out:
            warnings.warn(
                f"{name} in multi-class mode is {describe(terms)}; left out, with no multi-class form: "
                f"{', '.join(left_out)}",
                stacklevel=2,
            )
        return weighted_sum(batch, terms, multiclass=True)

    return compute


def _preset_rows() -> tuple[tuple[Score, ...], tuple[Score, ...]]:
    binary, multi = [], []
    for name, terms in PRESETS.items():
        recipe = f"loss factory preset '{name.removeprefix('loss_')}'"
        binary.append(
            Score(
                name,
                "losses",
                describe(terms),
                lambda b, terms=terms: weighted_sum(b, terms),
                defaults="each component's options",
                peers=recipe,
                higher_is_better=False,
            )
        )
        mc_terms, left_out = multiclass_preset(name)
        note = f" ({', '.join(left_out)}: no multi-class form, left out)" if left_out else ""
        multi.append(
            Score(
                name,
                "losses",
                describe(mc_terms) + note,
                _multiclass_preset_compute(name),
                defaults="each component's options",
                peers=recipe,
                higher_is_better=False,
                mode="multiclass",
            )
        )
    return tuple(binary), tuple(multi)


_BINARY_PRESETS, _MULTICLASS_PRESETS = _preset_rows()

# On a device batch run the region scores and losses (per-pixel arithmetic and reductions), the
# surface scores, the boundary band and the distance-map losses (exact transforms and morphology
# in segcli.engine.torch_distance). The U-Net map (connected components, per-instance transforms) is
# built by the CPU workers. A preset runs where all of its components can.
_CPU_MAP_LOSSES = {"unet_wce"}
_CPU_MAP_LOSSES |= {name for name, terms in PRESETS.items() if any(c in _CPU_MAP_LOSSES for _, c in terms)}


def _binary_row(score: Score) -> Score:
    on_device = score.group in ("region", "surface") or (score.group == "losses" and score.name not in _CPU_MAP_LOSSES)
    return replace(score, mode="binary" if score.group == "losses" else score.mode, on_device=on_device)


def _once_per_batch(score: Score) -> Score:
    """The row with its values kept in the batch: a preset or ``combined`` reuses the columns
    computed before it (a weight map's category sums, a focal pass) instead of redoing them."""
    compute = score.compute

    def cached(batch) -> np.ndarray:
        if score.name not in batch.score_values:
            batch.score_values[score.name] = compute(batch)
        return batch.score_values[score.name]

    return replace(score, compute=cached)


SCORES: tuple[Score, ...] = tuple(
    _once_per_batch(s)
    for s in tuple(_binary_row(s) for s in _SINGLE_CLASS + _BINARY_PRESETS) + _MULTICLASS_LOSSES + _MULTICLASS_PRESETS
)

BY_NAME: dict[str, Score] = {s.name: s for s in SCORES if s.mode != "multiclass"}
MULTICLASS_BY_NAME: dict[str, Score] = {s.name: s for s in SCORES if s.mode != "binary"}

# The column ``--combine`` adds: not a score of its own (it is whatever sum the user wrote), so
# it is in no table and no group; ``lookup`` finds it.
COMBINED = "combined"


def _combined_row(multiclass: bool) -> Score:
    return Score(
        COMBINED,
        "losses",
        "sum of weight * loss over the terms of --combine",
        lambda b: weighted_sum(b, b.options.combine, multiclass=multiclass),
        defaults='--combine, e.g. "0.3*bce + 0.4*dice_loss + 0.3*boundary_loss"',
        higher_is_better=False,
        mode="multiclass" if multiclass else "binary",
    )


COMBINED_ROWS: tuple[Score, ...] = (_combined_row(False), _combined_row(True))


def lookup(name: str, *, multiclass: bool = False) -> Score:
    """The row of a column name: a score of the mode's table, or ``combined``."""
    if name == COMBINED:
        return COMBINED_ROWS[multiclass]
    return (MULTICLASS_BY_NAME if multiclass else BY_NAME)[name]


_TOKEN = re.compile(r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>[+\-*])")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) of each token; anything else is an error naming it."""
    tokens, position = [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidOption("combine", f"unexpected {text[position]!r} at position {position + 1} in {text!r}")
        tokens.append((match.lastgroup, match.group(), position))
        position = match.end()
    return tokens


def parse_combination(text: str, *, multiclass: bool = False) -> Terms:
    """The terms of a weighted sum of losses such as ``0.3*bce + 0.4*dice_loss - 0.1*focal_loss``.

    A term is ``weight*name``, ``name*weight`` or ``name`` (weight 1), joined by ``+`` or ``-``;
    the names are the losses of the mode (binary, or multi-class when ``multiclass``). Parsed by
    hand, never evaluated: a bad expression raises ``InvalidOption`` naming the bad token.

    >>> parse_combination("0.3*bce + 0.7 * dice_loss")
    ((0.3, 'bce'), (0.7, 'dice_loss'))
    >>> parse_combination("bce - 2e-1*focal_loss")
    ((1.0, 'bce'), (-0.2, 'focal_loss'))
    """
    table = MULTICLASS_BY_NAME if multiclass else BY_NAME
    known = [name for name, score in table.items() if score.group == "losses"]
    tokens = _tokens(text)
    if not tokens:
        raise InvalidOption("combine", "empty expression; expected e.g. '0.5*bce + 0.5*dice_loss'")

    def expect(index: int, wanted: str, what: str) -> str:
        """The token at ``index`` if it is ``wanted`` (a kind, or the operator itself)."""
        if index >= len(tokens):
            raise InvalidOption("combine", f"{text!r} ends where {what} was expected")
        kind, token, position = tokens[index]
        if wanted not in (kind, token):
            where = f"at position {position + 1} in {text!r}"
            raise InvalidOption("combine", f"unexpected {token!r} {where}; expected {what}")
        return token

    terms: list[tuple[float, str]] = []
    i = 0
    while i < len(tokens) or not terms:
        sign = 1.0
        if i < len(tokens) and tokens[i][1] in ("+", "-"):
            sign, i = (-1.0 if tokens[i][1] == "-" else 1.0), i + 1
        elif terms:
            expect(i, "+", "'+' or '-'")
        weight = None
        if i < len(tokens) and tokens[i][0] == "number":
            weight = _finite_weight(tokens[i][1], text)
            expect(i + 1, "*", "'*'")
            i += 2
        name = expect(i, "name", "a number or a loss name")
        if name not in known:
            mode = "multi-class" if multiclass else "binary"
            hint = (
                f" (its multi-class form is {MULTICLASS_FORM[name]})" if multiclass and name in MULTICLASS_FORM else ""
            )
            raise InvalidOption(
                "combine", f"unknown {mode} loss {name!r} in {text!r}{hint}; losses: {', '.join(known)}"
            )
        i += 1
        if weight is None and i < len(tokens) and tokens[i][1] == "*":
            weight = _finite_weight(expect(i + 1, "number", "a number"), text)
            i += 2
        terms.append((sign * (1.0 if weight is None else weight), name))
    return tuple(terms)


def _finite_weight(token: str, text: str) -> float:
    weight = float(token)
    if not math.isfinite(weight):
        raise InvalidOption("combine", f"weight {token} in {text!r} is not a finite number")
    return weight


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
            chosen[item] = table[item]  # pragma: no mutate (only the keys of chosen are read)
        else:
            mode = "multi-class" if multiclass else "binary"
            known = ", ".join(GROUPS + tuple(table))
            raise UsageError(f"{option('metrics')}: unknown {mode} score or group {item!r}; known: {known}")
    return [s for s in table.values() if s.name in chosen]


def compute_scores(
    batch: BinaryBatch, metrics: Iterable[str], *, prefix: str = "", suffix: str = ""
) -> list[dict[str, float]]:
    """Every named score for every pair of the batch, as one dict per pair; a distance with one
    side empty follows the options' ``empty_distance`` policy (replacements are logged in
    ``EMPTY_DISTANCE_LOG``)."""
    columns = {f"{prefix}{name}{suffix}": lookup(name).compute(batch) for name in metrics}
    policy = batch.options.empty_distance
    if policy != "inf":
        from segcli.scores.batch import EMPTY_DISTANCE_SCORES, image_diagonal

        for name in metrics:
            key = f"{prefix}{name}{suffix}"
            if name not in EMPTY_DISTANCE_SCORES:
                continue
            values = np.array(columns[key], dtype=np.float64)
            hit = np.isposinf(values)
            if hit.any():
                if policy == "worst":
                    values[hit] = image_diagonal(batch.target.shape[1:], batch.options.spacing)
                else:
                    values[hit] = math.nan if policy == "nan" else float(policy)
                columns[key] = values
                EMPTY_DISTANCE_LOG.extend([key] * int(hit.sum()))
    return [{key: float(values[i]) for key, values in columns.items()} for i in range(len(batch))]


class _ThreadLog(threading.local):
    """A list of its own in every thread (a Dask worker may score pairs in several threads)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def append(self, item: str) -> None:
        self.items.append(item)

    def extend(self, items) -> None:
        self.items.extend(items)

    def clear(self) -> None:
        self.items.clear()

    def __contains__(self, item: str) -> bool:
        return item in self.items

    def __iter__(self):
        return iter(self.items)


# Columns whose distance --empty-distance replaced while scoring the current pair (one pair at a
# time per thread); the pair's record lists them in ``meta["empty_distance"]``.
EMPTY_DISTANCE_LOG = _ThreadLog()
