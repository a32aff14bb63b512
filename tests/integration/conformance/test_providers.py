"""The published OpenFeature OFREP providers against a live ``verdict serve``.

Python (``openfeature-provider-ofrep``), JavaScript server (``@openfeature/ofrep-provider``)
and JavaScript web (``@openfeature/ofrep-web-provider``, bulk evaluation with ETag)
each resolve every case of :data:`.cases.CASES`, and each answer must match the
outcome the table reads off the flag definitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from tests.integration.conformance.cases import (
    CASES,
    Case,
    Failure,
    Outcome,
    Paradigm,
    same_value,
)
from tests.integration.conformance.flags import FlagSpec, create_flag, put_state
from tests.integration.conformance.providers import PARADIGMS, PROVIDERS, NodeDriver, Provider
from tests.integration.conformance.server import Verdict
from tests.integration.conftest import unique

# The web provider's polling interval in these tests: short, so a test waits little.
POLL_MS = 200
# How long a test waits for something a poll brings before failing (never reached
# when things work; a bound, not a timing assertion).
PATIENCE_S = 20.0


def mismatches(result: dict[str, Any], expected: Outcome) -> list[str]:
    """Each way ``result`` (a provider's answer) differs from ``expected``."""
    problems = []
    if not same_value(result["value"], expected.value):
        problems.append(f"value {result['value']!r}, expected {expected.value!r}")
    if result["reason"] != expected.reason:
        problems.append(f"reason {result['reason']!r}, expected {expected.reason!r}")
    if expected.reason == "ERROR":
        if expected.error_code is not None and result["errorCode"] != expected.error_code:
            problems.append(f"errorCode {result['errorCode']!r}, expected {expected.error_code!r}")
        if result["errorCode"] is None:
            problems.append("no errorCode on an ERROR result")
        return problems
    if result["errorCode"] is not None:
        problems.append(f"errorCode {result['errorCode']!r} ({result['errorMessage']})")
    if result["variant"] != expected.variant:
        problems.append(f"variant {result['variant']!r}, expected {expected.variant!r}")
    if result["flagMetadata"] != dict(expected.metadata):
        problems.append(f"flagMetadata {result['flagMetadata']!r}, expected {expected.metadata!r}")
    return problems


@pytest.fixture(scope="session")
def outcomes(
    verdict: Verdict, providers: Callable[[str], Provider]
) -> Callable[[str], dict[str, dict[str, Any]]]:
    """Every case resolved by a provider, in one batch per provider (on first use)."""
    resolved: dict[str, dict[str, dict[str, Any]]] = {}

    def outcomes(name: str) -> dict[str, dict[str, Any]]:
        if name not in resolved:
            results = providers(name).evaluate([verdict.wire(name, case) for case in CASES])
            resolved[name] = {case.id: result for case, result in zip(CASES, results, strict=True)}
        return resolved[name]

    return outcomes


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_provider_resolves_what_the_flag_defines(
    case: Case,
    provider: str,
    verdict: Verdict,
    outcomes: Callable[[str], dict[str, dict[str, Any]]],
) -> None:
    if case.key in verdict.unavailable:
        pytest.fail(f"{case.key} could not be created: {verdict.unavailable[case.key]}")
    result = outcomes(provider)[case.id]
    paradigm = PARADIGMS[provider]
    problems = mismatches(result, case.expected_for(paradigm))
    if case.failure is not None:
        # The protocol's answer to the request reached the provider...
        answered = [(r["status"], r["errorCode"]) for r in result["requests"]]
        wanted = case.failure.value
        if not any(status == wanted for status, _ in answered):
            problems.append(f"HTTP exchange {answered}, expected a {wanted}")
        if case.failure is Failure.INVALID_CONTEXT and (400, "INVALID_CONTEXT") not in answered:
            problems.append(f"HTTP exchange {answered}, expected 400 INVALID_CONTEXT")
        # ...and a static-context provider fails to initialise on it.
        if paradigm is Paradigm.STATIC and result["initError"] is None:
            problems.append("initialisation did not fail")
    assert not problems, f"{provider} on {case.id}: {problems}\nresult: {result}"


def _wait_for(
    fetch: Callable[[], list[dict[str, Any]]], found: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Requests from ``fetch`` until one satisfies ``found``; answers all of them."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        seen.extend(fetch())
        if any(found(entry) for entry in seen):
            return seen
        time.sleep(POLL_MS / 1000 / 2)
    raise AssertionError(f"nothing matched within {PATIENCE_S} s; requests seen: {seen}")


def test_the_web_provider_revalidates_with_the_etag_and_keeps_answering(
    verdict: Verdict, node_drivers: Callable[[str], NodeDriver]
) -> None:
    web = node_drivers("web")
    static = next(c for c in CASES if c.id == "string-without-rules-is-static")
    # A context of its own, so this provider instance (polling) is this test's alone.
    case = replace(static, context={"targetingKey": "user-etag"})
    wire = verdict.wire("js-web", case, pollMs=POLL_MS)
    [first] = web.evaluate([wire])
    assert not mismatches(first, case.expected), first
    [fetched] = first["requests"]
    assert (fetched["path"], fetched["status"], fetched["ifNoneMatch"]) == (
        "/ofrep/v1/evaluate/flags",
        200,
        None,
    )
    etag = fetched["etag"]
    assert etag, "the bulk answer carries no ETag"

    seen = _wait_for(web.requests, lambda entry: entry["ifNoneMatch"] == etag)
    revalidations = [entry for entry in seen if entry["ifNoneMatch"] == etag]
    assert all(entry["status"] == 304 for entry in revalidations), revalidations

    [again] = web.evaluate([wire])
    assert not mismatches(again, case.expected), again


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_flag_change_reaches_the_provider(
    provider: str, verdict: Verdict, providers: Callable[[str], Provider]
) -> None:
    spec = FlagSpec(
        unique("conf-change"),
        "string",
        "before",
        [{"key": "before", "value": "before"}, {"key": "after", "value": "after"}],
        rules=[],
    )
    create_flag(verdict.base, verdict.admin, spec)
    before = Outcome("before", "STATIC", "before")
    case = Case(
        "change", spec.key, "string", "fallback", {"targetingKey": f"user-{provider}"}, before
    )
    wire = verdict.wire(provider, case, pollMs=POLL_MS)
    chosen = providers(provider)
    [first] = chosen.evaluate([wire])
    assert not mismatches(first, before), first

    switch = {"id": "switch", "type": "force", "variant": "after"}
    put_state(verdict.base, verdict.admin, spec.key, {"enabled": True, "rules": [switch]}, 1)
    after = chosen.await_change(wire, int(PATIENCE_S * 1000))
    assert not mismatches(
        after, Outcome("after", "TARGETING_MATCH", "after", {"rule": "switch"})
    ), after

    if isinstance(chosen, NodeDriver) and PARADIGMS[provider] is Paradigm.STATIC:
        # The poll that brought the change sent the old ETag and got a new one.
        etag = first["requests"][0]["etag"]
        polls = [entry for entry in chosen.requests() if entry["ifNoneMatch"] == etag]
        changed = [entry for entry in polls if entry["status"] == 200]
        assert changed, polls
        assert all(entry["etag"] not in (None, etag) for entry in changed), changed
