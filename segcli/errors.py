"""The library's typed errors.

The CLI turns each into one line on stderr and an exit code: input that cannot be scored
(``InputError`` and its children) is exit 1, a usage mistake (``UsageError``) is exit 2, an
output that cannot be written (``OutputError``: disk full, read-only, closed stdout) is exit 3.
"""


class SegcliError(Exception):
    """Base of every error segcli raises on purpose."""

    exit_code = 1


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

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class PairingError(UsageError):
    """Prediction and ground-truth files do not match up."""


class OutputExistsError(UsageError):
    """An output file exists and ``--overwrite`` was not given."""


class OutputError(SegcliError):
    """A result could not be written (disk full, read-only file system, permission, closed stream)."""

    exit_code = 3
