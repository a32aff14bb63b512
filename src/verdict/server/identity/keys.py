"""API keys: created with their secret shown once, listed by prefix, revoked for good.

A key made by a person (with their login, or with one of their own keys) is theirs
(``personal``): an admin key of theirs acts with its owner's permissions, and every key
of theirs is revoked when the owner is deactivated or deleted (:func:`retire_keys`).
Keys made from the command line, or by such a key, belong to no one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.environments.models import Environment
from verdict.server.errors import ConflictError, InvalidInputError, NotFoundError
from verdict.server.identity import credentials
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import ApiKey, ApiKeyKind

__all__ = [
    "KEY_SORTS",
    "create_key",
    "find_key",
    "get_key",
    "key_snapshot",
    "list_keys",
    "retire_keys",
    "revoke_key",
]


def key_snapshot(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "kind": key.kind.value,
        "environment": key.environment.key if key.environment else None,
        "prefix": key.prefix,
        "personal": key.personal,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def _environment(session: Session, kind: ApiKeyKind, environment: str | None) -> Environment | None:
    if kind is ApiKeyKind.ADMIN:
        if environment is not None:
            raise InvalidInputError(
                "admin keys act for every environment; leave environment out",
                field="body.environment",
            )
        return None
    if environment is None:
        raise InvalidInputError(
            f"{kind.value} keys act for one environment; name it", field="body.environment"
        )
    found = session.scalars(select(Environment).where(Environment.key == environment)).first()
    if found is None:
        raise InvalidInputError(f"no environment {environment!r}", field="body.environment")
    return found


def create_key(
    session: Session,
    *,
    actor: Principal,
    name: str,
    kind: ApiKeyKind,
    environment: str | None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    """The new key and its secret; the secret is not stored and cannot be shown again."""
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInputError("expires_at must be in the future", field="body.expires_at")
    target = _environment(session, kind, environment)
    secret, prefix = credentials.new_api_key(kind)
    key = ApiKey(
        name=name,
        kind=kind,
        environment=target,
        prefix=prefix,
        hashed_secret=credentials.digest(secret),
        created_by_id=actor.owner_id,
        personal=actor.owner_id is not None,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor=actor,
        action="create",
        resource_type="api_key",
        resource_id=key.id,
        before=None,
        after=key_snapshot(key),
        environment_id=key.environment_id,
    )
    session.commit()
    return key, secret


def get_key(session: Session, *, key_id: uuid.UUID) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError(f"no API key with id {key_id}")
    return key


def find_key(session: Session, *, reference: str) -> ApiKey:
    """The key named by its id, its prefix (``vk_srv_Ab3dE9x``, as listings show it) or
    its whole secret (only its prefix is read; nothing is compared with the secret)."""
    try:
        return get_key(session, key_id=uuid.UUID(reference))
    except ValueError:
        pass
    prefix = reference.removesuffix("…")[: credentials.API_KEY_PREFIX_LENGTH]
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None:
        raise NotFoundError(
            f"no API key {reference!r}: name it by its prefix (vk_srv_Ab3dE9x) or its id",
            field="key",
        )
    return key


KEY_SORTS: Sortable = {"created_at": ApiKey.created_at, "name": ApiKey.name}


def list_keys(
    session: Session, *, page: PageRequest, kind: ApiKeyKind | None = None
) -> tuple[Sequence[ApiKey], str | None]:
    query = select(ApiKey)
    if kind is not None:
        query = query.where(ApiKey.kind == kind)
    return paginate(
        session,
        query,
        page,
        sortable=KEY_SORTS,
        id_column=ApiKey.id,
    )


def revoke_key(session: Session, *, actor: Principal, key_id: uuid.UUID) -> ApiKey:
    key = get_key(session, key_id=key_id)
    if key.revoked_at is not None:
        raise ConflictError(f"API key {key.prefix}… is already revoked", field="path.key_id")
    before = key_snapshot(key)
    key.revoked_at = utcnow()
    record(
        session,
        actor=actor,
        action="revoke",
        resource_type="api_key",
        resource_id=key.id,
        before=before,
        after=key_snapshot(key),
        environment_id=key.environment_id,
    )
    session.commit()
    return key


def retire_keys(session: Session, *, actor: Principal, owner_id: uuid.UUID, reason: str) -> int:
    """Revoke every live key ``owner_id`` made (they die with their owner); the caller
    commits. The changed rows clear every process's key cache (``!keys``)."""
    live = session.scalars(
        select(ApiKey).where(ApiKey.created_by_id == owner_id, ApiKey.revoked_at.is_(None))
    ).all()
    now = utcnow()
    for key in live:
        before = key_snapshot(key)
        key.revoked_at = now
        record(
            session,
            actor=actor,
            action="revoke",
            resource_type="api_key",
            resource_id=key.id,
            before=before,
            after={**key_snapshot(key), "reason": reason},
            environment_id=key.environment_id,
        )
    return len(live)
