"""The power calculator: a thin use case over ``verdict.stats.power``.

It plans for the test the analysis will run: the same sidedness, the sequential
option, and Holm's correction across (variants - 1) x primary metrics comparisons as
:func:`verdict.stats.decide` applies it (planned at Holm's first step, ``alpha / m``).
"""

from __future__ import annotations

import math
from typing import Any

from verdict.server.errors import InvalidInputError
from verdict.server.power.schemas import PowerQuery, PowerResult
from verdict.stats import power as stats_power

__all__ = ["calculate"]

_TEST = {
    "proportion": "pooled two-proportion z-test, Fleiss' sample size (no continuity correction)",
    "mean": "test of a difference in means, normal approximation with a common standard deviation",
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
    if query.sequential and query.alternative != "two-sided":
        problems.append(("body.alternative", "sequential tests are two-sided"))
    if query.mde is not None and query.mde != 0 and query.alternative != "two-sided":
        effect = query.mde * (query.baseline if query.relative else 1.0)
        if (effect < 0) == (query.alternative == "greater"):
            problems.append(
                ("body.mde", f"a one-sided '{query.alternative}' test cannot detect this sign")
            )
    if problems:
        raise InvalidInputError(
            "; ".join(f"{field}: {reason}" for field, reason in problems), errors=problems
        )


def _comparisons(query: PowerQuery) -> int:
    return (query.variants - 1) * query.metrics


def _plan(query: PowerQuery) -> dict[str, Any]:
    return {
        "alpha": query.alpha,
        "alternative": query.alternative,
        "comparisons": _comparisons(query),
        "sequential": query.sequential,
        "tuning_units": query.tuning_units,
    }


def _absolute_mde(query: PowerQuery) -> float | None:
    if query.mde is None:
        return None
    return query.mde * query.baseline if query.relative else query.mde


def _whole(size: object) -> int:
    value = float(size)  # type: ignore[arg-type]
    if not math.isfinite(value) or value > 10**15:
        raise InvalidInputError(
            "mde: the effect is too small for any practical sample to detect "
            "(more than 10^15 units per variant)",
            field="body.mde",
        )
    return int(value)


Solved = tuple[int | None, float | None, float | None, str | None]


def _solve_proportion(query: PowerQuery, n: int | None, mde: float | None) -> Solved:
    plan = _plan(query)
    if n is None:
        assert mde is not None  # _check: one of the two is given
        size = stats_power.sample_size_proportions(
            baseline=query.baseline, mde=mde, power=query.power, **plan
        )
        return _whole(size), mde, query.power, None
    if mde is None:
        increase = query.alternative != "less"
        found = float(
            stats_power.minimum_detectable_effect_proportions(
                n=n, baseline=query.baseline, power=query.power, increase=increase, **plan
            )
        )
        if math.isnan(found):
            extreme = (1.0 - query.baseline if increase else -query.baseline) * (1 - 1e-12)
            best = float(
                stats_power.power_proportions(n=n, baseline=query.baseline, mde=extreme, **plan)
            )
            note = (
                f"No effect is detectable with {n:,} units per variant: even a change of "
                f"the {query.baseline:.4g} baseline all the way to "
                f"{'1' if increase else '0'} would be detected with only {best:.1%} power "
                f"(asked {query.power:.0%}) at a per-comparison level of "
                f"{query.alpha / _comparisons(query):.4g}. Increase the sample size."
            )
            return n, None, query.power, note
        return n, (found if increase else -found), query.power, None
    achieved = stats_power.power_proportions(n=n, baseline=query.baseline, mde=mde, **plan)
    return n, mde, float(achieved), None


def _solve_mean(query: PowerQuery, n: int | None, mde: float | None, std: float) -> Solved:
    plan = _plan(query)
    if n is None:
        assert mde is not None  # _check: one of the two is given
        size = stats_power.sample_size_means(mde=mde, std=std, power=query.power, **plan)
        return _whole(size), mde, query.power, None
    if mde is None:
        found = float(
            stats_power.minimum_detectable_effect_means(n=n, std=std, power=query.power, **plan)
        )
        return n, (-found if query.alternative == "less" else found), query.power, None
    return n, mde, float(stats_power.power_means(n=n, mde=mde, std=std, **plan)), None


def _solve(query: PowerQuery, mde: float | None) -> Solved:
    """(sample size per variant, absolute mde, power, note) for the query's mode."""
    if query.metric == "proportion":
        return _solve_proportion(query, query.sample_size_per_variant, mde)
    assert query.std is not None  # _check: required for means
    return _solve_mean(query, query.sample_size_per_variant, mde, query.std)


def _method(query: PowerQuery) -> str:
    comparisons = _comparisons(query)
    parts = [
        f"{'sequential (always-valid) ' if query.sequential else ''}{query.alternative} "
        f"{_TEST[query.metric]}",
        "equal allocation",
    ]
    if comparisons > 1:
        parts.append(
            f"Holm across {comparisons} comparisons, planned at alpha / {comparisons} = "
            f"{query.alpha / comparisons:.4g}"
        )
    if query.sequential:
        parts.append(f"tuned at {query.tuning_units:,.0f} total units")
    return "; ".join(parts)


def calculate(query: PowerQuery) -> PowerResult:
    _check(query)
    try:
        n, mde, achieved, note = _solve(query, _absolute_mde(query))
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
        comparisons=_comparisons(query),
        level=query.alpha / _comparisons(query),
        method=_method(query),
        note=note,
    )
