"""The gbstats half of benchmarks/stats_bench.py; runs inside gbstats' own virtualenv.

Reads the sufficient statistics written by stats_bench.py (a JSON file named on the
command line), analyses every comparison with GrowthBook's gbstats -- frequentist
two-sided t-test, sequential t-test, effect Bayesian test, all on relative lift,
regression adjustment (CUPED) and ratio statistics where the metric has them --
and prints JSON: the results and the seconds spent in the analysis loop alone
(measured with perf_counter inside this process, so interpreter start-up, imports
and JSON parsing are excluded).

It imports only gbstats, its dependencies and the standard library: it is run by
the interpreter of a separate virtualenv, never Verdict's.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)


def _statistic(kind: str, arm: dict[str, list[float]], i: int) -> Any:
    n = int(arm["n"][i])
    if kind == "proportion":
        return ProportionStatistic(n=n, sum=arm["sum"][i])
    if kind == "mean":
        return SampleMeanStatistic(n=n, sum=arm["sum"][i], sum_squares=arm["sum_squares"][i])
    if kind == "ratio":
        return RatioStatistic(
            n=n,
            m_statistic=SampleMeanStatistic(
                n=n, sum=arm["sum"][i], sum_squares=arm["sum_squares"][i]
            ),
            d_statistic=SampleMeanStatistic(
                n=n, sum=arm["den_sum"][i], sum_squares=arm["den_sum_squares"][i]
            ),
            m_d_sum_of_products=arm["sum_products"][i],
        )
    if kind == "cuped":
        return RegressionAdjustedStatistic(
            n=n,
            post_statistic=SampleMeanStatistic(
                n=n, sum=arm["sum"][i], sum_squares=arm["sum_squares"][i]
            ),
            pre_statistic=SampleMeanStatistic(
                n=n, sum=arm["pre_sum"][i], sum_squares=arm["pre_sum_squares"][i]
            ),
            post_pre_sum_of_products=arm["sum_products"][i],
            theta=0,
        )
    raise ValueError(f"unknown metric kind {kind!r}")


def analyse(data: dict[str, Any]) -> dict[str, Any]:
    alpha = data["alpha"]
    tuning = data["tuning_units"]
    frequentist = FrequentistConfig(alpha=alpha, difference_type="relative")
    sequential = SequentialConfig(
        alpha=alpha, difference_type="relative", sequential_tuning_parameter=tuning
    )
    bayesian = EffectBayesianConfig(alpha=alpha, difference_type="relative")
    out: dict[str, Any] = {}
    started = time.perf_counter()
    for name, metric in data["metrics"].items():
        kind = metric["kind"]
        rows: dict[str, list[float]] = {
            key: []
            for key in (
                "lift",
                "lower",
                "upper",
                "p_value",
                "seq_lower",
                "seq_upper",
                "seq_p_value",
                "chance_to_win",
                "risk_control",
                "risk_treatment",
                "ci_lower",
                "ci_upper",
            )
        }
        for i in range(len(metric["control"]["n"])):
            a = _statistic(kind, metric["control"], i)
            b = _statistic(kind, metric["treatment"], i)
            fixed = TwoSidedTTest(a, b, frequentist).compute_result()
            if kind == "cuped":  # gbstats sets theta on the statistics it is given
                a = _statistic(kind, metric["control"], i)
                b = _statistic(kind, metric["treatment"], i)
            seq = SequentialTwoSidedTTest(a, b, sequential).compute_result()
            if kind == "cuped":
                a = _statistic(kind, metric["control"], i)
                b = _statistic(kind, metric["treatment"], i)
            bayes = EffectBayesianABTest(a, b, bayesian).compute_result()
            rows["lift"].append(fixed.expected)
            rows["lower"].append(fixed.ci[0])
            rows["upper"].append(fixed.ci[1])
            rows["p_value"].append(fixed.p_value)
            rows["seq_lower"].append(seq.ci[0])
            rows["seq_upper"].append(seq.ci[1])
            rows["seq_p_value"].append(seq.p_value)
            rows["chance_to_win"].append(bayes.chance_to_win)
            rows["risk_control"].append(bayes.risk[0])
            rows["risk_treatment"].append(bayes.risk[1])
            rows["ci_lower"].append(bayes.ci[0])
            rows["ci_upper"].append(bayes.ci[1])
        out[name] = rows
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "results": out}


def main() -> None:
    with open(sys.argv[1]) as handle:
        data = json.load(handle)
    json.dump(analyse(data), sys.stdout)


if __name__ == "__main__":
    main()
