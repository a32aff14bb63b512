"""How each kind of flag rule decides, as closures chained rule to rule.

Every rule compiles to a *decider*, ``decide(targeting_key, attributes, now, sticky,
depth) -> FlagResult``, that either returns one of its prebuilt results or passes the
call to the next rule (``on_miss``: the next decider, or the flag's default result
when it is the last rule). Chaining instead of looping saves a call per rule, and
returning prebuilt results means the common paths allocate nothing.

* ``force``: condition matched -> its value;
* ``rollout``: condition matched and inclusion bucket < percentage threshold -> its value;
* ``split``: condition matched and inside coverage -> the variant whose weight range
  holds the variant bucket;
* ``experiment``: condition matched and the unit is in the experiment -> the flag
  variant named like the experiment variant.

Rules that hash return the rule's TARGETING_KEY_MISSING result when there is no key.
A flag-wide ``rollout`` gate (:func:`rollout_gate`) sits in front of the whole chain:
only units whose inclusion bucket is below its threshold reach the rules.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping

import mmh3

from verdict.engine.experiments import CompiledExperiment
from verdict.engine.hashing import BUCKETS
from verdict.engine.operators import ValuePredicate
from verdict.engine.types import Attributes, FlagResult, StickyAssignments

__all__ = [
    "Decider",
    "constant",
    "experiment_rule",
    "force_rule",
    "rollout_gate",
    "rollout_rule",
    "split_rule",
]

Decider = Callable[
    [str | None, Attributes, float | None, StickyAssignments | None, int], FlagResult
]
"""``decide(targeting_key, attributes, now, sticky, depth)``: one flag's resolution."""

_hash = mmh3.hash


def constant(result: FlagResult) -> Decider:
    """A decider that always returns ``result``."""
    return lambda targeting_key, attributes, now, sticky, depth: result


def _misses(on_miss: Decider | FlagResult) -> tuple[FlagResult | None, Decider]:
    # A final rule returns the default result directly instead of calling for it.
    if isinstance(on_miss, FlagResult):
        return on_miss, constant(on_miss)
    return None, on_miss


def force_rule(
    condition: ValuePredicate | None, hit: FlagResult, on_miss: Decider | FlagResult
) -> Decider | FlagResult:
    """Serve ``hit`` when ``condition`` matches (always, without a condition)."""
    miss_result, miss_next = _misses(on_miss)
    if condition is None:
        return hit  # matches everyone: later rules are unreachable

    def force(
        targeting_key: str | None,
        attributes: Attributes,
        now: float | None,
        sticky: StickyAssignments | None,
        depth: int,
    ) -> FlagResult:
        if condition(attributes):
            return hit
        if miss_result is not None:
            return miss_result
        return miss_next(targeting_key, attributes, now, sticky, depth)

    return force


def rollout_rule(
    condition: ValuePredicate | None,
    prefix: str,
    threshold: int,
    hit: FlagResult,
    key_missing: FlagResult,
    on_miss: Decider | FlagResult,
) -> Decider:
    """Serve ``hit`` when ``condition`` matches and the inclusion bucket is below ``threshold``."""
    miss_result, miss_next = _misses(on_miss)

    def rollout(
        targeting_key: str | None,
        attributes: Attributes,
        now: float | None,
        sticky: StickyAssignments | None,
        depth: int,
    ) -> FlagResult:
        if condition is None or condition(attributes):
            if not targeting_key:
                return key_missing
            if _hash(prefix + targeting_key, 0, False) % BUCKETS < threshold:
                return hit
        if miss_result is not None:
            return miss_result
        return miss_next(targeting_key, attributes, now, sticky, depth)

    return rollout


def rollout_gate(
    prefix: str,
    threshold: int,
    rules: Decider,
    outside: FlagResult,
    key_missing: FlagResult,
) -> Decider:
    """Let only units whose inclusion bucket is below ``threshold`` reach ``rules``.

    Everyone else gets ``outside`` (the flag default). The threshold grows with the
    percentage, so raising the gate never removes a unit that was inside.
    """

    def gate(
        targeting_key: str | None,
        attributes: Attributes,
        now: float | None,
        sticky: StickyAssignments | None,
        depth: int,
    ) -> FlagResult:
        if not targeting_key:
            return key_missing
        if _hash(prefix + targeting_key, 0, False) % BUCKETS < threshold:
            return rules(targeting_key, attributes, now, sticky, depth)
        return outside

    return gate


def split_rule(
    condition: ValuePredicate | None,
    prefix: str,
    inclusion_prefix: str,
    coverage_threshold: int,
    boundaries: tuple[int, ...],
    hits: tuple[FlagResult, ...],
    key_missing: FlagResult,
    on_miss: Decider | FlagResult,
) -> Decider:
    """Serve the hit whose weight range holds the variant bucket, inside coverage."""
    miss_result, miss_next = _misses(on_miss)
    partial = coverage_threshold < BUCKETS

    def split(
        targeting_key: str | None,
        attributes: Attributes,
        now: float | None,
        sticky: StickyAssignments | None,
        depth: int,
    ) -> FlagResult:
        if condition is None or condition(attributes):
            if not targeting_key:
                return key_missing
            if (
                not partial
                or _hash(inclusion_prefix + targeting_key, 0, False) % BUCKETS < coverage_threshold
            ):
                bucket = _hash(prefix + targeting_key, 0, False) % BUCKETS
                return hits[bisect_right(boundaries, bucket)]
        if miss_result is not None:
            return miss_result
        return miss_next(targeting_key, attributes, now, sticky, depth)

    return split


def experiment_rule(
    condition: ValuePredicate | None,
    experiment: CompiledExperiment,
    hits: Mapping[str, FlagResult],
    key_missing: FlagResult,
    on_miss: Decider | FlagResult,
) -> Decider:
    """Serve the flag variant of the unit's experiment variant, when it is in the experiment."""
    _, miss_next = _misses(on_miss)
    decide_experiment = experiment.decide

    def experiment_rule(
        targeting_key: str | None,
        attributes: Attributes,
        now: float | None,
        sticky: StickyAssignments | None,
        depth: int,
    ) -> FlagResult:
        if condition is None or condition(attributes):
            if not targeting_key:
                return key_missing
            decision = decide_experiment(targeting_key, attributes, None, sticky)
            if decision.in_experiment and decision.variant is not None:
                return hits[decision.variant]
        return miss_next(targeting_key, attributes, now, sticky, depth)

    return experiment_rule
