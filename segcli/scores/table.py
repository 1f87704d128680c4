"""The table of scores: every score is one row (``segcli.scores.row.Score``), object scores included.

``segcli metrics``, ``--metrics``, the API, ``compare``'s directions, the HTML report's grouping,
the README's score tables and the tests all read this table. Adding a score is one function in
``segcli.scores``, one row in the rows module of its family (``region_rows``, ``loss_rows``,
``object_rows``, ``combine``) and its test.

``compute_scores`` computes named rows for a batch and returns the values with the columns whose
distance ``--empty-distance`` replaced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from segcli.errors import UsageError, option
from segcli.scores import loss_rows, object_rows, region_rows
from segcli.scores.batch import EMPTY_DISTANCE_SCORES, BinaryBatch, image_diagonal
from segcli.scores.combine import (
    BINARY_PRESETS,
    COMBINED,
    COMBINED_ROWS,
    MULTICLASS_PRESETS,
    PRESETS,
    parse_combination,
)
from segcli.scores.row import Score

__all__ = [
    "BY_NAME",
    "COMBINED",
    "COMBINED_ROWS",
    "GROUPS",
    "MULTICLASS_BY_NAME",
    "OBJECT_BY_NAME",
    "OBJECT_GROUP",
    "PRESETS",
    "SCORES",
    "Score",
    "Scored",
    "compute_scores",
    "lookup",
    "options_read",
    "parse_combination",
    "select",
    "split_objects",
]

GROUPS = ("region", "surface", "losses")  # what --metrics selects among the pixel scores
DEFAULT_GROUP = "default"  # the rows marked default: --metrics' default
ALL = "all"  # every row of the mode
OBJECT_GROUP = "objects"

SCORES: tuple[Score, ...] = (
    region_rows.ROWS
    + tuple(loss_rows.BINARY_LOSSES.values())
    + BINARY_PRESETS
    + tuple(loss_rows.MULTICLASS_LOSSES.values())
    + MULTICLASS_PRESETS
    + object_rows.ROWS
)

BY_NAME: dict[str, Score] = {s.name: s for s in SCORES if "binary" in s.modes and "objects" not in s.modes}
MULTICLASS_BY_NAME: dict[str, Score] = {
    s.name: s for s in SCORES if "multiclass" in s.modes and "objects" not in s.modes
}
OBJECT_BY_NAME: dict[str, Score] = {s.name: s for s in SCORES if "objects" in s.modes}


def lookup(name: str, *, multiclass: bool = False) -> Score:
    """The row of a column name: a score of the mode's table, an object score, or ``combined``."""
    if name == COMBINED:
        return COMBINED_ROWS[multiclass]
    if name in OBJECT_BY_NAME:
        return OBJECT_BY_NAME[name]
    return (MULTICLASS_BY_NAME if multiclass else BY_NAME)[name]


def select(spec: str | None, *, multiclass: bool = False) -> list[Score]:
    """Scores named by a comma list of score and group names, in the table's order: the group
    ``default`` (also None or an empty spec) is the default set, the rows marked ``default``, which
    new opt-in scores (``fbeta``) stay out of so that a run's default output never changes; ``all``
    is every score of the mode (binary, or multi-class when ``multiclass``); a group (``region``)
    its family's scores of the default set (``_group``). Object scores are chosen apart:
    ``split_objects``.

    >>> [s.name for s in select("default")] == [s.name for s in select(None)] and "fbeta" in {
    ...     s.name for s in select("all")} - {s.name for s in select(None)}
    True
    """
    table = MULTICLASS_BY_NAME if multiclass else BY_NAME
    if spec is None or spec.strip() == "":
        spec = DEFAULT_GROUP
    chosen: dict[str, Score] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item == ALL:
            chosen.update(table)
        elif item == DEFAULT_GROUP:
            chosen.update({s.name: s for s in table.values() if s.default})
        elif item in GROUPS:
            chosen.update({s.name: s for s in _group(table, item)})
        elif item in table:
            chosen[item] = table[item]  # pragma: no mutate (only the keys of chosen are read)
        else:
            mode = "multi-class" if multiclass else "binary"
            known = ", ".join((DEFAULT_GROUP, ALL, *GROUPS, OBJECT_GROUP, *table, *OBJECT_BY_NAME))
            raise UsageError(f"{option('metrics')}: unknown {mode} score or group {item!r}; known: {known}")
    return [s for s in table.values() if s.name in chosen]


