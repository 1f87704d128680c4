"""One row of the score table: what a score is (its function, formula, direction, family, the modes
it runs in, the options it reads, the peers it agrees with, the test that checks it against a
reference) and how a run computes it from a batch's shared intermediates.

The rows themselves live beside their families (``region_rows``, ``loss_rows``, ``object_rows``,
``combine``); ``segcli.scores.table`` joins them into the one table every command reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from segcli.settings import default, flag

DIRECTIONS = ("higher", "lower", "none")
# binary: on binary masks (and per class); multiclass: in --num-classes runs; soft: reads
# probabilities, not only the hard mask; objects: counts objects (--objects, or an object score named).
MODES = ("binary", "multiclass", "soft", "objects")


@dataclass(frozen=True)
class Score:
    """A score's row. ``compute`` maps a batch (``BinaryBatch``; ``MulticlassBatch`` for the
    multi-class losses; ``ObjectBatch`` for object scores) to one value per pair; ``function`` is the
    public function of ``segcli.scores`` it calls, ``options`` the options it reads as the API
    spells them, ``test`` the test (``file::function``) checking it against a reference, and
    ``default`` whether a run that names no score computes it."""

    name: str
    family: str
    formula: str
    compute: Callable[..., np.ndarray]
    function: Callable | None = None
    options: tuple[str, ...] = ()
    direction: str = "higher"
    modes: tuple[str, ...] = ("binary", "multiclass")
    on_device: bool = False
    defaults: str = ""
    peers: str = ""
    test: str = ""
    default: bool = True

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction: expected one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        unknown = set(self.modes) - set(MODES)
        if unknown or not self.modes:
            raise ValueError(f"modes: expected some of {', '.join(MODES)}, got {self.modes!r}")

    @property
    def group(self) -> str:
        """The ``--metrics`` group the row belongs to: its family."""
        return self.family

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    @property
    def mode(self) -> str:
        """What ``segcli metrics`` shows: ``objects``, ``both`` (binary and per class),
        ``binary`` or ``multiclass``."""
        if "objects" in self.modes:
            return "objects"
        if "binary" in self.modes and "multiclass" in self.modes:
            return "both"
        return "binary" if "binary" in self.modes else "multiclass"


def once_per_batch(score: Score) -> Score:
    """The row with its values kept in the batch: a preset or ``combined`` reuses the columns
    computed before it (a weight map's category sums, a focal pass) instead of redoing them."""
    compute = score.compute

    def cached(batch) -> np.ndarray:
        if score.name not in batch.score_values:
            batch.score_values[score.name] = compute(batch)
        return batch.score_values[score.name]

    return replace(score, compute=cached)


def flag_defaults(*names: str) -> str:
    """What a row's ``defaults`` says of the options it reads, from the settings table (so each
    default is written once): ``--focal-alpha 0.25 --focal-gamma 2``.

    >>> flag_defaults("focal_alpha", "focal_gamma"), flag_defaults("smooth")
    ('--focal-alpha 0.25 --focal-gamma 2', '--smooth 1e-06')
    """
    return " ".join(f"{flag(name)} {default(name):g}" for name in names)
