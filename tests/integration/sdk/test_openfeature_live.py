"""The OpenFeature provider against a live ``verdict serve`` (SQLite and PostgreSQL).

A change made through the management API reaches an OpenFeature client as a
CONFIGURATION_CHANGED event naming the flag, and the next read resolves the new value;
the answers match those OpenFeature's own OFREP provider gets from the same server
(the peer package as the reference); a stopped server turns the provider STALE while
the last configuration keeps serving, and its return turns it READY again.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext as OFContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.flag_evaluation import FlagEvaluationDetails
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import ProviderStatus

from tests.integration.conformance.flags import put_state
from tests.integration.conformance.server import sdk_key
from tests.integration.conftest import unique
from tests.integration.delivery.test_stream import LiveServer, admin_headers
from tests.integration.sdk.test_client_live import WAIT, eventually
from tests.integration.sdk.test_recorder_live import restart
from verdict.sdk import Client, MemoryRecorder
from verdict.sdk.openfeature import VerdictProvider


def _create_string_flag(base: str, admin: dict[str, str]) -> str:
    flag = unique("of-colour")
    created = httpx.post(
        f"{base}/api/v1/flags",
        json={
            "key": flag,
            "name": flag,
            "value_type": "string",
            "default_value": "blue",
            "variants": [{"key": "blue", "value": "blue"}, {"key": "green", "value": "green"}],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    put_state(base, admin, flag, {"enabled": True, "rules": []}, version=0)
    return flag


def _essentials(details: FlagEvaluationDetails[Any]) -> tuple[Any, ...]:
    return (
        details.value,
        details.variant,
        details.reason,
        details.error_code,
        details.flag_metadata.get("rule"),
    )


def test_a_flag_change_and_an_outage_reach_an_openfeature_client(server: LiveServer) -> None:
    try:
        admin = admin_headers(server.base)
        key = sdk_key(server.base, admin, "server")
        flag = _create_string_flag(server.base, admin)
        client = Client(
            key, server.base, recorder=MemoryRecorder(), retry_initial=0.2, retry_max=1.0
        )
        domain, peer = unique("verdict"), unique("ofrep")
        api.set_provider_and_wait(VerdictProvider(client, ready_timeout=WAIT), domain)
        api.set_provider_and_wait(
            OFREPProvider(server.base, headers_factory=lambda: {"Authorization": f"Bearer {key}"}),
            peer,
        )
        flags, reference = api.get_client(domain), api.get_client(peer)
        seen: list[tuple[ProviderEvent, EventDetails]] = []
        lock = threading.Lock()

        def record(event: ProviderEvent) -> Any:
            def handler(details: EventDetails) -> None:
                with lock:
                    seen.append((event, details))

            return handler

        for event in ProviderEvent:
            flags.add_handler(event, record(event))

        def changed_names() -> list[str]:
            with lock:
                return [
                    name
                    for event, details in seen
                    if event is ProviderEvent.PROVIDER_CONFIGURATION_CHANGED
                    for name in details.flags_changed or []
                ]

        ctx = OFContext("user-1", {"plan": "pro"})
        before = flags.get_string_details(flag, "red", ctx)
        assert _essentials(before) == ("blue", "blue", OFReason.STATIC, None, None)
        assert _essentials(before) == _essentials(reference.get_string_details(flag, "red", ctx))

        put_state(
            server.base,
            admin,
            flag,
            {
                "enabled": True,
                "rules": [
                    {"id": "pro", "type": "force", "variant": "green", "condition": {"plan": "pro"}}
                ],
            },
            version=1,
        )
        assert eventually(lambda: flag in changed_names()), "no CONFIGURATION_CHANGED event"
        after = flags.get_string_details(flag, "red", ctx)
        assert _essentials(after) == ("green", "green", OFReason.TARGETING_MATCH, None, "pro")
        assert _essentials(after) == _essentials(reference.get_string_details(flag, "red", ctx))

        server.stop()
        assert eventually(lambda: flags.get_provider_status() is ProviderStatus.STALE)
        assert eventually(lambda: ProviderEvent.PROVIDER_STALE in [e for e, _ in seen])
        assert flags.get_string_value(flag, "red", ctx) == "green"  # the last configuration

        restart(server)
        assert eventually(lambda: flags.get_provider_status() is ProviderStatus.READY)
    finally:
        api.clear_providers()
