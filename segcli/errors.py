"""The library's typed errors.

The CLI turns each into one line on stderr and an exit code: input that cannot be scored
(``InputError`` and its children) is exit 1, a usage mistake (``UsageError``) is exit 2, an
output that cannot be written (``OutputError``: disk full, read-only, closed stdout) is exit 3.

A message names an option by its one name, marked with ``option(name)``: ``str(error)`` spells it
as the Python API does (``num_classes``), ``error.spelled(flag)`` as the CLI does (``--num-classes``,
``flag`` being ``segcli.settings.flag``), so neither door rewrites the other's text.
"""

from __future__ import annotations

from collections.abc import Callable

_MARK = "\x1f"  # the unit separator: never part of a message's own text


def option(name: str) -> str:
    """Option ``name`` inside a message (``f"not {option('num_classes')} {k}"``), spelled by the door.

    >>> spelled(f"not {option('num_classes')} 4"), spelled(f"not {option('num_classes')} 4", lambda n: "-" + n)
    ('not num_classes 4', 'not -num_classes 4')
    """
    return f"{_MARK}{name}{_MARK}"


def spelled(text: str, spell: Callable[[str], str] | None = None) -> str:
    """``text`` with each ``option(name)`` as ``spell(name)`` (default: the name itself)."""
    if _MARK not in text:
        return text
    parts = text.split(_MARK)
    return "".join(spell(part) if index % 2 and spell else part for index, part in enumerate(parts))


class SegcliError(Exception):
    """Base of every error segcli raises on purpose."""

    exit_code = 1

    def __str__(self) -> str:
        return spelled(super().__str__())

    @property
    def marked(self) -> str:
        """The message with its options still marked, for another error or a ``Failure`` to carry."""
        return super().__str__()

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with each option as ``spell(name)``: the CLI passes its name -> flag lookup."""
        return spelled(self.marked, spell)


class InputError(SegcliError):
    """One input file cannot be used; the message names the file."""


class ReadError(InputError):
    """A file could not be read or decoded."""


class ShapeError(InputError):
    """A prediction and its ground truth, or an array and its expectation, disagree in shape."""


class ValueRangeError(InputError):
    """Values outside what the chosen interpretation allows (NaN, labels >= K, ...)."""


class ResourceError(InputError):
    """An input too large for the memory allowed (``--max-memory``)."""


class UsageError(SegcliError):
    """A bad option value, an unmatched file set, a missing directory."""

    exit_code = 2


class InvalidOption(UsageError):
    """A setting with a value it cannot take; ``option`` names the setting (``nsd_tolerance``),
    which the CLI shows as its flag (``--nsd-tolerance``)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{option(name)}: {reason}")
        self.option = name
        self.reason = reason


class PairingError(UsageError):
    """Prediction and ground-truth files do not match up."""


class OutputExistsError(UsageError):
    """An output file exists and ``--overwrite`` was not given."""


class OutputError(SegcliError):
    """A result could not be written (disk full, read-only file system, permission, closed stream)."""

    exit_code = 3
