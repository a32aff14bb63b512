"""How long a flag change takes to reach a running SDK client.

Starts ``verdict serve`` on a fresh database (SQLite in a scratch directory by default,
or ``--database-url``; PostgreSQL databases are created and dropped here), makes a flag
through the management API, and follows it with a ``Client`` that streams changes (ETag
polling every 300 s, so only the stream can deliver in time). Each round flips the
flag's state in the production environment and times, from just before the API call,
until the client's ``is_enabled`` answers the new state. Printed: median, P95 and max
in milliseconds over ``--rounds`` changes, and the API call's own share (the write and
its commit) for comparison.

Usage: .venv/bin/python benchmarks/sdk_propagation_bench.py [--rounds 50]
           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from verdict.sdk import Client

PASSWORD = "bench-password-1"
VERDICT = [sys.executable, "-m", "verdict"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database(url: str | None, scratch: Path) -> tuple[str, sa.Engine | None, str | None]:
    """The database URL to serve, and how to drop it afterwards (PostgreSQL)."""
    if url is None:
        return f"sqlite:///{scratch / 'bench.db'}", None, None
    name = f"verdict_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return str(sa.make_url(url).set(database=name)), admin, name


def _run(env: dict[str, str], *args: str) -> None:
    subprocess.run([*VERDICT, *args], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url, admin_engine, name = _database(args.database_url, Path(scratch))
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
        env["VERDICT_DATABASE_URL"] = url
        _run(env, "db", "upgrade")
        _run(env, "users", "create-admin", "--username", "admin", "--email",
             "admin@example.com", "--password", PASSWORD)  # fmt: skip
        port = _free_port()
        server = subprocess.Popen(
            [*VERDICT, "serve", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _bench(base, args.rounds, "PostgreSQL" if admin_engine else "SQLite")
        finally:
            server.terminate()
            server.wait(timeout=30)
            if admin_engine is not None:
                with admin_engine.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin_engine.dispose()


def _bench(base: str, rounds: int, backend: str) -> None:
    api = httpx.Client(base_url=base, timeout=30)
    deadline = time.monotonic() + 60
    while True:
        try:
            if api.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("verdict serve did not start")
        time.sleep(0.1)
    login = api.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    key = api.post(
        "/api/v1/api-keys",
        json={"name": "bench", "kind": "server", "environment": "production"},
        headers=admin,
    ).json()["key"]
    created = api.post("/api/v1/flags", json={"key": "bench-flag", "name": "B"}, headers=admin)
    assert created.status_code == 201, created.text
    state = "/api/v1/flags/bench-flag/environments/production"
    version = api.get(state, headers=admin).headers.get("etag", '"0"')

    client = Client(key, base, poll_interval=300)
    assert client.wait_until_ready(30), "the client never got a configuration"
    total: list[float] = []
    write: list[float] = []
    enabled = client.is_enabled("bench-flag", "u")
    for _ in range(rounds):
        enabled = not enabled
        rules = [{"id": "all", "type": "force", "value": True}]
        started = time.perf_counter()
        answer = api.put(
            state,
            json={"enabled": enabled, "rules": rules},
            headers={**admin, "If-Match": version},
        )
        written = time.perf_counter()
        assert answer.status_code == 200, answer.text
        version = answer.headers["etag"]
        while client.is_enabled("bench-flag", "u") is not enabled:
            if time.perf_counter() - started > 30:
                raise SystemExit("a change did not reach the client within 30 s")
            time.sleep(0.0005)
        total.append((time.perf_counter() - started) * 1000)
        write.append((written - started) * 1000)
        time.sleep(0.05)
    client.close()

    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        return f"{name:<34} {statistics.median(ordered):>8.1f} {p95:>8.1f} {ordered[-1]:>8.1f}"

    print(f"{backend}, {rounds} changes; ms      median      P95      max")
    print(line("change to client (stream)", total))
    print(line("  of which the API write", write))


if __name__ == "__main__":
    main()
