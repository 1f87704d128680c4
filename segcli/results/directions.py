"""Which way each column of ``segcli score`` gets better: what ``segcli compare`` counts wins by
and the HTML report ranks its worst cases by."""

from __future__ import annotations

import functools
import re

from segcli.results.formats import split_threshold

# Object scores (segcli.scores.objects.SCORE_NAMES): matched objects count up (the GT is the same in both
# runs, so TP + FN is fixed), unmatched ones down; the object counts themselves have no direction.
OBJECT_DIRECTIONS = {
    "obj_tp": "higher",
    "obj_fp": "lower",
    "obj_fn": "lower",
    "obj_precision": "higher",
    "obj_recall": "higher",
    "obj_f1": "higher",
    "obj_ap": "higher",
    "obj_ap_mean": "higher",
    "pq": "higher",
    "sq": "higher",
    "rq": "higher",
    "aji": "higher",
    "seg": "higher",
    "obj_count_gt": "none",
    "obj_count_pred": "none",
}
# --rater columns: rater<k>.<score>, majority.<score>, staple.<score>, interrater.<score>
_RATER_PREFIX = re.compile(r"(?:rater\d+|majority|staple|interrater)\.")


@functools.cache
def _directions() -> dict[str, str]:
    from segcli.scores.table import BY_NAME, COMBINED, MULTICLASS_BY_NAME

    scores = MULTICLASS_BY_NAME | BY_NAME  # a name in both tables has one direction in both
    table = {name: "higher" if s.higher_is_better else "lower" for name, s in scores.items()}
    return table | {COMBINED: "lower"} | OBJECT_DIRECTIONS


def direction(column: str) -> str:
    """Which way a column of ``segcli score`` gets better: ``"higher"``, ``"lower"``, ``"none"``
    (an object count: more objects are not better or worse) or ``"unknown"`` (a column segcli
    does not write). Wins / ties / losses are counted only for ``higher`` and ``lower``; for the
    others they are left empty, never guessed.

    The base score decides: a ``--thresholds`` column ``<score>@<t>``, a ``--rater`` column
    ``rater<k>.<score>``, ``majority.<score>``, ``staple.<score>`` or ``interrater.<score>``,
    and a per-class column ``<score>_<class>`` (the longest score name that prefixes it) go the
    way their score goes; ``combined`` (a weighted sum of losses) is lower-is-better.

    >>> [direction(c) for c in ("dice", "rater2.hd95", "combined", "hd95_pooled_liver", "obj_count_gt", "foo")]
    ['higher', 'lower', 'lower', 'lower', 'none', 'unknown']
    """
    table = _directions()
    name = split_threshold(column)[0]
    prefix = _RATER_PREFIX.match(name)
    if prefix:
        name = name[prefix.end() :]
    if name in table:
        return table[name]
    for score in sorted(table, key=len, reverse=True):
        if name.startswith(score + "_"):
            return table[score]
    return "unknown"
