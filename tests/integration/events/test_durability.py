"""An acknowledged event survives the server being killed: a real ``verdict serve`` on
PostgreSQL is SIGKILLed while a client streams batches to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
from sqlalchemy import select

from tests.conftest import DatabaseFactory
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory, migrate
from verdict.server.identity import keys, service
from verdict.server.identity.models import ApiKeyKind
from verdict.server.models import Event

BATCH_SIZE = 200
ACKS_BEFORE_KILL = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_key(url: str) -> str:
    engine = create_db_engine(get_settings(database_url=url))
    try:
        migrate.upgrade(engine)
        with create_session_factory(engine)() as session:
            _, secret = keys.create_key(
                session,
                actor=service.SYSTEM,
                name="durability",
                kind=ApiKeyKind.SERVER,
                environment="production",
            )
        return secret
    finally:
        engine.dispose()


def _send_until_refused(base: str, key: str, acked: list[str], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        number = 0
        while not stop.is_set():
            batch = [f"b{number}-{i}" for i in range(BATCH_SIZE)]
            events = [{"client_event_id": cid, "type": "tick", "unit_id": cid} for cid in batch]
            try:
                response = http.post("/api/v1/events", json={"events": events}, headers=headers)
            except httpx.TransportError:
                return  # the server is gone: whatever was in flight was not acknowledged
            if response.status_code == 200 and response.json()["accepted"] == BATCH_SIZE:
                acked.extend(batch)
            number += 1


def test_every_acknowledged_event_survives_a_sigkill(database_factory: DatabaseFactory) -> None:
    # PostgreSQL only, by nature; DatabaseFactory fails (not skips) without it under CI.
    url = database_factory.new_url("postgresql")
    key = _server_key(url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env["VERDICT_DATABASE_URL"] = url
    process = subprocess.Popen(
        [sys.executable, "-m", "verdict", "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    acked: list[str] = []
    stop = threading.Event()
    sender = threading.Thread(target=_send_until_refused, args=(base, key, acked, stop))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        sender.start()
        deadline = time.monotonic() + 60
        while len(acked) < ACKS_BEFORE_KILL * BATCH_SIZE and time.monotonic() < deadline:
            time.sleep(0.01)
        # The sender keeps posting, so the kill lands while a batch is in flight.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
    finally:
        stop.set()
        if sender.is_alive():
            sender.join(timeout=30)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)

    assert len(acked) >= ACKS_BEFORE_KILL * BATCH_SIZE
    engine = create_db_engine(get_settings(database_url=url))
    try:
        with create_session_factory(engine)() as session:
            ids = set(session.scalars(select(Event.client_event_id)))
    finally:
        engine.dispose()
    assert set(acked) <= ids
    per_batch = Counter(str(cid).split("-")[0] for cid in ids)
    assert set(per_batch.values()) == {BATCH_SIZE}  # no batch is half-written
