"""How a flag resolves for one context, compiled into a chain of closures.

Evaluation order (the first step that decides wins):

1. the flag is unknown: ERROR / FLAG_NOT_FOUND (decided by the snapshot);
2. the flag is disabled in this environment (kill switch): default value, DISABLED;
3. an unexpired per-unit override: its value, TARGETING_MATCH, rule ``override``;
4. each prerequisite flag must resolve to its required value, else the default
   value, DEFAULT, rule ``prerequisite:<flag>`` (an erroring prerequisite makes
   this flag error too);
5. the flag-wide ``rollout`` gate (a percentage, when set): a unit whose inclusion
   bucket on the flag key is at or above its threshold gets the default value,
   DEFAULT, rule ``rollout``, without trying any rule;
6. the rules in order: ``force`` (condition/segment matched: TARGETING_MATCH),
   ``rollout`` (and inside the percentage on the inclusion hash: SPLIT), ``split``
   (weighted variants on the variant hash: SPLIT), ``experiment`` (the unit is in
   the experiment: SPLIT); a rule that does not apply passes to the next;
7. the default value: DEFAULT, or STATIC when the flag has no rules, overrides or
   prerequisites at all.

A rule (or a partial rollout gate) that needs a hash but has no targeting key ends
evaluation with ERROR / TARGETING_KEY_MISSING. Every possible result of a flag is
built once when the flag is compiled, so evaluating allocates nothing on the common
paths.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from verdict.engine.conditions import SegmentTable
from verdict.engine.errors import ConfigError, child_path, index_path
from verdict.engine.experiments import CompiledExperiment, targeting_condition
from verdict.engine.hashing import (
    BUCKETS,
    fraction_threshold,
    inclusion_seed,
    percentage_threshold,
    validate_weights,
    weight_boundaries,
)
from verdict.engine.jsonvalues import deep_equal
from verdict.engine.limits import MAX_PREREQUISITE_DEPTH, MAX_RULES_PER_FLAG
from verdict.engine.operators import ValuePredicate
from verdict.engine.rules import (
    Decider,
    constant,
    experiment_rule,
    force_rule,
    rollout_gate,
    rollout_rule,
    split_rule,
)
from verdict.engine.types import (
    Attributes,
    ErrorCode,
    FlagResult,
    FlagType,
    Reason,
    StickyAssignments,
)
from verdict.engine.validation import (
    field,
    flag_value,
    read_bool,
    read_list,
    read_mapping,
    read_number,
    read_str,
    read_timestamp,
    value_type_problem,
)

__all__ = [
    "MAX_PREREQUISITE_DEPTH",
    "CompiledFlag",
    "broken_flag",
    "compile_flag",
    "read_flag_type",
]

_RULE_TYPES = ("force", "rollout", "split", "experiment")


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    """One validated flag: its type, default, named variants and its decider."""

    key: str
    type: FlagType
    default: Any
    variants: Mapping[str, Any]
    prerequisites: tuple[str, ...]
    decide: Decider


def broken_flag(key: str, flag_type: FlagType, message: str) -> CompiledFlag:
    """A stand-in for a flag whose configuration is invalid: always ERROR / PARSE_ERROR."""
    result = FlagResult(key, None, None, Reason.ERROR, ErrorCode.PARSE_ERROR, error_message=message)
    return CompiledFlag(key, flag_type, None, MappingProxyType({}), (), constant(result))


class _FlagCompiler:
    def __init__(
        self,
        key: str,
        spec: Mapping[str, Any],
        path: str,
        flag_type: FlagType,
        segments: SegmentTable,
        experiments: Mapping[str, CompiledExperiment],
        flag_types: Mapping[str, FlagType],
        registry: Mapping[str, CompiledFlag],
    ) -> None:
        self.key = key
        self.spec = spec
        self.path = path
        self.type = flag_type
        self.segments = segments
        self.experiments = experiments
        self.flag_types = flag_types
        self.registry = registry
        self.variants: dict[str, Any] = {}

    # ----------------------------------------------------------------- reading
    def typed_value(self, value: Any, path: str, flag_type: FlagType | None = None) -> Any:
        """``value`` checked against the type and in its served form (see flag_value)."""
        kind = flag_type or self.type
        problem = value_type_problem(value, kind)
        if problem is not None:
            raise ConfigError.at(path, problem)
        return flag_value(value, kind)

    def read_variants(self) -> None:
        variants_path = child_path(self.path, "variants")
        raw = read_list(field(self.spec, "variants", self.path, []), variants_path)
        for index, item in enumerate(raw):
            item_path = index_path(variants_path, index)
            item = read_mapping(item, item_path)
            key = read_str(field(item, "key", item_path), child_path(item_path, "key"))
            if key in self.variants:
                raise ConfigError.at(child_path(item_path, "key"), f"duplicate variant {key!r}")
            if "value" not in item:
                raise ConfigError.at(child_path(item_path, "value"), "is required")
            self.variants[key] = self.typed_value(item["value"], child_path(item_path, "value"))

    def variant_of(self, value: Any) -> str | None:
        for key, candidate in self.variants.items():
            if deep_equal(candidate, value):
                return key
        return None

    def outcome(self, raw: Mapping[str, Any], path: str) -> tuple[Any, str | None]:
        """The (value, variant key) a rule or override serves: ``variant`` or ``value``."""
        if raw.get("variant") is not None:
            key = read_str(raw["variant"], child_path(path, "variant"))
            if key not in self.variants:
                raise ConfigError.at(child_path(path, "variant"), f"unknown variant {key!r}")
            return self.variants[key], key
        if "value" in raw:
            value = self.typed_value(raw["value"], child_path(path, "value"))
            return value, self.variant_of(value)
        raise ConfigError.at(path, "needs a value or a variant")

    def result(self, value: Any, variant: str | None, reason: Reason, **extra: Any) -> FlagResult:
        return FlagResult(self.key, value, variant, reason, **extra)

    # ----------------------------------------------------------------- compiling
    def compile(self) -> CompiledFlag:
        self.read_variants()
        if "default" not in self.spec:
            raise ConfigError.at(child_path(self.path, "default"), "is required")
        default = self.typed_value(self.spec["default"], child_path(self.path, "default"))
        default_variant = self.variant_of(default)
        enabled = read_bool(
            field(self.spec, "enabled", self.path, True), child_path(self.path, "enabled")
        )
        rules_path = child_path(self.path, "rules")
        rules = read_list(field(self.spec, "rules", self.path, []), rules_path)
        if len(rules) > MAX_RULES_PER_FLAG:
            raise ConfigError.at(
                rules_path,
                f"has {len(rules)} rules; at most {MAX_RULES_PER_FLAG} are allowed "
                "per flag and environment",
            )
        overrides = read_mapping(
            field(self.spec, "overrides", self.path, {}), child_path(self.path, "overrides")
        )
        prerequisites_path = child_path(self.path, "prerequisites")
        prerequisites = read_list(
            field(self.spec, "prerequisites", self.path, []), prerequisites_path
        )
        is_static = not (rules or overrides or prerequisites)
        default_result = self.result(
            default, default_variant, Reason.STATIC if is_static else Reason.DEFAULT
        )
        chain: Decider | FlagResult = default_result
        for index in reversed(range(len(rules))):
            chain = self.rule(rules[index], index_path(rules_path, index), index, chain)
        decide = chain if not isinstance(chain, FlagResult) else constant(chain)
        gate = self.read_rollout_gate()
        if rules and gate is not None:
            decide = self.with_rollout_gate(decide, gate, default, default_variant)
        checks = [
            self.prerequisite(item, index_path(prerequisites_path, index), default_result)
            for index, item in enumerate(prerequisites)
        ]
        if checks:
            decide = self.with_prerequisites(decide, checks)
        if overrides:
            decide = self.with_overrides(decide, overrides, child_path(self.path, "overrides"))
        if not enabled:
            decide = constant(self.result(default, default_variant, Reason.DISABLED))
        return CompiledFlag(
            self.key,
            self.type,
            default,
            MappingProxyType(dict(self.variants)),
            tuple(check[0] for check in checks),
            decide,
        )

    def read_rollout_gate(self) -> int | None:
        """The inclusion threshold of the flag-wide ``rollout`` percentage, if set."""
        raw = self.spec.get("rollout")
        if raw is None:
            return None
        return percentage_threshold(read_number(raw, child_path(self.path, "rollout"), 0, 100))

    def with_rollout_gate(
        self, rules: Decider, threshold: int, default: Any, default_variant: str | None
    ) -> Decider:
        """The rules behind the flag-wide rollout gate: outside it, the default."""
        if threshold >= BUCKETS:
            return rules
        outside = self.result(default, default_variant, Reason.DEFAULT, rule="rollout")
        if threshold == 0:
            return constant(outside)
        key_missing = self.result(
            None,
            None,
            Reason.ERROR,
            error_code=ErrorCode.TARGETING_KEY_MISSING,
            rule="rollout",
            error_message="the flag's rollout hashes the targeting key, which is missing",
        )
        prefix = inclusion_seed(self.key) + ":"
        return rollout_gate(prefix, threshold, rules, outside, key_missing)

    def rule(
        self, raw: Any, path: str, index: int, on_miss: Decider | FlagResult
    ) -> Decider | FlagResult:
        spec = read_mapping(raw, path)
        rule_id = read_str(field(spec, "id", path, f"rules[{index}]"), child_path(path, "id"))
        kind = field(spec, "type", path)
        if kind not in _RULE_TYPES:
            raise ConfigError.at(child_path(path, "type"), f"needs one of {list(_RULE_TYPES)}")
        condition = targeting_condition(spec, path, self.segments)
        key_missing = self.result(
            None,
            None,
            Reason.ERROR,
            error_code=ErrorCode.TARGETING_KEY_MISSING,
            rule=rule_id,
            error_message=f"rule {rule_id!r} hashes the targeting key, which is missing",
        )
        if kind == "force":
            value, variant = self.outcome(spec, path)
            hit = self.result(value, variant, Reason.TARGETING_MATCH, rule=rule_id)
            return force_rule(condition, hit, on_miss)
        seed = read_str(field(spec, "seed", path, self.key), child_path(path, "seed"))
        if kind == "rollout":
            value, variant = self.outcome(spec, path)
            percentage = read_number(
                field(spec, "percentage", path), child_path(path, "percentage"), 0, 100
            )
            hit = self.result(value, variant, Reason.SPLIT, rule=rule_id)
            return rollout_rule(
                condition,
                inclusion_seed(seed) + ":",
                percentage_threshold(percentage),
                hit,
                key_missing,
                on_miss,
            )
        if kind == "split":
            return self.split_rule(spec, path, rule_id, seed, condition, key_missing, on_miss)
        return self.experiment_rule(spec, path, rule_id, condition, key_missing, on_miss)

    def split_rule(
        self,
        spec: Mapping[str, Any],
        path: str,
        rule_id: str,
        seed: str,
        condition: ValuePredicate | None,
        key_missing: FlagResult,
        on_miss: Decider | FlagResult,
    ) -> Decider:
        if not self.variants:
            raise ConfigError.at(child_path(self.path, "variants"), "a split rule needs variants")
        weights_path = child_path(path, "weights")
        raw_weights = read_list(field(spec, "weights", path), weights_path)
        hits: list[FlagResult] = []
        weights: list[float] = []
        for index, item in enumerate(raw_weights):
            item_path = index_path(weights_path, index)
            item = read_mapping(item, item_path)
            key = read_str(field(item, "variant", item_path), child_path(item_path, "variant"))
            if key not in self.variants:
                raise ConfigError.at(child_path(item_path, "variant"), f"unknown variant {key!r}")
            weight = field(item, "weight", item_path)
            weights.append(read_number(weight, child_path(item_path, "weight"), 0, 1))
            hits.append(self.result(self.variants[key], key, Reason.SPLIT, rule=rule_id))
        problem = validate_weights(weights)
        if problem is not None:
            raise ConfigError.at(weights_path, problem)
        coverage = read_number(
            field(spec, "coverage", path, 1.0), child_path(path, "coverage"), 0, 1
        )
        return split_rule(
            condition,
            seed + ":",
            inclusion_seed(seed) + ":",
            fraction_threshold(coverage),
            weight_boundaries(weights),
            tuple(hits),
            key_missing,
            on_miss,
        )

    def experiment_rule(
        self,
        spec: Mapping[str, Any],
        path: str,
        rule_id: str,
        condition: ValuePredicate | None,
        key_missing: FlagResult,
        on_miss: Decider | FlagResult,
    ) -> Decider:
        experiment_path = child_path(path, "experiment")
        experiment_key = read_str(field(spec, "experiment", path), experiment_path)
        experiment = self.experiments.get(experiment_key)
        if experiment is None:
            raise ConfigError.at(experiment_path, f"unknown experiment {experiment_key!r}")
        hits: dict[str, FlagResult] = {}
        for variant in experiment.variants:
            if variant not in self.variants:
                raise ConfigError.at(
                    child_path(self.path, "variants"),
                    f"experiment {experiment_key!r} serves variant {variant!r}, "
                    "which this flag does not define",
                )
            hits[variant] = self.result(
                self.variants[variant],
                variant,
                Reason.SPLIT,
                rule=rule_id,
                experiment=experiment_key,
            )
        return experiment_rule(condition, experiment, hits, key_missing, on_miss)

    def prerequisite(
        self, raw: Any, path: str, default_result: FlagResult
    ) -> tuple[str, Any, FlagResult]:
        spec = read_mapping(raw, path)
        flag_key = read_str(field(spec, "flag", path), child_path(path, "flag"))
        if flag_key not in self.flag_types:
            raise ConfigError.at(child_path(path, "flag"), f"unknown flag {flag_key!r}")
        if "value" not in spec:
            raise ConfigError.at(child_path(path, "value"), "is required")
        expected = self.typed_value(
            spec["value"], child_path(path, "value"), self.flag_types[flag_key]
        )
        failed = self.result(
            default_result.value,
            default_result.variant,
            Reason.DEFAULT,
            rule=f"prerequisite:{flag_key}",
        )
        return flag_key, expected, failed

    def with_prerequisites(
        self, inner: Decider, checks: list[tuple[str, Any, FlagResult]]
    ) -> Decider:
        registry = self.registry
        key = self.key
        # compile_config refuses chains deeper than the limit; this guard holds for
        # flags compiled one by one with compile_flag, which cannot see the chain.
        too_deep = self.result(
            None,
            None,
            Reason.ERROR,
            error_code=ErrorCode.GENERAL,
            error_message=f"prerequisites nest deeper than {MAX_PREREQUISITE_DEPTH}",
        )
        frozen_checks = tuple(checks)

        def decide(
            targeting_key: str | None,
            attributes: Attributes,
            now: float | None,
            sticky: StickyAssignments | None,
            depth: int,
        ) -> FlagResult:
            if depth >= MAX_PREREQUISITE_DEPTH:
                return too_deep
            for flag_key, expected, failed in frozen_checks:
                parent = registry[flag_key].decide(
                    targeting_key, attributes, now, sticky, depth + 1
                )
                if parent.error_code is not None:
                    return FlagResult(
                        key,
                        None,
                        None,
                        Reason.ERROR,
                        parent.error_code,
                        rule=f"prerequisite:{flag_key}",
                        error_message=f"prerequisite {flag_key!r}: {parent.error_message}",
                    )
                if not deep_equal(parent.value, expected):
                    return failed
            return inner(targeting_key, attributes, now, sticky, depth)

        return decide

    def with_overrides(self, inner: Decider, raw: Mapping[str, Any], path: str) -> Decider:
        table: dict[str, tuple[FlagResult, float | None]] = {}
        for unit_id, item in raw.items():
            item_path = child_path(path, unit_id)
            spec = read_mapping(item, item_path)
            value, variant = self.outcome(spec, item_path)
            expires_raw = spec.get("expires_at")
            expires = (
                None
                if expires_raw is None
                else read_timestamp(expires_raw, child_path(item_path, "expires_at"))
            )
            table[unit_id] = (
                self.result(value, variant, Reason.TARGETING_MATCH, rule="override"),
                expires,
            )
        overrides = table.get

        def decide(
            targeting_key: str | None,
            attributes: Attributes,
            now: float | None,
            sticky: StickyAssignments | None,
            depth: int,
        ) -> FlagResult:
            override = overrides(targeting_key) if targeting_key else None
            if override is not None:
                result, expires = override
                if expires is None or (time.time() if now is None else now) < expires:
                    return result
            return inner(targeting_key, attributes, now, sticky, depth)

        return decide


def compile_flag(
    key: str,
    raw: Any,
    path: str,
    *,
    segments: SegmentTable,
    experiments: Mapping[str, CompiledExperiment],
    flag_types: Mapping[str, FlagType],
    registry: Mapping[str, CompiledFlag],
) -> CompiledFlag:
    """Validate and compile one flag; raises ConfigError naming the bad field.

    ``flag_types`` gives every flag's type (to check prerequisite values);
    ``registry`` is where prerequisite flags are looked up at evaluation time.
    """
    spec = read_mapping(raw, path)
    flag_type = read_flag_type(spec, path)
    compiler = _FlagCompiler(
        key, spec, path, flag_type, segments, experiments, flag_types, registry
    )
    return compiler.compile()


def read_flag_type(spec: Mapping[str, Any], path: str) -> FlagType:
    """The flag's declared ``type``."""
    raw_type = field(spec, "type", path)
    try:
        return FlagType(raw_type)
    except ValueError:
        raise ConfigError.at(
            child_path(path, "type"), f"needs one of {[t.value for t in FlagType]}"
        ) from None
