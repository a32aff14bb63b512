"""Checks the database the server was built with: reachable, migrated to head."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from verdict import __version__
from verdict.server.db import migrate
from verdict.server.health.schemas import DatabaseHealth, Health

__all__ = ["check_health"]

logger = logging.getLogger(__name__)


def check_health(*, engine: Engine) -> Health:
    head = migrate.head_revision(engine)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        logger.warning(
            "health check: database unreachable: %s", str(exc.__cause__ or exc).splitlines()[0]
        )
        database = DatabaseHealth(
            reachable=False,
            dialect=engine.dialect.name,
            revision=None,
            head=head,
            up_to_date=False,
            # The driver's message names the database's host and port; /healthz is
            # public, so it says only what kind of failure, and the log says the rest.
            error=f"the database did not answer ({type(exc).__name__})",
        )
    else:
        database = DatabaseHealth(
            reachable=True,
            dialect=engine.dialect.name,
            revision=revision,
            head=head,
            up_to_date=revision == head,
        )
    status = "ok" if database.reachable and database.up_to_date else "degraded"
    return Health(status=status, version=__version__, database=database)
