"""Unleash feature toggles mapped to Verdict flags (docs/migrating.md has the tables).

A toggle without variants becomes a **boolean** flag, default ``false``; in each
environment it is on where Unleash's is enabled, and each strategy becomes a rule
serving ``true``, in Unleash's order (a toggle is on when any strategy is, and the
first Verdict rule that applies wins, which is the same thing). An enabled toggle
without strategies is on for everyone, as in Unleash. Strategies:

- ``default``: a ``force`` rule; its constraints and segments are the condition;
- ``flexibleRollout`` (stickiness ``default`` or ``userId``) and
  ``gradualRolloutUserId``: a ``rollout`` rule of the same percentage, seeded with the
  ``groupId`` (so strategies sharing a group nest, as in Unleash). Verdict hashes the
  targeting key with its own function: a 30 % rollout reaches a different 30 % of
  users. Pass Unleash's ``userId`` as the targeting key; 100 % becomes a ``force``
  rule, which needs none;
- ``userWithId``, ``remoteAddress`` (exact addresses; CIDR ranges are listed as not
  mapped), ``applicationHostname``: ``force`` rules on the ``userId``,
  ``remoteAddress`` and ``hostname`` attributes;
- any other strategy (custom ones, session or random stickiness) is not mapped.

A toggle **with variants** (on the toggle or on strategies) becomes a flag whose value
is the variant's payload, as OpenFeature's Unleash provider resolves it: a ``string``
flag for string (or CSV) payloads, ``number`` for number payloads, ``json`` for JSON
objects; when the variants have no payloads, or payloads of several kinds, the value
is the variant name. Its default (``""``, ``0``, ``{}``, or ``"disabled"`` for names)
stands for Unleash's *disabled* variant. Each strategy becomes a ``split`` rule over
the variants' weights (its rollout percentage as the split's coverage), preceded by
rules for the variants' overrides.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import orjson

from verdict.engine import FlagType
from verdict.server.flags.imports.plan import (
    ImportPlan,
    PlannedFlag,
    PlannedRule,
    PlannedSegment,
    PlannedState,
    SkippedFlag,
    UnmappableError,
    check_rule_count,
    condition_problem,
    is_key,
    order_by_prerequisites,
    segment_key,
    segment_table,
    tags_of,
)
from verdict.server.flags.imports.unleash_constraints import constraint_condition
from verdict.server.flags.imports.unleash_source import (
    Dependency,
    UnleashEnvironment,
    UnleashFeature,
    UnleashSource,
    UnleashStrategy,
    Variant,
    read_unleash,
)

__all__ = ["plan_unleash"]

_KEYED_STICKINESS = (None, "", "default", "userId")
_DISABLED = "disabled"
_PAYLOAD_TYPES = {"string": FlagType.STRING, "csv": FlagType.STRING, "number": FlagType.NUMBER}


@dataclass
class _Catalog:
    """A toggle's values: boolean, or one per variant (name, payload) in the file."""

    value_type: FlagType
    default: Any
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def key_of(self, variant: Variant) -> str:
        return self.keys[(variant.name, _payload_id(variant))]


def _payload_id(variant: Variant) -> str:
    payload = variant.payload
    return "" if payload is None else orjson.dumps([payload.type, payload.value]).decode()


def _all_variants(feature: UnleashFeature) -> list[Variant]:
    found: list[Variant] = []
    for environment in feature.environments.values():
        found.extend(environment.variants)
        for strategy in environment.strategies:
            found.extend(strategy.variants)
    return found


def _payload_value(variant: Variant, value_type: FlagType) -> Any:
    assert variant.payload is not None
    raw = variant.payload.value
    if value_type is FlagType.STRING:
        return raw if isinstance(raw, str) else None
    if value_type is FlagType.NUMBER:
        try:
            number = float(raw)
        except (TypeError, ValueError):
            return None
        return number if number == number and abs(number) != float("inf") else None
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _catalog(feature: UnleashFeature) -> _Catalog:
    variants = _all_variants(feature)
    if not variants:
        return _Catalog(FlagType.BOOLEAN, False)
    kinds = {variant.payload.type if variant.payload else None for variant in variants}
    value_type: FlagType | None = None
    if len(kinds) == 1 and None not in kinds:
        (kind,) = kinds
        value_type = _PAYLOAD_TYPES.get(kind or "", FlagType.JSON if kind == "json" else None)
    values: dict[tuple[str, str], Any] = {}
    if value_type is not None:
        for variant in variants:
            value = _payload_value(variant, value_type)
            if value is None:
                value_type = None
                break
            values[(variant.name, _payload_id(variant))] = value
    if value_type is None:
        catalog = _Catalog(FlagType.STRING, _DISABLED, description="the variant names")
        values = {(variant.name, _payload_id(variant)): variant.name for variant in variants}
    else:
        default = {FlagType.STRING: "", FlagType.NUMBER: 0}.get(value_type, {})
        catalog = _Catalog(value_type, default, description="the variants' payloads")
    for (name, payload), value in values.items():
        key, number = name, 2
        while key in catalog.values:  # one name, several payloads (per environment)
            key, number = f"{name}-{number}", number + 1
        catalog.keys[(name, payload)] = key
        catalog.values[key] = value
    return catalog


