"""What scoring a pair yields: a ``Record`` of its scores or a ``Failure`` naming its file, and,
on the device path, the ``Prepared`` pair a worker read and interpreted for a device batch."""

from __future__ import annotations

from dataclasses import dataclass, field

from segcli.inputs.interpret import BinaryPair
from segcli.settings import ScoreOptions


@dataclass(frozen=True)
class Record:
    """One scored pair: its scores, how it was read (``meta``: pred_kind, spacing, spacing_source)
    and the warnings raised while scoring it."""

    name: str
    values: dict[str, float]
    warnings: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A pair that could not be scored; ``message`` is one line naming the file, its options marked
    (``segcli.errors.option``) for each door to spell (``segcli.errors.spelled``)."""

    name: str
    message: str
    warnings: tuple[str, ...] = ()
    detail: str = ""  # the traceback of an unexpected error (shown with --debug)


Outcome = Record | Failure


@dataclass(frozen=True)
class Prepared:
    """A binary pair read and interpreted, ready to join a batch (the GPU path)."""

    name: str
    pair: BinaryPair
    options: ScoreOptions
    values: dict[str, float]  # the scores the CPU worker already computed
    warnings: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)
