"""Identity routes: /api/v1/auth, /users, /roles, /permissions, /api-keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, set_etag
from verdict.server.db import get_db
from verdict.server.identity import keys, service, sessions
from verdict.server.identity.auth import (
    SESSION_COOKIE,
    Authenticated,
    Principal,
    Require,
    set_session_cookie,
)
from verdict.server.identity.models import AccessTokenKind, ApiKey, ApiKeyKind, Role, User
from verdict.server.identity.permissions import permission_name
from verdict.server.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginIn,
    MeOut,
    PermissionOut,
    RoleCreate,
    RoleOut,
    RoleUpdate,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from verdict.server.identity.throttle import LoginThrottle
from verdict.server.problems import problem_doc

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
Db = Annotated[Session, Depends(get_db)]


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        is_active=user.is_active,
        is_superuser=user.is_superuser,
        last_login_at=user.last_login_at,
        roles=sorted(r.name for r in user.roles),
        version=user.version,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def _role_out(role: Role) -> RoleOut:
    return RoleOut(
        id=role.id,
        name=role.name,
        description=role.description,
        is_builtin=role.is_builtin,
        permissions=sorted(permission_name(p.resource, p.action) for p in role.permissions),
        version=role.version,
    )


def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        kind=key.kind,
        environment=key.environment.key if key.environment else None,
        prefix=key.prefix,
        created_by=key.created_by.username if key.created_by else None,
        personal=key.personal,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
    )


# -- authentication -------------------------------------------------------------------


def login_throttle(app: FastAPI) -> LoginThrottle:
    """The app's login counters and hashing gate (made on first use; one per process)."""
    throttle: LoginThrottle | None = getattr(app.state, "login_throttle", None)
    if throttle is None:
        settings = app.state.settings
        throttle = app.state.login_throttle = LoginThrottle(
            per_account=settings.login_limit_per_account,
            per_address=settings.login_limit_per_address,
        )
    return throttle


