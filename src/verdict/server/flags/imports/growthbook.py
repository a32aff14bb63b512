"""GrowthBook features mapped to Verdict flags (docs/migrating.md has the tables).

Per feature: the value type (the REST export's ``valueType``; for an SDK payload, the
one JSON type its default and forced values share), the default, description and tags;
per environment, its definition's rules in order:

- a rule whose only job is a **gate** (``parentConditions`` with ``gate: true``, which
  GrowthBook writes for a feature's prerequisites) becomes a flag prerequisite when its
  condition asks for one exact value (``{"value": true}``) and every environment has
  the same gates (Verdict's prerequisites belong to the flag, not an environment);
- a **force** rule becomes a ``force`` rule with the same condition;
- a force rule with ``coverage`` (or a ``range`` starting at 0) hashing ``id`` becomes a
  ``rollout`` rule of the same percentage, in Verdict's 0.01 % steps. Verdict hashes
  the targeting key with its own function, so the percentage is kept but not the
  units: a different 30 % of users is in a 30 % rollout. Pass GrowthBook's ``id``
  attribute as the targeting key;
- **experiment** rules (``variations``), rules limited to a namespace or by filters,
  rules hashing another attribute, and rules with prerequisites of their own are not
  mapped: they are listed, and the units they would have decided go on to the next
  rule in Verdict.

Conditions are GrowthBook's language already; saved groups become segments
(:mod:`.growthbook_groups`) and each condition is compiled by the engine, so one that
Verdict refuses (an RE2-incompatible regex, an operator it lacks) leaves only its rule
out, with the reason.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from verdict.engine import FlagType
from verdict.engine.jsonvalues import deep_equal
from verdict.server.flags.imports.growthbook_groups import GroupSegments, group_uses
from verdict.server.flags.imports.growthbook_source import (
    Definition,
    GrowthBookFeature,
    Rule,
    read_growthbook,
)
from verdict.server.flags.imports.plan import (
    ImportPlan,
    PlannedFlag,
    PlannedRule,
    PlannedState,
    SkippedFlag,
    UnmappableError,
    check_rule_count,
    check_value,
    condition_problem,
    is_key,
    order_by_prerequisites,
    percentage_of,
    tags_of,
)

__all__ = ["plan_growthbook"]

_ID_ATTRIBUTES = (None, "", "id")
_MAX_RULE_ID = 100
# Members of a payload rule that change nothing for a force rule (tracking, sticky
# bucketing and experiment metadata); any other unknown member is listed as ignored.
_INERT = frozenset(
    {"hashVersion", "weights", "meta", "name", "phase", "ranges", "tracks", "metadata",
     "disableStickyBucketing", "bucketVersion", "minBucketVersion"}
)  # fmt: skip


def _json(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> FlagType | None:
    if isinstance(value, bool):
        return FlagType.BOOLEAN
    if isinstance(value, str):
        return FlagType.STRING
    if isinstance(value, int | float):
        return FlagType.NUMBER
    if isinstance(value, dict):
        return FlagType.JSON
    return None


def _inferred_type(feature: GrowthBookFeature) -> FlagType:
    """The type of a feature of an SDK payload, which does not state it."""
    values = [feature.default]
    for definition in feature.definitions.values():
        for rule in definition.rules if definition else []:
            if rule.has_force:
                values.append(rule.force)
            values.extend(rule.variations or [])
    kinds = {_kind(value) for value in values if value is not None}
    if None in kinds:
        raise UnmappableError("it serves arrays, which no Verdict flag type holds")
    if len(kinds) != 1:
        names = ", ".join(sorted(kind.value for kind in kinds if kind)) or "only null"
        raise UnmappableError(f"its values have no single type ({names})")
    (kind,) = kinds
    assert kind is not None
    return kind


def _required_value(condition: dict[str, Any]) -> Any:
    """The one value a gate's condition on the parent asks for."""
    if set(condition) == {"value"}:
        wanted = condition["value"]
        if not isinstance(wanted, dict) or not wanted:
            return wanted
        if set(wanted) == {"$eq"}:
            return wanted["$eq"]
        if not any(str(key).startswith("$") for key in wanted):
            return wanted
    raise UnmappableError(
        f"condition {_json(condition)} on the parent: a Verdict prerequisite is one exact value"
    )


