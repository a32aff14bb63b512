"""The engine configuration document of one environment, built from the database.

``environment_config(session, environment_key)`` is what SDKs of that environment will
be served, and what every flag and segment write is validated against (compiled with
``compile_config(document, strict=True)``). Its shape is docs/targeting.md §4:

- ``segments``: every segment's condition by key; an inactive segment matches nobody
  (``{"$nor": []}``), so rules and experiments naming it stay valid but reach no one.
- ``flags``: every flag that is not archived, with its definition (type, default,
  variants, prerequisites sorted by key) and its state here: ``enabled`` (false when
  the flag was never configured here), ordered ``rules``, the flag-wide ``rollout``
  gate, and the overrides that have not expired.
- ``experiments``: those that are running or paused, in every environment
  (``environment_id`` null) or in this one, plus any other experiment of those
  environments that a flag rule names (with its real status, so it decides
  ``not_running``). Coverage, weights, seed, targeting, segments, forced variants and
  the layer range are mapped to the engine's fields; included segments become
  ``segment`` (or an ``$or`` of ``$inSegment`` for several) and excluded ones a
  ``$nor`` in the condition. Each variant also carries its ``payload``
  (configuration, response template, system prompt, config overrides) and, in a
  split-URL test, its ``url``: the engine ignores both, SDKs hand them back.
- ``layers``: one per layer name an experiment uses, seeded with its name (the schema
  stores no layer seed or holdout yet).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql.elements import ColumnElement

from verdict.server.db import utcnow
from verdict.server.environments.models import Environment
from verdict.server.errors import NotFoundError
from verdict.server.experiments.models import (
    Experiment,
    ExperimentSegment,
    ExperimentStatus,
    SegmentMatch,
    Variant,
)
from verdict.server.flags.models import (
    FeatureFlag,
    FeatureFlagEnvironment,
    FeatureFlagOverride,
    FeatureFlagPrerequisite,
)
from verdict.server.segments.models import Segment

__all__ = [
    "MATCHES_NOBODY",
    "build_config",
    "environment_config",
    "experiment_spec",
    "variant_payload",
]

MATCHES_NOBODY: dict[str, Any] = {"$nor": []}
_LIVE = (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED)


def environment_config(session: Session, environment_key: str) -> dict[str, Any]:
    """The configuration document of the environment named ``environment_key``."""
    environment = session.scalars(
        select(Environment).where(Environment.key == environment_key)
    ).first()
    if environment is None:
        raise NotFoundError(f"no environment {environment_key!r}")
    return build_config(session, environment.id)


def build_config(
    session: Session, environment_id: uuid.UUID | None, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The document for one environment; ``None`` gives the flag definitions alone
    (every flag disabled, no rules, overrides or experiments)."""
    segments = _segments(session)
    flags, experiment_keys = _flags(session, environment_id, now or utcnow())
    layers: dict[str, Any] = {}
    experiments: dict[str, Any] = {}
    if environment_id is not None:
        for experiment in _experiments(session, environment_id, experiment_keys):
            experiments[experiment.key] = experiment_spec(experiment)
            if experiment.layer:
                layers[experiment.layer] = {"seed": experiment.layer}
    return {"segments": segments, "layers": layers, "experiments": experiments, "flags": flags}


def _segments(session: Session) -> dict[str, Any]:
    rows = session.execute(
        select(Segment.key, Segment.conditions, Segment.is_active).order_by(Segment.key)
    )
    return {key: conditions if active else MATCHES_NOBODY for key, conditions, active in rows}


def _flags(
    session: Session, environment_id: uuid.UUID | None, now: dt.datetime
) -> tuple[dict[str, Any], set[str]]:
    """Flag documents by key, and the experiment keys their rules name."""
    flags: dict[uuid.UUID, tuple[str, dict[str, Any]]] = {}
    for flag_id, key, value_type, default, variants in session.execute(
        select(
            FeatureFlag.id,
            FeatureFlag.key,
            FeatureFlag.value_type,
            FeatureFlag.default_value,
            FeatureFlag.variants,
        )
        .where(FeatureFlag.archived.is_(False))
        .order_by(FeatureFlag.key)
    ):
        spec: dict[str, Any] = {
            "type": value_type.value,
            "default": default,
            "enabled": False,
            "variants": [{"key": v.get("key"), "value": v.get("value")} for v in variants],
            "rules": [],
            "prerequisites": [],
        }
        flags[flag_id] = (key, spec)
    prerequisite = aliased(FeatureFlag)
    for flag_id, prerequisite_key, value in session.execute(
        select(
            FeatureFlagPrerequisite.flag_id,
            prerequisite.key,
            FeatureFlagPrerequisite.required_value,
        )
        .join(prerequisite, prerequisite.id == FeatureFlagPrerequisite.prerequisite_flag_id)
        .order_by(prerequisite.key)
    ):
        if flag_id in flags:
            flags[flag_id][1]["prerequisites"].append({"flag": prerequisite_key, "value": value})
    experiment_keys: set[str] = set()
    if environment_id is not None:
        for flag_id, enabled, rules, rollout in session.execute(
            select(
                FeatureFlagEnvironment.flag_id,
                FeatureFlagEnvironment.enabled,
                FeatureFlagEnvironment.rules,
                FeatureFlagEnvironment.rollout_percentage,
            ).where(FeatureFlagEnvironment.environment_id == environment_id)
        ):
            if flag_id not in flags:
                continue
            spec = flags[flag_id][1]
            spec.update(enabled=enabled, rules=rules)
            if rollout is not None:
                spec["rollout"] = rollout
            experiment_keys.update(
                rule["experiment"]
                for rule in rules
                if isinstance(rule, dict)
                and rule.get("type") == "experiment"
                and isinstance(rule.get("experiment"), str)
            )
        _add_overrides(session, environment_id, now, flags)
    return {key: spec for key, spec in flags.values()}, experiment_keys