class _Segments:
    """The file's segments as Verdict segments, and those it only names."""

    def __init__(self, source: UnleashSource) -> None:
        self.planned: list[PlannedSegment] = []
        self.keys: dict[int, str] = {}
        self.problems: dict[int, str] = {}
        self.external: set[str] = set()
        taken: set[str] = set()
        conditions: dict[str, Any] = {}
        for segment in source.segments.values():
            name = segment.name or f"segment-{segment.id}"
            key = segment_key(name, taken)
            self.keys[segment.id] = key
            if segment.constraints is None:
                # The export of Unleash 5+ names segments without their constraints.
                self.external.add(key)
                conditions[key] = {}
                continue
            try:
                parts = [constraint_condition(c) for c in segment.constraints]
            except UnmappableError as exc:
                self.problems[segment.id] = f"segment {name!r}: {exc}"
                continue
            condition = _all_of(parts) or {}
            problem = condition_problem(condition, segment_table({}))
            if problem is not None:
                self.problems[segment.id] = f"segment {name!r}: {problem}"
                continue
            conditions[key] = condition
            description = f"Unleash segment {segment.id}" + (
                f": {segment.name}" if segment.name else ""
            )
            self.planned.append(PlannedSegment(key, name[:255], condition, description))
        self.table = segment_table(conditions)

    def reference(self, segment_id: int) -> tuple[str, bool]:
        """The key of a segment a strategy names, and whether Verdict must have it."""
        if segment_id in self.problems:
            raise UnmappableError(self.problems[segment_id])
        key = self.keys.get(segment_id)
        if key is None:
            raise UnmappableError(f"segment {segment_id} is not in the file")
        return key, key in self.external


