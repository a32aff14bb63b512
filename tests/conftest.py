"""Shared fixtures: one throwaway database per backend per test run.

PostgreSQL tests create their own database on the server at ``VERDICT_TEST_PG_ADMIN_URL``
(default: the local trust-auth server) and drop it afterwards. Outside CI a missing
server skips those tests; under ``CI=true`` it fails them, so CI never passes silently
without PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate

PG_ADMIN_URL = os.environ.get(
    "VERDICT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Property tests check behaviour, never speed: Hypothesis' default per-example deadline
# (200 ms) would fail them on a loaded machine.
settings.register_profile("verdict", deadline=None)
settings.load_profile("verdict")
BACKENDS = ("sqlite", "postgresql")


def _postgres_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


class DatabaseFactory:
    """Creates empty databases of either backend and removes them at the end of the run."""

    def __init__(self, tmp_dir: Path) -> None:
        self._tmp_dir = tmp_dir
        self._pg_databases: list[str] = []
        self._admin: Engine | None = None

    def _pg_admin(self) -> Engine:
        if self._admin is None:
            engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            except OperationalError as exc:
                _postgres_unavailable(str(exc.orig).strip().splitlines()[0])
            self._admin = engine
        return self._admin

    def new_url(self, backend: str) -> str:
        name = f"verdict_test_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{self._tmp_dir / name}.db"
        admin = self._pg_admin()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._pg_databases.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as connection:
            for name in self._pg_databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_migrated_url(database_factory: DatabaseFactory, backend: str) -> str:
    """A new database of the backend, upgraded to head (dropped with the run)."""
    url = database_factory.new_url(backend)
    engine = create_db_engine(get_settings(database_url=url))
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def migrated_url(database_factory: DatabaseFactory, backend: str) -> str:
    """A database of the backend, upgraded to head once for the whole run."""
    return new_migrated_url(database_factory, backend)


@pytest.fixture(scope="session")
def migrated_engine(migrated_url: str) -> Iterator[Engine]:
    engine = create_db_engine(get_settings(database_url=migrated_url))
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Flushes that fail roll back to a savepoint, so a test can provoke many constraint
    errors and keep going.
    """
    connection = migrated_engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