def _add_overrides(
    session: Session,
    environment_id: uuid.UUID,
    now: dt.datetime,
    flags: dict[uuid.UUID, tuple[str, dict[str, Any]]],
) -> None:
    for flag_id, unit_id, value, expires_at in session.execute(
        select(
            FeatureFlagOverride.flag_id,
            FeatureFlagOverride.unit_id,
            FeatureFlagOverride.value,
            FeatureFlagOverride.expires_at,
        )
        .where(
            FeatureFlagOverride.environment_id == environment_id,
            or_(FeatureFlagOverride.expires_at.is_(None), FeatureFlagOverride.expires_at > now),
        )
        .order_by(FeatureFlagOverride.unit_id)
    ):
        if flag_id not in flags:
            continue
        override: dict[str, Any] = {"value": value}
        if expires_at is not None:
            override["expires_at"] = expires_at.isoformat()
        flags[flag_id][1].setdefault("overrides", {})[unit_id] = override


def _experiments(session: Session, environment_id: uuid.UUID, named: set[str]) -> list[Experiment]:
    wanted: ColumnElement[bool] = Experiment.status.in_(_LIVE)
    if named:
        wanted = or_(wanted, Experiment.key.in_(named))
    return list(
        session.scalars(
            select(Experiment)
            .where(
                wanted,
                or_(
                    Experiment.environment_id.is_(None),
                    Experiment.environment_id == environment_id,
                ),
            )
            .options(
                selectinload(Experiment.variants),
                selectinload(Experiment.segment_links).joinedload(ExperimentSegment.segment),
            )
            .order_by(Experiment.key)
        ).all()
    )


def variant_payload(variant: Variant) -> dict[str, Any]:
    """What a variant carries for the code that shows it (the same object ``/assign``
    answers with)."""
    return {
        "configuration": variant.configuration,
        "response_template": variant.response_template,
        "system_prompt": variant.system_prompt,
        "config_overrides": variant.config_overrides,
    }


def _variant_spec(variant: Variant) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "key": variant.key,
        "weight": variant.weight,
        "payload": variant_payload(variant),
    }
    if variant.url is not None:
        spec["url"] = variant.url
    return spec


def experiment_spec(experiment: Experiment) -> dict[str, Any]:
    """One experiment in the engine's shape (docs/targeting.md §4)."""
    included = sorted(
        link.segment.key for link in experiment.segment_links if link.match is SegmentMatch.INCLUDE
    )
    excluded = sorted(
        link.segment.key for link in experiment.segment_links if link.match is SegmentMatch.EXCLUDE
    )
    parts: list[dict[str, Any]] = [experiment.targeting] if experiment.targeting else []
    if len(included) > 1:
        parts.append({"$or": [{"$inSegment": key} for key in included]})
    if excluded:
        parts.append({"$nor": [{"$inSegment": key} for key in excluded]})
    spec: dict[str, Any] = {
        "status": experiment.status.value,
        "seed": experiment.hash_seed or experiment.key,
        "hash_attribute": experiment.hash_attribute,
        "coverage": experiment.coverage,
        "variants": [
            _variant_spec(variant)
            for variant in sorted(experiment.variants, key=lambda v: (v.position, v.key))
        ],
    }
    if parts:
        spec["condition"] = parts[0] if len(parts) == 1 else {"$and": parts}
    if len(included) == 1:
        spec["segment"] = included[0]
    if experiment.forced_variants:
        spec["forced"] = dict(experiment.forced_variants)
    if experiment.layer:
        spec["layer"] = experiment.layer
        spec["layer_range"] = [experiment.bucket_start, experiment.bucket_end]
    return spec
