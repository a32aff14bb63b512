"""``verdict serve`` really starts: it migrates its database and answers on its port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_migrates_the_default_sqlite_database_and_answers(tmp_path: Path) -> None:
    _serve_and_check(tmp_path, [])


def test_serve_runs_several_worker_processes(tmp_path: Path) -> None:
    _serve_and_check(tmp_path, ["--workers", "2", "--no-access-log"])


def _serve_and_check(tmp_path: Path, options: list[str]) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
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
        assert response.status_code == 200
        assert response.json()["database"]["dialect"] == "sqlite"
        assert (tmp_path / "verdict.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
