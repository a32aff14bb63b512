"""The command line: clear messages and non-zero exits for bad input."""

from __future__ import annotations

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
