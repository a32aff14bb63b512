"""Importing Unleash exports with the CLI, then checking that Verdict decides as
Unleash's own engine (yggdrasil, which Unleash's SDKs embed) does on the same
toggles: same answer where no hashing is involved, same proportion where it is."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from yggdrasil_engine.engine import UnleashEngine

from tests.unleash_exports import (
    SHOP_BETA_CONSTRAINTS,
    export_client_features,
    state_client_features,
    unleash_client_features,
    unleash_export,
    unleash_state_export,
)
from verdict.engine import Reason, Snapshot
from verdict.server.flags.imports.unleash_constraints import constraint_condition
from verdict.server.flags.imports.unleash_source import Constraint
from verdict.server.identity.service import SYSTEM
from verdict.server.segments import service as segments
from verdict.server.segments.schemas import SegmentCreate

from .conftest import Run, decide, snapshot

_TOP_LEVEL = ("userId", "sessionId", "remoteAddress", "appName", "environment")


def _engine(state: dict[str, Any]) -> UnleashEngine:
    engine = UnleashEngine()
    engine.take_state(json.dumps(state))
    return engine


def _unleash_context(attributes: dict[str, Any]) -> dict[str, Any]:
    """The Unleash context of Verdict attributes: properties are text in Unleash."""
    context: dict[str, Any] = {k: v for k, v in attributes.items() if k in _TOP_LEVEL}
    context["properties"] = {k: str(v) for k, v in attributes.items() if k not in _TOP_LEVEL}
    return context


def _unleash_value(engine: UnleashEngine, snap: Snapshot, key: str, context: dict[str, Any]) -> Any:
    """What an application reads from Unleash, in the imported flag's terms: enabled for
    a toggle, the payload (or the flag's default for the disabled variant) otherwise."""
    flag = snap.flags[key]
    if not flag.variants:
        return engine.check_enabled(key, context).is_enabled
    variant = engine.get_variant(key, context).variant
    if not variant.enabled:
        return flag.default
    payload = variant.payload or {}
    value = payload.get("value")
    return json.loads(value) if payload.get("type") == "json" else value


def _agree(state: dict[str, Any], snap: Snapshot, keys: list[str], contexts: list[Any]) -> None:
    engine = _engine(state)
    for attributes in contexts:
        for key in keys:
            expected = _unleash_value(engine, snap, key, _unleash_context(attributes))
            result = decide(snap, key, attributes.get("userId"), attributes)
            assert result.value == expected, (key, attributes, result)


def _share(snap: Snapshot, key: str, value: Any, attributes: dict[str, Any]) -> float:
    units = [f"user-{index}" for index in range(4000)]
    hits = sum(decide(snap, key, u, {**attributes, "userId": u}).value == value for u in units)
    return hits / len(units)


def _unleash_share(state: dict[str, Any], key: str, attributes: dict[str, Any]) -> float:
    engine = _engine(state)
    units = [f"user-{index}" for index in range(4000)]
    hits = sum(
        engine.check_enabled(key, _unleash_context({**attributes, "userId": u})).is_enabled
        for u in units
    )
    return hits / len(units)


CLIENT_CONTEXTS: list[dict[str, Any]] = [
    {"userId": "user-7"},
    {"userId": "user-3"},
    {"userId": "u1", "country": "NO", "email": "Kari@Example.com"},
    {"userId": "u2", "country": "NO", "email": "kari@example.net"},
    {"userId": "u3", "country": "DK", "appVersion": "2.2.9"},
    {"userId": "u4", "seats": 12, "plan": "team", "company": "Acme", "region": "eu-west"},
    {"userId": "u5", "seats": 12, "plan": "free", "region": "eu-west"},
    {"userId": "u6", "seats": 12, "plan": "team", "company": "TestCorp", "region": "eu-north"},
    {"userId": "u7", "seats": 12, "plan": "team", "company": "my-test-co", "region": "eu-west"},
    {"userId": "u8", "seats": 9, "plan": "team", "region": "eu-west"},
    {"userId": "u9", "remoteAddress": "10.1.2.3"},
    {"userId": "u10", "seats": 50, "plan": "team", "region": "us-east"},
]


def test_client_features_import_and_decide_as_unleash(
    run_import: Run, import_engine: Engine
) -> None:
    document = unleash_client_features()
    result = run_import(document, "-e", "production", source="unleash")
    assert result.exit_code == 0, result.output
    assert "segment Paying-Europeans: create" in result.output
    assert "strategy 1 (default) not mapped: DATE_AFTER" in result.output
    assert "address ranges 192.168.0.0/16 not mapped" in result.output
    snap = snapshot(import_engine, "production")
    keys = [
        "new-navigation",
        "premium-export",
        "checkout-theme",
        "kill-switch-search",
        "everyone-on",
        "new-navigation-tooltip",
    ]
    # None of these contexts reaches a rollout or a variant split.
    deterministic = [c for c in CLIENT_CONTEXTS if c["userId"] not in {"u3"}]
    _agree(document, snap, [k for k in keys if k != "checkout-theme"], deterministic)
    _agree(document, snap, ["checkout-theme"], [{"userId": "user-3"}])


def test_rollouts_and_variant_splits_keep_their_proportions(
    run_import: Run, import_engine: Engine
) -> None:
    document = unleash_client_features()
    result = run_import(document, "-e", "staging", "--update", source="unleash")
    assert result.exit_code == 0, result.output
    snap = snapshot(import_engine, "staging")
    late = {"appVersion": "3.0.0", "country": "DK"}
    verdict_share = _share(snap, "new-navigation", True, late)
    assert abs(verdict_share - _unleash_share(document, "new-navigation", late)) < 0.05
    assert abs(verdict_share - 0.4) < 0.04
    dark = _share(snap, "checkout-theme", "#000000", {})
    assert abs(dark - 0.5) < 0.04


def test_state_export_imports_both_environments(run_import: Run, import_engine: Engine) -> None:
    document = unleash_state_export()
    result = run_import(document, source="unleash")
    assert result.exit_code == 0, result.output
    contexts = [
        {"userId": "b-1", "appName": "webshop"},
        {"userId": "x-1", "appName": "backoffice"},
    ]
    development = snapshot(import_engine, "development")
    both = ["search-v2", "promo-popup"]
    _agree(state_client_features(document, "development"), development, both, contexts)
    production = snapshot(import_engine, "production")
    _agree(state_client_features(document, "production"), production, ["search-v2"], contexts[:1])
    _agree(state_client_features(document, "production"), production, ["promo-popup"], contexts[1:])
    assert abs(_share(production, "search-v2", True, {}) - 0.25) < 0.04
    ten = _share(production, "promo-popup", {"discount": 10}, {"appName": "webshop"})
    assert abs(ten - 0.7) < 0.04


def test_an_export_naming_a_missing_segment_leaves_its_strategy_out_until_it_exists(
    run_import: Run, import_engine: Engine
) -> None:
    document = unleash_export()
    first = run_import(document, source="unleash")
    assert first.exit_code == 0, first.output
    assert "segment shop-beta is not in Verdict" in first.output
    assert "production: on, 1 rule" in first.output
    condition = {}
    for raw in SHOP_BETA_CONSTRAINTS:
        condition.update(constraint_condition(Constraint.model_validate(raw)))
    import verdict.server.models  # noqa: F401

    with Session(import_engine) as session:
        segments.create_segment(
            session,
            actor=SYSTEM,
            data=SegmentCreate(key="shop-beta", name="shop-beta", conditions=condition),
        )
    second = run_import(document, "--update", source="unleash")
    assert second.exit_code == 0, second.output
    assert "production: on, 2 rules" in second.output
    snap = snapshot(import_engine, "production")
    state = export_client_features(document, {12: SHOP_BETA_CONSTRAINTS})
    _agree(state, snap, ["fast-checkout", "fast-checkout-banner"], [{"userId": "s-1"}])
    banner = decide(snap, "fast-checkout-banner", "nobody", {"userId": "nobody"})
    parent = decide(snap, "fast-checkout", "nobody", {"userId": "nobody"})
    assert banner.value is parent.value
    if not parent.value:
        assert (banner.reason, banner.rule) == (Reason.DEFAULT, "prerequisite:fast-checkout")
