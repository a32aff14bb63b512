"""``verdict serve`` really starts: it migrates its database and answers on its port."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DatabaseFactory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_migrates_the_default_sqlite_database_and_answers(tmp_path: Path) -> None:
    _serve_and_check(tmp_path, [])
    assert (tmp_path / "verdict.db").exists()


def test_serve_runs_several_worker_processes_on_postgresql(
    tmp_path: Path, database_factory: DatabaseFactory
) -> None:
    url = database_factory.new_url("postgresql")
    _serve_and_check(
        tmp_path, ["--workers", "2", "--no-access-log", "--database-url", url], "postgresql"
    )


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "verdict", "serve", "--workers", "2"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr
    assert "PostgreSQL" in result.stderr
    assert not (tmp_path / "verdict.db").exists()  # refused before touching anything


@pytest.mark.parametrize(
    ("variable", "options", "migrated"),
    [("false", [], False), ("false", ["--migrate"], True), ("true", ["--no-migrate"], False)],
)
def test_serve_migrates_as_the_setting_says_unless_the_command_line_says_otherwise(
    tmp_path: Path, variable: str, options: list[str], migrated: bool
) -> None:
    _serve_and_check(
        tmp_path,
        options,
        status=200 if migrated else 503,
        environment={"VERDICT_MIGRATE_ON_START": variable},
    )
    tables = sqlite3.connect(tmp_path / "verdict.db").execute(
        "SELECT name FROM sqlite_master WHERE name = 'alembic_version'"
    )
    assert bool(tables.fetchall()) is migrated


def _serve_and_check(
    tmp_path: Path,
    options: list[str],
    dialect: str = "sqlite",
    *,
    status: int = 200,
    environment: dict[str, str] | None = None,
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env.update(environment or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "verdict", "serve", "--port", str(port), *options],
        cwd=tmp_path,  # the default URL is ./verdict.db, relative to the working directory
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, "server did not start"
        assert response.status_code == status, response.text
        assert response.json()["database"]["dialect"] == dialect
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
