"""The numbers an option may hold, checked: ``plain_number`` (numpy scalars, 0-dim arrays and 0-dim
tensors as the Python numbers they hold), ``check_finite`` (a finite number within bounds, else
``InvalidOption`` naming the option) and ``empty_distance_policy``. Neither numpy nor torch is
imported here: a value of theirs means its module is imported already."""

from __future__ import annotations

import math
import numbers
import sys

from segcli.errors import InvalidOption

FLOAT32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max, without importing numpy
# Spacings outside this range overflow or underflow the distance arithmetic (squares in float64).
SPACING_RANGE = (1e-9, 1e9)
MAX_CLASSES = 65536  # the most classes a run or classweights may count: a typo must not exhaust memory
EMPTY_DISTANCE_POLICIES = ("inf", "worst", "nan")


def is_number_array(value) -> bool:
    np = sys.modules.get("numpy")  # an array means numpy is imported already
    return np is not None and isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def plain_number(value):
    """A real number as the Python ``int`` or ``float`` it holds: numpy scalars (``np.float32``,
    ``np.int64``), 0-dim numpy arrays and 0-dim torch tensors of an integer or floating dtype.
    Python ints and floats are returned as they are; anything else (a bool, a string, a
    1-element array, a tensor whose value cannot be read) is returned unchanged, for the
    caller's check to refuse naming its argument. torch is never imported here.

    >>> import numpy as np
    >>> plain_number(np.float32(0.5)), plain_number(np.int64(2)), plain_number(np.array(3.0))
    (0.5, 2, 3.0)
    >>> plain_number(np.True_), plain_number(True)
    (np.True_, True)
    """
    np = sys.modules.get("numpy")
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if is_number_array(value):
        return value.item()
    torch = sys.modules.get("torch")  # a tensor means torch is imported already
    if torch is not None and isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype == torch.bool or value.is_complex():
            return value
        try:
            return value.item()  # int for an integer dtype, float for a floating one
        except Exception:  # a meta tensor holds no value; refused by the caller's check
            return value
    return value


def is_number(value) -> bool:
    """Whether ``value`` is a Python int or float, not a bool (``plain_number`` first)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_finite(name: str, value: float, *, low: float | None = None, strict: bool = False, high: float | None = None):
    """Raise ``InvalidOption`` unless ``value`` is a finite number within the bounds (a numpy
    scalar, a 0-dim array or tensor: the number it holds; True is no 1.0)."""
    number = plain_number(value)
    ok = is_number(number) and math.isfinite(number)
    value = number if ok else value
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        bound += "" if high is None else f" and <= {high:g}"
        raise InvalidOption(name, f"expected a finite number{bound}, got {value!r}")


def empty_distance_policy(text: str) -> str | float:
    """``--empty-distance`` as written: a policy name in any case (``NaN``, ``Inf``, ``worst``), or
    a number, where an infinite or NaN number is the policy of that name; ValueError otherwise.

    >>> empty_distance_policy("NaN"), empty_distance_policy("7.5"), empty_distance_policy("1e400")
    ('nan', 7.5, 'inf')
    """
    name = text.strip().lower()
    if name in EMPTY_DISTANCE_POLICIES:
        return name
    number = float(text)
    if math.isnan(number):
        return "nan"
    return "inf" if number == math.inf else number
