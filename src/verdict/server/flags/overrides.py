"""Per-unit overrides: a value forced for one unit of one environment, optionally
until a time.

An override is addressed by its unit id and written whole (PUT replaces it). Creating
one needs no If-Match (two concurrent creations collide on the unique key: 409);
replacing or deleting an existing one needs its version, so nobody silently undoes a
colleague's override. Each write is audited with the override before and after. A variant
is stored as its value (the table keeps values); the response names the variant again.
Expired overrides stay listed (``expired: true``) until deleted, but are left out of
the configuration served to SDKs.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine.errors import child_path
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.environments.models import Environment
from verdict.server.errors import InvalidInputError, NotFoundError
from verdict.server.flags.models import FeatureFlag, FeatureFlagOverride
from verdict.server.flags.schemas import OverrideIn, OverrideOut
from verdict.server.flags.service import RESOURCE_TYPE, load_flag
from verdict.server.flags.states import load_environment, writable
from verdict.server.flags.validation import IssueFields, flag_path, raise_new_issues, take_baseline
from verdict.server.flags.views import override_out, override_snapshot, usernames
from verdict.server.identity.auth import Principal

__all__ = ["OVERRIDE_SORTS", "delete_override", "list_overrides", "put_override"]

_OVERRIDE_FIELDS = {
    "": "body",
    "value": "body.value",
    "variant": "body.variant",
    "expires_at": "body.expires_at",
}


def _load(session: Session, flag_key: str, environment_key: str) -> tuple[FeatureFlag, Environment]:
    return load_flag(session, flag_key), load_environment(session, environment_key)


def _find(
    session: Session, flag: FeatureFlag, environment: Environment, unit_id: str
) -> FeatureFlagOverride | None:
    return session.scalars(
        select(FeatureFlagOverride).where(
            FeatureFlagOverride.flag_id == flag.id,
            FeatureFlagOverride.environment_id == environment.id,
            FeatureFlagOverride.unit_id == unit_id,
        )
    ).first()


OVERRIDE_SORTS: Sortable = {
    "unit_id": FeatureFlagOverride.unit_id,
    "created_at": FeatureFlagOverride.created_at,
}


def list_overrides(
    session: Session,
    *,
    flag_key: str,
    environment_key: str,
    page: PageRequest,
    expired: bool | None = None,
) -> tuple[list[OverrideOut], str | None]:
    flag, environment = _load(session, flag_key, environment_key)
    now = utcnow()
    query = select(FeatureFlagOverride).where(
        FeatureFlagOverride.flag_id == flag.id,
        FeatureFlagOverride.environment_id == environment.id,
    )
    if expired is True:
        query = query.where(FeatureFlagOverride.expires_at <= now)
    elif expired is False:
        query = query.where(
            (FeatureFlagOverride.expires_at.is_(None)) | (FeatureFlagOverride.expires_at > now)
        )
    rows: Sequence[FeatureFlagOverride]
    rows, cursor = paginate(
        session,
        query,
        page,
        sortable=OVERRIDE_SORTS,
        id_column=FeatureFlagOverride.id,
    )
    names = usernames(session, [row.created_by_id for row in rows])
    return [override_out(flag, environment, row, names, now) for row in rows], cursor


def _value(flag: FeatureFlag, data: OverrideIn) -> object:
    sent_value = "value" in data.model_fields_set
    if sent_value and data.variant is not None:
        raise InvalidInputError("send a value or a variant, not both", field="body.variant")
    if data.variant is not None:
        for variant in flag.variants:
            if variant["key"] == data.variant:
                return variant["value"]
        known = ", ".join(repr(v["key"]) for v in flag.variants) or "none"
        raise InvalidInputError(
            f"unknown variant {data.variant!r} (the flag's variants: {known})",
            field="body.variant",
        )
    if not sent_value:
        raise InvalidInputError("send the value to serve, or a variant", field="body.value")
    return data.value


def put_override(
    session: Session,
    *,
    actor: Principal,
    flag_key: str,
    environment_key: str,
    unit_id: str,
    data: OverrideIn,
    if_match: str | None,
) -> tuple[OverrideOut, bool]:
    """Create or replace the unit's override; also says whether it was created."""
    flag, environment = _load(session, flag_key, environment_key)
    writable(flag)
    value = _value(flag, data)
    now = utcnow()
    if data.expires_at is not None and data.expires_at <= now:
        raise InvalidInputError("expires_at must be in the future", field="body.expires_at")
    override = _find(session, flag, environment, unit_id)
    if override is not None:
        check_version(if_match, override.version)
    names = usernames(session, [actor.user_id] + ([override.created_by_id] if override else []))
    before = (
        override_snapshot(override_out(flag, environment, override, names, now))
        if override
        else None
    )
    baseline = take_baseline(session, environment.id, f"environment {environment.key!r}")
    created = override is None
    if override is None:
        override = FeatureFlagOverride(
            flag_id=flag.id, environment_id=environment.id, unit_id=unit_id
        )
        session.add(override)
    override.value = value
    override.reason = data.reason
    override.expires_at = data.expires_at
    override.created_at = now
    override.created_by_id = actor.user_id
    with conflict_on_integrity_error(
        session, f"an override for {unit_id!r} was written meanwhile", field="path.unit_id"
    ):
        session.flush()
    prefix = child_path(child_path(flag_path(flag.key), "overrides"), unit_id)
    raise_new_issues(session, [baseline], IssueFields(prefix, _OVERRIDE_FIELDS))
    out = override_out(flag, environment, override, names, now)
    record(
        session,
        actor=actor,
        action="set_override",
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=before,
        after=override_snapshot(out),
        environment_id=environment.id,
    )
    session.commit()
    return out, created


def delete_override(
    session: Session,
    *,
    actor: Principal,
    flag_key: str,
    environment_key: str,
    unit_id: str,
    if_match: str | None,
) -> None:
    flag, environment = _load(session, flag_key, environment_key)
    override = _find(session, flag, environment, unit_id)
    if override is None:
        raise NotFoundError(
            f"flag {flag_key!r} has no override for {unit_id!r} in {environment_key}"
        )
    check_version(if_match, override.version)
    names = usernames(session, [override.created_by_id])
    before = override_snapshot(override_out(flag, environment, override, names, utcnow()))
    record(
        session,
        actor=actor,
        action="delete_override",
        resource_type=RESOURCE_TYPE,
        resource_id=flag.id,
        before=before,
        after=None,
        environment_id=environment.id,
    )
    session.delete(override)
    session.commit()
