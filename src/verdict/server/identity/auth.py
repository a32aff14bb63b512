"""Who is calling, and may they: authentication and per-route permissions.

A request authenticates with ``Authorization: Bearer <token>`` (a login token ``vt_…``
or an API key ``vk_…``) or with the dashboard's session cookie. Every API route
declares the one permission it needs with ``Depends(Require(resource, action))``;
``tests/integration/test_route_permissions.py`` walks the OpenAPI spec so no route can
escape it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.db import get_db, utcnow
from verdict.server.errors import AuthenticationError, PermissionDeniedError
from verdict.server.identity import credentials
from verdict.server.identity.models import (
    AccessToken,
    ApiKey,
    ApiKeyKind,
    Permission,
    Role,
    User,
    role_permissions,
    user_roles,
)
from verdict.server.identity.permissions import all_permissions, permission_name

__all__ = [
    "SESSION_COOKIE",
    "Authenticated",
    "Principal",
    "Require",
    "RequireSdkKey",
    "authenticate",
]

SESSION_COOKIE = "verdict_session"
# Writing last_used_at on every request would turn each read into a write; once a
# minute is precise enough to tell a live key from a dead one.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Declared so the OpenAPI spec shows how to authenticate; ``authenticate`` reads both.
_bearer = HTTPBearer(auto_error=False, description="A login token (vt_…) or an API key (vk_…)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Dashboard session")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Cookie = Annotated[str | None, Depends(_cookie)]
_ALL = frozenset(permission_name(r, a) for r, a in all_permissions())


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    name: str
    permissions: frozenset[str]
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    api_key_kind: ApiKeyKind | None = None
    environment_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None

    def can(self, resource: str, action: str) -> bool:
        return permission_name(resource, action) in self.permissions


def _touch(record: AccessToken | ApiKey, now: dt.datetime) -> None:
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_RESOLUTION:
        record.last_used_at = now


def _user_permissions(session: Session, user: User) -> frozenset[str]:
    if user.is_superuser:
        return _ALL
    rows = session.execute(
        select(Permission.resource, Permission.action)
        .join(role_permissions, role_permissions.c.permission_id == Permission.id)
        .join(Role, Role.id == role_permissions.c.role_id)
        .join(user_roles, user_roles.c.role_id == Role.id)
        .where(user_roles.c.user_id == user.id)
    )
    return frozenset(permission_name(resource, action) for resource, action in rows)


def _from_api_key(session: Session, key: str, now: dt.datetime) -> Principal:
    prefix = key[: credentials.API_KEY_PREFIX_LENGTH]
    record = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if record is None or not credentials.matches(key, record.hashed_secret):
        raise AuthenticationError("unknown API key")
    if record.revoked_at is not None:
        raise AuthenticationError(f"API key {record.prefix}… was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationError(f"API key {record.prefix}… has expired")
    _touch(record, now)
    # Admin keys hold the management API; server and client keys only the SDK routes.
    permissions = _ALL if record.kind is ApiKeyKind.ADMIN else frozenset()
    return Principal(
        name=f"api-key:{record.name}",
        permissions=permissions,
        api_key_id=record.id,
        api_key_kind=record.kind,
        environment_id=record.environment_id,
    )


def _from_session_token(session: Session, token: str, now: dt.datetime) -> Principal:
    record = session.scalars(
        select(AccessToken).where(AccessToken.token_hash == credentials.digest(token))
    ).first()
    if record is None or record.revoked_at is not None:
        raise AuthenticationError("unknown or signed-out session token")
    if record.expires_at <= now:
        raise AuthenticationError("session token has expired; log in again")
    user = record.user
    if not user.is_active:
        raise AuthenticationError(f"user {user.username} is deactivated")
    _touch(record, now)
    return Principal(
        name=user.username,
        permissions=_user_permissions(session, user),
        user_id=user.id,
        token_id=record.id,
    )


def authenticate(request: Request, session: Session) -> Principal:
    header = request.headers.get("authorization")
    now = utcnow()
    if header is not None:
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationError("Authorization must be 'Bearer <token or API key>'")
        if credential.startswith("vk_"):
            principal = _from_api_key(session, credential, now)
        else:
            principal = _from_session_token(session, credential, now)
    elif (cookie := request.cookies.get(SESSION_COOKIE)) is not None:
        principal = _from_session_token(session, cookie, now)
    else:
        raise AuthenticationError("log in or send an API key: Authorization: Bearer <token>")
    if session.dirty:  # a last-used time moved; most requests write nothing
        session.commit()
    return principal


class Require:
    """Dependency: authenticate, then demand ``resource:action``."""

    def __init__(self, resource: str, action: str) -> None:
        self.resource = resource
        self.action = action
        self.permission = permission_name(resource, action)

    def __call__(
        self,
        request: Request,
        db: Annotated[Session, Depends(get_db)],
        _bearer: Bearer = None,
        _cookie: Cookie = None,
    ) -> Principal:
        principal = authenticate(request, db)
        if not principal.can(self.resource, self.action):
            raise PermissionDeniedError(f"{principal.name} lacks the permission {self.permission}")
        return principal

    def __repr__(self) -> str:
        return f"Require({self.permission})"


class Authenticated:
    """Dependency for the few routes any signed-in caller may use (who am I, log out)."""

    def __call__(
        self,
        request: Request,
        db: Annotated[Session, Depends(get_db)],
        _bearer: Bearer = None,
        _cookie: Cookie = None,
    ) -> Principal:
        return authenticate(request, db)

    def __repr__(self) -> str:
        return "Authenticated()"


class RequireSdkKey:
    """Dependency for SDK routes: an API key of one of ``kinds``, acting for the one
    environment it was created for. People sign in to the management API instead, so a
    login token (or an admin key) is refused with 403."""

    def __init__(self, *kinds: ApiKeyKind) -> None:
        self.kinds = frozenset(kinds)

    def __call__(
        self,
        request: Request,
        db: Annotated[Session, Depends(get_db)],
        _bearer: Bearer = None,
    ) -> Principal:
        principal = authenticate(request, db)
        if principal.api_key_kind not in self.kinds or principal.environment_id is None:
            allowed = " or ".join(sorted(kind.value for kind in self.kinds))
            raise PermissionDeniedError(f"this route needs a {allowed} API key")
        return principal

    def __repr__(self) -> str:
        return f"RequireSdkKey({', '.join(sorted(k.value for k in self.kinds))})"
