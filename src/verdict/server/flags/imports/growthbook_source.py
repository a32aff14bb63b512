"""The GrowthBook documents an import reads, and their common form.

Two kinds of file are accepted:

- an **SDK payload**, what an SDK connection's endpoint serves for one environment:
  ``{"features": {key: {"defaultValue", "rules": [...]}}, "savedGroups"?: {...}}``;
- a **REST export**, the ``GET /api/v1/features`` (or ``/v2/features``) answer:
  ``{"features": [{"id", "valueType", "defaultValue", "tags", "archived",
  "environments": {env: {"enabled", "definition"}}}]}``, optionally with the
  ``savedGroups`` of ``GET /api/v1/saved-groups`` added at the top level.

Each environment's ``definition`` in a REST export is the same feature definition an
SDK payload carries (GrowthBook compiles schedules, saved-group targeting, rule
prerequisites and sparse JSON values into it), so both kinds are mapped from
definitions: what an SDK evaluates is what is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from verdict.engine import FlagType
from verdict.server.flags.imports.plan import MAX_FLAGS, MAX_SEGMENTS
from verdict.server.flags.imports.reading import SourceError, validated

__all__ = [
    "GrowthBookFeature",
    "GrowthBookSource",
    "ParentCondition",
    "Rule",
    "SavedGroup",
    "read_growthbook",
]


_LEADING_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class _Open(BaseModel):
    # Unknown members are kept (model_extra): the mapper lists a rule's that matter.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ParentCondition(_Open):
    id: str
    condition: dict[str, Any]
    gate: bool = False


class Rule(_Open):
    id: str | None = None
    condition: dict[str, Any] | None = None
    parent_conditions: list[ParentCondition] | None = Field(None, alias="parentConditions")
    force: Any = None
    coverage: float | None = None
    range: tuple[float, float] | None = None
    hash_attribute: str | None = Field(None, alias="hashAttribute")
    fallback_attribute: str | None = Field(None, alias="fallbackAttribute")
    seed: str | None = None
    variations: list[Any] | None = None
    key: str | None = None
    filters: list[Any] | None = None
    namespace: list[Any] | None = None

    @property
    def has_force(self) -> bool:
        return "force" in self.model_fields_set and self.force is not None


class Definition(_Open):
    default_value: Any = Field(None, alias="defaultValue")
    rules: list[Rule] = Field(default_factory=list)


class _SdkPayload(_Open):
    features: dict[str, Definition]
    saved_groups: dict[str, Any] | None = Field(None, alias="savedGroups")
    experiments: list[Any] | None = None


class _RestEnvironment(_Open):
    enabled: bool = False
    definition: str | None = None
    rules: list[Any] | None = None


class _RestRule(_Open):
    environments: list[str] | None = None
    all_environments: bool = Field(False, alias="allEnvironments")


class _RestFeature(_Open):
    id: str
    archived: bool = False
    description: str | None = None
    value_type: Literal["boolean", "string", "number", "json"] = Field(alias="valueType")
    default_value: str = Field(alias="defaultValue")
    tags: list[str] = Field(default_factory=list)
    environments: dict[str, _RestEnvironment] = Field(default_factory=dict)
    rules: list[_RestRule] | None = None


class _RestSavedGroup(_Open):
    id: str
    name: str | None = None
    type: str | None = None
    attribute_key: str | None = Field(None, alias="attributeKey")
    values: list[Any] | None = None
    condition: str | None = None


class _RestExport(_Open):
    features: list[_RestFeature]
    saved_groups: list[_RestSavedGroup] | dict[str, Any] | None = Field(None, alias="savedGroups")


@dataclass
class SavedGroup:
    """A saved group: a list of values of one attribute, or a condition."""

    id: str
    kind: Literal["list", "condition"]
    name: str | None = None
    attribute_key: str | None = None
    values: list[Any] = field(default_factory=list)
    condition: dict[str, Any] | None = None


@dataclass
class GrowthBookFeature:
    """One feature: its type when the file says it, and a definition per environment
    (``None`` as key: the one environment of an SDK payload; ``None`` as value: the
    feature is off there)."""

    key: str
    value_type: FlagType | None
    default: Any
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    archived: bool = False
    definitions: dict[str | None, Definition | None] = field(default_factory=dict)
    # Environments that are off and had rules the export does not compile.
    dropped_rules: set[str] = field(default_factory=set)


@dataclass
class GrowthBookSource:
    format: str
    environments: list[str | None]
    features: list[GrowthBookFeature]
    saved_groups: dict[str, SavedGroup]
    notes: list[str] = field(default_factory=list)


def _saved_groups(
    raw: list[_RestSavedGroup] | dict[str, Any] | None, path: str
) -> dict[str, SavedGroup]:
    groups: dict[str, SavedGroup] = {}
    if raw is None:
        return groups
    if len(raw) > MAX_SEGMENTS:
        raise SourceError(
            f"{path}: savedGroups: {len(raw)} groups; at most {MAX_SEGMENTS} per import"
        )
    if isinstance(raw, dict):
        for group_id, entry in raw.items():
            if isinstance(entry, list):
                groups[group_id] = SavedGroup(group_id, "list", values=entry)
            elif isinstance(entry, dict) and entry.get("type") == "condition":
                condition = entry.get("condition")
                if not isinstance(condition, dict):
                    raise SourceError(f"{path}: savedGroups.{group_id}.condition: not an object")
                groups[group_id] = SavedGroup(group_id, "condition", condition=condition)
            elif isinstance(entry, dict) and entry.get("type") == "list":
                values = entry.get("values")
                if not isinstance(values, list):
                    raise SourceError(f"{path}: savedGroups.{group_id}.values: not an array")
                key = entry.get("attributeKey")
                attribute = key if isinstance(key, str) else None
                groups[group_id] = SavedGroup(group_id, "list", None, attribute, values)
            else:
                raise SourceError(
                    f"{path}: savedGroups.{group_id}: expected an array of values or "
                    'an object with "type" "list" or "condition"'
                )
        return groups
    for index, group in enumerate(raw):
        if group.type == "condition":
            try:
                condition = orjson.loads(group.condition or "{}")
            except orjson.JSONDecodeError as exc:
                raise SourceError(
                    f"{path}: savedGroups.{index}.condition: is not valid JSON: {exc}"
                ) from exc
            if not isinstance(condition, dict):
                raise SourceError(f"{path}: savedGroups.{index}.condition: not an object")
            groups[group.id] = SavedGroup(group.id, "condition", group.name, condition=condition)
        else:
            groups[group.id] = SavedGroup(
                group.id, "list", group.name, group.attribute_key, list(group.values or [])
            )
    return groups


def _too_many(count: int, path: str) -> None:
    if count > MAX_FLAGS:
        raise SourceError(
            f"{path}: features: {count} features; at most {MAX_FLAGS} per import "
            "(export one project or tag at a time)"
        )


def _from_payload(document: dict[str, Any], path: str) -> GrowthBookSource:
    features = document.get("features")
    if isinstance(features, dict):
        _too_many(len(features), path)
    payload = validated(_SdkPayload, document, path)
    notes: list[str] = []
    if payload.experiments:
        notes.append(
            f"{len(payload.experiments)} auto experiments (visual and URL-redirect tests) "
            "not imported: Verdict flags do not change pages"
        )
    return GrowthBookSource(
        format="GrowthBook SDK payload",
        environments=[None],
        features=[
            GrowthBookFeature(key, None, definition.default_value, definitions={None: definition})
            for key, definition in payload.features.items()
        ],
        saved_groups=_saved_groups(payload.saved_groups, path),
        notes=notes,
    )


def _rest_default(feature: _RestFeature, index: int, path: str) -> Any:
    """The default as GrowthBook reads its stored text (``getJSONValue``): any boolean
    text but ``false`` is on, a number is its leading decimal (0 if none)."""
    raw = feature.default_value
    if feature.value_type == "boolean":
        return raw != "false"
    if feature.value_type == "number":
        match = _LEADING_NUMBER.match(raw)
        number = float(match.group(0)) if match else 0.0
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if feature.value_type == "json":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SourceError(
                f"{path}: features.{index}.defaultValue: is not valid JSON: {exc}"
            ) from exc
    return raw


def _rest_feature(feature: _RestFeature, index: int, path: str) -> GrowthBookFeature:
    result = GrowthBookFeature(
        key=feature.id,
        value_type=FlagType(feature.value_type),
        default=_rest_default(feature, index, path),
        description=feature.description or None,
        tags=list(feature.tags),
        archived=feature.archived,
    )
    for name, settings in feature.environments.items():
        definition: Definition | None = None
        if settings.enabled and settings.definition:
            where = f"features.{index}.environments.{name}.definition"
            try:
                raw = orjson.loads(settings.definition)
            except orjson.JSONDecodeError as exc:
                raise SourceError(f"{path}: {where}: is not valid JSON: {exc}") from exc
            if raw is not None:
                definition = validated(Definition, raw, path, prefix=where + ".")
        result.definitions[name] = definition
        if definition is None and _has_rules(feature, name, settings):
            result.dropped_rules.add(name)
    return result


def _has_rules(feature: _RestFeature, environment: str, settings: _RestEnvironment) -> bool:
    if settings.rules:
        return True
    return any(
        rule.all_environments or environment in (rule.environments or [])
        for rule in feature.rules or []
    )


def _from_rest(document: dict[str, Any], path: str) -> GrowthBookSource:
    if isinstance(document.get("features"), list):
        _too_many(len(document["features"]), path)
    export = validated(_RestExport, document, path)
    features = [
        _rest_feature(feature, index, path) for index, feature in enumerate(export.features)
    ]
    environments: list[str | None] = []
    for feature in features:
        for name in feature.definitions:
            if name not in environments:
                environments.append(name)
    return GrowthBookSource(
        format="GrowthBook REST export",
        environments=environments,
        features=features,
        saved_groups=_saved_groups(export.saved_groups, path),
    )


def read_growthbook(document: Any, path: str) -> GrowthBookSource:
    """The features of a GrowthBook SDK payload or REST export (see the module doc)."""
    if not isinstance(document, dict):
        raise SourceError(f"{path}: expected a JSON object with a features member")
    if "encryptedFeatures" in document:
        raise SourceError(
            f"{path}: encryptedFeatures: the payload is encrypted; export it from an SDK "
            "connection without encryption (or use the REST API export)"
        )
    if "feature" in document and "features" not in document:
        document = {**document, "features": [document["feature"]]}
        del document["feature"]
    features = document.get("features")
    if isinstance(features, dict):
        return _from_payload(document, path)
    if isinstance(features, list):
        return _from_rest(document, path)
    raise SourceError(
        f"{path}: features: expected an object of feature definitions (an SDK payload) "
        "or an array of features (a REST export)"
    )
