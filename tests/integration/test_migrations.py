"""Migrations upgrade, downgrade to nothing and upgrade again; models and schema agree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, Uuid, bindparam, inspect, text
from typer.testing import CliRunner

from tests.conftest import DatabaseFactory
from verdict.cli import app
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate
from verdict.server.models import Base

runner = CliRunner()


@pytest.fixture
def fresh(database_factory: DatabaseFactory, backend: str) -> Iterator[tuple[str, Engine]]:
    url = database_factory.new_url(backend)
    engine = create_db_engine(get_settings(database_url=url))
    yield url, engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _enum_types(engine: Engine) -> set[str]:
    if engine.dialect.name != "postgresql":
        return set()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT typname FROM pg_type WHERE typtype = 'e'"))
        return {row[0] for row in rows}


def _indexes(engine: Engine) -> set[tuple[str, str]]:
    inspector = inspect(engine)
    return {
        (table, str(index["name"]))
        for table in _tables(engine)
        for index in inspector.get_indexes(table)
    }


def test_upgrade_downgrade_base_upgrade_leaves_nothing_behind(fresh: tuple[str, Engine]) -> None:
    _, engine = fresh
    migrate.upgrade(engine)
    assert _tables(engine) == set(Base.metadata.tables)
    enums = _enum_types(engine)
    if engine.dialect.name == "postgresql":
        assert {"experiment_status", "api_key_kind", "flag_value_type"} <= enums
    first_indexes = _indexes(engine)

    migrate.downgrade(engine, "base")
    assert _tables(engine) == set()
    assert _enum_types(engine) == set()
    assert migrate.current_revision(engine) is None

    migrate.upgrade(engine)
    assert _tables(engine) == set(Base.metadata.tables)
    assert _indexes(engine) == first_indexes
    assert migrate.current_revision(engine) == migrate.head_revision(engine)


def test_every_model_index_exists_after_upgrade(fresh: tuple[str, Engine]) -> None:
    _, engine = fresh
    migrate.upgrade(engine)
    expected = {
        (table.name, str(index.name))
        for table in Base.metadata.tables.values()
        for index in table.indexes
    }
    assert expected <= _indexes(engine)


def test_db_check_finds_no_drift_after_upgrade(fresh: tuple[str, Engine]) -> None:
    url, _ = fresh
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    result = runner.invoke(app, ["db", "check", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def test_db_check_fails_when_the_schema_drifts(fresh: tuple[str, Engine]) -> None:
    url, engine = fresh
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_events_unit_id"))
    result = runner.invoke(app, ["db", "check", "--database-url", url])
    assert result.exit_code != 0
    assert "differ" in result.output


def test_db_check_fails_on_a_database_behind_head(fresh: tuple[str, Engine]) -> None:
    url, _ = fresh
    result = runner.invoke(app, ["db", "check", "--database-url", url])
    assert result.exit_code != 0
    assert "not head" in result.output


def test_cli_walks_the_migration_lifecycle(fresh: tuple[str, Engine]) -> None:
    url, engine = fresh
    head = migrate.head_revision(engine)
    upgraded = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert upgraded.exit_code == 0
    assert f"at revision {head}" in upgraded.output
    current = runner.invoke(app, ["db", "current", "--database-url", url])
    assert current.output.strip() == f"{head} (head)"
    history = runner.invoke(app, ["db", "history", "--database-url", url])
    lines = history.output.splitlines()
    assert lines[0].split(":")[0].endswith(f"-> {head} (head)")
    assert lines[-1].startswith("<base> -> ")
    downgraded = runner.invoke(app, ["db", "downgrade", "base", "--database-url", url])
    assert downgraded.exit_code == 0
    assert "at revision base" in downgraded.output
    assert _tables(engine) == set()


def test_downgrading_one_step_keeps_existing_rows(fresh: tuple[str, Engine]) -> None:
    _, engine = fresh
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, username, email, is_active, is_superuser, preferences, "
                "version) VALUES (:id, 'ada', 'ada@example.com', true, false, '{}', 1)"
            ).bindparams(bindparam("id", uuid.uuid4(), type_=Uuid())),
        )
        role_id = connection.execute(text("SELECT id FROM roles WHERE name = 'viewer'")).scalar()
        user_id = connection.execute(text("SELECT id FROM users")).scalar()
        connection.execute(
            text("INSERT INTO user_roles (user_id, role_id) VALUES (:u, :r)"),
            {"u": user_id, "r": role_id},
        )
    migrate.downgrade(engine, "0001")
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 1
        # the built-in roles were removed with 0002 and recreated by it; the user stays
        assert connection.execute(text("SELECT count(*) FROM roles")).scalar() == 3
