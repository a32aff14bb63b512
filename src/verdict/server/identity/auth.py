"""Who is calling, and may they: authentication and per-route permissions.

A request authenticates with ``Authorization: Bearer <token>`` (a login token ``vt_…``
or an API key ``vk_…``) or with the dashboard's session cookie. Every API route
declares the one permission it needs with ``Depends(Require(resource, action))``;
``tests/integration/test_route_permissions.py`` walks the OpenAPI spec so no route can
escape it.

SDK routes (evaluation, OFREP, assignment, configuration, events) take an API key of
their environment, in ``Authorization: Bearer`` or, as OpenFeature providers send it,
in ``X-API-Key``. They authenticate through :func:`sdk_principal`, which remembers
keys in process (:mod:`verdict.server.identity.keycache`) so the hot paths do not
read the database per request.

Routes that read a request body are authenticated before the body is read: the
request limits (:mod:`verdict.server.api.limits`) run the route's requirement first
(:mod:`verdict.server.api.auth_first`) and leave the principal in the request's state
(:data:`PRINCIPAL_STATE`), where the route's dependency finds it instead of
authenticating a second time.

An admin key made from the command line holds every permission. A key made by a person
(``ApiKey.personal``) is theirs: an admin key of theirs holds exactly the permissions
its owner holds at the time of each request (never more, so making a key cannot climb
above its maker), and any key of theirs stops working once the owner is deactivated or
deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from verdict.server.config import Settings
from verdict.server.db import get_db, utcnow
from verdict.server.errors import AuthenticationError, PermissionDeniedError
from verdict.server.identity import credentials
from verdict.server.identity.keycache import ApiKeyCache
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
from verdict.server.singleflight import SingleFlight

__all__ = [
    "PRINCIPAL_STATE",
    "SESSION_COOKIE",
    "Authenticated",
    "Principal",
    "PrincipalRequirement",
    "Require",
    "RequireSdkKey",
    "authenticate",
    "authenticate_request",
    "sdk_principal",
    "set_session_cookie",
    "user_permissions",
]

SESSION_COOKIE = "verdict_session"
# The request-state entry (ASGI ``scope["state"]``) holding a principal authenticated
# before the route ran; only server code writes a request's state.
PRINCIPAL_STATE = "verdict.principal"
# Writing last_used_at on every request would turn each read into a write; once a
# minute is precise enough to tell a live key from a dead one.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Declared so the OpenAPI spec shows how to authenticate; ``authenticate`` reads both.
_bearer = HTTPBearer(auto_error=False, description="A login token (vt_…) or an API key (vk_…)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Dashboard session")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (vk_…), on SDK routes only"
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Cookie = Annotated[str | None, Depends(_cookie)]
ApiKeyHeader = Annotated[str | None, Depends(_api_key_header)]
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
    # The person the caller acts for: the user of a login, the owner of a personal key;
    # None for a key made from the command line (or by such a key) and for the system.
    owner_id: uuid.UUID | None = None

    def can(self, resource: str, action: str) -> bool:
        return permission_name(resource, action) in self.permissions


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Keep a login session in the browser: HttpOnly (scripts never read it),
    SameSite=Strict (other sites never send it), Secure behind HTTPS, for the
    session's lifetime."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        max_age=int(settings.token_ttl.total_seconds()),
    )


def _touch(record: AccessToken | ApiKey, now: dt.datetime) -> None:
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_RESOLUTION:
        record.last_used_at = now


def user_permissions(session: Session, user: User) -> frozenset[str]:
    """What ``user`` may do now: everything for a superuser, else the union of roles."""
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


def _api_key(session: Session, key: str, now: dt.datetime) -> ApiKey:
    prefix = key[: credentials.API_KEY_PREFIX_LENGTH]
    record = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if record is None or not credentials.matches(key, record.hashed_secret):
        raise AuthenticationError("unknown API key")
    if record.revoked_at is not None:
        raise AuthenticationError(f"API key {record.prefix}… was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationError(f"API key {record.prefix}… has expired")
    _touch(record, now)
    return record


def _key_principal(session: Session, record: ApiKey) -> Principal:
    owner = record.created_by if record.personal else None
    if record.personal:
        if owner is None:
            raise AuthenticationError(f"API key {record.prefix}… died with its deleted owner")
        if not owner.is_active:
            raise AuthenticationError(
                f"API key {record.prefix}… belongs to deactivated user {owner.username}"
            )
    # Admin keys hold the management API (a personal one no more than its owner holds);
    # server and client keys only the SDK routes.
    if record.kind is not ApiKeyKind.ADMIN:
        permissions: frozenset[str] = frozenset()
    elif owner is not None:
        permissions = user_permissions(session, owner)
    else:
        permissions = _ALL
    return Principal(
        name=f"api-key:{record.name}",
        permissions=permissions,
        api_key_id=record.id,
        api_key_kind=record.kind,
        environment_id=record.environment_id,
        owner_id=owner.id if owner is not None else None,
    )


def _from_api_key(session: Session, key: str, now: dt.datetime) -> Principal:
    return _key_principal(session, _api_key(session, key, now))


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
        permissions=user_permissions(session, user),
        user_id=user.id,
        token_id=record.id,
        owner_id=user.id,
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


def _sdk_credential(request: Request) -> str | None:
    """The API key an SDK request presents, or None when it presents something else
    (a login token, a cookie) or nothing."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential.startswith("vk_"):
            return credential
        return None
    api_key = request.headers.get("x-api-key")
    if api_key is None:
        return None
    api_key = api_key.strip()
    if not api_key.startswith("vk_"):
        raise AuthenticationError("X-API-Key must hold an API key (vk_…)")
    return api_key