def _group(table: dict[str, Score], group: str) -> list[Score]:
    """The rows a group name takes: its family's rows of the default set, so that a pipeline naming
    ``region`` keeps its columns when an opt-in region score is added; a family with no row in the
    default set (one made of new scores) is taken whole."""
    family = [s for s in table.values() if s.group == group]
    return [s for s in family if s.default] or family


def options_read(*, multiclass: bool = False) -> dict[str, tuple[str, ...]]:
    """Which options each score of the mode reads (its row's ``options``; ``combined`` reads its
    terms' through ``combine``), for the rule that says the options a run does not use.

    >>> options_read()["focal_loss"]
    ('focal_alpha', 'focal_gamma')
    """
    table = MULTICLASS_BY_NAME if multiclass else BY_NAME
    return {name: row.options for name, row in table.items()} | {COMBINED: COMBINED_ROWS[multiclass].options}


def split_objects(spec: str, *, objects: str | None = None) -> tuple[str, list[str]]:
    """The ``--metrics`` spec without object scores, and the object scores chosen (table order):
    the group ``objects`` or their names; with ``objects`` (``--objects``) and no object score
    named, all of them. A spec left empty by the split is ``all``.

    >>> split_objects("dice,obj_f1")
    ('dice', ['obj_f1'])
    >>> split_objects("obj_f1")
    ('', ['obj_f1'])
    >>> split_objects("dice", objects="components")[1][:3]
    ['obj_tp', 'obj_fp', 'obj_fn']
    """
    items = [item.strip() for item in spec.split(",") if item.strip()]
    chosen = [n for n in OBJECT_BY_NAME if OBJECT_GROUP in items or n in items]
    rest = [item for item in items if item != OBJECT_GROUP and item not in OBJECT_BY_NAME]
    if objects is not None and not chosen:
        chosen = list(OBJECT_BY_NAME)
    if not rest and not chosen:
        rest = [DEFAULT_GROUP]
    return ",".join(rest), chosen


class Scored(NamedTuple):
    """What ``compute_scores`` returns: one dict of columns per pair, and per pair the columns
    whose distance ``--empty-distance`` replaced (in the order of the scores asked for)."""

    values: list[dict[str, float]]
    replaced: list[tuple[str, ...]]


def compute_scores(batch: BinaryBatch, metrics: Iterable[str], *, prefix: str = "", suffix: str = "") -> Scored:
    """Every named score for every pair of the batch, columns named ``<prefix><score><suffix>``;
    a distance with one side empty (inf) follows the options' ``empty_distance`` policy."""
    metrics = list(metrics)
    columns = {f"{prefix}{name}{suffix}": lookup(name).compute(batch) for name in metrics}
    replaced: list[list[str]] = [[] for _ in range(len(batch))]
    policy = batch.options.empty_distance
    if policy != "inf":
        for name in metrics:
            key = f"{prefix}{name}{suffix}"
            if name in EMPTY_DISTANCE_SCORES:
                columns[key] = _replace_inf(columns[key], policy, batch, key, replaced)
    values = [{key: float(v[i]) for key, v in columns.items()} for i in range(len(batch))]
    return Scored(values, [tuple(r) for r in replaced])


def _replace_inf(values, policy: str | float, batch: BinaryBatch, key: str, replaced: Sequence[list[str]]):
    """``values`` with each inf replaced by the policy's value; each pair hit gets ``key``."""
    values = np.array(values, dtype=np.float64)
    hit = np.isposinf(values)
    if not hit.any():
        return values
    if policy == "worst":
        values[hit] = image_diagonal(batch.target.shape[1:], batch.options.spacing)
    else:
        values[hit] = math.nan if policy == "nan" else float(policy)
    for i in np.flatnonzero(hit):
        replaced[i].append(key)
    return values
