"""``verdict flags import`` as a command: dry runs, keys Verdict already has, all or
nothing, bad files and options (a message naming them and a non-zero exit, nothing
written), and running servers told of the change."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import DatabaseFactory
from verdict.server.audit.models import AuditLogEntry
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate
from verdict.server.delivery.changes import CHANNEL
from verdict.server.flags import service as flags
from verdict.server.flags.models import FeatureFlag
from verdict.server.flags.schemas import FlagCreate
from verdict.server.identity.service import SYSTEM

from .conftest import Run, decide, snapshot


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _payload(**features: Any) -> dict[str, Any]:
    return {"features": features}


def _count(engine: Engine, *keys: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(FeatureFlag.key.in_(keys))) or 0


def _audit_entries(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(AuditLogEntry)) or 0


def test_a_dry_run_prints_the_plan_and_writes_nothing(
    run_import: Run, import_engine: Engine
) -> None:
    key = _key("dry")
    before = _audit_entries(import_engine)
    result = run_import(_payload(**{key: {"defaultValue": True}}), "-e", "production", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"flag {key}: create" in result.output
    assert "dry run, nothing was written: 1 flag created" in result.output
    assert _count(import_engine, key) == 0
    assert _audit_entries(import_engine) == before


def test_a_dry_run_reports_what_verdict_would_refuse(
    run_import: Run, import_engine: Engine
) -> None:
    archived = _archived_flag(import_engine)
    key = _key("new")
    document = _payload(**{key: {"defaultValue": True}, archived: {"defaultValue": True}})
    result = run_import(document, "-e", "production", "--update", "--dry-run")
    assert result.exit_code == 1, result.output
    assert f"flag '{archived}' in production: " in result.output
    assert "is archived" in result.output


def test_keys_verdict_has_are_refused_unless_told_and_nothing_is_written(
    run_import: Run, import_engine: Engine
) -> None:
    old, new = _key("old"), _key("new")
    assert run_import(_payload(**{old: {"defaultValue": True}}), "-e", "production").exit_code == 0
    document = _payload(**{old: {"defaultValue": False}, new: {"defaultValue": True}})
    refused = run_import(document, "-e", "production")
    assert refused.exit_code == 1
    assert f"flags already in Verdict: {old} (import with --skip-existing" in refused.output
    assert "refused, nothing was written" in refused.output
    assert _count(import_engine, new) == 0


def test_skip_existing_leaves_them_and_update_replaces_them(
    run_import: Run, import_engine: Engine
) -> None:
    key = _key("kept")
    first = _payload(**{key: {"defaultValue": False, "rules": [{"force": True}]}})
    assert run_import(first, "-e", "production").exit_code == 0
    second = _payload(
        **{key: {"defaultValue": False, "rules": [{"condition": {"a": 1}, "force": True}]}}
    )
    skipped = run_import(second, "-e", "production", "--skip-existing")
    assert skipped.exit_code == 0, skipped.output
    assert f"flag {key}: already in Verdict: left as it is" in skipped.output
    assert decide(snapshot(import_engine, "production"), key, "u", {}).value is True
    updated = run_import(second, "-e", "production", "--update")
    assert updated.exit_code == 0, updated.output
    assert f"flag {key}: update" in updated.output
    assert decide(snapshot(import_engine, "production"), key, "u", {}).value is False
    assert decide(snapshot(import_engine, "production"), key, "u", {"a": 1}).value is True


def test_standard_input_is_read_for_a_dash(run_import: Run, import_engine: Engine) -> None:
    key = _key("piped")
    result = run_import(
        "-", "-e", "production", stdin=f'{{"features": {{"{key}": {{"defaultValue": true}}}}}}'
    )
    assert result.exit_code == 0, result.output
    assert _count(import_engine, key) == 1


def test_a_segment_with_another_condition_is_refused_unless_updated(
    run_import: Run, import_engine: Engine
) -> None:
    group = _key("grp")

    def document(values: list[str]) -> dict[str, Any]:
        key = _key("grouped")
        rule = {"condition": {"id": {"$inGroup": group}}, "force": True}
        return {"features": {key: {"defaultValue": False, "rules": [rule]}},
                "savedGroups": {group: values}}  # fmt: skip

    assert run_import(document(["a"]), "-e", "production").exit_code == 0
    same = run_import(document(["a"]), "-e", "production")
    assert same.exit_code == 0, same.output
    assert f"segment {group}: exists with the same condition" in same.output
    other = run_import(document(["a", "b"]), "-e", "production")
    assert other.exit_code == 1
    assert f"segment {group!r} already in Verdict with another condition" in other.output
    updated = run_import(document(["a", "b"]), "-e", "production", "--update")
    assert updated.exit_code == 0, updated.output
    assert f"segment {group}: update (condition replaced)" in updated.output
    snap = snapshot(import_engine, "production")
    key = next(key for key in snap.flags if key.startswith("grouped-") and
               decide(snap, key, "b", {"id": "b"}).value is True)  # fmt: skip
    assert decide(snap, key, "c", {"id": "c"}).value is False


def _archived_flag(engine: Engine) -> str:
    import verdict.server.models  # noqa: F401

    key = _key("archived")
    with Session(engine) as session:
        flag = flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key=key, name=key))
        flags.archive_flag(
            session, actor=SYSTEM, key=key, archived=True, if_match=f'"{flag.version}"'
        )
    return key


def test_one_refused_flag_writes_nothing_at_all(run_import: Run, import_engine: Engine) -> None:
    archived = _archived_flag(import_engine)
    first, last = _key("a"), _key("z")
    document = _payload(
        **{
            first: {"defaultValue": True},
            archived: {"defaultValue": True},
            last: {"defaultValue": 1},
        }
    )
    before = _audit_entries(import_engine)
    result = run_import(document, "-e", "production", "--update")
    assert result.exit_code == 1, result.output
    assert "refused, nothing was written" in result.output
    assert _count(import_engine, first, last) == 0
    assert _audit_entries(import_engine) == before


def test_bad_files_are_named_and_nothing_is_written(
    run_import: Run, import_engine: Engine, tmp_path: Path
) -> None:
    not_json = tmp_path / "export.json"
    not_json.write_text("{features: 1}")
    result = run_import(not_json, "-e", "production")
    assert result.exit_code == 2
    assert f"error: {not_json}: is not valid JSON" in result.output

    huge = tmp_path / "huge.json"
    with huge.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024 + 1)
    result = run_import(huge, "-e", "production")
    assert result.exit_code == 2
    assert "larger than 52,428,800 bytes" in result.output

    result = run_import({"features": {"f": {"rules": [{"coverage": "most"}]}}}, "-e", "production")
    assert result.exit_code == 2
    assert "features.f.rules.0.coverage: Input should be a valid number" in result.output

    result = run_import(tmp_path / "missing.json", "-e", "production")
    assert result.exit_code == 2
    assert "missing.json: cannot be read" in result.output

    result = run_import({"features": [{"name": "x"}]}, "-e", "production", source="unleash")
    assert result.exit_code == 2
    assert "expected an Unleash export" in result.output


def test_bad_options_are_named(run_import: Run, import_engine: Engine) -> None:
    document = _payload(**{_key("f"): {"defaultValue": True}})
    result = run_import(document)
    assert result.exit_code == 2
    assert "--environment: this file holds one unnamed environment" in result.output
    result = run_import(document, "-e", "nowhere")
    assert result.exit_code == 2
    assert "--environment: Verdict has no environment nowhere" in result.output
    result = run_import(document, "-e", "production", "--update", "--skip-existing")
    assert result.exit_code == 2
    assert "choose one" in result.output
    result = run_import(document, "-e", "production", source="launchdarkly")
    assert result.exit_code == 2


def test_running_servers_are_told_on_postgresql(
    database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    url = database_factory.new_url("postgresql")
    engine = create_db_engine(get_settings(database_url=url))
    migrate.upgrade(engine)
    engine.dispose()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    path = tmp_path / "payload.json"
    path.write_text('{"features": {"told": {"defaultValue": true}}}')
    from typer.testing import CliRunner

    from verdict.cli import app

    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        arguments = ["flags", "import", "--from", "growthbook", str(path), "-e", "production"]
        result = CliRunner().invoke(app, [*arguments, "--database-url", url])
        assert result.exit_code == 0, result.output
        payloads = [notify.payload for notify in listener.notifies(timeout=10, stop_after=1)]
    assert payloads == ["*"]
