"""The live server under test: its database, address, administrator, SDK keys and flags.

Built once per session by the ``verdict`` fixture (conftest.py), which starts
``verdict serve`` with the helpers of tests/integration/delivery/test_stream.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.integration.conformance.cases import Case, Credentials
from tests.integration.conformance.flags import ENVIRONMENT
from tests.integration.conftest import unique
from tests.integration.delivery.test_stream import ADMIN_PASSWORD, LiveServer
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, create_session_factory, migrate
from verdict.server.identity import service
from verdict.server.identity.schemas import UserCreate

__all__ = ["Verdict", "prepare_database", "sdk_key"]


def prepare_database(url: str) -> None:
    """Migrate ``url`` and create the administrator ``admin`` (the one
    ``test_stream.admin_headers`` logs in as), in this process: the CLI would cost an
    interpreter start per step."""
    engine = create_db_engine(get_settings(database_url=url))
    try:
        migrate.upgrade(engine)
        with create_session_factory(engine)() as session:
            service.create_user(
                session,
                actor=service.SYSTEM,
                data=UserCreate(
                    username="admin",
                    email="admin@example.com",
                    password=ADMIN_PASSWORD,
                    is_superuser=True,
                    roles=["admin"],
                ),
            )
    finally:
        engine.dispose()


# Web (browser) applications get client keys, back ends server keys.
_KEY_KINDS = {"python": "server", "js-server": "server", "js-web": "client"}


@dataclass(frozen=True)
class Verdict:
    """The live server, its administrator, and the flags that could not be created."""

    server: LiveServer
    admin: dict[str, str]
    keys: dict[str, str]  # key kind -> secret
    unavailable: dict[str, str]  # flag key -> why it could not be created

    @property
    def base(self) -> str:
        return self.server.base

    def headers(self, provider: str, credentials: Credentials) -> list[list[str]]:
        secret = self.keys[_KEY_KINDS[provider]]
        return {
            Credentials.SDK_BEARER: [["Authorization", f"Bearer {secret}"]],
            Credentials.SDK_X_API_KEY: [["X-API-Key", secret]],
            Credentials.NONE: [],
            Credentials.UNKNOWN_KEY: [["Authorization", "Bearer vk_this-key-was-never-issued"]],
            Credentials.NOT_AN_SDK_KEY: [["Authorization", self.admin["Authorization"]]],
        }[credentials]

    def wire(self, provider: str, case: Case, **extra: Any) -> dict[str, Any]:
        """The case as the providers take it."""
        return {
            "key": case.key,
            "type": case.type,
            "default": case.default,
            "context": dict(case.context),
            "headers": self.headers(provider, case.credentials),
            **extra,
        }


def sdk_key(base: str, admin: dict[str, str], kind: str) -> str:
    created = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": unique(f"conformance-{kind}"), "kind": kind, "environment": ENVIRONMENT},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])
