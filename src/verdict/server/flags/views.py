"""How flags, their states and overrides are shown: the API's shapes and the audit
log's snapshots.

Both come from the same functions, so the audit log records exactly what a client
reads (less the bookkeeping: version, timestamps and, for a definition, the summary of
its environments, which have their own entries).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from verdict.engine.jsonvalues import deep_equal
from verdict.server.environments.models import Environment
from verdict.server.flags.models import (
    FeatureFlag,
    FeatureFlagEnvironment,
    FeatureFlagOverride,
    FeatureFlagPrerequisite,
)
from verdict.server.flags.schemas import (
    FlagOut,
    FlagStateOut,
    FlagStateSummary,
    OverrideOut,
    PrerequisiteOut,
    VariantOut,
)
from verdict.server.identity.models import User

__all__ = [
    "flag_outs",
    "flag_query",
    "flag_snapshot",
    "override_out",
    "override_snapshot",
    "state_out",
    "state_snapshot",
    "usernames",
    "variant_of",
]

_NOT_AUDITED = {"environments", "version", "created_at", "updated_at", "updated_by"}


def flag_query() -> Select[Any]:
    """Flags with everything the API shows, loaded in a fixed number of queries."""
    return select(FeatureFlag).options(
        joinedload(FeatureFlag.owner),
        joinedload(FeatureFlag.experiment),
        selectinload(FeatureFlag.prerequisites).joinedload(FeatureFlagPrerequisite.prerequisite),
        selectinload(FeatureFlag.environments).joinedload(FeatureFlagEnvironment.environment),
    )


def usernames(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {user_id for user_id in ids if user_id is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return dict(rows.all())


def _flag_out(flag: FeatureFlag, names: dict[uuid.UUID, str]) -> FlagOut:
    states = sorted(flag.environments, key=lambda s: (s.environment.sort_order, s.environment.key))
    return FlagOut(
        id=flag.id,
        key=flag.key,
        name=flag.name,
        description=flag.description,
        value_type=flag.value_type,
        default_value=flag.default_value,
        variants=[VariantOut(key=str(v.get("key")), value=v.get("value")) for v in flag.variants],
        tags=list(flag.tags),
        owner=flag.owner.username if flag.owner else None,
        experiment=flag.experiment.key if flag.experiment else None,
        prerequisites=sorted(
            (
                PrerequisiteOut(flag=p.prerequisite.key, value=p.required_value)
                for p in flag.prerequisites
            ),
            key=lambda p: p.flag,
        ),
        archived=flag.archived,
        environments={
            state.environment.key: FlagStateSummary(
                enabled=state.enabled,
                rollout_percentage=state.rollout_percentage,
                rules=len(state.rules),
                version=state.version,
            )
            for state in states
        },
        created_by=names.get(flag.created_by_id) if flag.created_by_id else None,
        updated_by=names.get(flag.updated_by_id) if flag.updated_by_id else None,
        version=flag.version,
        created_at=flag.created_at,
        updated_at=flag.updated_at,
    )


def flag_outs(session: Session, flags: Sequence[FeatureFlag]) -> list[FlagOut]:
    names = usernames(session, [f.created_by_id for f in flags] + [f.updated_by_id for f in flags])
    return [_flag_out(flag, names) for flag in flags]


def flag_snapshot(out: FlagOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude=_NOT_AUDITED)


def state_out(
    session: Session,
    flag: FeatureFlag,
    environment: Environment,
    state: FeatureFlagEnvironment | None,
) -> FlagStateOut:
    """The state as shown; a flag never configured here is off, without rules (version 0)."""
    if state is None:
        return FlagStateOut(
            flag=flag.key,
            environment=environment.key,
            enabled=False,
            rules=[],
            rollout_percentage=None,
            version=0,
            updated_at=None,
            updated_by=None,
        )
    names = usernames(session, [state.updated_by_id])
    return FlagStateOut(
        flag=flag.key,
        environment=environment.key,
        enabled=state.enabled,
        rules=list(state.rules),
        rollout_percentage=state.rollout_percentage,
        version=state.version,
        updated_at=state.updated_at,
        updated_by=names.get(state.updated_by_id) if state.updated_by_id else None,
    )


def state_snapshot(out: FlagStateOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude={"version", "updated_at"})


def variant_of(flag: FeatureFlag, value: Any) -> str | None:
    for variant in flag.variants:
        if deep_equal(variant.get("value"), value):
            return str(variant.get("key"))
    return None


def override_out(
    flag: FeatureFlag,
    environment: Environment,
    override: FeatureFlagOverride,
    names: dict[uuid.UUID, str],
    now: dt.datetime,
) -> OverrideOut:
    return OverrideOut(
        version=override.version,
        flag=flag.key,
        environment=environment.key,
        unit_id=override.unit_id,
        value=override.value,
        variant=variant_of(flag, override.value),
        reason=override.reason,
        expires_at=override.expires_at,
        expired=override.expires_at is not None and override.expires_at <= now,
        created_at=override.created_at,
        created_by=names.get(override.created_by_id) if override.created_by_id else None,
    )


def override_snapshot(out: OverrideOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude={"expired", "version"})