class _Mapper:
    def __init__(self, feature: GrowthBookFeature, flag: PlannedFlag, groups: GroupSegments):
        self.feature = feature
        self.flag = flag
        self.groups = groups

    def state(self, environment: str | None, definition: Definition) -> list[dict[str, Any]]:
        """Map one environment's rules into the flag's state; return its gates."""
        state = PlannedState(enabled=True)
        gates: list[dict[str, Any]] = []
        rule_ids: set[str] = set()
        for index, rule in enumerate(definition.rules):
            label = f"rule {index + 1}" + (f" ({rule.id})" if rule.id else "")
            try:
                if any(parent.gate for parent in rule.parent_conditions or []):
                    if state.rules:
                        raise UnmappableError(
                            "a prerequisite gate after other rules: Verdict checks "
                            "prerequisites before every rule"
                        )
                    gates.extend(self.gates(rule))
                    if not rule.has_force and rule.variations is None:
                        continue
                    rule = rule.model_copy(update={"parent_conditions": None})
                planned = self.rule(environment, rule, label)
            except UnmappableError as exc:
                self.flag.note(environment, f"{label} not mapped: {exc}")
                continue
            if planned is None:
                continue
            rule_id = rule.id
            usable = bool(rule_id) and len(rule_id or "") <= _MAX_RULE_ID
            if usable and rule_id and "\x00" not in rule_id and rule_id not in rule_ids:
                planned.rule = {"id": rule_id, **planned.rule}
                rule_ids.add(rule_id)
            state.rules.append(planned)
        served = definition.default_value
        if served is not None and not deep_equal(served, self.flag.default):
            self.flag.note(
                environment,
                f"GrowthBook serves the default {_json(served)} here; "
                f"Verdict serves the flag's default {_json(self.flag.default)} everywhere",
            )
        check_rule_count(self.flag, environment, state)
        self.flag.states[environment] = state
        return gates

    def gates(self, rule: Rule) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for parent in rule.parent_conditions or []:
            if not parent.gate:
                raise UnmappableError(
                    "it mixes a prerequisite gate with a rule prerequisite (feature "
                    f"{parent.id!r}); Verdict's prerequisites belong to the flag"
                )
            if parent.id.startswith("$holdout:"):
                raise UnmappableError(f"holdout {parent.id.removeprefix('$holdout:')!r}")
            if not is_key(parent.id) or parent.id == self.flag.key:
                raise UnmappableError(f"prerequisite {parent.id!r} is not a Verdict flag key")
            found.append({"flag": parent.id, "value": _required_value(parent.condition)})
        return found

    def rule(self, environment: str | None, rule: Rule, label: str) -> PlannedRule | None:
        if rule.parent_conditions:
            names = ", ".join(repr(parent.id) for parent in rule.parent_conditions)
            raise UnmappableError(
                f"it applies only when {names} meet a condition (a rule prerequisite); "
                "Verdict's prerequisites belong to the flag"
            )
        if rule.filters or rule.namespace:
            raise UnmappableError("it is limited to a namespace; Verdict has none")
        extra = rule.model_extra or {}
        if not rule.has_force:
            variations = rule.variations or extra.get("contextualVariations")
            if isinstance(variations, list):
                key = rule.key or self.flag.key
                raise UnmappableError(
                    f"experiment {key!r} ({len(variations)} variations): create it "
                    "as a Verdict experiment and an experiment rule; until then the "
                    "units it would assign go on to the next rule"
                )
            self.flag.note(
                environment, f"{label} left out: it serves no value (GrowthBook skips it)"
            )
            return None
        check_value(rule.force, self.flag.value_type)
        ignored = sorted(set(extra) - _INERT)
        if ignored:
            self.flag.note(environment, f"{label}: {', '.join(ignored)} ignored (not understood)")
        spec: dict[str, Any] = {"type": "force", "value": rule.force}
        if rule.condition:
            condition = self.groups.rewrite(rule.condition)
            problem = condition_problem(condition, self.groups.table)
            if problem is not None:
                raise UnmappableError(f"its condition: {problem}")
            spec["condition"] = condition
        fraction = self.fraction(rule)
        if fraction is None or fraction >= 1:
            return PlannedRule(spec, label)
        if fraction <= 0:
            self.flag.note(environment, f"{label} left out: it reaches nobody (0 %)")
            return None
        percentage = percentage_of(fraction)
        spec = {**spec, "type": "rollout", "percentage": percentage}
        if rule.seed and len(rule.seed) <= _MAX_RULE_ID:
            spec["seed"] = rule.seed
        rounded = (
            "" if math.isclose(percentage, fraction * 100) else f" (from {fraction * 100:g} %)"
        )
        self.flag.note(
            environment,
            f"{label}: {percentage:g} % rollout{rounded} reaches a different {percentage:g} % "
            "of units than in GrowthBook (Verdict hashes the targeting key its own way)",
        )
        if rule.fallback_attribute:
            self.flag.note(
                environment,
                f"{label}: fallbackAttribute {rule.fallback_attribute!r} not mapped: a unit "
                "without a targeting key gets an error result (the caller's default)",
            )
        return PlannedRule(spec, label)

    @staticmethod
    def fraction(rule: Rule) -> float | None:
        """The share of units a force rule reaches, when it is limited."""
        if rule.range is not None:
            start, end = rule.range
            if start > 0:
                raise UnmappableError(
                    f"it serves the slice [{start:g}, {end:g}) of the hash range; Verdict "
                    "rollouts start at 0"
                )
            fraction: float | None = end
        else:
            fraction = rule.coverage
        if fraction is not None and fraction < 1 and rule.hash_attribute not in _ID_ATTRIBUTES:
            raise UnmappableError(
                f"its rollout hashes attribute {rule.hash_attribute!r}; Verdict's rules hash "
                "the targeting key (GrowthBook's id)"
            )
        return fraction