@router.post(
    "/auth/login",
    response_model=TokenOut,
    tags=["auth"],
    summary="Log in",
    responses={429: problem_doc("Too many failed logins, or too many at once; see Retry-After")},
)
def log_in(body: LoginIn, request: Request, response: Response, db: Db) -> TokenOut:
    """Returns a bearer token and sets the dashboard's session cookie (HttpOnly).
    Failed logins are audited and throttled per account and per client address."""
    settings = request.app.state.settings
    token, record = sessions.log_in(
        db,
        username=body.username,
        password=body.password,
        kind=AccessTokenKind.BEARER,
        ttl=settings.token_ttl,
        throttle=login_throttle(request.app),
        address=request.client.host if request.client else "unknown",
    )
    set_session_cookie(response, token, settings)
    return TokenOut(access_token=token, expires_at=record.expires_at)


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], summary="Log out"
)
def log_out(principal: Annotated[Principal, Depends(Authenticated())], db: Db) -> Response:
    sessions.log_out(db, principal=principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/auth/me", response_model=MeOut, tags=["auth"], summary="Who am I")
def me(principal: Annotated[Principal, Depends(Authenticated())]) -> MeOut:
    return MeOut(
        name=principal.name,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        permissions=sorted(principal.permissions),
    )


# -- users ----------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserOut], tags=["users"], summary="List users")
def list_users(
    _: Annotated[Principal, Depends(Require("user", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("username", service.USER_SORTS))],
    q: Annotated[str | None, Query(description="Text in username, e-mail or name")] = None,
) -> Page[UserOut]:
    users, cursor = service.list_users(db, page=page, text=q)
    return Page[UserOut](items=[_user_out(u) for u in users], next_cursor=cursor)


@router.post(
    "/users", response_model=UserOut, status_code=201, tags=["users"], summary="Create a user"
)
def create_user(
    body: UserCreate,
    principal: Annotated[Principal, Depends(Require("user", "create"))],
    db: Db,
    response: Response,
) -> UserOut:
    user = service.create_user(db, actor=principal, data=body)
    set_etag(response, user.version)
    return _user_out(user)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"], summary="Get a user")
def get_user(
    user_id: uuid.UUID,
    _: Annotated[Principal, Depends(Require("user", "read"))],
    db: Db,
    response: Response,
) -> UserOut:
    user = service.get_user(db, user_id=user_id)
    set_etag(response, user.version)
    return _user_out(user)


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"], summary="Edit a user")
def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    principal: Annotated[Principal, Depends(Require("user", "update"))],
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> UserOut:
    user = service.update_user(db, actor=principal, user_id=user_id, data=body, if_match=if_match)
    set_etag(response, user.version)
    return _user_out(user)


@router.delete("/users/{user_id}", status_code=204, tags=["users"], summary="Delete a user")
def delete_user(
    user_id: uuid.UUID,
    principal: Annotated[Principal, Depends(Require("user", "delete"))],
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_user(db, actor=principal, user_id=user_id, if_match=if_match)
    return Response(status_code=204)


# -- roles and permissions ------------------------------------------------------------


@router.get(
    "/permissions",
    response_model=list[PermissionOut],
    tags=["roles"],
    summary="List every permission",
)
def list_permissions(
    _: Annotated[Principal, Depends(Require("role", "read"))], db: Db
) -> list[PermissionOut]:
    return [
        PermissionOut(
            name=permission_name(p.resource, p.action),
            resource=p.resource,
            action=p.action,
            description=p.description,
        )
        for p in service.list_permissions(db)
    ]


@router.get("/roles", response_model=Page[RoleOut], tags=["roles"], summary="List roles")
def list_roles(
    _: Annotated[Principal, Depends(Require("role", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("name", service.ROLE_SORTS))],
) -> Page[RoleOut]:
    roles, cursor = service.list_roles(db, page=page)
    return Page[RoleOut](items=[_role_out(r) for r in roles], next_cursor=cursor)


@router.post(
    "/roles",
    response_model=RoleOut,
    status_code=201,
    tags=["roles"],
    summary="Create a custom role",
)
def create_role(
    body: RoleCreate,
    principal: Annotated[Principal, Depends(Require("role", "create"))],
    db: Db,
    response: Response,
) -> RoleOut:
    role = service.create_role(db, actor=principal, data=body)
    set_etag(response, role.version)
    return _role_out(role)


@router.get("/roles/{role_id}", response_model=RoleOut, tags=["roles"], summary="Get a role")
def get_role(
    role_id: uuid.UUID,
    _: Annotated[Principal, Depends(Require("role", "read"))],
    db: Db,
    response: Response,
) -> RoleOut:
    role = service.get_role(db, role_id=role_id)
    set_etag(response, role.version)
    return _role_out(role)


@router.patch(
    "/roles/{role_id}", response_model=RoleOut, tags=["roles"], summary="Edit a custom role"
)
def update_role(
    role_id: uuid.UUID,
    body: RoleUpdate,
    principal: Annotated[Principal, Depends(Require("role", "update"))],
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> RoleOut:
    role = service.update_role(db, actor=principal, role_id=role_id, data=body, if_match=if_match)
    set_etag(response, role.version)
    return _role_out(role)


@router.delete("/roles/{role_id}", status_code=204, tags=["roles"], summary="Delete a custom role")
def delete_role(
    role_id: uuid.UUID,
    principal: Annotated[Principal, Depends(Require("role", "delete"))],
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_role(db, actor=principal, role_id=role_id, if_match=if_match)
    return Response(status_code=204)


# -- API keys -------------------------------------------------------------------------


@router.get("/api-keys", response_model=Page[ApiKeyOut], tags=["api keys"], summary="List keys")
def list_api_keys(
    _: Annotated[Principal, Depends(Require("api_key", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("-created_at", keys.KEY_SORTS))],
    kind: ApiKeyKind | None = None,
) -> Page[ApiKeyOut]:
    found, cursor = keys.list_keys(db, page=page, kind=kind)
    return Page[ApiKeyOut](items=[_key_out(k) for k in found], next_cursor=cursor)


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    tags=["api keys"],
    summary="Create a key (its secret is shown once)",
)
def create_api_key(
    body: ApiKeyCreate,
    principal: Annotated[Principal, Depends(Require("api_key", "create"))],
    db: Db,
) -> ApiKeyCreated:
    key, secret = keys.create_key(
        db,
        actor=principal,
        name=body.name,
        kind=body.kind,
        environment=body.environment,
        expires_at=body.expires_at,
    )
    return ApiKeyCreated(**_key_out(key).model_dump(), key=secret)


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut, tags=["api keys"], summary="Get a key")
def get_api_key(
    key_id: uuid.UUID, _: Annotated[Principal, Depends(Require("api_key", "read"))], db: Db
) -> ApiKeyOut:
    return _key_out(keys.get_key(db, key_id=key_id))


@router.delete(
    "/api-keys/{key_id}", response_model=ApiKeyOut, tags=["api keys"], summary="Revoke a key"
)
def revoke_api_key(
    key_id: uuid.UUID,
    principal: Annotated[Principal, Depends(Require("api_key", "delete"))],
    db: Db,
) -> ApiKeyOut:
    return _key_out(keys.revoke_key(db, actor=principal, key_id=key_id))
