"""Turning the database's refusals into domain conflicts with a message for people."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from verdict.server.errors import ConflictError

__all__ = ["conflict_on_integrity_error"]


@contextmanager
def conflict_on_integrity_error(session: Session, detail: str, *, field: str) -> Iterator[None]:
    """Run a flush or commit; a unique or foreign-key violation becomes a ConflictError.

    The session is rolled back, so nothing of the refused change is half-written.
    """
    try:
        yield
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(detail, field=field) from exc
