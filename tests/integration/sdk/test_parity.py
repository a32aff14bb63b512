"""SDK and server decide identically for 10,000 units (issue 14, point 6).

A live ``verdict serve`` (a subprocess, on SQLite and on PostgreSQL) is given a
realistic environment through the management API alone: segments; boolean, string,
integer, number and json flags whose rules read country, plan, version, age and email
with several operators; per-unit overrides; prerequisites; a flag-wide gradual rollout;
rollout and split rules; a disabled flag; and three running experiments (a multivariate
one with forced units and partial coverage, one with a targeting condition, segment
links and a hash attribute, and one a flag rule is bound to).

Then, for 10,000 units with varied attributes (some without a unit id), the SDK
:class:`~verdict.sdk.Client` (configuration downloaded from the server, exposures kept
in a :class:`~verdict.sdk.MemoryRecorder`, so none are sent) and the server decide every
flag (``POST /api/v1/evaluate``, all flags per request) and every experiment
(``POST /api/v1/assign``, the three experiments per request, each unit's first
assignment) alike: value and its type, variant, reason, error code and rule for flags;
whether in, variant, reason, bucket, payload and URL for experiments.

The server is the independent reference here: it decides from its own database rows
through its own configuration builder, while the SDK decides from the document it
downloaded.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.integration.conformance.server import sdk_key
from tests.integration.delivery.test_stream import LiveServer, admin_headers
from tests.integration.sdk.conftest import live_verdict
from tests.integration.sdk.test_client_live import WAIT, make_client
from verdict.sdk import Client, EvaluationContext, MemoryRecorder

ENVIRONMENT = "production"
UNITS = 10_000
WORKERS = 4  # concurrent requests to the server: keeps both cores busy

SEGMENTS: dict[str, dict[str, Any]] = {
    "par-pro-north-america": {"country": {"$in": ["US", "CA"]}, "plan": {"$in": ["pro", "team"]}},
    "par-modern-app": {"version": {"$vgte": "5.0.0"}},
    "par-internal": {"email": {"$regex": "@verdict\\.test$"}},
    "par-young": {"age": {"$lt": 21}},
}

_ON_OFF = [{"key": "on", "value": True}, {"key": "off", "value": False}]

# Each flag: the create body's fields, the environment state, overrides by unit.
FLAGS: list[dict[str, Any]] = [
    {
        "key": "par-new-checkout",
        "value_type": "boolean",
        "default_value": False,
        "variants": _ON_OFF,
        "state": {
            "enabled": True,
            "rules": [
                {"id": "staff", "type": "force", "segment": "par-internal", "variant": "on"},
                {
                    "id": "na-pro-ramp",
                    "type": "rollout",
                    "condition": {"$inSegment": "par-pro-north-america"},
                    "percentage": 30,
                    "variant": "on",
                },
                {
                    "id": "modern-eu",
                    "type": "rollout",
                    "condition": {"country": {"$in": ["DE", "NL"]}, "age": {"$gte": 30}},
                    "segment": "par-modern-app",
                    "percentage": 62.5,
                    "value": True,
                    "seed": "par-new-checkout-eu",
                },
            ],
        },
        "overrides": {"user-vip": {"variant": "on"}, "user-blocked": {"value": False}},
    },
    {
        # A gradual rollout of the whole flag, in front of its rules.
        "key": "par-gradual",
        "value_type": "boolean",
        "default_value": False,
        "variants": [],
        "state": {
            "enabled": True,
            "rollout_percentage": 40,
            "rules": [
                {
                    "id": "not-free",
                    "type": "force",
                    "condition": {"plan": {"$ne": "free"}},
                    "value": True,
                },
                {"id": "free-half", "type": "rollout", "percentage": 50, "value": True},
            ],
        },
        "overrides": {"user-vip": {"value": True}},
    },
    {
        "key": "par-banner",
        "value_type": "string",
        "default_value": "blue",
        "variants": [
            {"key": "blue", "value": "blue"},
            {"key": "green", "value": "green"},
            {"key": "red", "value": "red"},
        ],
        "state": {
            "enabled": True,
            "rules": [
                {
                    "id": "older-outside-na",
                    "type": "force",
                    "condition": {
                        "country": {"$nin": ["US", "CA", "GB"]},
                        "age": {"$gte": 40},
                    },
                    "variant": "red",
                },
                {
                    "id": "three-way",
                    "type": "split",
                    "coverage": 0.8,
                    "weights": [
                        {"variant": "blue", "weight": 0.5},
                        {"variant": "green", "weight": 0.3},
                        {"variant": "red", "weight": 0.2},
                    ],
                },
            ],
        },
        "overrides": {"user-vip": {"value": "gold"}},
    },
    {
        "key": "par-greeting",
        "value_type": "string",
        "default_value": "Hello",
        "variants": [],
        "prerequisites": [{"flag": "par-banner", "value": "green"}],
        "state": {
            "enabled": True,
            "rules": [
                {
                    "id": "dutch",
                    "type": "force",
                    "condition": {"country": "NL"},
                    "value": "Hallo",
                },
                {
                    "id": "german-old-app",
                    "type": "force",
                    "condition": {"country": "DE", "version": {"$vlt": "4.0.0"}},
                    "value": "Guten Tag",
                },
            ],
        },
        "overrides": {},
    },
    {
        "key": "par-page-size",
        "value_type": "integer",
        "default_value": 20,
        "variants": [],
        "state": {
            "enabled": True,
            "rules": [
                {
                    "id": "paying-old-app",
                    "type": "force",
                    "condition": {
                        "plan": {"$in": ["pro", "team", "enterprise"]},
                        "version": {"$vlt": "4.0.0"},
                    },
                    "value": 50,
                },
                {
                    "id": "try-25",
                    "type": "rollout",
                    "percentage": 40,
                    "value": 25,
                    "seed": "page-size-25",
                },
            ],
        },
        "overrides": {"user-blocked": {"value": 5}},
    },
    {
        "key": "par-discount",
        "value_type": "number",
        "default_value": 0,
        "variants": [{"key": "low", "value": 0.05}, {"key": "high", "value": 0.15}],
        "prerequisites": [{"flag": "par-new-checkout", "value": True}],
        "state": {
            "enabled": True,
            "rules": [
                {
                    "id": "young-or-german",
                    "type": "force",
                    "condition": {"$or": [{"country": "DE"}, {"$inSegment": "par-young"}]},
                    "variant": "high",
                },
                {
                    "id": "not-enterprise",
                    "type": "force",
                    "condition": {"plan": {"$nin": ["enterprise"]}},
                    "variant": "low",
                },
            ],
        },
        "overrides": {},
    },
    {
        "key": "par-limits",
        "value_type": "json",
        "default_value": {"requests": 100},
        "variants": [
            {"key": "small", "value": {"requests": 100}},
            {"key": "large", "value": {"requests": 1000, "burst": True}},
        ],
        "state": {
            "enabled": True,
            "rules": [
                {
                    "id": "beta-large",
                    "type": "force",
                    "condition": {"beta": True, "version": {"$vgt": "4.9.9"}},
                    "variant": "large",
                },
                {
                    "id": "split-by-plan",
                    "type": "split",
                    "condition": {"plan": {"$in": ["team", "enterprise"]}},
                    "weights": [
                        {"variant": "small", "weight": 0.25},
                        {"variant": "large", "weight": 0.75},
                    ],
                    "seed": "limits-split",
                },
            ],
        },
        "overrides": {"user-vip": {"variant": "large"}},
    },
    {
        "key": "par-killed",
        "value_type": "json",
        "default_value": {"mode": "safe"},
        "variants": [{"key": "safe", "value": {"mode": "safe"}}],
        "state": {"enabled": False, "rules": [{"id": "all", "type": "force", "value": {}}]},
        "overrides": {},
    },
    {
        # Bound to an experiment: the flag serves the experiment's variant.
        "key": "par-checkout-layout",
        "value_type": "string",
        "default_value": "classic",
        "variants": [
            {"key": "classic", "value": "classic"},
            {"key": "compact", "value": "compact"},
        ],
        "state": {
            "enabled": True,
            "rules": [
                {
                    "id": "not-for-staff",
                    "type": "force",
                    "segment": "par-internal",
                    "variant": "classic",
                },
                {"id": "layout-test", "type": "experiment", "experiment": "par-exp-layout"},
            ],
        },
        "overrides": {},
    },
]

EXPERIMENTS: list[dict[str, Any]] = [
    {
        # Multivariate, unequal weights, partial coverage, QA-forced units.
        "key": "par-exp-pricing",
        "variants": [
            {"key": "control", "is_control": True, "weight": 0.4},
            {"key": "tier-a", "weight": 0.2},
            {"key": "tier-b", "weight": 0.2},
            {"key": "tier-c", "weight": 0.2, "config_overrides": {"price": 19}},
        ],
        "coverage": 0.85,
        "forced_variants": {"user-vip": "tier-c", "user-blocked": "control"},
    },
    {
        # Targeted: a condition, segment links, and a hash attribute.
        "key": "par-exp-onboarding",
        "variants": [
            {"key": "control", "is_control": True},
            {"key": "guided", "configuration": {"steps": 3}},
        ],
        "targeting": {
            "country": {"$in": ["US", "CA", "GB", "DE"]},
            "version": {"$vgte": "4.2.0"},
            "age": {"$gte": 18},
        },
        "include_segments": ["par-modern-app"],
        "exclude_segments": ["par-internal"],
        "hash_attribute": "company_id",
    },
    {
        # The experiment flag par-checkout-layout's rule is bound to.
        "key": "par-exp-layout",
        "variants": [
            {"key": "classic", "is_control": True, "url": "https://shop.test/checkout"},
            {"key": "compact", "url": "https://shop.test/checkout/compact"},
        ],
        "targeting": {"plan": {"$ne": "enterprise"}},
        "coverage": 0.9,
    },
]

FLAG_KEYS = [flag["key"] for flag in FLAGS]
EXPERIMENT_KEYS = [experiment["key"] for experiment in EXPERIMENTS]


def _check(response: httpx.Response, what: str) -> httpx.Response:
    assert response.status_code < 300, f"{what}: {response.status_code} {response.text}"
    return response


def build_environment(base: str, admin: dict[str, str]) -> None:
    """Create the segments, experiments and flags above through the management API."""
    with httpx.Client(base_url=base, headers=admin, timeout=30) as http:
        for key, conditions in SEGMENTS.items():
            _check(
                http.post(
                    "/api/v1/segments", json={"key": key, "name": key, "conditions": conditions}
                ),
                f"segment {key}",
            )
        metric = "par-purchase"
        _check(
            http.post(
                "/api/v1/metrics",
                json={
                    "key": metric,
                    "name": metric,
                    "event_name": "purchase",
                    "type": "conversion",
                },
            ),
            "metric",
        )
        for spec in EXPERIMENTS:
            created = _check(
                http.post(
                    "/api/v1/experiments",
                    json={
                        **spec,
                        "name": spec["key"],
                        "environment": ENVIRONMENT,
                        "metrics": [{"metric": metric, "role": "primary"}],
                    },
                ),
                f"experiment {spec['key']}",
            )
            _check(
                http.post(
                    f"/api/v1/experiments/{spec['key']}/start",
                    headers={"If-Match": created.headers["ETag"]},
                ),
                f"starting {spec['key']}",
            )
        for flag in FLAGS:
            key = flag["key"]
            _check(
                http.post(
                    "/api/v1/flags",
                    json={
                        "key": key,
                        "name": key,
                        "value_type": flag["value_type"],
                        "default_value": flag["default_value"],
                        "variants": flag["variants"],
                        "prerequisites": flag.get("prerequisites", []),
                    },
                ),
                f"flag {key}",
            )
            _check(
                http.put(
                    f"/api/v1/flags/{key}/environments/{ENVIRONMENT}",
                    json=flag["state"],
                    headers={"If-Match": '"0"'},
                ),
                f"state of {key}",
            )
            for unit, override in flag["overrides"].items():
                _check(
                    http.put(
                        f"/api/v1/flags/{key}/environments/{ENVIRONMENT}/overrides/{unit}",
                        json=override,
                    ),
                    f"override of {key} for {unit}",
                )


def units() -> list[tuple[str | None, dict[str, Any]]]:
    """10,000 (unit id, attributes) pairs; attributes vary and are sometimes missing."""
    rng = random.Random(20261205)
    versions = ["3.9.1", "4.0.0", "4.1.7", "4.2.0", "4.10.2", "5.0.0-rc.1", "5.0.0", "5.3.1"]
    out: list[tuple[str | None, dict[str, Any]]] = []
    specials: list[str | None] = ["user-vip", "user-blocked", None, None]
    for index in range(UNITS):
        unit = specials[index] if index < len(specials) else f"unit-{index}"
        attributes: dict[str, Any] = {}
        if index < len(specials):  # reaches rollout rules: without a unit id, an ERROR
            out.append((unit, {"country": "US", "plan": "pro", "version": "5.0.0", "age": 33}))
            continue
        if rng.random() < 0.95:
            attributes["country"] = rng.choice(["US", "CA", "GB", "DE", "NL", "BR"])
        attributes["plan"] = rng.choice(["free", "free", "pro", "team", "enterprise"])
        if rng.random() < 0.9:
            attributes["version"] = rng.choice(versions)
        attributes["age"] = rng.randint(13, 80)
        if rng.random() < 0.3:
            attributes["beta"] = rng.random() < 0.5
        if rng.random() < 0.05:
            attributes["email"] = f"u{index}@verdict.test"
        elif rng.random() < 0.5:
            attributes["email"] = f"u{index}@example.com"
        if rng.random() < 0.8:  # a string or an integer company id, or none
            attributes["company_id"] = (
                f"co-{rng.randrange(500)}" if rng.random() < 0.7 else rng.randrange(500)
            )
        out.append((unit, attributes))
    return out


@pytest.fixture(scope="module")
def environment(
    database_factory: DatabaseFactory, backend: str
) -> Iterator[tuple[LiveServer, str]]:
    with live_verdict(database_factory, backend) as server:
        admin = admin_headers(server.base)
        key = sdk_key(server.base, admin, "server")
        build_environment(server.base, admin)
        yield server, key


def _flag_view(value: Any, variant: Any, reason: Any, error_code: Any, rule: Any) -> dict[str, Any]:
    return {
        "value": value,
        "value_type": type(value).__name__,
        "variant": variant,
        "reason": reason,
        "error_code": error_code,
        "rule": rule,
    }


def _sdk_flags(client: Client, context: EvaluationContext) -> dict[str, dict[str, Any]]:
    return {
        key: _flag_view(
            details.value,
            details.variant,
            details.reason.value,
            None if details.error_code is None else details.error_code.value,
            details.rule,
        )
        for key, details in client.evaluate_all(context).items()
    }


def _sdk_experiments(client: Client, context: EvaluationContext) -> dict[str, dict[str, Any]]:
    out = {}
    for key in EXPERIMENT_KEYS:
        details = client.get_variant(key, context)
        out[key] = {
            "in_experiment": details.in_experiment,
            "variant": details.variant,
            "reason": details.reason.value,
            "bucket": details.bucket,
            "payload": details.payload,
            "url": details.url,
        }
    return out


Decisions = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]] | None]


def _server_decisions(
    http: httpx.Client, unit: str | None, attributes: dict[str, Any]
) -> Decisions:
    evaluated = _check(
        http.post("/api/v1/evaluate", json={"targeting_key": unit, "attributes": attributes}),
        "evaluate",
    ).json()
    assert evaluated["environment"] == ENVIRONMENT
    flags = {
        key: _flag_view(r["value"], r["variant"], r["reason"], r["error_code"], r["rule"])
        for key, r in evaluated["flags"].items()
    }
    if unit is None:  # /assign needs a unit id
        return flags, None
    assigned = _check(
        http.post(
            "/api/v1/assign",
            json={"unit_id": unit, "attributes": attributes, "experiments": EXPERIMENT_KEYS},
        ),
        "assign",
    ).json()
    experiments = {
        a["experiment"]: {
            "in_experiment": a["in_experiment"],
            "variant": a["variant"],
            "reason": a["reason"],
            "bucket": a["bucket"],
            "payload": a["payload"],
            "url": a["url"],
        }
        for a in assigned["assignments"]
    }
    return flags, experiments


def test_sdk_and_server_decide_identically_for_10000_units(
    environment: tuple[LiveServer, str],
) -> None:
    server, key = environment
    recorder = MemoryRecorder()
    population = units()
    local = threading.local()
    opened: list[httpx.Client] = []

    def ask_server(pair: tuple[str | None, dict[str, Any]]) -> Decisions:
        http = getattr(local, "http", None)
        if http is None:  # one connection per worker thread, none shared between them
            http = local.http = httpx.Client(
                base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            opened.append(http)
        return _server_decisions(http, *pair)

    try:
        with (
            make_client(server.base, key, recorder) as client,
            ThreadPoolExecutor(WORKERS) as pool,
        ):
            assert client.wait_until_ready(WAIT)
            assert set(FLAG_KEYS) <= set(client.configuration["flags"])
            assert set(EXPERIMENT_KEYS) <= set(client.configuration["experiments"])

            answers = pool.map(ask_server, population)
            mismatches: list[str] = []
            seen_reasons: set[tuple[str, str]] = set()
            seen_assignments: set[tuple[str, str]] = set()
            for (unit, attributes), (server_flags, server_experiments) in zip(
                population, answers, strict=True
            ):
                context = EvaluationContext(unit, attributes)
                sdk_flags = _sdk_flags(client, context)
                assert set(server_flags) == set(sdk_flags), (
                    unit,
                    set(server_flags) ^ set(sdk_flags),
                )
                for flag in FLAG_KEYS:
                    seen_reasons.add((flag, sdk_flags[flag]["reason"]))
                    if sdk_flags[flag] != server_flags[flag]:
                        mismatches.append(
                            f"{unit} {attributes} {flag}: sdk {sdk_flags[flag]} "
                            f"server {server_flags[flag]}"
                        )
                if server_experiments is None:
                    continue
                sdk_experiments = _sdk_experiments(client, context)
                for experiment in EXPERIMENT_KEYS:
                    seen_assignments.add((experiment, sdk_experiments[experiment]["reason"]))
                    if sdk_experiments[experiment] != server_experiments[experiment]:
                        mismatches.append(
                            f"{unit} {attributes} {experiment}: sdk {sdk_experiments[experiment]} "
                            f"server {server_experiments[experiment]}"
                        )
    finally:
        for http in opened:
            http.close()
    assert mismatches == [], f"{len(mismatches)} disagreements, first: {mismatches[:10]}"

    # The environment really exercised what it claims to (else agreement is cheap).
    for expected in [
        ("par-new-checkout", "TARGETING_MATCH"),  # segment rule and overrides
        ("par-new-checkout", "SPLIT"),  # rollout rules
        ("par-new-checkout", "DEFAULT"),
        ("par-new-checkout", "ERROR"),  # a rollout reached without a unit id
        ("par-gradual", "DEFAULT"),  # outside the flag-wide rollout
        ("par-gradual", "TARGETING_MATCH"),
        ("par-gradual", "SPLIT"),
        ("par-banner", "SPLIT"),
        ("par-banner", "TARGETING_MATCH"),
        ("par-greeting", "TARGETING_MATCH"),  # prerequisite met, rule applied
        ("par-greeting", "DEFAULT"),  # prerequisite unmet
        ("par-page-size", "TARGETING_MATCH"),
        ("par-page-size", "SPLIT"),
        ("par-discount", "TARGETING_MATCH"),
        ("par-discount", "DEFAULT"),
        ("par-limits", "TARGETING_MATCH"),
        ("par-limits", "SPLIT"),
        ("par-killed", "DISABLED"),
        ("par-checkout-layout", "SPLIT"),  # decided by the bound experiment
        ("par-checkout-layout", "TARGETING_MATCH"),
    ]:
        assert expected in seen_reasons, expected
    for expected in [
        ("par-exp-pricing", "bucketed"),
        ("par-exp-pricing", "forced"),
        ("par-exp-pricing", "not_in_coverage"),
        ("par-exp-onboarding", "bucketed"),
        ("par-exp-onboarding", "not_targeted"),
        ("par-exp-onboarding", "targeting_key_missing"),  # no company_id
        ("par-exp-layout", "bucketed"),
        ("par-exp-layout", "not_targeted"),
        ("par-exp-layout", "not_in_coverage"),
    ]:
        assert expected in seen_assignments, expected
    # Exposures were recorded in memory (nothing was sent), for every experiment.
    assert {e.experiment_key for e in recorder.exposures} == set(EXPERIMENT_KEYS)
