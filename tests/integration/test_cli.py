"""The command line: clear messages and non-zero exits for bad input."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from verdict.cli import app

runner = CliRunner()


def test_unknown_revision_is_named_in_the_error(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    result = runner.invoke(app, ["db", "downgrade", "no-such-rev", "--database-url", url])
    assert result.exit_code == 2
    assert "no-such-rev" in result.output


def test_malformed_database_url_is_named_in_the_error() -> None:
    result = runner.invoke(app, ["db", "current", "--database-url", "not a url"])
    assert result.exit_code == 2
    assert "database-url" in result.output


def test_unreachable_database_exits_non_zero_with_the_reason() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = runner.invoke(app, ["db", "current", "--database-url", url])
    assert result.exit_code == 1
    assert "cannot reach database" in result.output


def test_invalid_port_setting_is_refused_before_starting() -> None:
    result = runner.invoke(app, ["serve", "--port", "70000", "--no-migrate"])
    assert result.exit_code == 2
    assert "port" in result.output


def test_database_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    monkeypatch.setenv("VERDICT_DATABASE_URL", url)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert "(head)" in runner.invoke(app, ["db", "current"]).output


def test_create_admin_makes_a_superuser_who_can_log_in(migrated_url: str) -> None:
    from fastapi.testclient import TestClient

    from verdict.server.app import create_app
    from verdict.server.config import get_settings

    username = f"root-{uuid.uuid4().hex[:6]}"
    result = runner.invoke(
        app,
        [
            "users",
            "create-admin",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
            "--database-url",
            migrated_url,
        ],
        input="s3cret-pass\ns3cret-pass\n",
    )
    assert result.exit_code == 0, result.output
    with TestClient(create_app(get_settings(database_url=migrated_url))) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": username, "password": "s3cret-pass"}
        )
        assert login.status_code == 200
        me = client.get("/api/v1/auth/me").json()
    assert "api_key:create" in me["permissions"]


def test_create_admin_names_the_bad_field(migrated_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "users",
            "create-admin",
            "--username",
            "x",
            "--email",
            "not-an-email",
            "--password",
            "long-enough",
            "--database-url",
            migrated_url,
        ],
    )
    assert result.exit_code == 2
    assert "email" in result.output


def test_keys_create_prints_the_secret_once(migrated_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "edge",
            "--kind",
            "server",
            "--environment",
            "staging",
            "--database-url",
            migrated_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("vk_srv_")


def test_keys_create_refuses_an_unknown_environment(migrated_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "edge",
            "--kind",
            "client",
            "--environment",
            "moon",
            "--database-url",
            migrated_url,
        ],
    )
    assert result.exit_code == 2
    assert "environment" in result.output
