"""The rules an experiment must satisfy: always (what the database would refuse) and to
start (seed 004's validation rules).

Every check reports ``(field, reason)`` pairs rather than raising at the first problem,
so a client is told everything that is wrong in one answer. The database enforces the
same invariants with CHECK and unique constraints; these checks run first so a person
gets a 422 naming the field instead of an integrity error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from verdict.engine import ConfigError, SegmentTable, compile_condition
from verdict.engine.hashing import WEIGHT_SUM_TOLERANCE
from verdict.engine.limits import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_SEGMENT_REFERENCES,
    measure_condition,
)
from verdict.server.errors import InvalidInputError
from verdict.server.experiments.models import Experiment, ExperimentType, MetricRole

__all__ = [
    "FieldProblems",
    "bandit_problems",
    "bucket_problems",
    "forced_problems",
    "raise_if_any",
    "schedule_problems",
    "start_rule_failures",
    "targeting_problems",
    "variant_problems",
]

FieldProblems = list[tuple[str, str]]


class _VariantLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def is_control(self) -> bool: ...


def raise_if_any(problems: FieldProblems, summary: str) -> None:
    """Raise one InvalidInputError listing every problem, if there is any."""
    if problems:
        detail = f"{summary}: " + "; ".join(f"{field}: {reason}" for field, reason in problems)
        raise InvalidInputError(detail, field=problems[0][0], errors=problems)


def _join(prefix: str, json_path: str) -> str:
    # The engine reports "$", "$.country.$in", "$.$or[0]": graft it onto the field.
    return prefix + json_path.removeprefix("$")


def targeting_problems(
    condition: Mapping[str, Any], segments: Mapping[str, Any], field: str
) -> FieldProblems:
    """Compile ``condition`` with the engine; report each issue at its JSON path.

    The configuration wraps an experiment's targeting in ``$and`` with its segment
    links (one level, and a node per link plus three), so targeting must leave that
    room under the engine's limits.
    """
    try:
        compile_condition(condition, SegmentTable(segments, refuse_mistakes=True), path="$")
        shape = measure_condition(condition, "$")
    except ConfigError as exc:
        return [(_join(field, issue.path), issue.reason) for issue in exc.issues]
    if shape.depth >= MAX_CONDITION_DEPTH:
        return [(field, f"nests deeper than {MAX_CONDITION_DEPTH - 1} levels")]
    room = MAX_CONDITION_NODES - 3 - MAX_SEGMENT_REFERENCES
    if shape.nodes > room:
        return [(field, f"is too large: more than {room} nodes (attribute tests and operators)")]
    return []


def variant_problems(variants: Sequence[_VariantLike], field: str) -> FieldProblems:
    """Unique keys and at most one control: the database's rules on variants."""
    problems: FieldProblems = []
    seen: set[str] = set()
    control_seen = False
    for index, variant in enumerate(variants):
        if variant.key in seen:
            problems.append((f"{field}.{index}.key", f"variant key {variant.key!r} is repeated"))
        seen.add(variant.key)
        if variant.is_control:
            if control_seen:
                problems.append(
                    (f"{field}.{index}.is_control", "only one variant can be the control")
                )
            control_seen = True
    return problems


def forced_problems(
    forced: Mapping[str, str], variant_keys: Iterable[str], field: str = "body.forced_variants"
) -> FieldProblems:
    """Every forced unit must name a variant of the experiment."""
    keys = set(variant_keys)
    return [
        (f"{field}.{unit}", f"names no variant of this experiment: {variant!r}")
        for unit, variant in forced.items()
        if variant not in keys
    ]


def bucket_problems(start: int, end: int, field_prefix: str = "body.") -> FieldProblems:
    if start >= end:
        return [
            (
                f"{field_prefix}bucket_end",
                f"must be greater than bucket_start ({start}); the range is [start, end)",
            )
        ]
    return []


def schedule_problems(
    start_at: dt.datetime | None, end_at: dt.datetime | None, field_prefix: str = "body."
) -> FieldProblems:
    if start_at is not None and end_at is not None and end_at <= start_at:
        return [(f"{field_prefix}end_at", "must be after start_at")]
    return []


def _percent(value: float) -> str:
    return f"{value * 100:.6g}%"


def start_rule_failures(
    experiment: Experiment,
    *,
    segments: Mapping[str, Any],
    now: dt.datetime,
    end_must_be_future: bool = True,
) -> FieldProblems:
    """Why ``experiment`` cannot run, every reason at once (empty: it can).

    Seed 004's rules: at least two variants, exactly one control, weights summing to
    100%, a primary metric, an end after the start (and, when starting, in the future),
    and a valid targeting condition.
    """
    failures: FieldProblems = []
    variants = experiment.variants
    if len(variants) < 2:
        failures.append(("variants", f"needs at least two variants; it has {len(variants)}"))
    controls = [v.key for v in variants if v.is_control]
    if len(controls) != 1:
        named = f" ({', '.join(controls)})" if controls else ""
        failures.append(
            (
                "variants.is_control",
                f"needs exactly one control variant; it has {len(controls)}{named}",
            )
        )
    total = sum(v.weight for v in variants)
    if variants and abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        failures.append(
            ("variants.weight", f"weights must sum to 100%; they sum to {_percent(total)}")
        )
    if not _has_primary(link.role for link in experiment.metric_links):
        failures.append(("metrics", "needs a primary metric"))
    failures.extend(schedule_problems(experiment.start_at, experiment.end_at, field_prefix=""))
    if end_must_be_future and experiment.end_at is not None and experiment.end_at <= now:
        failures.append(("end_at", f"must be in the future; it is {experiment.end_at.isoformat()}"))
    failures.extend(targeting_problems(experiment.targeting, segments, "targeting"))
    if experiment.type is ExperimentType.BANDIT:
        failures.extend(bandit_problems(experiment))
    return failures


def bandit_problems(experiment: Experiment) -> FieldProblems:
    """What keeps a bandit from updating its weights: a floor that leaves no room for
    the variants, or a primary metric no posterior is drawn from (a percentile)."""
    problems: FieldProblems = []
    arms = len(experiment.variants)
    if arms and experiment.bandit_floor * arms > 1 + WEIGHT_SUM_TOLERANCE:
        problems.append(
            (
                "bandit_floor",
                f"{experiment.bandit_floor:g} for each of {arms} variants is more than all the "
                f"traffic; at most {1 / arms:.4f}",
            )
        )
    for link in experiment.metric_links:
        if link.role is MetricRole.PRIMARY and link.metric.percentile is not None:
            problems.append(
                (
                    "metrics",
                    f"a bandit's primary metric is a mean, rate or ratio; {link.metric.key!r} "
                    "is a percentile metric",
                )
            )
    return problems


def _has_primary(roles: Iterable[MetricRole]) -> bool:
    return any(role is MetricRole.PRIMARY for role in roles)
