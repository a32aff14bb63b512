"""How the statistics accept numbers: float arrays that broadcast, and checked arguments.

Every statistic in :mod:`verdict.stats` works elementwise on numpy arrays so that one
call analyses a whole batch (every variant of every metric of every running
experiment) with one call to each scipy special function. A scalar is a 0-d array.
Bad input raises :class:`ValueError` naming the argument and the reason; a batch is
rejected whole, because a wrong count in one row means the query that produced the
rows is wrong.
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "Alternative",
    "FloatArray",
    "Index",
    "as_float_array",
    "check_alpha",
    "check_alternative",
    "check_at_least",
    "check_non_negative",
    "check_probability",
    "check_same_batch",
    "check_whole",
    "pick",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
"""A float64 array of any shape (0-d for a scalar)."""

Index: TypeAlias = int | tuple[int, ...]
"""A position in a batch: an int for 1-d batches, a tuple for more, ``()`` for 0-d."""

Alternative: TypeAlias = Literal["two-sided", "greater", "less"]
"""The alternative hypothesis about the effect (treatment minus control)."""

_ALTERNATIVES = ("two-sided", "greater", "less")


def as_float_array(name: str, value: npt.ArrayLike) -> FloatArray:
    """``value`` as a float64 array; raise if it is not numeric or holds NaN or infinity."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be numbers, got {value!r:.80}") from None
    if not np.all(np.isfinite(array)):
        bad = array[~np.isfinite(array)]
        raise ValueError(f"{name}: must be finite numbers (no NaN or infinity), got {_show(bad)}")
    return array


def check_non_negative(name: str, array: FloatArray) -> None:
    """Raise unless every element of ``array`` is >= 0 (counts, sums of squares)."""
    if np.any(array < 0):
        raise ValueError(f"{name}: must not be negative, got {_show(array[array < 0])}")


def check_at_least(name: str, array: FloatArray, minimum: float, why: str) -> None:
    """Raise unless every element of ``array`` is >= ``minimum``; ``why`` says what needs it."""
    if np.any(array < minimum):
        bad = array[array < minimum]
        raise ValueError(f"{name}: must be at least {minimum:g} {why}, got {_show(bad)}")


def check_whole(name: str, array: FloatArray, what: str = "a count") -> None:
    """Raise unless every element of ``array`` is a whole number (units, conversions).

    A relative tolerance of 1e-9 absorbs float rounding in a database's sums.
    """
    fractional = np.abs(array - np.round(array)) > 1e-9 * np.maximum(1.0, np.abs(array))
    if np.any(fractional):
        raise ValueError(f"{name}: must be whole numbers ({what}), got {_show(array[fractional])}")


def check_same_batch(shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The common batch shape of the arms; raise naming each arm's shape if they differ.

    Arms broadcast (a scalar control against a batch of treatments is fine).
    """
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(
            f"{next(reversed(shapes))}: batch shapes of the arms do not match ({listed})"
        ) from None


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Raise unless ``alpha`` is a number strictly between 0 and 1."""
    if not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"{name}: must be strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def check_probability(name: str, array: FloatArray, *, open_interval: bool = True) -> None:
    """Raise unless every element lies in (0, 1) (or [0, 1] when not ``open_interval``)."""
    bad = (array <= 0) | (array >= 1) if open_interval else (array < 0) | (array > 1)
    if np.any(bad):
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise ValueError(f"{name}: must be {bounds}, got {_show(array[bad])}")


def check_alternative(alternative: str) -> Alternative:
    """Raise unless ``alternative`` is 'two-sided', 'greater' or 'less'."""
    if alternative == "two-sided":
        return "two-sided"
    if alternative == "greater":
        return "greater"
    if alternative == "less":
        return "less"
    raise ValueError(f"alternative: must be one of {_ALTERNATIVES}, got {alternative!r}")


def pick(array: FloatArray, index: Index) -> float:
    """One element of a result array as a Python float (NaN stays NaN)."""
    return float(array[index])


def _show(array: FloatArray) -> str:
    flat = np.ravel(array)
    shown = ", ".join(_format(float(v)) for v in flat[:3])
    more = f" and {flat.size - 3} more" if flat.size > 3 else ""
    return f"{shown}{more}"


def _format(value: float) -> str:
    return repr(value) if math.isfinite(value) else str(value)
