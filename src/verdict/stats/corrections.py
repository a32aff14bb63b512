"""Multiple-testing corrections across the metrics and variants of an experiment.

* Holm (1979), "A simple sequentially rejective multiple test procedure",
  Scandinavian Journal of Statistics 6: controls the family-wise error rate. With
  sorted p-values ``p_(1) <= ... <= p_(m)``, the adjusted value is
  ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
* Benjamini & Hochberg (1995), "Controlling the false discovery rate", JRSS B 57:
  controls the false discovery rate (independent or positively dependent tests).
  Adjusted ``p_(i) = min_{j >= i} min(1, m p_(j) / j)``.

Reject where the adjusted p-value is below alpha. Both equal statsmodels'
``multipletests(method="holm" | "fdr_bh")``. ``axis=None`` treats every element as one
family; an integer axis adjusts each slice along it separately (one row per
experiment, for a batch).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from verdict.stats.inputs import FloatArray, as_float_array, check_probability

__all__ = ["benjamini_hochberg", "holm"]


def _prepare(p_values: npt.ArrayLike, axis: int | None) -> tuple[FloatArray, int]:
    p = as_float_array("p_values", p_values)
    check_probability("p_values", p, open_interval=False)
    if axis is None:
        return p.reshape(1, -1), -1
    return np.moveaxis(p, axis, -1), axis


def _finish(adjusted: FloatArray, original: npt.ArrayLike, axis: int | None) -> FloatArray:
    if axis is None:
        return np.asarray(adjusted.reshape(np.shape(original)))
    return np.asarray(np.moveaxis(adjusted, -1, axis))


def holm(p_values: npt.ArrayLike, *, axis: int | None = None) -> FloatArray:
    """Holm step-down adjusted p-values (family-wise error rate)."""
    p, _ = _prepare(p_values, axis)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    factors = m - np.arange(m)
    stepped = np.maximum.accumulate(np.minimum(ranked * factors, 1.0), axis=-1)
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, stepped, axis=-1)
    return _finish(adjusted, p_values, axis)


def benjamini_hochberg(p_values: npt.ArrayLike, *, axis: int | None = None) -> FloatArray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate)."""
    p, _ = _prepare(p_values, axis)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    scaled = ranked * m / np.arange(1, m + 1)
    stepped = np.minimum(np.minimum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1], 1.0)
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, stepped, axis=-1)
    return _finish(adjusted, p_values, axis)
