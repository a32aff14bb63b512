"""The power calculator: a thin use case over ``verdict.stats.power``."""

from __future__ import annotations

import math

from verdict.server.errors import InvalidInputError
from verdict.server.power.schemas import PowerQuery, PowerResult
from verdict.stats import power as stats_power

__all__ = ["calculate"]

_METHOD = {
    "proportion": "two-sided pooled two-proportion z-test, Fleiss' sample size (no continuity"
    " correction); equal allocation",
    "mean": "two-sided test of a difference in means, normal approximation with a common"
    " standard deviation; equal allocation",
}


def _check(query: PowerQuery) -> None:
    problems: list[tuple[str, str]] = []
    if query.mde is None and query.sample_size_per_variant is None:
        problems.append(("body.mde", "give mde, sample_size_per_variant, or both"))
    if query.metric == "mean" and query.std is None:
        problems.append(("body.std", "required for mean metrics"))
    if query.metric == "proportion" and not 0 < query.baseline < 1:
        problems.append(("body.baseline", "a conversion rate strictly between 0 and 1"))
    if query.mde == 0:
        problems.append(("body.mde", "must not be 0"))
    if query.relative and query.baseline == 0:
        problems.append(("body.baseline", "a relative mde needs a non-zero baseline"))
    if problems:
        raise InvalidInputError(
            "; ".join(f"{field}: {reason}" for field, reason in problems), errors=problems
        )


def _absolute_mde(query: PowerQuery) -> float | None:
    if query.mde is None:
        return None
    return query.mde * query.baseline if query.relative else query.mde


def _whole(size: object) -> int:
    value = float(size)  # type: ignore[arg-type]
    if not math.isfinite(value) or value > 10**15:
        raise InvalidInputError(
            "the effect is too small for any practical sample to detect", field="body.mde"
        )
    return int(value)


def _solve_proportion(
    query: PowerQuery, n: int | None, mde: float | None
) -> tuple[int | None, float | None, float | None]:
    alpha, power = query.alpha, query.power
    if n is None:
        assert mde is not None  # _check: one of the two is given
        size = stats_power.sample_size_proportions(
            baseline=query.baseline, mde=mde, alpha=alpha, power=power
        )
        return _whole(size), mde, power
    if mde is None:
        found = float(
            stats_power.minimum_detectable_effect_proportions(
                n=n, baseline=query.baseline, alpha=alpha, power=power
            )
        )
        return n, (None if math.isnan(found) else found), power
    achieved = stats_power.power_proportions(n=n, baseline=query.baseline, mde=mde, alpha=alpha)
    return n, mde, float(achieved)


def _solve_mean(
    query: PowerQuery, n: int | None, mde: float | None, std: float
) -> tuple[int | None, float | None, float | None]:
    alpha, power = query.alpha, query.power
    if n is None:
        assert mde is not None  # _check: one of the two is given
        size = stats_power.sample_size_means(mde=mde, std=std, alpha=alpha, power=power)
        return _whole(size), mde, power
    if mde is None:
        found = stats_power.minimum_detectable_effect_means(n=n, std=std, alpha=alpha, power=power)
        return n, float(found), power
    return n, mde, float(stats_power.power_means(n=n, mde=mde, std=std, alpha=alpha))


def _solve(query: PowerQuery, mde: float | None) -> tuple[int | None, float | None, float | None]:
    """(sample size per variant, absolute mde, power) for the query's mode."""
    if query.metric == "proportion":
        return _solve_proportion(query, query.sample_size_per_variant, mde)
    assert query.std is not None  # _check: required for means
    return _solve_mean(query, query.sample_size_per_variant, mde, query.std)


def calculate(query: PowerQuery) -> PowerResult:
    _check(query)
    try:
        n, mde, achieved = _solve(query, _absolute_mde(query))
    except ValueError as exc:
        # The stats engine names the argument first: "baseline + mde: must be …".
        argument = str(exc).split(":", 1)[0].split(" ")[0]
        raise InvalidInputError(str(exc), field=f"body.{argument}") from exc
    total = n * query.variants if n is not None else None
    days = None
    if total is not None and query.daily_units is not None:
        days = math.ceil(total / query.daily_units * 10) / 10
    relative = mde / query.baseline if mde is not None and query.baseline != 0 else None
    return PowerResult(
        sample_size_per_variant=n,
        total_sample_size=total,
        mde_absolute=mde,
        mde_relative=relative,
        power=achieved,
        days=days,
        method=_METHOD[query.metric],
    )