def _gate_list(gates: list[dict[str, Any]]) -> str:
    return ", ".join(f"{gate['flag']}={_json(gate['value'])}" for gate in gates) or "none"


def _plan_feature(feature: GrowthBookFeature, groups: GroupSegments, plan: ImportPlan) -> None:
    if not is_key(feature.key):
        plan.skipped.append(
            SkippedFlag(
                feature.key,
                "not a valid Verdict key (a letter, then letters, digits, _ . -; at most "
                "100 characters), and SDK calls name flags by key",
            )
        )
        return
    if feature.archived:
        plan.skipped.append(SkippedFlag(feature.key, "archived in GrowthBook"))
        return
    try:
        value_type = feature.value_type or _inferred_type(feature)
        check_value(feature.default, value_type)
    except UnmappableError as exc:
        plan.skipped.append(SkippedFlag(feature.key, f"no Verdict flag type fits: {exc}"))
        return
    flag = PlannedFlag(
        key=feature.key,
        name=feature.key,
        value_type=value_type,
        default=feature.default,
        description=feature.description,
    )
    tags_of(flag, feature.tags)
    mapper = _Mapper(feature, flag, groups)
    gates_by_environment: dict[str | None, list[dict[str, Any]]] = {}
    for environment, definition in feature.definitions.items():
        if definition is None:
            flag.states[environment] = PlannedState(enabled=False)
            if environment in feature.dropped_rules:
                flag.note(
                    environment,
                    "off in GrowthBook: imported off and without its rules (the export "
                    "compiles rules only for environments that are on)",
                )
            continue
        gates_by_environment[environment] = mapper.state(environment, definition)
    distinct = {
        orjson.dumps(gates, option=orjson.OPT_SORT_KEYS) for gates in gates_by_environment.values()
    }
    if len(distinct) == 1:
        flag.prerequisites = next(iter(gates_by_environment.values()))
    elif distinct:
        listed = "; ".join(
            f"{environment}: {_gate_list(gates)}"
            for environment, gates in gates_by_environment.items()
        )
        flag.note(
            None,
            f"prerequisites not mapped: they differ between environments ({listed}), and "
            "Verdict's apply to every environment",
        )
    plan.flags.append(flag)


def plan_growthbook(document: Any, path: str) -> ImportPlan:
    """The import plan of a GrowthBook SDK payload or REST export."""
    source = read_growthbook(document, path)
    uses: set[tuple[str, str]] = set()
    for feature in source.features:
        for definition in feature.definitions.values():
            for rule in definition.rules if definition else []:
                uses.update(group_uses(rule.condition))
    for group in source.saved_groups.values():
        uses.update(group_uses(group.condition))
    groups = GroupSegments(source.saved_groups, uses)
    plan = ImportPlan(
        source="growthbook",
        format=source.format,
        environments=source.environments,
        notes=list(source.notes),
    )
    for feature in source.features:
        _plan_feature(feature, groups, plan)
    plan.flags = order_by_prerequisites(plan.flags)
    plan.segments = groups.segments
    return plan
