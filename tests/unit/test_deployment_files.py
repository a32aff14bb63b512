"""The Dockerfile and docker-compose.yml name real commands, options and settings.

Docker is not run here; these checks read the two files and hold every command they
start against the ``verdict`` command tree (so a renamed command or option fails here)
and every ``VERDICT_`` variable against :class:`verdict.server.config.Settings`.
PyYAML comes with ``uvicorn[standard]``, a dependency of the package.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from verdict.cli import app
from verdict.server.config import Settings

ROOT = Path(__file__).resolve().parents[2]
VERDICT_SERVICES = ("migrate", "verdict", "worker")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def _all(name: str) -> list[str]:
    return [arguments for instruction, arguments in _instructions() if instruction == name]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def check_command(argv: list[str]) -> Any:
    """Parse ``argv`` as the ``verdict`` command would, without running it: the click
    context of the command reached (Typer ships its own copy of click, so the
    command groups are recognised by their ``commands``)."""
    assert argv[0] == "verdict", argv
    command: Any = typer.main.get_command(app)
    rest = argv[1:]
    path = ["verdict"]
    while hasattr(command, "commands"):
        assert rest, f"{' '.join(path)} needs a subcommand"
        name, rest = rest[0], rest[1:]
        assert name in command.commands, f"{' '.join(path)} has no command {name!r}"
        command = command.commands[name]
        path.append(name)
    # Raises a UsageError for an option or argument the command does not take.
    return command.make_context(" ".join(path), list(rest))


def _setting_variables() -> set[str]:
    return {f"VERDICT_{name.upper()}" for name in Settings.model_fields}


def test_the_image_is_python_311_slim_and_installs_the_package() -> None:
    assert _all("FROM") == ["python:3.11-slim"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in _all("RUN"))
    copied = " ".join(_all("COPY"))
    for needed in ("pyproject.toml", "README.md", "src"):
        assert needed in copied, f"the build needs {needed}"


def test_the_server_runs_as_a_user_without_privileges() -> None:
    instructions = [instruction for instruction, _ in _instructions()]
    users = _all("USER")
    assert users, "no USER: the server would run as root"
    assert users[-1] not in ("root", "0")
    assert instructions.index("USER") < instructions.index("CMD")


def test_the_image_serves_on_every_interface_on_the_default_port() -> None:
    default_port = Settings.model_fields["port"].default
    assert _all("EXPOSE") == [str(default_port)]
    (cmd,) = _all("CMD")
    argv = json.loads(cmd)
    context = check_command(argv)
    assert context.command.name == "serve"
    assert context.params["host"] == "0.0.0.0"


def test_the_healthcheck_asks_healthz_with_python_not_curl() -> None:
    (healthcheck,) = _all("HEALTHCHECK")
    assert "CMD" in healthcheck
    probe = json.loads(healthcheck.split("CMD", 1)[1])
    assert probe[0] == "python"
    assert "curl" not in healthcheck
    assert "/healthz" in probe[-1]
    default_port = Settings.model_fields["port"].default
    assert f"'VERDICT_PORT', '{default_port}'" in probe[-1]


def test_the_dockerfile_sets_only_real_settings() -> None:
    variables = {
        word.split("=", 1)[0] for env in _all("ENV") for word in shlex.split(env) if "=" in word
    }
    unknown = {v for v in variables if v.startswith("VERDICT_")} - _setting_variables()
    assert not unknown


def test_postgres_15_keeps_its_data_in_a_volume_and_reports_health() -> None:
    compose = _compose()
    db = compose["services"]["db"]
    assert db["image"] == "postgres:15"
    volume = next(v for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":", 1)[0] in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


@pytest.mark.parametrize("service", VERDICT_SERVICES)
def test_each_verdict_service_runs_a_real_command_on_the_compose_database(service: str) -> None:
    compose = _compose()
    spec = compose["services"][service]
    check_command(spec["command"])
    environment = spec["environment"]
    assert set(k for k in environment if k.startswith("VERDICT_")) <= _setting_variables()
    url = urlsplit(environment["VERDICT_DATABASE_URL"])
    db = compose["services"]["db"]["environment"]
    assert url.scheme.startswith(("postgresql", "postgres"))
    assert url.hostname == "db"
    assert url.username == db["POSTGRES_USER"]
    assert url.password == db["POSTGRES_PASSWORD"]
    assert url.path == f"/{db['POSTGRES_DB']}"


def test_the_schema_is_upgraded_once_before_the_server_and_the_worker_start() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"][:3] == ["verdict", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("verdict", "worker"):
        depends = services[name]["depends_on"]["migrate"]["condition"]
        assert depends == "service_completed_successfully"
    serve = check_command(services["verdict"]["command"])
    assert serve.params["migrate_on_start"] is False
    assert check_command(services["worker"]["command"]).command.name == "worker"


def test_the_build_context_leaves_out_local_state() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for entry in (".git", ".venv", "*.db"):
        assert entry in ignored
    for needed in ("src", "pyproject.toml", "README.md"):
        assert needed not in ignored
