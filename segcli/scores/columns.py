"""Column names of ``segcli score``'s output, built and parsed in one place, and which way each gets
better.

A column is a score's name (``dice``), optionally

* for one class: ``<score>_<class>`` (``dice_liver``; the label value, a ``--class-names`` name or a
  ``--labels`` name), the plain ``<score>`` being the mean over the classes;
* at one threshold: ``<score>@<t>`` (``--thresholds``; ``dice@0.35``);
* against another ground truth: ``rater<k>.<score>`` (k >= 2), ``majority.<score>``,
  ``staple.<score>``, ``interrater.<score>`` (``--rater``).

Class names join a score's name with ``_``, so a class can make a column that another score
writes (class ``loss`` of ``dice`` is ``dice_loss``; ``pooled`` of ``hd95`` is ``hd95_pooled``):
``check_class_names`` refuses such a run before any work, and names holding ``@`` or ``.``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from segcli.errors import UsageError
from segcli.errors import option as marked

CONSENSUS = ("majority", "staple", "interrater")
_SOURCE = re.compile(r"(?:rater\d+|majority|staple|interrater)\.")
# Characters that mean something else in a column name: a threshold, a rater's prefix.
RESERVED = ("@", ".")


def per_class(score: str, label: str) -> str:
    """``per_class("dice", "liver")`` -> ``dice_liver``."""
    return f"{score}_{label}"


def threshold_suffix(threshold: float) -> str:
    """The column suffix of a score at a threshold: ``dice@0.35``.

    >>> threshold_suffix(0.35000000000000003)
    '@0.35'
    """
    return f"@{threshold:.10g}"


def at_threshold(score: str, threshold: float) -> str:
    """``at_threshold("dice", 0.35)`` -> ``dice@0.35``."""
    return score + threshold_suffix(threshold)


def split_threshold(column: str) -> tuple[str, float | None]:
    """``dice@0.35`` -> (``dice``, 0.35); a plain column -> (column, None).

    >>> split_threshold("dice@0.35"), split_threshold("dice"), split_threshold("dice@x")
    (('dice', 0.35), ('dice', None), ('dice@x', None))
    """
    name, at, value = column.rpartition("@")
    if not at:
        return column, None
    try:
        return name, float(value)
    except ValueError:
        return column, None


def rater_prefix(k: int) -> str:
    """The prefix of the columns against rater ``k``: ``rater2.``."""
    return f"rater{k}."


def consensus_prefix(kind: str) -> str:
    """The prefix of the columns against a consensus (``majority``, ``staple``) or between the
    raters (``interrater``)."""
    if kind not in CONSENSUS:
        raise ValueError(f"kind: expected one of {', '.join(CONSENSUS)}, got {kind!r}")
    return f"{kind}."


def split_source(column: str) -> tuple[str, str]:
    """``rater2.hd95`` -> (``rater2.``, ``hd95``); a column of the GT given -> ("", column).

    >>> split_source("majority.dice"), split_source("dice")
    (('majority.', 'dice'), ('', 'dice'))
    """
    match = _SOURCE.match(column)
    return (match.group(), column[match.end() :]) if match else ("", column)


@functools.cache
def _score_names() -> tuple[str, ...]:
    """Every score name a column can start with, the longest first (``hd95_pooled`` before ``hd95``)."""
    from segcli.scores.table import COMBINED, SCORES

    return tuple(sorted({s.name for s in SCORES} | {COMBINED}, key=len, reverse=True))


def split_class(column: str) -> tuple[str, str | None]:
    """``dice_liver`` -> (``dice``, ``liver``); a score's own name -> (name, None); a column that
    starts with no score's name -> (column, None). The longest score name that prefixes the column
    decides.

    >>> split_class("hd95_pooled"), split_class("hd95_pooled_liver"), split_class("obj_tp_2")
    (('hd95_pooled', None), ('hd95_pooled', 'liver'), ('obj_tp', '2'))
    """
    names = _score_names()
    if column in names:
        return column, None
    for name in names:
        if column.startswith(name + "_"):
            return name, column[len(name) + 1 :]
    return column, None


def base_score(column: str) -> str:
    """The score a column holds, whatever its threshold, ground truth and class.

    >>> [base_score(c) for c in ("dice@0.5", "rater2.hd95_liver", "interrater.assd", "foo")]
    ['dice', 'hd95', 'assd', 'foo']
    """
    name = split_source(split_threshold(column)[0])[1]
    return split_class(name)[0]


@functools.cache
def _directions() -> dict[str, str]:
    from segcli.scores.table import BY_NAME, COMBINED, MULTICLASS_BY_NAME, OBJECT_BY_NAME, lookup

    rows = MULTICLASS_BY_NAME | BY_NAME | OBJECT_BY_NAME  # a name in both tables goes one way in both
    return {name: s.direction for name, s in rows.items()} | {COMBINED: lookup(COMBINED).direction}


def direction(column: str) -> str:
    """Which way a column of ``segcli score`` gets better: ``"higher"``, ``"lower"``, ``"none"``
    (an object count: more objects are not better or worse) or ``"unknown"`` (a column segcli
    does not write), from the row of its score (``base_score``). Wins / ties / losses are counted
    only for ``higher`` and ``lower``; for the others they are left empty, never guessed.

    >>> [direction(c) for c in ("dice", "rater2.hd95", "combined", "hd95_pooled_liver", "obj_count_gt", "foo")]
    ['higher', 'lower', 'lower', 'lower', 'none', 'unknown']
    """
    return _directions().get(base_score(column), "unknown")


def check_class_names(
    names: Iterable[str], per_class_scores: Sequence[str], other_columns: Sequence[str] = (), *, option: str
) -> None:
    """Refuse class names that would not give unique columns: a name holding ``@`` or ``.``, or one
    whose ``<score>_<class>`` (for each of ``per_class_scores``) is another column of the run (a
    score's own column, ``other_columns`` such as the multi-class losses, or another score's
    per-class column). ``option`` names the option the names came from (``class_names``, ``labels``);
    a ``UsageError`` (exit 2) naming the class and the column it collides with.

    >>> check_class_names(["bg", "liver"], ["dice"], ["dice_loss"], option="class_names")
    >>> try:
    ...     check_class_names(["bg", "loss"], ["dice"], ["dice_loss"], option="class_names")
    ... except UsageError as exc:
    ...     print(exc)
    class_names: class 'loss' makes the column dice_loss, which is also the score dice_loss; rename the class
    """
    names = list(names)
    for name in names:
        for char in RESERVED:
            if char in name:
                kind = "a threshold" if char == "@" else "a rater's column"
                raise UsageError(
                    f"{marked(option)}: class name {name!r} holds {char!r}, which marks {kind}; rename the class"
                )
    owner = {column: f"the score {column}" for column in (*per_class_scores, *other_columns)}
    for score in per_class_scores:
        for name in names:
            column = per_class(score, name)
            if column in owner:
                raise UsageError(
                    f"{marked(option)}: class {name!r} makes the column {column}, which is also {owner[column]}; "
                    "rename the class"
                )
            owner[column] = f"the {score} of class {name!r}"
