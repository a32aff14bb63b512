"""Migration 0006 on existing rows: keys with a creator become personal, e-mail addresses
are lower-cased, and accounts whose addresses differ only by case stop the upgrade."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, Uuid, bindparam, text

from tests.conftest import DatabaseFactory
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate


@pytest.fixture
def at_0005(database_factory: DatabaseFactory, backend: str) -> Iterator[Engine]:
    engine = create_db_engine(get_settings(database_url=database_factory.new_url(backend)))
    migrate.upgrade(engine, "0005")
    yield engine
    engine.dispose()


def _add_user(engine: Engine, username: str, email: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, username, email, is_active, is_superuser, preferences, "
                "version) VALUES (:id, :username, :email, true, false, '{}', 1)"
            ).bindparams(bindparam("id", user_id, type_=Uuid())),
            {"username": username, "email": email},
        )
    return user_id


def _add_key(engine: Engine, prefix: str, created_by: uuid.UUID | None) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_keys (id, name, kind, prefix, hashed_secret, created_by_id, "
                "created_at) VALUES (:id, :name, 'admin', :prefix, 'x', :by, :at)"
            ).bindparams(
                bindparam("id", uuid.uuid4(), type_=Uuid()),
                bindparam("by", created_by, type_=Uuid()),
            ),
            {"name": prefix, "prefix": prefix, "at": dt.datetime(2026, 11, 1)},
        )


def test_upgrade_marks_keys_with_a_creator_personal_and_lower_cases_emails(
    at_0005: Engine,
) -> None:
    ada = _add_user(at_0005, "ada", "Ada.Lovelace@Example.COM")
    _add_key(at_0005, "vk_adm_person", ada)
    _add_key(at_0005, "vk_adm_cli", None)
    migrate.upgrade(at_0005)
    with at_0005.connect() as connection:
        assert connection.execute(text("SELECT email FROM users")).scalar() == (
            "ada.lovelace@example.com"
        )
        personal = dict(connection.execute(text("SELECT prefix, personal FROM api_keys")).all())
    assert {prefix: bool(flag) for prefix, flag in personal.items()} == {
        "vk_adm_person": True,
        "vk_adm_cli": False,
    }
    migrate.check(at_0005)
    migrate.downgrade(at_0005, "0005")
    migrate.upgrade(at_0005)


def test_upgrade_stops_naming_accounts_whose_emails_differ_only_by_case(
    at_0005: Engine,
) -> None:
    _add_user(at_0005, "ada", "ada@example.com")
    _add_user(at_0005, "ada2", "ADA@example.com")
    with pytest.raises(RuntimeError, match=r"ada@example\.com: ada, ada2"):
        migrate.upgrade(at_0005)
    assert migrate.current_revision(at_0005) == "0005"
