"""Whether a comparison can be judged: "not enough data" instead of a misleading number.

A test on degenerate data still produces numbers, and some of them mislead: a zero
estimated variance (1/1 conversions against 0/1, every unit with the same value) gives
an infinite statistic and p = 0; a ratio whose control has no denominator yet gives
NaN; a relative lift against a control mean of 0 is undefined. Each comparison
carries a :class:`DataStatus` per element, the first that applies of:

* ``undefined`` -- an arm's estimate or its variance is not a number (a ratio metric
  whose denominator sum is 0). Nothing can be judged.
* ``no_variance`` -- the estimated standard error of the difference is 0. p-values
  and intervals are NaN ("not enough data"), never p = 0.
* ``small_counts`` -- conversions: the smallest expected cell under H0 (pooled rate
  times an arm's units, for conversions and for non-conversions) is below
  :data:`SMALL_COUNT`. The pooled z-test is kept -- its A/A error rate stays within
  4-6 % down to 5 expected conversions per arm (exact enumeration,
  ``docs/statistics.md``), while Fisher's exact test would fall to 0.5-3 % -- but the
  result carries this warning, and :func:`verdict.stats.decide` repeats it.
* ``no_baseline`` -- the control mean is 0: the absolute test stands (and is the
  relative lift's p-value: ``L = 0`` exactly when ``d = 0``), the relative lift, its
  interval and a relative guardrail margin are undefined (NaN).
* ``baseline_uncertain`` -- (guardrails with a relative margin only) the control mean
  is not distinguishable from 0 at the test's level, so "x % worse than control" has
  no stable meaning; Fieller's set for the lift is unbounded.
* ``ok``.

Statuses are stored as numpy string arrays (0-d for one comparison) of the enum's
values; :meth:`DataStatus.judgeable` says whether a p-value exists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["SMALL_COUNT", "DataStatus", "StatusArray", "status_array", "status_of"]

StatusArray: TypeAlias = npt.NDArray[np.str_]
"""Per-element :class:`DataStatus` values (0-d for a single comparison)."""

SMALL_COUNT = 5.0
"""Smallest expected cell count under H0 below which conversions carry a warning."""


class DataStatus(StrEnum):
    """Whether (and how well) a comparison can be judged."""

    OK = "ok"
    SMALL_COUNTS = "small_counts"
    BASELINE_UNCERTAIN = "baseline_uncertain"
    NO_BASELINE = "no_baseline"
    NO_VARIANCE = "no_variance"
    UNDEFINED = "undefined"

    @property
    def judgeable(self) -> bool:
        """Whether the absolute test has a p-value (a warning may still apply)."""
        return self in (
            DataStatus.OK,
            DataStatus.SMALL_COUNTS,
            DataStatus.NO_BASELINE,
            DataStatus.BASELINE_UNCERTAIN,
        )

    @property
    def reason(self) -> str:
        """One sentence for a person."""
        return _REASONS[self]


_REASONS = {
    DataStatus.OK: "enough data",
    DataStatus.SMALL_COUNTS: (
        f"fewer than {SMALL_COUNT:g} expected conversions (or non-conversions) in an arm: "
        "the normal approximation is rough"
    ),
    DataStatus.BASELINE_UNCERTAIN: (
        "the control mean is not distinguishable from 0, so a relative change is not defined"
    ),
    DataStatus.NO_BASELINE: "the control mean is 0, so a relative change is not defined",
    DataStatus.NO_VARIANCE: (
        "not enough data: the estimated variance is 0 (every unit has the same value)"
    ),
    DataStatus.UNDEFINED: (
        "not enough data: an arm's estimate is undefined (e.g. a ratio with no denominator yet)"
    ),
}


def status_array(
    shape: tuple[int, ...], conditions: list[tuple[npt.NDArray[np.bool_], DataStatus]]
) -> StatusArray:
    """The first status whose condition holds, per element; ``ok`` where none does."""
    out = np.full(shape, DataStatus.OK.value, dtype="<U20")
    for condition, status in reversed(conditions):
        out = np.where(np.broadcast_to(condition, shape), status.value, out)
    return np.asarray(out, dtype="<U20")


def status_of(array: StatusArray) -> DataStatus:
    """The status of a single comparison."""
    if array.size != 1:
        raise ValueError(f"status: the batch holds {array.size} comparisons")
    return DataStatus(str(array.reshape(-1)[0]))