def _all_of(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not parts:
        return None
    keys = [key for part in parts for key in part]
    if len(parts) == 1 or len(set(keys)) == len(keys):
        return {key: value for part in parts for key, value in part.items()}
    return {"$and": parts}


def _listed(raw: Any) -> list[str]:
    return [item.strip() for item in str(raw or "").split(",") if item.strip()]


def _percentage(raw: Any, name: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UnmappableError(f"{name} {raw!r} is not a number") from None
    if not 0 <= value <= 100:
        raise UnmappableError(f"{name} {raw!r} is not between 0 and 100")
    return round(value, 2)


class _Mapper:
    def __init__(
        self,
        feature: UnleashFeature,
        flag: PlannedFlag,
        catalog: _Catalog,
        segments: _Segments,
    ) -> None:
        self.feature = feature
        self.flag = flag
        self.catalog = catalog
        self.segments = segments

    def state(self, environment: str | None, settings: UnleashEnvironment) -> None:
        state = PlannedState(enabled=settings.enabled)
        if not settings.strategies:
            # Unleash: an enabled toggle without strategies is on for everyone.
            state.rules.extend(self.serve(environment, None, None, settings, "everyone", set()))
        for index, strategy in enumerate(settings.strategies):
            label = f"strategy {index + 1} ({strategy.title or strategy.kind})"
            try:
                state.rules.extend(self.strategy(environment, strategy, settings, label))
            except UnmappableError as exc:
                self.flag.note(environment, f"{label} not mapped: {exc}")
        check_rule_count(self.flag, environment, state)
        self.flag.states[environment] = state

    def strategy(
        self,
        environment: str | None,
        strategy: UnleashStrategy,
        settings: UnleashEnvironment,
        label: str,
    ) -> list[PlannedRule]:
        parts = [constraint_condition(constraint) for constraint in strategy.constraints]
        needs: set[str] = set()
        for segment_id in strategy.segments:
            key, external = self.segments.reference(segment_id)
            parts.append({"$inSegment": key})
            if external:
                needs.add(key)
        percentage: float | None = None
        seed: str | None = None
        params = strategy.parameters
        if strategy.kind in ("flexibleRollout", "gradualRolloutUserId"):
            flexible = strategy.kind == "flexibleRollout"
            stickiness = params.get("stickiness") if flexible else "userId"
            if stickiness not in _KEYED_STICKINESS:
                raise UnmappableError(
                    f"its rollout sticks to {stickiness!r}; Verdict's rules hash the "
                    "targeting key (Unleash's userId)"
                )
            percentage = _percentage(params.get("rollout" if flexible else "percentage"), "rollout")
            seed = str(params.get("groupId") or self.feature.name)[:100]
            if percentage <= 0:
                self.flag.note(environment, f"{label} left out: it reaches nobody (0 %)")
                return []
            if percentage >= 100:
                percentage = None
            else:
                self.flag.note(
                    environment,
                    f"{label}: {percentage:g} % rollout reaches a different {percentage:g} % of "
                    "users than in Unleash (Verdict hashes the targeting key its own way)",
                )
        elif strategy.kind == "userWithId":
            parts.append({"userId": {"$in": _listed(params.get("userIds"))}})
        elif strategy.kind == "remoteAddress":
            parts.append({"remoteAddress": {"$in": self.addresses(environment, label, params)}})
        elif strategy.kind == "applicationHostname":
            names = [name.lower() for name in _listed(params.get("hostNames"))]
            parts.append({"hostname": {"$ini": names}})
            self.flag.note(
                environment,
                f"{label}: pass the server's host name as the attribute hostname "
                "(Unleash SDKs read it from the machine)",
            )
        elif strategy.kind != "default":
            raise UnmappableError(f"strategy {strategy.kind!r} has no Verdict equivalent")
        condition = _all_of(parts)
        if condition is not None:
            problem = condition_problem(condition, self.segments.table)
            if problem is not None:
                raise UnmappableError(f"its condition: {problem}")
        return self.serve(
            environment, condition, (percentage, seed), settings, label, needs, strategy
        )

    def addresses(self, environment: str | None, label: str, params: dict[str, Any]) -> list[str]:
        exact: list[str] = []
        ranges: list[str] = []
        for item in _listed(params.get("IPs")):
            try:
                exact.append(str(ipaddress.ip_address(item)))
            except ValueError:
                ranges.append(item)
        if not exact:
            raise UnmappableError(
                f"address ranges {', '.join(ranges) or '(none)'}: Verdict conditions test no ranges"
            )
        if ranges:
            self.flag.note(
                environment,
                f"{label}: address ranges {', '.join(ranges)} not mapped (only the exact "
                "addresses are)",
            )
        return exact

    def serve(
        self,
        environment: str | None,
        condition: dict[str, Any] | None,
        rollout: tuple[float | None, str | None] | None,
        settings: UnleashEnvironment,
        label: str,
        needs: set[str],
        strategy: UnleashStrategy | None = None,
    ) -> list[PlannedRule]:
        """The rules serving what the toggle serves once this strategy matched."""
        percentage, seed = rollout or (None, None)
        base: dict[str, Any] = {}
        if condition is not None:
            base["condition"] = condition
        if percentage is not None and seed is not None:
            base["seed"] = seed

        def rule(spec: dict[str, Any], what: str = label) -> PlannedRule:
            return PlannedRule({**spec, **base}, what, frozenset(needs))

        def limited(spec: dict[str, Any]) -> dict[str, Any]:
            if percentage is None:
                return {"type": "force", **spec}
            return {"type": "rollout", "percentage": percentage, **spec}

        if self.catalog.value_type is FlagType.BOOLEAN:
            return [rule(limited({"value": True}))]
        variants = strategy.variants if strategy and strategy.variants else settings.variants
        if not variants:
            return [rule(limited({"value": self.catalog.default}))]  # Unleash: "disabled"
        sticky = {variant.stickiness for variant in variants} - set(_KEYED_STICKINESS)
        if sticky:
            raise UnmappableError(
                f"its variants stick to {', '.join(sorted(str(s) for s in sticky))}; "
                "Verdict splits on the targeting key"
            )
        total = sum(max(variant.weight, 0) for variant in variants)
        if total <= 0:
            raise UnmappableError("its variants' weights add up to 0")
        rules: list[PlannedRule] = []
        if not (strategy and strategy.variants):
            rules.extend(self.overrides(variants, base, rule, limited))
        weights = [
            {"variant": self.catalog.key_of(variant), "weight": max(variant.weight, 0) / total}
            for variant in variants
        ]
        split: dict[str, Any] = {"type": "split", "weights": weights}
        if percentage is not None:
            split["coverage"] = percentage / 100
        rules.append(rule(split))
        return rules

    def overrides(
        self, variants: list[Variant], base: dict[str, Any], rule: Any, limited: Any
    ) -> list[PlannedRule]:
        rules: list[PlannedRule] = []
        for variant in variants:
            for override in variant.overrides:
                field = override.context_name
                if not field or field.startswith("$") or "." in field:
                    raise UnmappableError(f"override on {field!r}: not an attribute name")
                test = {field: {"$in": [str(value) for value in override.values]}}
                condition = base.get("condition")
                joined = test if condition is None else {"$and": [condition, test]}
                spec = limited({"variant": self.catalog.key_of(variant)})
                planned = rule(spec, f"override of variant {variant.name!r}")
                planned.rule["condition"] = joined
                rules.append(planned)
        return rules


def _prerequisite(
    dependency: Dependency, catalogs: dict[str, _Catalog], skipped: set[str]
) -> dict[str, Any]:
    parent = dependency.feature
    if not is_key(parent):
        raise UnmappableError(f"parent {parent!r} is not a Verdict flag key")
    if parent in skipped:
        raise UnmappableError(f"parent {parent!r} is not imported")
    catalog = catalogs.get(parent)
    if dependency.variants:
        if (
            catalog is None
            or catalog.value_type is FlagType.BOOLEAN
            or len(dependency.variants) != 1
        ):
            raise UnmappableError(
                f"it requires {parent!r} to be one of variants {dependency.variants}: a "
                "Verdict prerequisite is one exact value"
            )
        (name,) = dependency.variants
        keys = [key for (variant, _), key in catalog.keys.items() if variant == name]
        if len(keys) != 1:
            raise UnmappableError(f"{parent!r} has {len(keys)} variants named {name!r}")
        return {"flag": parent, "value": catalog.values[keys[0]]}
    if catalog is not None and catalog.value_type is not FlagType.BOOLEAN:
        if dependency.enabled:
            raise UnmappableError(
                f"it requires {parent!r} (a toggle with variants) to be enabled: not one value"
            )
        return {"flag": parent, "value": catalog.default}
    return {"flag": parent, "value": dependency.enabled}


def plan_unleash(document: Any, path: str) -> ImportPlan:
    """The import plan of an Unleash export, state export or client features."""
    source = read_unleash(document, path)
    plan = ImportPlan(source="unleash", format=source.format, environments=source.environments)
    segments = _Segments(source)
    catalogs: dict[str, _Catalog] = {}
    skipped: set[str] = set()
    live: list[UnleashFeature] = []
    for feature in source.features:
        if not is_key(feature.name):
            reason = (
                "not a valid Verdict key (a letter, then letters, digits, _ . -; at most "
                "100 characters), and SDK calls name flags by key"
            )
        elif feature.archived:
            reason = "archived in Unleash"
        else:
            catalogs[feature.name] = _catalog(feature)
            live.append(feature)
            continue
        plan.skipped.append(SkippedFlag(feature.name, reason))
        skipped.add(feature.name)
    for feature in live:
        catalog = catalogs[feature.name]
        flag = PlannedFlag(
            key=feature.name,
            name=feature.name,
            value_type=catalog.value_type,
            default=catalog.default,
            description=feature.description,
            variants=[{"key": key, "value": value} for key, value in catalog.values.items()],
        )
        tags_of(flag, feature.tags)
        if catalog.description:
            flag.note(
                None,
                f"variants: the flag's value is {catalog.description}; its default "
                f"{orjson.dumps(catalog.default).decode()} stands for Unleash's disabled variant",
            )
        if feature.impression_data:
            flag.note(None, "impressionData not mapped: Verdict emits no impression events")
        mapper = _Mapper(feature, flag, catalog, segments)
        for environment, settings in feature.environments.items():
            mapper.state(environment, settings)
        for dependency in feature.dependencies:
            try:
                flag.prerequisites.append(_prerequisite(dependency, catalogs, skipped))
            except UnmappableError as exc:
                flag.note(None, f"dependency on {dependency.feature!r} not mapped: {exc}")
        plan.flags.append(flag)
    plan.flags = order_by_prerequisites(plan.flags)
    plan.segments = segments.planned
    return plan
