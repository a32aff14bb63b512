"""Flag definition use cases: create, read, list, edit, archive, delete, history.

A definition (key, type, default, variants, tags, owner, linked experiment,
prerequisites) is shared by every environment; each environment's state lives in
:mod:`.states`, per-unit overrides in :mod:`.overrides`. Every change is validated by
compiling the configuration documents it touches (:mod:`.validation`) and committed
with its audit entry in one transaction; a refused request writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from verdict.server.api.filters import has_tag, matches_text
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version, stale_edit
from verdict.server.audit.models import AuditLogEntry
from verdict.server.audit.service import AUDIT_SORTS, record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.environments.models import Environment
from verdict.server.errors import (
    ConflictError,
    IllegalTransitionError,
    InvalidInputError,
    NotFoundError,
)
from verdict.server.experiments.models import Experiment
from verdict.server.flags import prerequisites as prereqs
from verdict.server.flags.models import (
    FeatureFlag,
    FeatureFlagEnvironment,
    FeatureFlagOverride,
    FlagValueType,
)
from verdict.server.flags.schemas import FlagCreate, FlagOut, FlagUpdate
from verdict.server.flags.validation import (
    Baseline,
    IssueFields,
    flag_path,
    raise_new_issues,
    take_baseline,
)
from verdict.server.flags.views import flag_outs, flag_query, flag_snapshot
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import User

__all__ = [
    "FLAG_SORTS",
    "RESOURCE_TYPE",
    "archive_flag",
    "create_flag",
    "delete_flag",
    "get_flag",
    "list_flags",
    "list_history",
    "load_flag",
    "update_flag",
]

RESOURCE_TYPE = "feature_flag"
_DEFINITION_FIELDS = {
    "type": "body.value_type",
    "default": "body.default_value",
    "variants": "body.variants",
    "prerequisites": "body.prerequisites",
}
FieldProblems = list[tuple[str, str]]


def load_flag(session: Session, key: str) -> FeatureFlag:
    flag: FeatureFlag | None = session.scalars(flag_query().where(FeatureFlag.key == key)).first()
    if flag is None:
        raise NotFoundError(f"no flag {key!r}")
    return flag


def _out(session: Session, flag: FeatureFlag) -> FlagOut:
    return flag_outs(session, [flag])[0]


def get_flag(session: Session, *, key: str) -> FlagOut:
    return _out(session, load_flag(session, key))


FLAG_SORTS: Sortable = {
    "key": FeatureFlag.key,
    "name": FeatureFlag.name,
    "created_at": FeatureFlag.created_at,
    "updated_at": FeatureFlag.updated_at,
}


def list_flags(
    session: Session,
    *,
    page: PageRequest,
    tag: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    archived: bool | None = False,
    value_type: FlagValueType | None = None,
    environment: str | None = None,
    enabled: bool | None = None,
) -> tuple[list[FlagOut], str | None]:
    query = flag_query()
    if archived is not None:
        query = query.where(FeatureFlag.archived.is_(archived))
    if tag is not None:
        query = query.where(has_tag(session, FeatureFlag.tags, tag))
    if owner is not None:
        query = query.where(FeatureFlag.owner.has(User.username == owner))
    if value_type is not None:
        query = query.where(FeatureFlag.value_type == value_type)
    if text:
        query = query.where(
            matches_text(text, FeatureFlag.key, FeatureFlag.name, FeatureFlag.description)
        )
    if enabled is not None and environment is None:
        raise InvalidInputError(
            "enabled filters by the state in an environment: name it", field="query.environment"
        )
    if environment is not None:
        state = (
            select(FeatureFlagEnvironment.flag_id)
            .join(Environment, Environment.id == FeatureFlagEnvironment.environment_id)
            .where(Environment.key == environment)
        )
        if enabled is None:
            query = query.where(FeatureFlag.id.in_(state))
        elif enabled:
            query = query.where(FeatureFlag.id.in_(state.where(FeatureFlagEnvironment.enabled)))
        else:  # off: explicitly disabled, or never configured there
            query = query.where(FeatureFlag.id.not_in(state.where(FeatureFlagEnvironment.enabled)))
    flags, cursor = paginate(
        session,
        query,
        page,
        sortable=FLAG_SORTS,
        id_column=FeatureFlag.id,
    )
    return flag_outs(session, flags), cursor


def _owner_id(session: Session, username: str | None, problems: FieldProblems) -> uuid.UUID | None:
    if username is None:
        return None
    user_id = session.scalars(select(User.id).where(User.username == username)).first()
    if user_id is None:
        problems.append(("body.owner", f"unknown user {username!r}"))
    return user_id


def _experiment_id(session: Session, key: str | None, problems: FieldProblems) -> uuid.UUID | None:
    if key is None:
        return None
    experiment_id = session.scalars(select(Experiment.id).where(Experiment.key == key)).first()
    if experiment_id is None:
        problems.append(("body.experiment", f"unknown experiment {key!r}"))
    return experiment_id


def _raise_if_any(problems: FieldProblems) -> None:
    if problems:
        raise InvalidInputError(
            "; ".join(f"{field}: {reason}" for field, reason in problems), errors=problems
        )


def _variants(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"key": item.key, "value": item.value} for item in items]


def _baselines(session: Session, flag: FeatureFlag | None) -> list[Baseline]:
    """Documents a definition change can break: the definitions alone, and every
    environment where the flag has a state or overrides."""
    baselines = [take_baseline(session, None, "flag definitions")]
    if flag is None:
        return baselines
    configured = select(FeatureFlagEnvironment.environment_id).where(
        FeatureFlagEnvironment.flag_id == flag.id
    )
    overridden = select(FeatureFlagOverride.environment_id).where(
        FeatureFlagOverride.flag_id == flag.id
    )
    for environment_id, key in session.execute(
        select(Environment.id, Environment.key)
        .where(or_(Environment.id.in_(configured), Environment.id.in_(overridden)))
        .order_by(Environment.sort_order, Environment.key)
    ):
        baselines.append(take_baseline(session, environment_id, f"environment {key!r}"))
    return baselines


def _flush(session: Session, key: str) -> None:
    with (
        stale_edit(session, f"flag {key!r} was changed meanwhile; read it again"),
        conflict_on_integrity_error(session, f"a flag {key!r} exists", field="body.key"),
    ):
        session.flush()


def create_flag(session: Session, *, actor: Principal, data: FlagCreate) -> FlagOut:
    problems: FieldProblems = []
    default = data.default_value
    if "default_value" not in data.model_fields_set:
        if data.value_type is not FlagValueType.BOOLEAN:
            problems.append(
                ("body.default_value", f"is required for {data.value_type.value} flags")
            )
        default = False
    owner_id = _owner_id(session, data.owner, problems)
    experiment_id = _experiment_id(session, data.experiment, problems)
    resolved = prereqs.resolve_prerequisites(
        session, flag_key=data.key, items=data.prerequisites, problems=problems
    )
    prereqs.check_no_cycle(
        session, flag_id=None, flag_key=data.key, items=data.prerequisites, resolved=resolved
    )
    _raise_if_any(problems)
    baselines = _baselines(session, None)
    flag = FeatureFlag(
        key=data.key,
        name=data.name,
        description=data.description,
        value_type=data.value_type,
        default_value=default,
        variants=_variants(data.variants),
        tags=list(dict.fromkeys(data.tags)),
        owner_id=owner_id,
        experiment_id=experiment_id,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    prereqs.replace_prerequisites(flag, resolved)
    session.add(flag)
    _flush(session, data.key)
    raise_new_issues(session, baselines, IssueFields(flag_path(flag.key), _DEFINITION_FIELDS))
    out = _out(session, load_flag(session, flag.key))
    record(
        session,
        actor=actor,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=None,
        after=flag_snapshot(out),
    )
    session.commit()
    return out


def update_flag(
    session: Session, *, actor: Principal, key: str, data: FlagUpdate, if_match: str | None
) -> FlagOut:
    flag = load_flag(session, key)
    check_version(if_match, flag.version)
    before = flag_snapshot(_out(session, flag))
    changes = data.model_fields_set
    problems: FieldProblems = [
        (f"body.{field}", "cannot be null")
        for field in ("name", "value_type", "variants", "tags", "prerequisites")
        if field in changes and getattr(data, field) is None
    ]
    owner_id = _owner_id(session, data.owner, problems) if "owner" in changes else flag.owner_id
    experiment_id = (
        _experiment_id(session, data.experiment, problems)
        if "experiment" in changes
        else flag.experiment_id
    )
    resolved: list[prereqs.ResolvedPrerequisite] | None = None
    if data.prerequisites is not None:
        resolved = prereqs.resolve_prerequisites(
            session, flag_key=key, items=data.prerequisites, problems=problems
        )
        prereqs.check_no_cycle(
            session, flag_id=flag.id, flag_key=key, items=data.prerequisites, resolved=resolved
        )
    _raise_if_any(problems)
    baselines = _baselines(session, flag)
    if data.name is not None:
        flag.name = data.name
    if "description" in changes:
        flag.description = data.description
    if data.value_type is not None:
        flag.value_type = data.value_type
    if "default_value" in changes:
        flag.default_value = data.default_value
    if data.variants is not None:
        flag.variants = _variants(data.variants)
    if data.tags is not None:
        flag.tags = list(dict.fromkeys(data.tags))
    flag.owner_id = owner_id
    flag.experiment_id = experiment_id
    if resolved is not None:
        prereqs.replace_prerequisites(flag, resolved)
    flag.updated_by_id = actor.user_id
    flag.updated_at = utcnow()  # bumps the version even when only prerequisites changed
    _flush(session, key)
    raise_new_issues(session, baselines, IssueFields(flag_path(key), _DEFINITION_FIELDS))
    session.expire(flag)
    out = _out(session, load_flag(session, key))
    record(
        session,
        actor=actor,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=before,
        after=flag_snapshot(out),
    )
    session.commit()
    return out


def archive_flag(
    session: Session, *, actor: Principal, key: str, archived: bool, if_match: str | None
) -> FlagOut:
    """Archive (retire: left out of every configuration) or restore a flag."""
    flag = load_flag(session, key)
    check_version(if_match, flag.version)
    if flag.archived is archived:
        state = "archived" if archived else "not archived"
        raise IllegalTransitionError(f"flag {key!r} is already {state}", field="path.key")
    baselines: list[Baseline] = []
    if archived:
        users = prereqs.dependents(session, flag.id, archived=False)
        if users:
            raise ConflictError(
                f"flag {key!r} is a prerequisite of {', '.join(users)}; "
                "change or archive those first",
                field="path.key",
            )
    else:
        archived_parents = sorted(
            p.prerequisite.key for p in flag.prerequisites if p.prerequisite.archived
        )
        if archived_parents:
            raise ConflictError(
                f"flag {key!r} requires archived flags {', '.join(archived_parents)}; "
                "restore them or change its prerequisites first",
                field="path.key",
            )
        baselines = _baselines(session, flag)
    before = flag_snapshot(_out(session, flag))
    flag.archived = archived
    flag.updated_by_id = actor.user_id
    _flush(session, key)
    if baselines:
        raise_new_issues(session, baselines, IssueFields(flag_path(key), _DEFINITION_FIELDS))
    out = _out(session, flag)
    record(
        session,
        actor=actor,
        action="archive" if archived else "unarchive",
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=before,
        after=flag_snapshot(out),
    )
    session.commit()
    return out


def delete_flag(session: Session, *, actor: Principal, key: str, if_match: str | None) -> None:
    flag = load_flag(session, key)
    check_version(if_match, flag.version)
    users = prereqs.dependents(session, flag.id)
    if users:
        raise ConflictError(
            f"flag {key!r} is a prerequisite of {', '.join(users)}; remove it from them first",
            field="path.key",
        )
    record(
        session,
        actor=actor,
        action="delete",
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=flag_snapshot(_out(session, flag)),
        after=None,
    )
    session.delete(flag)
    with conflict_on_integrity_error(
        session, f"flag {key!r} became a prerequisite meanwhile", field="path.key"
    ):
        session.commit()


def list_history(
    session: Session, *, key: str, page: PageRequest
) -> tuple[Sequence[AuditLogEntry], str | None]:
    """The flag's audit entries: its definition, and its states and overrides in every
    environment (all recorded under the flag's id)."""
    flag_id = session.scalars(select(FeatureFlag.id).where(FeatureFlag.key == key)).first()
    if flag_id is None:
        raise NotFoundError(f"no flag {key!r}")
    query = select(AuditLogEntry).where(
        AuditLogEntry.resource_type == RESOURCE_TYPE,
        AuditLogEntry.resource_id == str(flag_id),
    )
    return paginate(session, query, page, sortable=AUDIT_SORTS, id_column=AuditLogEntry.id)