def _authenticate_key(
    factory: sessionmaker[Session], credential: str
) -> tuple[Principal, dt.datetime | None]:
    with factory() as session:
        record = _api_key(session, credential, utcnow())
        principal, expires_at = _key_principal(session, record), record.expires_at
        if session.dirty:  # the last-used time moved
            session.commit()
    return principal, expires_at


def authenticate_request(request: Request) -> Principal:
    """:func:`authenticate` in a session of its own (blocking: call it on a thread)."""
    with request.app.state.session_factory() as session:
        return authenticate(request, session)


_key_lookups = SingleFlight()


def key_cache(app: FastAPI) -> ApiKeyCache:
    """The app's in-process API key cache (made on first use)."""
    cache: ApiKeyCache | None = getattr(app.state, "api_keys", None)
    if cache is None:
        cache = app.state.api_keys = ApiKeyCache()
    return cache


async def sdk_principal(request: Request, kinds: frozenset[ApiKeyKind]) -> Principal:
    """Authenticate an SDK request: an API key of one of ``kinds``, acting for one
    environment. A remembered key costs a hash and a dictionary lookup; anything else
    goes to the database on a worker thread, never on the event loop."""
    credential = _sdk_credential(request)
    if credential is None:
        # A login token or cookie still gets its precise 401 (expired, signed out…)
        # before the 403 below tells the caller to use an API key.
        principal = await run_in_threadpool(authenticate_request, request)
    else:
        cache = key_cache(request.app)
        digest = credentials.digest(credential)
        remembered = cache.get(digest, utcnow())
        if remembered is None:
            generation = cache.generation
            # Requests that present the same unknown key together share one lookup.
            principal, expires_at = await _key_lookups.run(
                (id(cache), digest),
                _authenticate_key,
                request.app.state.session_factory,
                credential,
            )
            cache.put(digest, principal, expires_at=expires_at, generation=generation)
        else:
            principal = remembered
    if principal.api_key_kind not in kinds or principal.environment_id is None:
        allowed = " or ".join(sorted(kind.value for kind in kinds))
        raise PermissionDeniedError(f"this route needs a {allowed} API key")
    return principal


class PrincipalRequirement:
    """Base of the management routes' dependencies: authenticate (or take the principal
    already authenticated for this request), then :meth:`authorize` it."""

    def authorize(self, principal: Principal) -> None:
        """Raise :class:`PermissionDeniedError` unless ``principal`` may use the route."""
        raise NotImplementedError

    def __call__(
        self,
        request: Request,
        db: Annotated[Session, Depends(get_db)],
        _bearer: Bearer = None,
        _cookie: Cookie = None,
    ) -> Principal:
        principal = request.scope.get("state", {}).get(PRINCIPAL_STATE)
        if not isinstance(principal, Principal):
            principal = authenticate(request, db)
        self.authorize(principal)
        return principal


class Require(PrincipalRequirement):
    """Dependency: authenticate, then demand ``resource:action``."""

    def __init__(self, resource: str, action: str) -> None:
        self.resource = resource
        self.action = action
        self.permission = permission_name(resource, action)

    def authorize(self, principal: Principal) -> None:
        if not principal.can(self.resource, self.action):
            raise PermissionDeniedError(f"{principal.name} lacks the permission {self.permission}")

    def __repr__(self) -> str:
        return f"Require({self.permission})"


class Authenticated(PrincipalRequirement):
    """Dependency for the few routes any signed-in person or admin key may use (who am
    I, log out). Server and client keys belong to the SDK routes only: 403 here."""

    def authorize(self, principal: Principal) -> None:
        if principal.api_key_kind in (ApiKeyKind.SERVER, ApiKeyKind.CLIENT):
            raise PermissionDeniedError(
                f"{principal.api_key_kind.value} keys serve the SDK routes only"
            )

    def __repr__(self) -> str:
        return "Authenticated()"


class RequireSdkKey:
    """Dependency for SDK routes: an API key of one of ``kinds``, acting for the one
    environment it was created for. People sign in to the management API instead, so a
    login token (or an admin key) is refused with 403."""

    def __init__(self, *kinds: ApiKeyKind) -> None:
        self.kinds = frozenset(kinds)

    async def __call__(
        self,
        request: Request,
        _bearer: Bearer = None,
        _api_key: ApiKeyHeader = None,
    ) -> Principal:
        return await sdk_principal(request, self.kinds)

    def __repr__(self) -> str:
        return f"RequireSdkKey({', '.join(sorted(k.value for k in self.kinds))})"
