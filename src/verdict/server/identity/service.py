"""Identity use cases: log in and out, manage users and roles.

Every change is written with its audit entry in one transaction. Services take a typed
session and keyword-only arguments and raise domain errors; they never speak HTTP.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.api.filters import matches_text
from verdict.server.api.pagination import PageRequest, paginate
from verdict.server.api.versioning import check_version
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from verdict.server.identity import credentials
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import AccessToken, AccessTokenKind, Permission, Role, User
from verdict.server.identity.permissions import all_permissions, permission_name
from verdict.server.identity.schemas import RoleCreate, RoleUpdate, UserCreate, UserUpdate

__all__ = [
    "SYSTEM",
    "create_role",
    "create_user",
    "delete_role",
    "delete_user",
    "get_role",
    "get_user",
    "list_permissions",
    "list_roles",
    "list_users",
    "log_in",
    "log_out",
    "role_snapshot",
    "update_role",
    "update_user",
    "user_snapshot",
]

# The actor of changes made from the command line.
SYSTEM = Principal(
    name="system", permissions=frozenset(permission_name(r, a) for r, a in all_permissions())
)


def user_snapshot(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "roles": sorted(role.name for role in user.roles),
    }


def role_snapshot(role: Role) -> dict[str, Any]:
    return {
        "name": role.name,
        "description": role.description,
        "permissions": sorted(permission_name(p.resource, p.action) for p in role.permissions),
    }


def log_in(
    session: Session,
    *,
    username: str,
    password: str,
    kind: AccessTokenKind,
    ttl: dt.timedelta,
) -> tuple[str, AccessToken]:
    user = session.scalars(select(User).where(User.username == username)).first()
    # One message for every failure, so the API does not reveal which usernames exist.
    failure = AuthenticationError("wrong username or password")
    if user is None or user.hashed_password is None:
        credentials.hash_password(password)  # same cost as a real check
        raise failure
    if not credentials.verify_password(user.hashed_password, password):
        raise failure
    if not user.is_active:
        raise AuthenticationError(f"user {username} is deactivated")
    if credentials.password_needs_rehash(user.hashed_password):
        user.hashed_password = credentials.hash_password(password)
    token = credentials.new_session_token()
    now = utcnow()
    record_ = AccessToken(
        user_id=user.id,
        token_hash=credentials.digest(token),
        kind=kind,
        created_at=now,
        expires_at=now + ttl,
    )
    user.last_login_at = now
    session.add(record_)
    session.commit()
    return token, record_


def log_out(session: Session, *, principal: Principal) -> None:
    if principal.token_id is None:
        raise InvalidInputError("API keys do not log out; revoke the key instead")
    token = session.get(AccessToken, principal.token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
    session.commit()


def _roles_by_name(session: Session, names: list[str], field: str) -> list[Role]:
    roles = session.scalars(select(Role).where(Role.name.in_(names))).all()
    missing = sorted(set(names) - {role.name for role in roles})
    if missing:
        raise InvalidInputError(f"unknown role(s): {', '.join(missing)}", field=field)
    return list(roles)


def get_user(session: Session, *, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def list_users(
    session: Session, *, page: PageRequest, text: str | None = None
) -> tuple[Sequence[User], str | None]:
    query = select(User)
    if text:
        query = query.where(matches_text(text, User.username, User.email, User.full_name))
    return paginate(
        session,
        query,
        page,
        sortable={"username": User.username, "created_at": User.created_at},
        id_column=User.id,
    )


def create_user(session: Session, *, actor: Principal, data: UserCreate) -> User:
    user = User(
        username=data.username,
        email=data.email,
        hashed_password=credentials.hash_password(data.password),
        full_name=data.full_name,
        is_superuser=data.is_superuser,
        roles=_roles_by_name(session, data.roles, "body.roles"),
    )
    session.add(user)
    with conflict_on_integrity_error(
        session, f"a user named {data.username!r} or with that e-mail exists", field="body.username"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="create",
        resource_type="user",
        resource_id=user.id,
        before=None,
        after=user_snapshot(user),
    )
    session.commit()
    return user


def update_user(
    session: Session,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    data: UserUpdate,
    if_match: str | None,
) -> User:
    user = get_user(session, user_id=user_id)
    check_version(if_match, user.version)
    before = user_snapshot(user)
    changes = data.model_dump(exclude_unset=True)
    if "password" in changes and data.password is not None:
        user.hashed_password = credentials.hash_password(data.password)
    if "roles" in changes and data.roles is not None:
        user.roles = _roles_by_name(session, data.roles, "body.roles")
    for field in ("email", "full_name", "is_active", "is_superuser"):
        if field in changes:
            if changes[field] is None and field != "full_name":
                raise InvalidInputError(f"{field} cannot be null", field=f"body.{field}")
            setattr(user, field, changes[field])
    if actor.user_id == user.id and (user.is_active is False):
        raise ConflictError("you cannot deactivate yourself", field="body.is_active")
    user.updated_at = utcnow()  # bumps the version even when only roles changed
    with conflict_on_integrity_error(session, "another user has that e-mail", field="body.email"):
        session.flush()
    record(
        session,
        actor=actor,
        action="update",
        resource_type="user",
        resource_id=user.id,
        before=before,
        after=user_snapshot(user),
    )
    session.commit()
    return user


def delete_user(
    session: Session, *, actor: Principal, user_id: uuid.UUID, if_match: str | None
) -> None:
    user = get_user(session, user_id=user_id)
    check_version(if_match, user.version)
    if actor.user_id == user.id:
        raise ConflictError("you cannot delete yourself", field="path.user_id")
    record(
        session,
        actor=actor,
        action="delete",
        resource_type="user",
        resource_id=user.id,
        before=user_snapshot(user),
        after=None,
    )
    session.delete(user)
    session.commit()


def list_permissions(session: Session) -> Sequence[Permission]:
    return session.scalars(
        select(Permission).order_by(Permission.resource, Permission.action)
    ).all()


def _permissions_by_name(session: Session, names: list[str]) -> list[Permission]:
    wanted = set(names)
    found = [
        p for p in list_permissions(session) if permission_name(p.resource, p.action) in wanted
    ]
    missing = sorted(wanted - {permission_name(p.resource, p.action) for p in found})
    if missing:
        raise InvalidInputError(
            f"unknown permission(s): {', '.join(missing)}", field="body.permissions"
        )
    return found


def get_role(session: Session, *, role_id: uuid.UUID) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFoundError(f"no role with id {role_id}")
    return role


def list_roles(session: Session, *, page: PageRequest) -> tuple[Sequence[Role], str | None]:
    return paginate(session, select(Role), page, sortable={"name": Role.name}, id_column=Role.id)


def create_role(session: Session, *, actor: Principal, data: RoleCreate) -> Role:
    role = Role(
        name=data.name,
        description=data.description,
        permissions=_permissions_by_name(session, data.permissions),
    )
    session.add(role)
    with conflict_on_integrity_error(
        session, f"a role named {data.name!r} exists", field="body.name"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="create",
        resource_type="role",
        resource_id=role.id,
        before=None,
        after=role_snapshot(role),
    )
    session.commit()
    return role


def _editable(role: Role) -> None:
    if role.is_builtin:
        raise ConflictError(f"built-in role {role.name!r} cannot be changed", field="path.role_id")


def update_role(
    session: Session,
    *,
    actor: Principal,
    role_id: uuid.UUID,
    data: RoleUpdate,
    if_match: str | None,
) -> Role:
    role = get_role(session, role_id=role_id)
    check_version(if_match, role.version)
    _editable(role)
    before = role_snapshot(role)
    changes = data.model_dump(exclude_unset=True)
    if "description" in changes:
        role.description = data.description
    if "permissions" in changes and data.permissions is not None:
        role.permissions = _permissions_by_name(session, data.permissions)
    role.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor=actor,
        action="update",
        resource_type="role",
        resource_id=role.id,
        before=before,
        after=role_snapshot(role),
    )
    session.commit()
    return role


def delete_role(
    session: Session, *, actor: Principal, role_id: uuid.UUID, if_match: str | None
) -> None:
    role = get_role(session, role_id=role_id)
    check_version(if_match, role.version)
    _editable(role)
    record(
        session,
        actor=actor,
        action="delete",
        resource_type="role",
        resource_id=role.id,
        before=role_snapshot(role),
        after=None,
    )
    session.delete(role)
    session.commit()
