"""GET /api/v1/sdk/stream: the current ETag on connect, an event per committed change,
keep-alive comments, and an end on client disconnect, on server shutdown, and once the
stream's key is revoked or its owner deactivated."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from tests.integration.conftest import unique
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.delivery.stream import EventStream, StreamHub

ADMIN_PASSWORD = "stream-test-password"
VERDICT = [sys.executable, "-m", "verdict"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_database(url: str) -> None:
    """Migrate ``url`` and create the administrator ``admin``."""
    env = {**server_env(url)}
    subprocess.run([*VERDICT, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            *VERDICT,
            *("users", "create-admin", "--username", "admin"),
            *("--email", "admin@example.com", "--password", ADMIN_PASSWORD),
        ],
        env=env,
        check=True,
        capture_output=True,
    )


def server_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env["VERDICT_DATABASE_URL"] = url
    return env


@dataclass
class LiveServer:
    url: str
    base: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_server(url: str, port: int | None = None) -> LiveServer:
    """``verdict serve`` on ``port`` (a free one by default; the same one brings a
    restarted server back at the same address), once it answers ``/healthz``. A server
    that exits at once on a port picked here (another process took it in between) is
    started again on another."""
    with tempfile.TemporaryFile() as log:  # the server's output, for the error below
        for _ in range(3):
            chosen = free_port() if port is None else port
            process = subprocess.Popen(
                [*VERDICT, "serve", "--port", str(chosen), "--no-migrate"],
                env=server_env(url),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            server = LiveServer(url, f"http://127.0.0.1:{chosen}", process)
            # Generous: other suites may share the machine.
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                        return server
                except httpx.TransportError:
                    time.sleep(0.1)
            server.stop()
            if port is not None or process.returncode is None:
                break
        log.seek(0)
        output = log.read()[-2000:].decode(errors="replace")
    raise AssertionError(f"verdict serve did not start: {output}")


def admin_headers(base: str) -> dict[str, str]:
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def server_key(base: str, admin: dict[str, str]) -> dict[str, str]:
    return server_key_with_id(base, admin)[1]


def server_key_with_id(base: str, admin: dict[str, str]) -> tuple[str, dict[str, str]]:
    created = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": unique("key"), "kind": "server", "environment": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], {"Authorization": f"Bearer {created.json()['key']}"}


def create_flag(base: str, admin: dict[str, str]) -> str:
    flag = unique("flag")
    response = httpx.post(f"{base}/api/v1/flags", json={"key": flag, "name": "F"}, headers=admin)
    assert response.status_code == 201, response.text
    return flag


def config_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The ``config`` events of a stream, each as {"id", "event", "data"}."""
    fields: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if fields.get("event") == "config":
                yield {**fields, "data": json.loads(fields["data"])}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def stream_open(client: httpx.Client, base: str, key: dict[str, str]) -> Any:
    return client.stream("GET", f"{base}/api/v1/sdk/stream", headers=key)


def open_streams(base: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("verdict_config_streams "):
            return float(line.split()[1])
    raise AssertionError("no verdict_config_streams gauge")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('stream') / 'stream.db'}"
    prepare_database(url)
    server = start_server(url)
    try:
        yield server
    finally:
        server.stop()


def test_a_stream_sends_the_etag_on_connect_then_each_change(live_server: LiveServer) -> None:
    base = live_server.base
    admin = admin_headers(base)
    key = server_key(base, admin)
    client = httpx.Client(timeout=httpx.Timeout(10.0))
    with client, stream_open(client, base, key) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = config_events(response.iter_lines())
        first = next(events)
        current = client.get(f"{base}/api/v1/sdk/config", headers=key).headers["etag"]
        assert first["data"] == {"environment": "production", "etag": current}
        assert first["id"] == current

        flag = create_flag(base, admin)
        changed = next(events)
        config = client.get(f"{base}/api/v1/sdk/config", headers=key)
        assert changed["data"]["etag"] == config.headers["etag"] != current
        assert flag in config.json()["flags"]


def test_a_stream_ends_when_its_client_disconnects(live_server: LiveServer) -> None:
    base = live_server.base
    key = server_key(base, admin_headers(base))
    client = httpx.Client(timeout=httpx.Timeout(10.0))
    with client, stream_open(client, base, key) as response:
        events = config_events(response.iter_lines())  # held: dropping it would close
        next(events)
        assert open_streams(base) >= 1
    deadline = time.monotonic() + 10
    while open_streams(base) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_streams(base) == 0


def test_streams_end_when_the_server_shuts_down(live_server: LiveServer) -> None:
    server = start_server(live_server.url)  # a second process on the same database
    try:
        key = server_key(server.base, admin_headers(server.base))
        client = httpx.Client(timeout=httpx.Timeout(10.0))
        with client, stream_open(client, server.base, key) as response:
            lines = response.iter_lines()
            events = config_events(lines)
            next(events)
            server.process.send_signal(signal.SIGTERM)
            rest = list(lines)  # returns only once the server ends the stream
        assert not any(line.startswith("event:") for line in rest)
        assert server.process.wait(timeout=15) is not None
    finally:
        server.stop()


def test_a_quiet_stream_sends_keep_alive_comments(api_app: FastAPI) -> None:
    cache = SnapshotCache(api_app.state.session_factory)
    chunks: list[bytes] = []

    async def run() -> None:
        hub = StreamHub(asyncio.get_running_loop())
        stream = EventStream(hub=hub, cache=cache, environment_key="development", keepalive=0.01)
        disconnect = asyncio.Event()

        async def receive() -> Message:
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            chunks.append(message.get("body", b""))
            if chunks.count(b": keep-alive\n\n") == 2:
                disconnect.set()

        await asyncio.wait_for(stream({"type": "http"}, receive, send), timeout=30)
        assert hub.open_streams == 0

    asyncio.run(run())
    text = b"".join(chunks).decode()
    assert text.startswith("retry: ")
    assert text.count("event: config\n") == 1
    assert text.count(": keep-alive\n\n") == 2


