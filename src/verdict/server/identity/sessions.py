"""Login sessions: log in (throttled, failures audited), log out, and end a user's
sessions when what they were granted on changes.

A session is an :class:`AccessToken` (a bearer token or the dashboard's cookie). Every
session of a user ends when their password changes (through the API or ``verdict users
reset-password``), when they are deactivated, and when they lose a role or the
superuser flag; the caller's own session survives a change the caller makes to
themselves, so changing one's password does not sign one out of the page doing it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from verdict.server.identity import credentials
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import AccessToken, AccessTokenKind, User
from verdict.server.identity.throttle import LoginThrottle

__all__ = ["end_sessions", "log_in", "log_out", "reset_password"]

_FAILURE = "wrong username or password"


def end_sessions(session: Session, *, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
    """Revoke every live session of a user but ``keep``; the caller commits."""
    query = (
        update(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        query = query.where(AccessToken.id != keep)
    result = cast("CursorResult[Any]", session.execute(query))
    return result.rowcount


def _failed(
    session: Session,
    *,
    user: User | None,
    username: str,
    address: str,
    reason: str,
    throttle: LoginThrottle,
) -> None:
    """Count and audit a failed login (never the password), then commit the entry."""
    throttle.failed(username=username, address=address)
    after: dict[str, Any] = {"client": address, "reason": reason}
    record(
        session,
        actor=Principal(name=username, permissions=frozenset()),
        action="login_failed",
        resource_type="user",
        resource_id=user.id if user is not None else username,
        before=None,
        after=after,
    )
    session.commit()


def log_in(
    session: Session,
    *,
    username: str,
    password: str,
    kind: AccessTokenKind,
    ttl: dt.timedelta,
    throttle: LoginThrottle,
    address: str,
) -> tuple[str, AccessToken]:
    throttle.check(username=username, address=address)
    user = session.scalars(select(User).where(User.username == username)).first()
    with throttle.hashing():
        if user is None or user.hashed_password is None:
            credentials.hash_password(password)  # same cost as a real check
            verified = False
        else:
            verified = credentials.verify_password(user.hashed_password, password)
    if user is None or not verified:
        reason = "wrong password" if user is not None else "unknown user"
        _failed(
            session,
            user=user,
            username=username,
            address=address,
            reason=reason,
            throttle=throttle,
        )
        # One message for every failure, so the API does not reveal which usernames exist.
        raise AuthenticationError(_FAILURE)
    assert user.hashed_password is not None
    if not user.is_active:
        _failed(
            session,
            user=user,
            username=username,
            address=address,
            reason="deactivated",
            throttle=throttle,
        )
        raise AuthenticationError(f"user {username} is deactivated")
    throttle.succeeded(username=username)
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
        raise PermissionDeniedError("API keys do not log out; revoke the key instead")
    token = session.get(AccessToken, principal.token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
    session.commit()


def reset_password(session: Session, *, actor: Principal, username: str, password: str) -> User:
    """Set a user's password (the command line's way in) and end all their sessions."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    user.hashed_password = credentials.hash_password(password)
    user.updated_at = utcnow()
    ended = end_sessions(session, user_id=user.id)
    record(
        session,
        actor=actor,
        action="reset_password",
        resource_type="user",
        resource_id=user.id,
        before=None,
        after={"sessions_ended": ended},
    )
    session.commit()
    return user
