"""Environment use cases: list, create, edit and delete the places flags are configured.

An environment is deleted only when nothing lives in it: its flag states, overrides,
API keys and environment-scoped experiments would otherwise vanish with it (the
database cascades), so the refusal names what still blocks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from verdict.server.api.filters import matches_text
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.environments.models import Environment
from verdict.server.environments.schemas import (
    EnvironmentCreate,
    EnvironmentOut,
    EnvironmentUpdate,
)
from verdict.server.errors import ConflictError, InvalidInputError, NotFoundError
from verdict.server.experiments.models import Experiment
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment, FeatureFlagOverride
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import ApiKey

__all__ = [
    "ENVIRONMENT_SORTS",
    "create_environment",
    "delete_environment",
    "environment_snapshot",
    "get_environment",
    "list_environments",
    "update_environment",
]

_SHOWN = 10
_MAX_SORT_ORDER = 2**31 - 1


def environment_snapshot(environment: Environment) -> dict[str, Any]:
    return EnvironmentOut.model_validate(environment).model_dump(mode="json")


def get_environment(session: Session, *, key: str) -> Environment:
    environment = session.scalars(select(Environment).where(Environment.key == key)).first()
    if environment is None:
        raise NotFoundError(f"no environment {key!r}")
    return environment


ENVIRONMENT_SORTS: Sortable = {
    "sort_order": Environment.sort_order,
    "key": Environment.key,
    "name": Environment.name,
    "created_at": Environment.created_at,
}


def list_environments(
    session: Session, *, page: PageRequest, text: str | None = None
) -> tuple[Sequence[Environment], str | None]:
    query = select(Environment)
    if text:
        query = query.where(
            matches_text(text, Environment.key, Environment.name, Environment.description)
        )
    return paginate(
        session,
        query,
        page,
        sortable=ENVIRONMENT_SORTS,
        id_column=Environment.id,
    )


def create_environment(
    session: Session, *, actor: Principal, data: EnvironmentCreate
) -> Environment:
    sort_order = data.sort_order
    if sort_order is None:  # appended after the last environment
        last = session.scalar(select(func.max(Environment.sort_order)))
        sort_order = 0 if last is None else min(last + 1, _MAX_SORT_ORDER)
    environment = Environment(
        key=data.key, name=data.name, description=data.description, sort_order=sort_order
    )
    session.add(environment)
    with conflict_on_integrity_error(
        session, f"an environment {data.key!r} exists", field="body.key"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="create",
        resource_type="environment",
        resource_id=environment.id,
        before=None,
        after=environment_snapshot(environment),
        environment_id=environment.id,
    )
    session.commit()
    return environment


def update_environment(
    session: Session,
    *,
    actor: Principal,
    key: str,
    data: EnvironmentUpdate,
    if_match: str | None,
) -> Environment:
    environment = get_environment(session, key=key)
    check_version(if_match, environment.version)
    before = environment_snapshot(environment)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "sort_order"):
        if field in changes and changes[field] is None:
            raise InvalidInputError(f"{field} cannot be null", field=f"body.{field}")
    for field, value in changes.items():
        setattr(environment, field, value)
    environment.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor=actor,
        action="update",
        resource_type="environment",
        resource_id=environment.id,
        before=before,
        after=environment_snapshot(environment),
        environment_id=environment.id,
    )
    session.commit()
    return environment


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:_SHOWN])
    return shown if len(names) <= _SHOWN else f"{shown} and {len(names) - _SHOWN} more"


def _blockers(session: Session, environment: Environment) -> list[str]:
    env_id = environment.id
    blockers: list[str] = []
    flags = session.scalars(
        select(FeatureFlag.key)
        .join(FeatureFlagEnvironment, FeatureFlagEnvironment.flag_id == FeatureFlag.id)
        .where(FeatureFlagEnvironment.environment_id == env_id)
    ).all()
    if flags:
        blockers.append(f"flags configured in it ({_listed(flags)})")
    overridden = session.scalars(
        select(FeatureFlag.key)
        .join(FeatureFlagOverride, FeatureFlagOverride.flag_id == FeatureFlag.id)
        .where(FeatureFlagOverride.environment_id == env_id)
        .distinct()
    ).all()
    if overridden:
        blockers.append(f"overrides of flags {_listed(overridden)}")
    keys = session.scalars(select(ApiKey.name).where(ApiKey.environment_id == env_id)).all()
    if keys:
        blockers.append(f"API keys ({_listed(keys)})")
    experiments = session.scalars(
        select(Experiment.key).where(Experiment.environment_id == env_id)
    ).all()
    if experiments:
        blockers.append(f"experiments scoped to it ({_listed(experiments)})")
    return blockers


def delete_environment(
    session: Session, *, actor: Principal, key: str, if_match: str | None
) -> None:
    environment = get_environment(session, key=key)
    check_version(if_match, environment.version)
    blockers = _blockers(session, environment)
    if blockers:
        raise ConflictError(
            f"environment {key!r} is still in use by " + "; ".join(blockers),
            field="path.key",
        )
    record(
        session,
        actor=actor,
        action="delete",
        resource_type="environment",
        resource_id=environment.id,
        before=environment_snapshot(environment),
        after=None,
    )
    session.delete(environment)
    session.commit()
