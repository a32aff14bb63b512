"""The curl examples in the docs really run, in order, against a live server.

For each guide, every fenced block whose info string is ``sh run`` is concatenated and
executed by one ``bash -euo pipefail`` against a fresh ``verdict serve`` (SQLite):
``VERDICT_URL`` points at it, ``ADMIN_PASSWORD`` is the password of the administrator
``admin``, ``TOKEN`` is a login token of that administrator (the reference guides
start from it; docs/api.md shows how to get one), and ``PYTHON`` is this install's
Python. The script runs in a scratch directory.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = re.compile(r"^```sh run\n(.*?)^```", re.MULTILINE | re.DOTALL)
ADMIN_PASSWORD = "docs-example-password"


def runnable_blocks(document: Path) -> list[str]:
    return RUNNABLE.findall(document.read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env["VERDICT_DATABASE_URL"] = url
    verdict = [sys.executable, "-m", "verdict"]
    subprocess.run([*verdict, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            *verdict,
            "users",
            "create-admin",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            ADMIN_PASSWORD,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*verdict, "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)


GUIDES = [
    "api.md",
    "api-flags.md",
    "api-experiments.md",
    "events.md",
    "analysis.md",
    "bandits.md",
    "quickstart.md",
]


@pytest.mark.parametrize("guide", GUIDES)
def test_each_guide_has_a_worked_example(guide: str) -> None:
    assert len(runnable_blocks(ROOT / "docs" / guide)) >= 3


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guide_commands_run_in_order(live_server: str, guide: str, tmp_path: Path) -> None:
    script = "\n".join(runnable_blocks(ROOT / "docs" / guide))
    login = httpx.post(
        f"{live_server}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
    )
    token = login.json()["access_token"]
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={
            **os.environ,
            "VERDICT_URL": live_server,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "TOKEN": token,
            # The Python of this install (the analysis guide writes a DuckDB file with it).
            "PYTHON": sys.executable,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_the_cli_guide_commands_run_in_order(live_server: str, tmp_path: Path) -> None:
    """docs/cli.md: its blocks run the installed ``verdict`` against the live server's
    database (``VERDICT_DATABASE_URL``), with ``VERDICT_URL`` and ``TOKEN`` as above."""
    script = "\n".join(runnable_blocks(ROOT / "docs" / "cli.md"))
    assert len(runnable_blocks(ROOT / "docs" / "cli.md")) >= 8
    login = httpx.post(
        f"{live_server}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
    )
    bin_dir = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "VERDICT_DATABASE_URL": f"sqlite:///{tmp_path / 'docs.db'}",
            "VERDICT_URL": live_server,
            "TOKEN": login.json()["access_token"],
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "dark-mode" in result.stdout
    assert "on 50%" in result.stdout
