"""The Unleash documents an import reads, and their common form.

Three kinds of file are accepted:

- the **export** of Unleash 5 and later (``POST /api/admin/features-batch/export``, or
  *Export* in the UI): one environment, ``features``, ``featureStrategies`` (without an
  environment), ``featureEnvironments``, ``segments`` (names only: the export carries
  no segment constraints), ``featureTags``, ``dependencies``;
- the **state export** of Unleash 4 (``GET /api/admin/state/export``, ``"version"`` 2
  to 4): every environment, ``featureStrategies`` each with its ``environment``,
  ``featureEnvironments``, ``segments`` with their constraints and
  ``featureStrategySegments``; in versions below 4 variants sit on the features;
- the **client features** an SDK fetches (``GET /api/client/features``): one
  environment, each feature with ``enabled``, its ``strategies`` and ``variants``, and
  ``segments`` with constraints.

All three become :class:`UnleashSource`: per feature, per environment, whether it is
enabled, its strategies in evaluation order (disabled strategies left out, as Unleash
leaves them out of what SDKs receive) and its variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from verdict.server.flags.imports.plan import MAX_FLAGS, MAX_SEGMENTS
from verdict.server.flags.imports.reading import SourceError, validated

__all__ = [
    "Constraint",
    "Dependency",
    "UnleashEnvironment",
    "UnleashFeature",
    "UnleashSegment",
    "UnleashSource",
    "UnleashStrategy",
    "Variant",
    "read_unleash",
]

_GLOBAL_ENVIRONMENT = ":global:"  # Unleash 3's one environment, "default" since 4


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Constraint(_Open):
    context_name: str = Field(alias="contextName")
    operator: str
    values: list[Any] | None = None
    value: Any = None
    inverted: bool = False
    case_insensitive: bool = Field(False, alias="caseInsensitive")


class Payload(_Open):
    type: str
    value: Any


class Override(_Open):
    context_name: str = Field(alias="contextName")
    values: list[Any] = Field(default_factory=list)


class Variant(_Open):
    name: str
    weight: float = 0
    stickiness: str | None = None
    payload: Payload | None = None
    overrides: list[Override] = Field(default_factory=list)


class _Strategy(_Open):
    id: str | None = None
    name: str | None = None
    strategy_name: str | None = Field(None, alias="strategyName")
    feature_name: str | None = Field(None, alias="featureName")
    environment: str | None = None
    title: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    constraints: list[Constraint] = Field(default_factory=list)
    segments: list[int] = Field(default_factory=list)
    variants: list[Variant] = Field(default_factory=list)
    disabled: bool | None = False
    sort_order: float | None = Field(None, alias="sortOrder")


class Dependency(_Open):
    feature: str
    enabled: bool = True
    variants: list[str] = Field(default_factory=list)


class _Tag(_Open):
    type: str
    value: str


class _Feature(_Open):
    name: str
    description: str | None = None
    type: str | None = None
    project: str | None = None
    archived: bool = False
    enabled: bool | None = None
    impression_data: bool = Field(False, alias="impressionData")
    strategies: list[_Strategy] | None = None
    variants: list[Variant] | None = None
    dependencies: list[Dependency] | None = None
    tags: list[_Tag] | None = None


class _FeatureEnvironment(_Open):
    feature_name: str = Field(alias="featureName")
    environment: str
    enabled: bool = False
    variants: list[Variant] | None = None


class _Segment(_Open):
    id: int
    name: str | None = None
    description: str | None = None
    constraints: list[Constraint] | None = None


class _StrategySegment(_Open):
    feature_strategy_id: str = Field(alias="featureStrategyId")
    segment_id: int = Field(alias="segmentId")


class _FeatureTag(_Open):
    feature_name: str = Field(alias="featureName")
    tag_type: str = Field(alias="tagType")
    tag_value: str = Field(alias="tagValue")


class _Dependencies(_Open):
    feature: str
    dependencies: list[Dependency] = Field(default_factory=list)


class _ClientFeatures(_Open):
    features: list[_Feature]
    segments: list[_Segment] = Field(default_factory=list)


class _StateExport(_Open):
    version: int
    features: list[_Feature] = Field(default_factory=list)
    feature_strategies: list[_Strategy] = Field(default_factory=list, alias="featureStrategies")
    feature_environments: list[_FeatureEnvironment] = Field(
        default_factory=list, alias="featureEnvironments"
    )
    environments: list[dict[str, Any]] = Field(default_factory=list)
    segments: list[_Segment] = Field(default_factory=list)
    feature_strategy_segments: list[_StrategySegment] = Field(
        default_factory=list, alias="featureStrategySegments"
    )
    feature_tags: list[_FeatureTag] = Field(default_factory=list, alias="featureTags")


class _Export(_Open):
    features: list[_Feature]
    feature_strategies: list[_Strategy] = Field(default_factory=list, alias="featureStrategies")
    feature_environments: list[_FeatureEnvironment] = Field(
        default_factory=list, alias="featureEnvironments"
    )
    segments: list[_Segment] = Field(default_factory=list)
    feature_tags: list[_FeatureTag] = Field(default_factory=list, alias="featureTags")
    dependencies: list[_Dependencies] = Field(default_factory=list)


@dataclass
class UnleashStrategy:
    kind: str
    parameters: dict[str, Any]
    constraints: list[Constraint]
    segments: list[int]
    variants: list[Variant]
    title: str | None = None


@dataclass
class UnleashEnvironment:
    enabled: bool
    strategies: list[UnleashStrategy] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)


@dataclass
class UnleashFeature:
    name: str
    description: str | None = None
    archived: bool = False
    impression_data: bool = False
    tags: list[str] = field(default_factory=list)
    environments: dict[str | None, UnleashEnvironment] = field(default_factory=dict)
    dependencies: list[Dependency] = field(default_factory=list)


@dataclass
class UnleashSegment:
    id: int
    name: str | None
    constraints: list[Constraint] | None


@dataclass
class UnleashSource:
    format: str
    environments: list[str | None]
    features: list[UnleashFeature]
    segments: dict[int, UnleashSegment]


def _strategy(raw: _Strategy, segments: list[int] | None = None) -> UnleashStrategy:
    return UnleashStrategy(
        kind=raw.name or raw.strategy_name or "",
        parameters=raw.parameters,
        constraints=raw.constraints,
        segments=list(raw.segments) + list(segments or []),
        variants=raw.variants,
        title=raw.title,
    )


def _ordered(strategies: list[_Strategy]) -> list[_Strategy]:
    live = [strategy for strategy in strategies if not strategy.disabled]
    # Unleash sends strategies by sort order; a stable sort keeps the file's order
    # among equal ones.
    return sorted(live, key=lambda strategy: strategy.sort_order or 0)


def _segments(raw: list[_Segment], path: str) -> dict[int, UnleashSegment]:
    if len(raw) > MAX_SEGMENTS:
        raise SourceError(f"{path}: segments: {len(raw)}; at most {MAX_SEGMENTS} per import")
    return {
        segment.id: UnleashSegment(segment.id, segment.name, segment.constraints) for segment in raw
    }


def _tags(raw: list[_FeatureTag]) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for tag in raw:
        tags.setdefault(tag.feature_name, []).append(f"{tag.tag_type}:{tag.tag_value}")
    return tags


def _feature(raw: _Feature, tags: list[str]) -> UnleashFeature:
    return UnleashFeature(
        name=raw.name,
        description=raw.description or None,
        archived=raw.archived,
        impression_data=raw.impression_data,
        tags=tags or [f"{tag.type}:{tag.value}" for tag in raw.tags or []],
        dependencies=list(raw.dependencies or []),
    )


def _client(document: dict[str, Any], path: str) -> UnleashSource:
    data = validated(_ClientFeatures, document, path)
    features = []
    for raw in data.features:
        feature = _feature(raw, [])
        feature.environments[None] = UnleashEnvironment(
            enabled=bool(raw.enabled),
            strategies=[_strategy(s) for s in _ordered(raw.strategies or [])],
            variants=list(raw.variants or []),
        )
        features.append(feature)
    return UnleashSource(
        "Unleash client features", [None], features, _segments(data.segments, path)
    )


def _state(document: dict[str, Any], path: str) -> UnleashSource:
    data = validated(_StateExport, document, path)
    rename = {_GLOBAL_ENVIRONMENT: "default"} if data.version == 2 else {}
    by_strategy: dict[str, list[int]] = {}
    for link in data.feature_strategy_segments:
        by_strategy.setdefault(link.feature_strategy_id, []).append(link.segment_id)
    tags = _tags(data.feature_tags)
    features = {raw.name: _feature(raw, tags.get(raw.name, [])) for raw in data.features}
    feature_variants = {raw.name: list(raw.variants or []) for raw in data.features}
    environments: list[str | None] = []
    for item in data.environments:
        name = item.get("name")
        if isinstance(name, str) and rename.get(name, name) not in environments:
            environments.append(rename.get(name, name))
    for settings in data.feature_environments:
        feature = features.get(settings.feature_name)
        if feature is None:
            continue
        name = rename.get(settings.environment, settings.environment)
        variants = settings.variants if data.version >= 4 else feature_variants[feature.name]
        feature.environments[name] = UnleashEnvironment(settings.enabled, [], list(variants or []))
        if name not in environments:
            environments.append(name)
    for raw in _ordered(data.feature_strategies):
        feature = features.get(raw.feature_name or "")
        name = rename.get(raw.environment or "", raw.environment)
        if feature is None or name not in feature.environments:
            continue  # a strategy of an environment the feature is not in: never evaluated
        extra = by_strategy.get(raw.id or "", [])
        feature.environments[name].strategies.append(_strategy(raw, extra))
    return UnleashSource(
        f"Unleash state export (version {data.version})",
        environments,
        list(features.values()),
        _segments(data.segments, path),
    )


def _export(document: dict[str, Any], path: str) -> UnleashSource:
    data = validated(_Export, document, path)
    names = {settings.environment for settings in data.feature_environments}
    if len(names) > 1:
        raise SourceError(
            f"{path}: featureEnvironments: {len(names)} environments ({', '.join(sorted(names))}); "
            "an Unleash export holds one"
        )
    environment: str | None = next(iter(names), None)
    tags = _tags(data.feature_tags)
    features = {raw.name: _feature(raw, tags.get(raw.name, [])) for raw in data.features}
    for settings in data.feature_environments:
        feature = features.get(settings.feature_name)
        if feature is not None:
            feature.environments[environment] = UnleashEnvironment(
                settings.enabled, [], list(settings.variants or [])
            )
    for raw in _ordered(data.feature_strategies):
        feature = features.get(raw.feature_name or "")
        if feature is None:
            continue
        state = feature.environments.setdefault(environment, UnleashEnvironment(False))
        state.strategies.append(_strategy(raw))
    for item in data.dependencies:
        if item.feature in features:
            features[item.feature].dependencies = list(item.dependencies)
    return UnleashSource(
        "Unleash export", [environment], list(features.values()), _segments(data.segments, path)
    )


def read_unleash(document: Any, path: str) -> UnleashSource:
    """The features of an Unleash export, state export or client features document."""
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        raise SourceError(f"{path}: features: expected a JSON object with a features array")
    features = document["features"]
    if len(features) > MAX_FLAGS:
        raise SourceError(
            f"{path}: features: {len(features)} features; at most {MAX_FLAGS} per import "
            "(export one project or tag at a time)"
        )
    inline = any(isinstance(item, dict) and "strategies" in item for item in features)
    if inline:
        return _client(document, path)
    if "version" in document:
        return _state(document, path)
    if "featureStrategies" in document:
        return _export(document, path)
    raise SourceError(
        f"{path}: expected an Unleash export (featureStrategies), a state export "
        "(version) or client features (features with strategies)"
    )
