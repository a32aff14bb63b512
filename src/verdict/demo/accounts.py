"""The demo's people and keys: the administrator a newcomer signs in as, and the keys the
seeding and the simulated SDK use.

- The administrator ``admin`` gets a generated password, shown once. If it already
  exists its password is left alone, unless a reset is asked for (which also ends its
  sessions, as ``verdict users reset-password`` does).
- Seeding acts through the management API with an admin key that belongs to no one
  (as one made by ``verdict keys create``); it is revoked when seeding ends.
- The simulated application holds a server key of ``production``; it is kept, so the
  newcomer can point their own SDK at the demo.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.demo.catalog import ADMIN_EMAIL, ADMIN_USERNAME, ENVIRONMENT
from verdict.server.identity import keys, service, sessions
from verdict.server.identity.models import ApiKeyKind, User
from verdict.server.identity.schemas import UserCreate

__all__ = ["Admin", "DemoKeys", "create_keys", "ensure_admin", "revoke_key"]

SEEDING_KEY_NAME = "verdict demo: seeding"
SDK_KEY_NAME = "verdict demo: simulated shop"


@dataclass(frozen=True)
class Admin:
    username: str
    password: str | None  # None: it existed and was left as it was
    created: bool


@dataclass(frozen=True)
class DemoKeys:
    admin_id: uuid.UUID
    admin_secret: str
    sdk_secret: str


def _password() -> str:
    # 16 characters from the URL-safe alphabet: about 96 bits, easy to copy.
    return secrets.token_urlsafe(12)


def ensure_admin(session: Session, *, reset_password: bool) -> Admin:
    """The demo administrator, created with a new password if missing."""
    user = session.scalars(select(User).where(User.username == ADMIN_USERNAME)).first()
    if user is None:
        password = _password()
        service.create_user(
            session,
            actor=service.SYSTEM,
            data=UserCreate(
                username=ADMIN_USERNAME,
                email=ADMIN_EMAIL,
                password=password,
                full_name="Demo administrator",
                is_superuser=True,
                roles=["admin"],
            ),
        )
        return Admin(ADMIN_USERNAME, password, created=True)
    if not reset_password:
        return Admin(ADMIN_USERNAME, None, created=False)
    password = _password()
    sessions.reset_password(
        session, actor=service.SYSTEM, username=ADMIN_USERNAME, password=password
    )
    return Admin(ADMIN_USERNAME, password, created=False)


def create_keys(session: Session) -> DemoKeys:
    """An ownerless admin key for seeding and a production server key for the SDK."""
    admin, admin_secret = keys.create_key(
        session,
        actor=service.SYSTEM,
        name=SEEDING_KEY_NAME,
        kind=ApiKeyKind.ADMIN,
        environment=None,
    )
    _, sdk_secret = keys.create_key(
        session,
        actor=service.SYSTEM,
        name=SDK_KEY_NAME,
        kind=ApiKeyKind.SERVER,
        environment=ENVIRONMENT,
    )
    return DemoKeys(admin_id=admin.id, admin_secret=admin_secret, sdk_secret=sdk_secret)


def revoke_key(session: Session, key_id: uuid.UUID) -> None:
    keys.revoke_key(session, actor=service.SYSTEM, key_id=key_id)
