"""Weighted sums of losses: the four presets of the common "loss factory" recipe
(``create_segmentation_loss``) as rows of their own, and ``--combine``'s sum (the column
``combined``) with its parser.

Each component follows its own options; a sum reads the component values the batch computed
already (``row.once_per_batch``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable

import numpy as np

from segcli.errors import InvalidOption
from segcli.scores.loss_rows import BINARY, BINARY_LOSSES, MULTICLASS, MULTICLASS_LOSSES
from segcli.scores.row import Score, once_per_batch

Terms = tuple[tuple[float, str], ...]
PRESETS: dict[str, Terms] = {
    "loss_balanced": ((0.5, "bce"), (0.5, "dice_loss")),
    "loss_imbalanced": ((0.5, "dice_loss"), (0.5, "focal_loss")),
    "loss_boundary": ((0.3, "bce"), (0.4, "dice_loss"), (0.3, "boundary_bce")),
    "loss_medical": ((0.5, "dice_loss"), (0.5, "tversky_loss")),
}
# A binary loss's multi-class form, where one exists; the others have none.
MULTICLASS_FORM = {"bce": "ce", "dice_loss": "dice_loss", "focal_loss": "focal_loss"}
PRESETS_TEST = "tests/scores/test_combine.py::test_presets_match_their_formulas"
MULTICLASS_PRESETS_TEST = "tests/scores/test_combine.py::test_multiclass_presets_use_the_multiclass_components"

# The column ``--combine`` adds: not a score of its own (it is whatever sum the user wrote), so
# it is in no group; ``segcli.scores.table.lookup`` finds it.
COMBINED = "combined"


def describe(terms: Terms) -> str:
    """``0.3 bce + 0.7 dice_loss``."""
    return " + ".join(f"{weight:g} {name}" for weight, name in terms).replace("+ -", "- ")


def weighted_sum(batch, terms: Terms, *, multiclass: bool = False) -> np.ndarray:
    """``sum weight * loss`` per image, each loss computed from the batch as its own column is."""
    table = MULTICLASS_SUMMANDS if multiclass else BINARY_SUMMANDS
    total = np.zeros(len(batch))
    for weight, name in terms:
        total = total + weight * table[name].compute(batch)
    return total


def multiclass_preset(name: str) -> tuple[Terms, tuple[str, ...]]:
    """A preset's terms in multi-class mode (bce as ce) and the components with no multi-class
    form, which are left out (the other weights stay as they are)."""
    terms = tuple((w, MULTICLASS_FORM[c]) for w, c in PRESETS[name] if c in MULTICLASS_FORM)
    return terms, tuple(c for _, c in PRESETS[name] if c not in MULTICLASS_FORM)


def multiclass_preset_compute(name: str) -> Callable:
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


def preset_rows() -> tuple[tuple[Score, ...], tuple[Score, ...]]:
    """The binary and the multi-class row of every preset; a binary preset runs on the device when
    all of its components do."""
    binary, multi = [], []
    for name, terms in PRESETS.items():
        recipe = f"loss factory preset '{name.removeprefix('loss_')}'"
        options = tuple(dict.fromkeys(o for _, c in terms for o in BINARY_LOSSES[c].options))
        binary.append(
            Score(
                name,
                "losses",
                describe(terms),
                lambda b, terms=terms: weighted_sum(b, terms),
                weighted_sum,
                options=options,
                direction="lower",
                modes=BINARY,
                on_device=all(BINARY_LOSSES[c].on_device for _, c in terms),
                defaults="each component's options",
                peers=recipe,
                test=PRESETS_TEST,
            )
        )
        mc_terms, left_out = multiclass_preset(name)
        note = f" ({', '.join(left_out)}: no multi-class form, left out)" if left_out else ""
        multi.append(
            Score(
                name,
                "losses",
                describe(mc_terms) + note,
                multiclass_preset_compute(name),
                weighted_sum,
                options=tuple(dict.fromkeys(o for _, c in mc_terms for o in MULTICLASS_LOSSES[c].options)),
                direction="lower",
                modes=MULTICLASS,
                defaults="each component's options",
                peers=recipe,
                test=MULTICLASS_PRESETS_TEST,
            )
        )
    return tuple(once_per_batch(s) for s in binary), tuple(once_per_batch(s) for s in multi)


BINARY_PRESETS, MULTICLASS_PRESETS = preset_rows()
# What a sum may name: the losses and the presets of its mode.
BINARY_SUMMANDS: dict[str, Score] = BINARY_LOSSES | {s.name: s for s in BINARY_PRESETS}
MULTICLASS_SUMMANDS: dict[str, Score] = MULTICLASS_LOSSES | {s.name: s for s in MULTICLASS_PRESETS}


def combined_row(multiclass: bool) -> Score:
    return Score(
        COMBINED,
        "losses",
        "sum of weight * loss over the terms of --combine",
        lambda b: weighted_sum(b, b.options.combine, multiclass=multiclass),
        weighted_sum,
        options=("combine",),
        direction="lower",
        modes=MULTICLASS if multiclass else BINARY,
        defaults='--combine, e.g. "0.3*bce + 0.4*dice_loss + 0.3*boundary_loss"',
        test="tests/scores/test_combine.py::"
        + ("test_multiclass_combined_column" if multiclass else "test_combined_is_the_weighted_sum_of_its_columns"),
        default=False,
    )


COMBINED_ROWS: tuple[Score, ...] = (combined_row(False), combined_row(True))

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
    known = list(MULTICLASS_SUMMANDS if multiclass else BINARY_SUMMANDS)
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
            raise InvalidOption("combine", _unknown_loss(name, text, known, multiclass))
        i += 1
        if weight is None and i < len(tokens) and tokens[i][1] == "*":
            weight = _finite_weight(expect(i + 1, "number", "a number"), text)
            i += 2
        terms.append((sign * (1.0 if weight is None else weight), name))
    return tuple(terms)


def _unknown_loss(name: str, text: str, known: list[str], multiclass: bool) -> str:
    mode = "multi-class" if multiclass else "binary"
    hint = f" (its multi-class form is {MULTICLASS_FORM[name]})" if multiclass and name in MULTICLASS_FORM else ""
    return f"unknown {mode} loss {name!r} in {text!r}{hint}; losses: {', '.join(known)}"


def _finite_weight(token: str, text: str) -> float:
    weight = float(token)
    if not math.isfinite(weight):
        raise InvalidOption("combine", f"weight {token} in {text!r} is not a finite number")
    return weight