def test_closing_the_hub_ends_its_streams(api_app: FastAPI) -> None:
    messages = run_stream(api_app, authorized=None, on_event=StreamHub.close)
    assert messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


# Keep-alives come every 15 seconds: a stream that ends well within that heard of the
# revocation, it did not wait for its next keep-alive to check.
PROMPT_END = 5.0


def read_to_end(lines: Iterator[str]) -> tuple[list[str], float]:
    """The rest of a stream's lines, and how long the server took to end it. The
    client's read timeout stops the test if the stream never ends."""
    started = time.monotonic()
    rest = list(lines)
    return rest, time.monotonic() - started


def test_a_stream_ends_soon_after_its_key_is_revoked(live_server: LiveServer) -> None:
    base = live_server.base
    admin = admin_headers(base)
    key_id, key = server_key_with_id(base, admin)
    _, other_key = server_key_with_id(base, admin)
    client = httpx.Client(timeout=httpx.Timeout(10.0))
    with (
        client,
        stream_open(client, base, key) as response,
        stream_open(client, base, other_key) as other,
    ):
        lines = response.iter_lines()
        next(config_events(lines))
        other_events = config_events(other.iter_lines())
        next(other_events)

        revoked = client.delete(f"{base}/api/v1/api-keys/{key_id}", headers=admin)
        assert revoked.status_code == 200, revoked.text
        rest, elapsed = read_to_end(lines)
        assert elapsed < PROMPT_END
        assert not any(line.startswith("event:") for line in rest)

        # The stream of a key still valid goes on, and still hears of changes.
        create_flag(base, admin)
        assert next(other_events)["data"]["environment"] == "production"
    # Reconnecting with the revoked key is refused.
    assert httpx.get(f"{base}/api/v1/sdk/stream", headers=key).status_code == 401


def test_a_stream_ends_soon_after_its_keys_owner_is_deactivated(live_server: LiveServer) -> None:
    base = live_server.base
    admin = admin_headers(base)
    username, password = unique("owner"), "owner password 123456"
    made = httpx.post(
        f"{base}/api/v1/users",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "roles": ["admin"],
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": username, "password": password}
    )
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    _, key = server_key_with_id(base, owner)  # a personal key: it dies with its owner
    client = httpx.Client(timeout=httpx.Timeout(10.0))
    with client, stream_open(client, base, key) as response:
        lines = response.iter_lines()
        next(config_events(lines))
        user = f"{base}/api/v1/users/{made.json()['id']}"
        version = client.get(user, headers=admin).headers["etag"]  # logging in moved it
        deactivated = client.patch(
            user, json={"is_active": False}, headers={**admin, "If-Match": version}
        )
        assert deactivated.status_code == 200, deactivated.text
        _, elapsed = read_to_end(lines)
        assert elapsed < PROMPT_END


def run_stream(
    api_app: FastAPI,
    authorized: Callable[[], Awaitable[bool]] | None,
    on_event: Callable[[StreamHub], None],
    *,
    keepalive: float = 60.0,
) -> list[Message]:
    """Run one in-process stream whose client never leaves; ``on_event`` is called
    after the first config event. Returns what was sent (the test times out, rather
    than hangs, if the stream never ends)."""
    cache = SnapshotCache(api_app.state.session_factory)
    messages: list[Message] = []

    async def run() -> None:
        hub = StreamHub(asyncio.get_running_loop())
        stream = EventStream(
            hub=hub,
            cache=cache,
            environment_key="development",
            keepalive=keepalive,
            authorized=authorized,
        )

        async def receive() -> Message:
            await asyncio.Event().wait()  # the client never leaves
            raise AssertionError

        async def send(message: Message) -> None:
            messages.append(message)
            if b"event: config" in message.get("body", b""):
                on_event(hub)

        await asyncio.wait_for(stream({"type": "http"}, receive, send), timeout=30)
        assert hub.open_streams == 0

    asyncio.run(run())
    return messages


def test_a_key_change_has_every_stream_check_its_key_at_once(api_app: FastAPI) -> None:
    checks: list[bool] = []
    valid = True

    async def authorized() -> bool:
        checks.append(valid)
        return valid

    def revoke(hub: StreamHub) -> None:
        nonlocal valid
        valid = False
        hub.keys_changed()  # what clearing the API key cache calls

    messages = run_stream(api_app, authorized, revoke)
    # Checked when the stream opened, then again at the key change, which ended it.
    assert checks == [True, False]
    assert sum(b"event: config" in m.get("body", b"") for m in messages) == 1
    assert messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_a_stream_checks_its_key_before_each_keep_alive(api_app: FastAPI) -> None:
    # An expiry, or a notification lost between processes, is caught without one.
    answers = iter([True, True, False])

    async def authorized() -> bool:
        return next(answers)

    messages = run_stream(api_app, authorized, lambda hub: None, keepalive=0.01)
    bodies = b"".join(m.get("body", b"") for m in messages)
    assert bodies.count(b": keep-alive") == 1
    assert messages[-1]["more_body"] is False


def test_a_failing_check_keeps_the_stream_open(api_app: FastAPI) -> None:
    calls = 0

    async def authorized() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            return True
        raise OSError("database unavailable")

    def close_after_a_while(hub: StreamHub) -> None:
        hub.keys_changed()
        asyncio.get_running_loop().call_later(0.2, hub.close)

    messages = run_stream(api_app, authorized, close_after_a_while)
    assert calls == 2  # checked at the key change, could not tell, stayed until closed
    assert messages[-1]["more_body"] is False
