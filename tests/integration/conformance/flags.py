"""The flags the conformance suite creates through the management API of a live server.

Every flag is written here as the request bodies that create it; the expected outcomes
in :mod:`.cases` are read off these definitions (the variant a rule names, the value a
rule serves), never off the server's answers.

One flag cannot be made through the API on purpose: the API refuses configuration that
does not compile, so :data:`BROKEN` is created valid and then has its stored rules
rewritten in the database (as data written before a validation existed would be). The
snapshot of the environment is rebuilt from the database on the next write, which is
why it is created first: every later flag's creation is such a write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.integration.conftest import unique

__all__ = [
    "BOOLEAN",
    "BOOLEAN_ROLLOUT",
    "BROKEN",
    "CHILD",
    "DISABLED",
    "ENVIRONMENT",
    "EXPERIMENT",
    "EXPERIMENT_FLAG",
    "FLAGS",
    "FLOAT",
    "FORCED_UNIT",
    "INTEGER",
    "OBJECT_SPLIT",
    "OVERRIDDEN",
    "OVERRIDE_UNIT",
    "STRING_RAW",
    "STRING_STATIC",
    "FlagSpec",
    "create_flag",
    "create_flags",
    "put_state",
]

ENVIRONMENT = "production"

BROKEN = "conf-broken"
BOOLEAN = "conf-boolean"
BOOLEAN_ROLLOUT = "conf-boolean-rollout"
STRING_STATIC = "conf-string-static"
STRING_RAW = "conf-string-raw"
OVERRIDDEN = "conf-string-overridden"
INTEGER = "conf-integer"
FLOAT = "conf-float"
OBJECT_SPLIT = "conf-object-split"
DISABLED = "conf-object-disabled"
EXPERIMENT_FLAG = "conf-experiment-flag"
CHILD = "conf-child"

EXPERIMENT = "conf-experiment"
FORCED_UNIT = "user-forced"
OVERRIDE_UNIT = "user-vip"

_ON_OFF = [{"key": "on", "value": True}, {"key": "off", "value": False}]


@dataclass(frozen=True)
class FlagSpec:
    key: str
    value_type: str
    default: Any
    variants: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    enabled: bool = True
    prerequisites: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Stored in place of ``rules`` after creation, bypassing the API's validation.
    stored_rules: list[dict[str, Any]] | None = None

    def variant(self, key: str) -> Any:
        """The value of the named variant."""
        return next(item["value"] for item in self.variants if item["key"] == key)

    def rule(self, rule_id: str) -> dict[str, Any]:
        return next(rule for rule in self.rules if rule["id"] == rule_id)


FLAGS: dict[str, FlagSpec] = {
    spec.key: spec
    for spec in (
        FlagSpec(
            BROKEN,
            "boolean",
            False,
            _ON_OFF,
            rules=[{"id": "all", "type": "force", "variant": "on"}],
            stored_rules=[{"id": "all", "type": "force", "variant": "gone"}],
        ),
        FlagSpec(
            BOOLEAN,
            "boolean",
            False,
            _ON_OFF,
            rules=[{"id": "beta", "type": "force", "variant": "on", "condition": {"beta": True}}],
        ),
        # No variants at all: every value it serves is unnamed.
        FlagSpec(
            BOOLEAN_ROLLOUT,
            "boolean",
            False,
            [],
            rules=[{"id": "everyone", "type": "rollout", "percentage": 100, "value": True}],
        ),
        FlagSpec(
            STRING_STATIC,
            "string",
            "blue",
            [{"key": "blue", "value": "blue"}, {"key": "green", "value": "green"}],
            rules=[],
        ),
        FlagSpec(
            STRING_RAW,
            "string",
            "plain",
            [],
            rules=[
                {"id": "dutch", "type": "force", "value": "oranje", "condition": {"country": "NL"}}
            ],
            overrides={OVERRIDE_UNIT: {"value": "vip", "reason": "conformance"}},
        ),
        FlagSpec(
            OVERRIDDEN,
            "string",
            "blue",
            [{"key": "blue", "value": "blue"}, {"key": "green", "value": "green"}],
            rules=[],
            overrides={OVERRIDE_UNIT: {"variant": "green", "reason": "conformance"}},
        ),
        FlagSpec(
            INTEGER,
            "integer",
            10,
            [],
            rules=[{"id": "pro", "type": "force", "value": 25, "condition": {"plan": "pro"}}],
        ),
        # Written as whole numbers, served as floats.
        FlagSpec(
            FLOAT,
            "number",
            2,
            [{"key": "low", "value": 2}, {"key": "high", "value": 7.5}],
            rules=[{"id": "pro", "type": "force", "variant": "high", "condition": {"plan": "pro"}}],
        ),
        FlagSpec(
            OBJECT_SPLIT,
            "json",
            {"limit": 10},
            [{"key": "small", "value": {"limit": 10}}, {"key": "large", "value": {"limit": 100}}],
            rules=[
                {
                    "id": "all-large",
                    "type": "split",
                    "weights": [
                        {"variant": "small", "weight": 0},
                        {"variant": "large", "weight": 1},
                    ],
                }
            ],
        ),
        FlagSpec(
            DISABLED,
            "json",
            {"theme": "dark"},
            [
                {"key": "dark", "value": {"theme": "dark"}},
                {"key": "light", "value": {"theme": "light"}},
            ],
            rules=[{"id": "all", "type": "force", "variant": "light"}],
            enabled=False,
        ),
        FlagSpec(
            EXPERIMENT_FLAG,
            "string",
            "a",
            [{"key": "control", "value": "a"}, {"key": "treatment", "value": "b"}],
            rules=[{"id": "exp", "type": "experiment", "experiment": EXPERIMENT}],
        ),
        FlagSpec(
            CHILD,
            "boolean",
            False,
            _ON_OFF,
            rules=[{"id": "all", "type": "force", "variant": "on"}],
            prerequisites=[{"flag": BOOLEAN, "value": True}],
        ),
    )
}


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: {response.status_code} {response.text}")


def put_state(
    base: str, admin: dict[str, str], key: str, state: dict[str, Any], version: int
) -> None:
    response = httpx.put(
        f"{base}/api/v1/flags/{key}/environments/{ENVIRONMENT}",
        json=state,
        headers={**admin, "If-Match": f'"{version}"'},
    )
    _check(response, f"configuring {key}")


def _create_experiment(base: str, admin: dict[str, str]) -> None:
    metric = unique("conf-metric")
    _check(
        httpx.post(
            f"{base}/api/v1/metrics",
            json={"key": metric, "name": metric, "event_name": "purchase", "type": "conversion"},
            headers=admin,
        ),
        "creating the experiment's metric",
    )
    created = httpx.post(
        f"{base}/api/v1/experiments",
        json={
            "key": EXPERIMENT,
            "name": EXPERIMENT,
            "environment": ENVIRONMENT,
            "forced_variants": {FORCED_UNIT: "treatment"},
            "variants": [{"key": "control", "is_control": True}, {"key": "treatment"}],
            "metrics": [{"metric": metric, "role": "primary"}],
        },
        headers=admin,
    )
    _check(created, "creating the experiment")
    _check(
        httpx.post(
            f"{base}/api/v1/experiments/{EXPERIMENT}/start",
            headers={**admin, "If-Match": created.headers["ETag"]},
        ),
        "starting the experiment",
    )


def _store_rules(database_url: str, key: str, rules: list[dict[str, Any]]) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            updated = connection.execute(
                text(
                    "UPDATE feature_flag_environments SET rules = :rules "
                    "WHERE flag_id = (SELECT id FROM feature_flags WHERE key = :key)"
                ),
                {"rules": json.dumps(rules), "key": key},
            )
            if updated.rowcount != 1:
                raise RuntimeError(f"{key}: expected one stored state, updated {updated.rowcount}")
    finally:
        engine.dispose()


def create_flag(
    base: str, admin: dict[str, str], spec: FlagSpec, database_url: str | None = None
) -> None:
    """Create ``spec`` and configure it in the environment (raises RuntimeError)."""
    _check(
        httpx.post(
            f"{base}/api/v1/flags",
            json={
                "key": spec.key,
                "name": spec.key,
                "value_type": spec.value_type,
                "default_value": spec.default,
                "variants": spec.variants,
                "prerequisites": spec.prerequisites,
            },
            headers=admin,
        ),
        f"creating {spec.key}",
    )
    put_state(base, admin, spec.key, {"enabled": spec.enabled, "rules": spec.rules}, version=0)
    for unit, override in spec.overrides.items():
        _check(
            httpx.put(
                f"{base}/api/v1/flags/{spec.key}/environments/{ENVIRONMENT}/overrides/{unit}",
                json=override,
                headers=admin,
            ),
            f"overriding {spec.key} for {unit}",
        )
    if spec.stored_rules is not None:
        if database_url is None:
            raise RuntimeError(f"{spec.key}: rewriting stored rules needs the database URL")
        _store_rules(database_url, spec.key, spec.stored_rules)


def create_flags(base: str, admin: dict[str, str], database_url: str) -> dict[str, str]:
    """Create every flag of :data:`FLAGS` (and the experiment one of them uses).

    Answers the flags that could not be created, each with the server's reason, so
    that only the cases using them fail (with that reason) and the others still run.
    """
    failures: dict[str, str] = {}
    try:
        _create_experiment(base, admin)
    except RuntimeError as exc:
        failures[EXPERIMENT_FLAG] = str(exc)
    for spec in FLAGS.values():
        if spec.key in failures:
            continue
        try:
            create_flag(base, admin, spec, database_url)
        except RuntimeError as exc:
            failures[spec.key] = str(exc)
    return failures
