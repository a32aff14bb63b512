"""Identity use cases: manage users and roles (logins are in ``sessions.py``).

Every change is written with its audit entry in one transaction. Services take a typed
session and keyword-only arguments and raise domain errors; they never speak HTTP.
No change may hand out a permission its caller lacks (``grants.py``); at least one
active superuser always remains; a user's sessions end when they lose a role, the
superuser flag, their password or their activity, and their keys end with them.
"""

from __future__ import annotations

import uuid
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
from verdict.server.errors import ConflictError, InvalidInputError, NotFoundError
from verdict.server.identity import credentials
from verdict.server.identity.auth import Principal
from verdict.server.identity.grants import (
    check_grant,
    check_may_manage,
    granted_by_roles,
    held_by,
)
from verdict.server.identity.keys import retire_keys
from verdict.server.identity.models import Permission, Role, User
from verdict.server.identity.permissions import all_permissions, permission_name
from verdict.server.identity.schemas import RoleCreate, RoleUpdate, UserCreate, UserUpdate
from verdict.server.identity.sessions import end_sessions

__all__ = [
    "ROLE_SORTS",
    "SYSTEM",
    "USER_SORTS",
    "create_role",
    "create_user",
    "delete_role",
    "delete_user",
    "find_user",
    "get_role",
    "get_user",
    "list_permissions",
    "list_roles",
    "list_users",
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


def find_user(session: Session, *, username: str) -> User:
    """The user with this login name (the command line names people, not ids)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user named {username!r}", field="username")
    return user


USER_SORTS: Sortable = {"username": User.username, "created_at": User.created_at}


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
        sortable=USER_SORTS,
        id_column=User.id,
    )


def create_user(session: Session, *, actor: Principal, data: UserCreate) -> User:
    roles = _roles_by_name(session, data.roles, "body.roles")
    user = User(
        username=data.username,
        email=data.email,
        hashed_password=None,
        full_name=data.full_name,
        is_superuser=data.is_superuser,
    )
    user.roles = roles
    check_grant(
        actor,
        held_by(user),
        what="the new user",
        field="body.is_superuser" if data.is_superuser else "body.roles",
    )
    user.hashed_password = credentials.hash_password(data.password)
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


def _keep_a_superuser(session: Session, user: User, *, field: str) -> None:
    """Refuse (409) a change that would leave no active superuser; ``user`` is about
    to stop being one."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.is_superuser, User.is_active, User.id != user.id)
    )
    if not others:
        raise ConflictError(
            f"{user.username} is the last active superuser; make another one first",
            field=field,
        )


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
    check_may_manage(actor, user, field="path.user_id")
    before = user_snapshot(user)
    was_superuser, was_active = user.is_superuser, user.is_active
    old_roles = {role.id for role in user.roles}
    changes = data.model_dump(exclude_unset=True)
    for field in ("email", "is_active", "is_superuser"):
        if field in changes and changes[field] is None:
            raise InvalidInputError(f"{field} cannot be null", field=f"body.{field}")
    if "roles" in changes and data.roles is not None:
        user.roles = _roles_by_name(session, data.roles, "body.roles")
    for field in ("email", "full_name", "is_active", "is_superuser"):
        if field in changes:
            setattr(user, field, changes[field])
    check_grant(
        actor,
        held_by(user),
        what=f"user {user.username}",
        field="body.is_superuser" if user.is_superuser else "body.roles",
    )
    if actor.owner_id == user.id and not user.is_active:
        raise ConflictError("you cannot deactivate yourself", field="body.is_active")
    with conflict_on_integrity_error(session, "another user has that e-mail", field="body.email"):
        session.flush()
    if was_superuser and was_active and not (user.is_superuser and user.is_active):
        _keep_a_superuser(
            session, user, field="body.is_superuser" if user.is_active else "body.is_active"
        )
    password_changed = "password" in changes and data.password is not None
    if password_changed and data.password is not None:
        user.hashed_password = credentials.hash_password(data.password)
    lost_a_role = bool(old_roles - {role.id for role in user.roles})
    if (
        password_changed
        or lost_a_role
        or not user.is_active
        or (was_superuser and not user.is_superuser)
    ):
        keep = actor.token_id if actor.user_id == user.id else None
        end_sessions(session, user_id=user.id, keep=keep)
    if was_active and not user.is_active:
        retire_keys(session, actor=actor, owner_id=user.id, reason="owner deactivated")
    user.updated_at = utcnow()  # bumps the version even when only roles changed
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
    if actor.owner_id == user.id:
        raise ConflictError("you cannot delete yourself", field="path.user_id")
    check_may_manage(actor, user, field="path.user_id")
    if user.is_superuser and user.is_active:
        _keep_a_superuser(session, user, field="path.user_id")
    retire_keys(session, actor=actor, owner_id=user.id, reason="owner deleted")
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


ROLE_SORTS: Sortable = {"name": Role.name}


def list_roles(
    session: Session, *, page: PageRequest, builtin: bool | None = None
) -> tuple[Sequence[Role], str | None]:
    """A page of roles; ``builtin`` keeps only the built-in (or only the custom) ones."""
    query = select(Role)
    if builtin is not None:
        query = query.where(Role.is_builtin.is_(builtin))
    return paginate(session, query, page, sortable=ROLE_SORTS, id_column=Role.id)


def create_role(session: Session, *, actor: Principal, data: RoleCreate) -> Role:
    permissions = _permissions_by_name(session, data.permissions)
    check_grant(
        actor,
        (permission_name(p.resource, p.action) for p in permissions),
        what=f"role {data.name!r}",
        field="body.permissions",
    )
    role = Role(name=data.name, description=data.description, permissions=permissions)
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
        held = granted_by_roles([role])
        role.permissions = _permissions_by_name(session, data.permissions)
        # Keeping what the role had grants nothing new; adding needs the caller to hold it.
        check_grant(
            actor,
            granted_by_roles([role]) - held,
            what=f"role {role.name!r}",
            field="body.permissions",
        )
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
    for member in role.users:
        end_sessions(session, user_id=member.id, keep=actor.token_id)
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
