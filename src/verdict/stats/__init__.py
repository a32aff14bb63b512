"""Statistics engine over sufficient statistics: pure numpy/scipy, no I/O.

Every function takes per-variant sums (:mod:`verdict.stats.summaries`), works
elementwise on numpy arrays so a whole batch of comparisons costs one call to each
scipy special function, and returns frozen dataclasses (``.item()`` / ``.at(i)``
give the float form, ``.to_dict()`` a JSON-friendly one). The methods, formulas and
references are in ``docs/statistics.md``.
"""

from verdict.stats.bayesian import (
    BayesianComparison,
    BetaPrior,
    NormalPrior,
    Posterior,
    beta_binomial_test,
    normal_effect_test,
)
from verdict.stats.beta_probability import probability_greater
from verdict.stats.corrections import benjamini_hochberg, holm
from verdict.stats.decision import (
    CannotJudge,
    Decision,
    GuardrailOutcome,
    GuardrailStatus,
    PrimaryOutcome,
    Verdict,
    decide,
)
from verdict.stats.effects import Comparison, Effect
from verdict.stats.frequentist import ratio_delta_test, two_proportion_z_test, welch_t_test
from verdict.stats.guardrails import NonInferiority, non_inferiority
from verdict.stats.power import (
    days_remaining,
    minimum_detectable_effect_means,
    minimum_detectable_effect_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from verdict.stats.sequential import (
    DEFAULT_TUNING_UNITS,
    confidence_sequence_half_width,
    confidence_sequence_multiplier,
    make_sequential,
    sequential_critical_z,
    sequential_p_value,
)
from verdict.stats.srm import (
    DEFAULT_SRM_THRESHOLD,
    SampleRatioCheck,
    sample_ratio_check,
    sample_ratio_p_values,
)
from verdict.stats.status import SMALL_COUNT, DataStatus
from verdict.stats.summaries import (
    CupedSummary,
    MeanSummary,
    ProportionSummary,
    RatioCupedSummary,
    RatioSummary,
)
from verdict.stats.variance_reduction import (
    cuped_t_test,
    cuped_theta,
    ratio_cuped_t_test,
    ratio_cuped_theta,
)

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "DEFAULT_TUNING_UNITS",
    "SMALL_COUNT",
    "BayesianComparison",
    "BetaPrior",
    "CannotJudge",
    "Comparison",
    "CupedSummary",
    "DataStatus",
    "Decision",
    "Effect",
    "GuardrailOutcome",
    "GuardrailStatus",
    "MeanSummary",
    "NonInferiority",
    "NormalPrior",
    "Posterior",
    "PrimaryOutcome",
    "ProportionSummary",
    "RatioCupedSummary",
    "RatioSummary",
    "SampleRatioCheck",
    "Verdict",
    "benjamini_hochberg",
    "beta_binomial_test",
    "confidence_sequence_half_width",
    "confidence_sequence_multiplier",
    "cuped_t_test",
    "cuped_theta",
    "days_remaining",
    "decide",
    "holm",
    "make_sequential",
    "minimum_detectable_effect_means",
    "minimum_detectable_effect_proportions",
    "non_inferiority",
    "normal_effect_test",
    "power_means",
    "power_proportions",
    "probability_greater",
    "ratio_cuped_t_test",
    "ratio_cuped_theta",
    "ratio_delta_test",
    "sample_ratio_check",
    "sample_ratio_p_values",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_critical_z",
    "sequential_p_value",
    "two_proportion_z_test",
    "welch_t_test",
]
