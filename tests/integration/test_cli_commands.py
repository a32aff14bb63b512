"""The management commands (users, keys, flags, experiments, export / import) against a
real database of each backend: what they change is read back through the services,
and bad input ends in one `error:` line naming the field, with a non-zero exit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import DatabaseFactory, new_migrated_url
from verdict.cli import app
from verdict.server.api.pagination import PageRequest
from verdict.server.audit.models import AuditLogEntry
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory
from verdict.server.experiments import service as experiments
from verdict.server.experiments.schemas import ExperimentCreate
from verdict.server.flags import service as flags
from verdict.server.flags import states
from verdict.server.flags.schemas import FlagCreate, FlagStateIn
from verdict.server.identity import keys
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import ApiKeyKind
from verdict.server.identity.service import SYSTEM, find_user

runner = CliRunner()


def run(url: str, *args: str, input: str | None = None) -> Any:
    # A known width: tables follow COLUMNS, which a test runner may set (xdist: 80).
    return runner.invoke(app, [*args, "--database-url", url], input=input, env={"COLUMNS": "250"})


def error_line(result: Any) -> str:
    """The one error line a failed command prints."""
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    import verdict.server.models  # noqa: F401

    engine = create_db_engine(get_settings(database_url=migrated_url))
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with create_session_factory(engine)() as session:
        yield session


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _flag(session: Session, **fields: Any) -> str:
    key = _name("cli-flag")
    flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key=key, name="F", **fields))
    return key


# -- help ----------------------------------------------------------------------------


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: click.Command, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("columns", ["80", "200"])
def test_no_help_text_is_cut_at_any_width(columns: str) -> None:
    paths = _command_paths()
    for wanted in (["users", "deactivate"], ["keys", "revoke"], ["flags", "rollout"], ["import"]):
        assert wanted in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": columns})
        assert result.exit_code == 0, (path, result.output)
        assert "…" not in result.output, (path, result.output)
        assert max(len(line) for line in result.output.splitlines()) <= int(columns)


def test_help_uses_the_width_it_is_given() -> None:
    wide = runner.invoke(app, ["worker", "--help"], env={"COLUMNS": "200"}).output
    # The docstring's two source lines make one paragraph on a wide terminal.
    assert any(
        "retention, analysis of running experiments whose" in line for line in wide.split("\n")
    )


# -- database URLs ---------------------------------------------------------------------


def test_postgres_and_postgresql_urls_reach_postgresql(
    database_factory: DatabaseFactory,
) -> None:
    url = new_migrated_url(database_factory, "postgresql")
    assert url.startswith("postgresql+psycopg://")
    for scheme in ("postgres://", "postgresql://"):
        plain = scheme + url.removeprefix("postgresql+psycopg://")
        result = runner.invoke(app, ["db", "current", "--database-url", plain])
        assert result.exit_code == 0, result.output
        assert "(head)" in result.output


# -- users ---------------------------------------------------------------------------


def _users_create(url: str, username: str, *options: str, email: str | None = None) -> Any:
    """``verdict users create`` with a valid password and, unless given, e-mail."""
    return run(
        url,
        "users",
        "create",
        "--username",
        username,
        "--email",
        email or f"{username}@example.com",
        "--password",
        "long-enough-1",
        *options,
    )


def test_users_create_gives_the_roles_asked_for(migrated_url: str, session: Session) -> None:
    username = _name("ann")
    result = _users_create(migrated_url, username, "--role", "experimenter")
    assert result.exit_code == 0, result.output
    user = find_user(session, username=username)
    assert [role.name for role in user.roles] == ["experimenter"]
    assert not user.is_superuser
    assert username in run(migrated_url, "users", "list").output


def test_users_create_names_an_unknown_role(migrated_url: str) -> None:
    username = _name("ann")
    result = _users_create(migrated_url, username, "--role", "wizard")
    assert result.exit_code == 2
    assert error_line(result) == "error: roles: unknown role(s): wizard"


def test_users_create_names_a_bad_email(migrated_url: str) -> None:
    result = _users_create(migrated_url, _name("x"), email="not-an-email")
    assert result.exit_code == 2
    assert error_line(result).startswith("error: email: ")


def _user(url: str) -> str:
    username = _name("bea")
    result = _users_create(url, username)
    assert result.exit_code == 0, result.output
    return username


def test_deactivate_and_reactivate_a_user(migrated_url: str, engine: Engine) -> None:
    username = _user(migrated_url)
    factory = create_session_factory(engine)
    with factory() as session:
        user = find_user(session, username=username)
        keys.create_key(
            session,
            actor=Principal(
                name=username, permissions=SYSTEM.permissions, user_id=user.id, owner_id=user.id
            ),
            name="mine",
            kind=ApiKeyKind.ADMIN,
            environment=None,
        )
    off = run(migrated_url, "users", "deactivate", username)
    assert off.exit_code == 0, off.output
    with factory() as session:
        user = find_user(session, username=username)
        assert user.is_active is False
        mine = user_keys(session, user.id)
        assert mine
        assert all(k.revoked_at is not None for k in mine)
    again = run(migrated_url, "users", "deactivate", username)
    assert (again.exit_code, "already deactivated" in again.output) == (0, True)
    on = run(migrated_url, "users", "reactivate", username)
    assert on.exit_code == 0, on.output
    with factory() as session:
        assert find_user(session, username=username).is_active is True


def user_keys(session: Session, user_id: uuid.UUID) -> list[Any]:
    from verdict.server.identity.models import ApiKey

    return list(session.scalars(select(ApiKey).where(ApiKey.created_by_id == user_id)))


def test_deactivate_names_an_unknown_user(migrated_url: str) -> None:
    result = run(migrated_url, "users", "deactivate", "no-such-person")
    assert result.exit_code == 2
    assert error_line(result) == "error: username: no user named 'no-such-person'"


def test_reset_password_lets_the_new_password_in(migrated_url: str, session: Session) -> None:
    from verdict.server.identity import credentials

    username = _user(migrated_url)
    result = run(
        migrated_url,
        "users",
        "reset-password",
        "--username",
        username,
        input="brand-new-pass\nbrand-new-pass\n",
    )
    assert result.exit_code == 0, result.output
    user = find_user(session, username=username)
    assert user.hashed_password is not None
    assert credentials.verify_password(user.hashed_password, "brand-new-pass")


def test_reset_password_refuses_a_short_password(migrated_url: str) -> None:
    username = _user(migrated_url)
    result = run(
        migrated_url, "users", "reset-password", "--username", username, "--password", "short"
    )
    assert result.exit_code == 2
    assert error_line(result).startswith("error: password: ")


# -- keys ----------------------------------------------------------------------------


def _key(url: str, name: str) -> str:
    result = run(
        url, "keys", "create", "--name", name, "--kind", "server", "--environment", "staging"
    )
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_keys_list_shows_a_key_by_its_prefix_and_revoke_ends_it(
    migrated_url: str, session: Session
) -> None:
    name = _name("edge")
    secret = _key(migrated_url, name)
    prefix = secret[:14]
    listing = run(migrated_url, "keys", "list")
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.output.splitlines() if name in line)
    assert prefix in row
    assert "server" in row
    assert "staging" in row
    assert " no " in row
    revoked = run(migrated_url, "keys", "revoke", prefix)
    assert revoked.exit_code == 0, revoked.output
    assert keys.find_key(session, reference=prefix).revoked_at is not None
    live = run(migrated_url, "keys", "list", "--live")
    assert name not in live.output
    entries = session.scalars(
        select(AuditLogEntry.action).where(
            AuditLogEntry.resource_type == "api_key",
            AuditLogEntry.resource_id == str(keys.find_key(session, reference=prefix).id),
        )
    ).all()
    assert sorted(entries) == ["create", "revoke"]


def test_keys_revoke_names_an_unknown_key_and_a_revoked_one(migrated_url: str) -> None:
    unknown = run(migrated_url, "keys", "revoke", "vk_srv_nothere")
    assert unknown.exit_code == 2
    assert error_line(unknown).startswith("error: key: no API key 'vk_srv_nothere'")
    prefix = _key(migrated_url, _name("twice"))[:14]
    assert run(migrated_url, "keys", "revoke", prefix).exit_code == 0
    twice = run(migrated_url, "keys", "revoke", prefix)
    assert twice.exit_code == 2
    assert "is already revoked" in error_line(twice)


# -- flags ---------------------------------------------------------------------------


def test_flags_list_shows_the_state_per_environment(migrated_url: str, session: Session) -> None:
    key = _flag(session)
    states.put_state(
        session,
        actor=SYSTEM,
        flag_key=key,
        environment_key="production",
        data=FlagStateIn(enabled=True, rules=[], rollout_percentage=30),
        if_match='"0"',
    )
    result = run(migrated_url, "flags", "list", "-e", "staging", "-e", "production")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if key in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == [key, "boolean", "—", "on 30%"]


def test_flags_list_names_an_unknown_environment(migrated_url: str) -> None:
    result = run(migrated_url, "flags", "list", "-e", "moon")
    assert result.exit_code == 2
    assert error_line(result).startswith("error: environment: no environment 'moon'")


def test_flags_toggle_turns_a_flag_on_and_off_with_audit(migrated_url: str, engine: Engine) -> None:
    factory = create_session_factory(engine)
    with factory() as session:
        key = _flag(session)
    on = run(migrated_url, "flags", "toggle", key, "on", "--environment", "staging")
    assert on.exit_code == 0, on.output
    with factory() as session:
        state = states.get_state(session, flag_key=key, environment_key="staging")
        assert (state.enabled, state.version) == (True, 1)
    off = run(migrated_url, "flags", "toggle", key, "off", "-e", "staging")
    assert off.exit_code == 0, off.output
    with factory() as session:
        state = states.get_state(session, flag_key=key, environment_key="staging")
        assert (state.enabled, state.version) == (False, 2)
        entries, _ = flags.list_history(
            session, key=key, page=PageRequest(limit=10, cursor=None, sort="-at")
        )
        assert [e.action for e in entries] == ["disable", "enable", "create"]


def test_flags_toggle_names_the_unknown_flag_and_environment(
    migrated_url: str, session: Session
) -> None:
    missing = run(migrated_url, "flags", "toggle", "no-such-flag", "on", "-e", "staging")
    assert missing.exit_code == 2
    assert error_line(missing) == "error: no flag 'no-such-flag'"
    key = _flag(session)
    moon = run(migrated_url, "flags", "toggle", key, "on", "-e", "moon")
    assert moon.exit_code == 2
    assert error_line(moon) == "error: no environment 'moon'"
    bad = run(migrated_url, "flags", "toggle", key, "maybe", "-e", "staging")
    assert bad.exit_code == 2
    assert "maybe" in bad.output


def test_flags_rollout_sets_and_removes_the_gate(migrated_url: str, engine: Engine) -> None:
    factory = create_session_factory(engine)
    with factory() as session:
        key = _flag(session)
        states.put_state(
            session,
            actor=SYSTEM,
            flag_key=key,
            environment_key="production",
            data=FlagStateIn.model_validate(
                {"enabled": True, "rules": [{"id": "all", "type": "force", "value": True}]}
            ),
            if_match='"0"',
        )
    result = run(migrated_url, "flags", "rollout", key, "12.5", "-e", "production")
    assert result.exit_code == 0, result.output
    with factory() as session:
        state = states.get_state(session, flag_key=key, environment_key="production")
        assert (state.rollout_percentage, state.enabled) == (12.5, True)
        assert [rule["id"] for rule in state.rules] == ["all"]  # the rules are kept
    cleared = run(migrated_url, "flags", "rollout", key, "none", "-e", "production")
    assert cleared.exit_code == 0, cleared.output
    with factory() as session:
        state = states.get_state(session, flag_key=key, environment_key="production")
        assert state.rollout_percentage is None


@pytest.mark.parametrize("value", ["150", "100.5", "lots", "12.345"])
def test_flags_rollout_names_a_bad_percentage(
    migrated_url: str, session: Session, value: str
) -> None:
    key = _flag(session)
    result = run(migrated_url, "flags", "rollout", key, value, "-e", "staging")
    assert result.exit_code == 2
    assert error_line(result).startswith("error: percentage: ")
    assert states.get_state(session, flag_key=key, environment_key="staging").version == 0


# -- experiments -----------------------------------------------------------------------


def _experiment(session: Session) -> str:
    from verdict.server.analysis import metrics
    from verdict.server.analysis.schemas import MetricCreate

    key = _name("cli-exp")
    metric = _name("clicks")
    metrics.create_metric(
        session,
        actor=SYSTEM,
        data=MetricCreate.model_validate(
            {"key": metric, "name": "Clicks", "event_name": "click", "type": "count"}
        ),
    )
    experiments.create_experiment(
        session,
        actor=SYSTEM,
        data=ExperimentCreate.model_validate(
            {
                "key": key,
                "name": "Button colour",
                "type": "multivariate",
                "variants": [
                    {"key": "blue", "is_control": True, "weight": 0.5},
                    {"key": "green", "weight": 0.25},
                    {"key": "red", "weight": 0.25},
                ],
                "metrics": [{"metric": metric, "role": "primary"}],
            }
        ),
    )
    return key


def test_experiments_list_shows_type_status_and_variants(
    migrated_url: str, session: Session
) -> None:
    key = _experiment(session)
    result = run(migrated_url, "experiments", "list", "--status", "draft")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if key in line)
    assert "multivariate" in row
    assert "draft" in row
    assert "blue (control) 50%, green 25%, red 25%" in row


def test_experiments_status_shows_the_lifecycle_and_phase(
    migrated_url: str, session: Session
) -> None:
    from verdict.server.experiments.actions import perform
    from verdict.server.experiments.lifecycle import Action

    key = _experiment(session)
    draft = run(migrated_url, "experiments", "status", key)
    assert draft.exit_code == 0, draft.output
    assert "status    draft" in draft.output
    assert "actions   start, archive" in draft.output
    assert "analysis  none yet" in draft.output
    perform(session, actor=SYSTEM, key=key, action=Action.START, if_match='"1"')
    running = run(migrated_url, "experiments", "status", key)
    assert "status    running" in running.output
    assert "phase     1 (open" in running.output
    # The phase line may wrap at the terminal's width.
    assert "blue 50%, green 25%, red 25%)" in " ".join(running.output.split())


def test_experiments_status_names_an_unknown_experiment(migrated_url: str) -> None:
    result = run(migrated_url, "experiments", "status", "no-such-test")
    assert result.exit_code == 2
    assert error_line(result) == "error: key: no experiment with key 'no-such-test'"


# -- export and import -------------------------------------------------------------------


def _document(url: str, path: Path) -> dict[str, Any]:
    result = run(url, "export", str(path))
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(path.read_text())
    document.pop("exported_at")
    return document


def _fill(session: Session) -> None:
    """A database with what an export must carry: a segment named by a rule, a metric
    with its denominator, a running experiment, a flag requiring another, an archived
    flag, states with rules and a rollout."""
    from verdict.server.analysis import metrics
    from verdict.server.analysis.schemas import MetricCreate
    from verdict.server.experiments.actions import perform
    from verdict.server.experiments.lifecycle import Action
    from verdict.server.segments import service as segments
    from verdict.server.segments.schemas import SegmentCreate

    segments.create_segment(
        session,
        actor=SYSTEM,
        data=SegmentCreate(key="pro", name="Pro", conditions={"plan": "pro"}),
    )
    for data in (
        {"key": "orders", "name": "Orders", "event_name": "order", "type": "count"},
        {"key": "visits", "name": "Visits", "event_name": "visit", "type": "count"},
        {
            "key": "orders-per-visit",
            "name": "Orders per visit",
            "event_name": "order",
            "type": "ratio",
            "denominator": "visits",
        },
    ):
        metrics.create_metric(session, actor=SYSTEM, data=MetricCreate.model_validate(data))
    experiments.create_experiment(
        session,
        actor=SYSTEM,
        data=ExperimentCreate.model_validate(
            {
                "key": "checkout",
                "name": "Checkout",
                "environment": "production",
                "variants": [{"key": "control", "is_control": True}, {"key": "express"}],
                "metrics": [{"metric": "orders", "role": "primary"}],
                "include_segments": ["pro"],
            }
        ),
    )
    perform(session, actor=SYSTEM, key="checkout", action=Action.START, if_match='"1"')
    flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key="base", name="Base"))
    flags.create_flag(
        session,
        actor=SYSTEM,
        data=FlagCreate.model_validate(
            {
                "key": "checkout-flow",
                "name": "Checkout flow",
                "value_type": "string",
                "default_value": "control",
                "variants": [
                    {"key": "control", "value": "control"},
                    {"key": "express", "value": "express"},
                ],
                "prerequisites": [{"flag": "base", "value": True}],
                "experiment": "checkout",
            }
        ),
    )
    flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key="retired", name="Retired"))
    for key, environment, body in (
        ("base", "production", {"enabled": True, "rules": [], "rollout_percentage": 40}),
        (
            "checkout-flow",
            "production",
            {
                "enabled": True,
                "rules": [
                    {"id": "pro", "type": "force", "value": "express", "segment": "pro"},
                    {"id": "test", "type": "experiment", "experiment": "checkout"},
                ],
            },
        ),
        ("base", "staging", {"enabled": False, "rules": []}),
    ):
        states.put_state(
            session,
            actor=SYSTEM,
            flag_key=key,
            environment_key=environment,
            data=FlagStateIn.model_validate(body),
            if_match='"0"',
        )
    flags.archive_flag(session, actor=SYSTEM, key="retired", archived=True, if_match='"1"')


@pytest.fixture
def source_url(database_factory: DatabaseFactory, backend: str) -> str:
    url = new_migrated_url(database_factory, backend)
    engine = create_db_engine(get_settings(database_url=url))
    import verdict.server.models  # noqa: F401

    with create_session_factory(engine)() as session:
        _fill(session)
    engine.dispose()
    return url


def test_an_export_imported_into_a_fresh_database_reproduces_it(
    source_url: str, database_factory: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    exported = _document(source_url, tmp_path / "a.json")
    assert (exported["format"], exported["version"]) == ("verdict.export", 1)
    assert [f["key"] for f in exported["flags"]] == ["base", "checkout-flow", "retired"]
    target = new_migrated_url(database_factory, backend)
    result = run(target, "import", str(tmp_path / "a.json"))
    assert result.exit_code == 0, result.output
    assert "3 flags" in result.output
    assert "1 experiment" in result.output
    assert _document(target, tmp_path / "b.json") == exported
    status = run(target, "experiments", "status", "checkout")
    assert "status    running" in status.output


def test_import_dry_run_checks_and_writes_nothing(
    source_url: str, database_factory: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    _document(source_url, tmp_path / "a.json")
    target = new_migrated_url(database_factory, backend)
    result = run(target, "import", str(tmp_path / "a.json"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing was written" in result.output
    after = _document(target, tmp_path / "b.json")
    assert (after["flags"], after["experiments"], after["segments"]) == ([], [], [])


def test_import_refuses_keys_that_exist_and_writes_nothing(source_url: str, tmp_path: Path) -> None:
    before = _document(source_url, tmp_path / "a.json")
    result = run(source_url, "import", str(tmp_path / "a.json"))
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("error: segments.0.key: segment 'pro' exists here")
    assert line.endswith("nothing was written")
    skipped = run(source_url, "import", str(tmp_path / "a.json"), "--skip-existing")
    assert skipped.exit_code == 0, skipped.output
    assert "created nothing" in skipped.output
    assert _document(source_url, tmp_path / "b.json") == before


def test_import_names_each_invalid_field_of_the_document(migrated_url: str, tmp_path: Path) -> None:
    document = {
        "format": "verdict.export",
        "version": 1,
        "flags": [
            {
                "key": "ok-flag",
                "name": "OK",
                "environments": {
                    "production": {"enabled": True, "rules": [], "rollout_percentage": 120}
                },
            },
            {"key": "no name"},
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = run(migrated_url, "import", str(path))
    assert result.exit_code == 2
    assert error_line(result).startswith(
        "error: flags.0.environments.production.rollout_percentage: "
    )
    assert "flags.1.key: " in result.output
    assert "flags.1.name: Field required" in result.output


def test_import_refusal_by_a_service_is_named_by_its_place(
    migrated_url: str, tmp_path: Path, session: Session
) -> None:
    key = _name("imported")
    document = {
        "format": "verdict.export",
        "version": 1,
        "flags": [
            {
                "key": key,
                "name": "F",
                "environments": {
                    "production": {
                        "enabled": True,
                        "rules": [{"type": "force", "value": True, "segment": "no-such-segment"}],
                    }
                },
            }
        ],
    }
    path = tmp_path / "refused.json"
    path.write_text(json.dumps(document))
    result = run(migrated_url, "import", str(path))
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("error: flags.0.environments.production")
    assert "no-such-segment" in line
    with pytest.raises(Exception, match="no flag"):
        flags.load_flag(session, key)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "error: file: "),
        ('{"format": "other", "version": 1}', "error: format: expected 'verdict.export'"),
        (
            '{"format": "verdict.export", "version": 9}',
            "error: version: this Verdict reads version 1",
        ),
        ("[]", "error: document: "),
    ],
)
def test_import_refuses_what_is_not_an_export(
    migrated_url: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    result = run(migrated_url, "import", str(path))
    assert result.exit_code == 2
    assert error_line(result).startswith(message)


def test_import_names_a_missing_file(migrated_url: str, tmp_path: Path) -> None:
    result = run(migrated_url, "import", str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    assert error_line(result).startswith("error: file: cannot read ")
