"""Property-based requests over the whole OpenAPI spec: no input yields a server error.

Schemathesis turns every operation of the spec into a Hypothesis strategy of requests
(valid and invalid bodies, parameters and headers); each is sent as an administrator,
so it gets past authentication and reaches the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_OPERATION = 25


def _exercise(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case: Any) -> None:
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

    call()


def test_no_generated_request_gets_a_server_error(
    api_app: FastAPI,
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        # A token per operation: POST /auth/logout may revoke it without harming others.
        _exercise(operation, login(make_user("admin")), failures)
    assert failures == []
