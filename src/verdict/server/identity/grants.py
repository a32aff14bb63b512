"""What a principal may hand out: never a permission it does not hold itself.

Power travels through four doors, and each is checked here or in ``auth.py``:

- a role's permissions: creating a role, or adding permissions to one, needs the caller
  to hold every permission added (``role:create`` / ``role:update`` alone grant nothing);
- a user's permissions: creating a user, or giving one roles or the superuser flag,
  needs the caller to hold everything the user ends up holding (a superuser holds every
  permission, so only a caller holding every permission makes one);
- another user's account: editing or deleting a user needs the caller to hold
  everything that user holds, else ``user:update`` could reset a superuser's password
  and log in as them;
- API keys: an admin key made by a person acts with its owner's permissions of the
  moment (``auth.py``), so ``api_key:create`` makes keys no stronger than their maker.

Superusers and the command line hold every permission and pass every check.
"""

from __future__ import annotations

from collections.abc import Iterable

from verdict.server.errors import PermissionDeniedError
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import Role, User
from verdict.server.identity.permissions import all_permissions, permission_name

__all__ = [
    "EVERY_PERMISSION",
    "check_grant",
    "check_may_manage",
    "granted_by_roles",
    "held_by",
]

EVERY_PERMISSION = frozenset(permission_name(r, a) for r, a in all_permissions())


def granted_by_roles(roles: Iterable[Role]) -> frozenset[str]:
    return frozenset(
        permission_name(p.resource, p.action) for role in roles for p in role.permissions
    )


def held_by(user: User) -> frozenset[str]:
    """What ``user`` holds as the ORM row stands (before or after an unsaved edit)."""
    return EVERY_PERMISSION if user.is_superuser else granted_by_roles(user.roles)


def check_grant(actor: Principal, granted: Iterable[str], *, what: str, field: str) -> None:
    """Refuse (403) when ``granted`` holds a permission ``actor`` lacks."""
    missing = sorted(set(granted) - actor.permissions)
    if missing:
        raise PermissionDeniedError(
            f"{actor.name} cannot grant {what} permissions it does not hold: {', '.join(missing)}",
            field=field,
        )


def check_may_manage(actor: Principal, user: User, *, field: str) -> None:
    """Refuse (403) to edit or delete a user who holds a permission ``actor`` lacks."""
    missing = sorted(held_by(user) - actor.permissions)
    if missing:
        raise PermissionDeniedError(
            f"{actor.name} cannot change user {user.username}, who holds permissions "
            f"{actor.name} does not: {', '.join(missing)}",
            field=field,
        )
