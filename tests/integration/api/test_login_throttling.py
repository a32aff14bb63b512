"""Failed logins are throttled per account and per client address, audited, and a
login flood cannot hash more than a few passwords at once (issue 12, finding 5)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.conftest import PASSWORD, unique
from verdict.server.app import create_app
from verdict.server.audit.models import AuditLogEntry
from verdict.server.config import get_settings
from verdict.server.identity import credentials
from verdict.server.identity.throttle import LoginThrottle, LoginThrottledError

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def guarded(migrated_url: str) -> Iterator[FastAPI]:
    """An app of its own, so its counters start empty and spend nobody else's."""
    app = create_app(
        get_settings(
            database_url=migrated_url,
            login_limit_per_account="3/minute",
            login_limit_per_address="5/minute",
        )
    )
    with TestClient(app):
        yield app


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def _attempt(client: TestClient, username: str, password: str) -> int:
    return client.post(LOGIN, json={"username": username, "password": password}).status_code


def test_an_account_is_throttled_after_its_failed_logins_from_any_address(
    guarded: FastAPI, make_user: Callable[..., str]
) -> None:
    username = make_user("viewer")
    codes = [_attempt(_from(guarded, f"10.0.0.{i}"), username, "wrong") for i in range(3)]
    assert codes == [401, 401, 401]
    # even the right password waits now, and the answer says how long
    response = _from(guarded, "10.0.0.9").post(
        LOGIN, json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "account" in response.json()["detail"]
    # another account from the same addresses is not affected
    assert _attempt(_from(guarded, "10.0.0.1"), make_user("viewer"), PASSWORD) == 200


def test_an_address_is_throttled_after_failed_logins_for_any_accounts(
    guarded: FastAPI, make_user: Callable[..., str]
) -> None:
    attacker = _from(guarded, "192.0.2.7")
    codes = [_attempt(attacker, unique("ghost"), "guess") for _ in range(5)]
    assert codes == [401] * 5
    username = make_user("viewer")
    assert _attempt(attacker, username, PASSWORD) == 429
    assert _attempt(_from(guarded, "192.0.2.8"), username, PASSWORD) == 200


def test_a_successful_login_clears_its_accounts_counter(
    guarded: FastAPI, make_user: Callable[..., str]
) -> None:
    username = make_user("viewer")
    for round_ in range(3):
        person = _from(guarded, f"198.51.100.{round_}")
        assert [_attempt(person, username, "typo") for _ in range(2)] == [401, 401]
        assert _attempt(person, username, PASSWORD) == 200


def test_failed_logins_are_audited_without_the_password(
    guarded: FastAPI, make_user: Callable[..., str]
) -> None:
    username = make_user("viewer")
    ghost = unique("ghost")
    client = _from(guarded, "203.0.113.5")
    assert _attempt(client, username, "not-the-password-1") == 401
    assert _attempt(client, ghost, "not-the-password-2") == 401
    with guarded.state.session_factory() as session:
        entries = session.scalars(
            select(AuditLogEntry).where(
                AuditLogEntry.action == "login_failed", AuditLogEntry.actor.in_([username, ghost])
            )
        ).all()
    by_actor = {entry.actor: entry for entry in entries}
    assert set(by_actor) == {username, ghost}
    assert by_actor[username].after == {"client": "203.0.113.5", "reason": "wrong password"}
    assert by_actor[ghost].after == {"client": "203.0.113.5", "reason": "unknown user"}
    assert by_actor[ghost].resource_id == ghost
    assert all("not-the-password" not in str(entry.after) for entry in entries)


def test_no_more_than_two_passwords_are_hashed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    throttle = LoginThrottle(concurrent_hashes=2, max_waiting=3, wait=5.0)
    running, peak, lock = 0, 0, threading.Lock()
    real = credentials.verify_password

    def slow_verify(stored: str, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return real(stored, password)

    monkeypatch.setattr(credentials, "verify_password", slow_verify)
    stored = credentials.hash_password("x" * 8)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            with throttle.hashing():
                credentials.verify_password(stored, "guess")
            outcomes.append("hashed")
        except LoginThrottledError as exc:
            outcomes.append("429" if exc.retry_after >= 1 else "429 without a delay")

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2
    # two hash, three wait their turn, the other seven are refused at once
    assert outcomes.count("hashed") == 5
    assert outcomes.count("429") == 7


def test_a_login_flood_gets_429_not_memory(guarded: FastAPI, make_user: Callable[..., str]) -> None:
    guarded.state.login_throttle = LoginThrottle(concurrent_hashes=1, max_waiting=0, wait=0.1)
    username = make_user("viewer")
    codes: list[int] = []

    def attempt(i: int) -> None:
        codes.append(_attempt(_from(guarded, f"172.16.0.{i}"), username, "wrong"))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(codes) <= {401, 429}
    assert 429 in codes
