"""Migration 0007 on existing rows: ``integer`` becomes a flag type, json flags that hold
anything but objects stop the upgrade (naming each place), and a downgrade turns
integer flags into number flags."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, Uuid, bindparam, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import DatabaseFactory
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate


@pytest.fixture
def at_0006(database_factory: DatabaseFactory, backend: str) -> Iterator[Engine]:
    engine = create_db_engine(get_settings(database_url=database_factory.new_url(backend)))
    migrate.upgrade(engine, "0006")
    yield engine
    engine.dispose()


def _add_flag(
    engine: Engine, key: str, value_type: str, default: Any, variants: Any = ()
) -> uuid.UUID:
    flag_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feature_flags (id, key, name, value_type, default_value, variants, "
                "tags, archived, created_at, updated_at, version) VALUES (:id, :key, :key, "
                ":value_type, :default, :variants, '[]', false, :at, :at, 1)"
            ).bindparams(bindparam("id", flag_id, type_=Uuid())),
            {
                "key": key,
                "value_type": value_type,
                "default": json.dumps(default),
                "variants": json.dumps(list(variants)),
                "at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            },
        )
    return flag_id


def _production(engine: Engine) -> uuid.UUID:
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT id FROM environments WHERE key = 'production'")
        ).scalar()
    assert found is not None
    return uuid.UUID(str(found))  # SQLite hands back the stored hex digits


def _add_state(engine: Engine, flag_id: uuid.UUID, rules: list[Any]) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feature_flag_environments (id, flag_id, environment_id, enabled, "
                "rules, updated_at, version) VALUES (:id, :flag, :env, true, :rules, :at, 1)"
            ).bindparams(
                bindparam("id", uuid.uuid4(), type_=Uuid()),
                bindparam("flag", flag_id, type_=Uuid()),
                bindparam("env", _production(engine), type_=Uuid()),
            ),
            {"rules": json.dumps(rules), "at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )


def _add_override(engine: Engine, flag_id: uuid.UUID, unit_id: str, value: Any) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feature_flag_overrides (id, flag_id, environment_id, unit_id, "
                "value, created_at, version) VALUES (:id, :flag, :env, :unit, :value, :at, 1)"
            ).bindparams(
                bindparam("id", uuid.uuid4(), type_=Uuid()),
                bindparam("flag", flag_id, type_=Uuid()),
                bindparam("env", _production(engine), type_=Uuid()),
            ),
            {"unit": unit_id, "value": json.dumps(value), "at": dt.datetime(2026, 11, 1)},
        )


def _add_prerequisite(engine: Engine, flag_id: uuid.UUID, parent: uuid.UUID, value: Any) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feature_flag_prerequisites (flag_id, prerequisite_flag_id, "
                "required_value) VALUES (:flag, :parent, :value)"
            ).bindparams(
                bindparam("flag", flag_id, type_=Uuid()),
                bindparam("parent", parent, type_=Uuid()),
            ),
            {"value": json.dumps(value)},
        )


def _value_types(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key, value_type FROM feature_flags")).all()
    return {key: str(value_type) for key, value_type in rows}


def test_upgrade_stops_naming_every_json_value_that_is_not_an_object(at_0006: Engine) -> None:
    _add_flag(
        at_0006,
        "listed",
        "json",
        [1, 2],
        [{"key": "fine", "value": {"a": 1}}, {"key": "text", "value": "x"}],
    )
    fine = _add_flag(at_0006, "fine", "json", {"a": 1})
    _add_state(
        at_0006,
        fine,
        [
            {"id": "named", "type": "force", "variant": "v"},
            {"id": "raw", "type": "force", "value": None},
            {"id": "ok", "type": "rollout", "percentage": 5, "value": {"b": 2}},
        ],
    )
    _add_override(at_0006, fine, "user-7", ["x"])
    gate = _add_flag(at_0006, "gate", "boolean", False)
    _add_prerequisite(at_0006, gate, fine, "on")
    with pytest.raises(RuntimeError) as raised:
        migrate.upgrade(at_0006)
    message = str(raised.value)
    for place in (
        "flag 'listed': default_value",
        "flag 'listed': variants[1] ('text')",
        "flag 'fine' in environment 'production': rules[1].value",
        "flag 'fine' in environment 'production': the override for unit 'user-7'",
        "flag 'gate': the value its prerequisite 'fine' must resolve to",
    ):
        assert place in message
    assert "5 stored values are not objects" in message
    assert "variants[0]" not in message
    assert "rules[0]" not in message
    assert migrate.current_revision(at_0006) == "0006"
    with at_0006.begin() as connection:
        connection.execute(text("DELETE FROM feature_flags WHERE key IN ('listed', 'gate')"))
        connection.execute(text("DELETE FROM feature_flag_overrides"))
        connection.execute(text("DELETE FROM feature_flag_environments"))
    migrate.upgrade(at_0006)
    assert migrate.current_revision(at_0006) == migrate.head_revision(at_0006)


def test_upgrade_adds_integer_flags_and_downgrade_turns_them_into_number_flags(
    at_0006: Engine,
) -> None:
    _add_flag(at_0006, "document", "json", {"a": [1]})
    with pytest.raises(DBAPIError):
        _add_flag(at_0006, "too-early", "integer", 1)
    migrate.upgrade(at_0006)
    _add_flag(at_0006, "count", "integer", 10)
    assert _value_types(at_0006) == {"document": "json", "count": "integer"}
    with pytest.raises(DBAPIError):
        _add_flag(at_0006, "date", "date", "2030-01-01")
    migrate.check(at_0006)
    migrate.downgrade(at_0006, "0006")
    assert _value_types(at_0006) == {"document": "json", "count": "number"}
    with pytest.raises(DBAPIError):
        _add_flag(at_0006, "too-late", "integer", 1)
    migrate.upgrade(at_0006)
    assert _value_types(at_0006) == {"document": "json", "count": "number"}
