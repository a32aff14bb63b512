"""Importing GrowthBook exports with the CLI, then checking that Verdict decides as
GrowthBook's own SDK does on the same payload (the ``growthbook`` package is the
oracle): same value for forced and conditional rules, same proportion for rollouts."""

from __future__ import annotations

import json
from typing import Any

from growthbook import GrowthBook
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.growthbook_exports import growthbook_payload, growthbook_rest_export
from verdict.engine import Reason
from verdict.server.audit.models import AuditLogEntry
from verdict.server.flags.models import FeatureFlag

from .conftest import Run, decide, snapshot

CONTEXTS: list[dict[str, Any]] = [
    {"id": "u-staff-1", "email": "ann@example.com", "country": "FR", "plan": "free"},
    {"id": "u-beta-1", "country": "DE", "device": "android", "app_version": "5.10.0"},
    {"id": "u-100", "country": "FR", "lifetime_value": 2500, "plan": "enterprise"},
    {"id": "u-101", "device": "android", "app_version": "5.1.9", "tags": ["retail", "wholesale"]},
    {"id": "u-102", "device": "ios", "country": "US"},
    {"id": "u-103"},
    {"id": "u-104", "email": "eve@example.com.evil.org", "country": "DE"},
    {"id": "u-105", "lifetime_value": 999, "country": "FR", "company": "acme"},
    {"id": "u-106", "plan": "pro", "email": "pro@example.com"},
]
ROLLOUT_RULES = {"fr_ramp", "fr_half"}


def _growthbook(features: dict[str, Any], groups: dict[str, Any], attributes: dict[str, Any]):
    return GrowthBook(attributes=attributes, features=features, saved_groups=groups)


def _compare(engine: Engine, environment: str, features: dict[str, Any], groups: Any) -> int:
    """Assert Verdict decides as GrowthBook for every context; return the comparisons."""
    snap = snapshot(engine, environment)
    compared = 0
    for attributes in CONTEXTS:
        growthbook = _growthbook(features, groups, attributes)
        for key in features:
            if key not in snap.flags:
                continue
            expected = growthbook.eval_feature(key)
            result = decide(snap, key, attributes.get("id"), attributes)
            if {expected.ruleId, result.rule} & ROLLOUT_RULES:
                continue  # different units by design: proportions are compared instead
            if expected.source in ("experiment", "experimentRule"):
                # Not mapped: the unit goes on to the next rules, here the default.
                assert result.reason in (Reason.DEFAULT, Reason.STATIC), (key, attributes)
                assert result.value == snap.flags[key].default
                continue
            assert result.value == expected.value, (key, attributes, expected.source)
            compared += 1
    return compared


def test_sdk_payload_imports_and_decides_as_growthbook(
    run_import: Run, import_engine: Engine
) -> None:
    payload = growthbook_payload()
    result = run_import(payload, "--environment", "production")
    assert result.exit_code == 0, result.output
    assert "flag new-checkout: create" in result.output
    assert "requires checkout-v2-backend = true" in result.output
    assert "rule 5 (exp_copy) not mapped: experiment 'checkout-copy-test'" in result.output
    assert "team-rollout: create" in result.output
    assert "its rollout hashes attribute 'company'" in result.output
    assert _compare(import_engine, "production", payload["features"], payload["savedGroups"]) > 40


def test_rollout_reaches_the_same_share_of_units_not_the_same_units(
    run_import: Run, import_engine: Engine
) -> None:
    payload = growthbook_payload()
    # --update: another test may have imported the same payload into production.
    result = run_import(payload, "--environment", "staging", "--update")
    assert result.exit_code == 0, result.output
    snap = snapshot(import_engine, "staging")
    units = [f"unit-{index}" for index in range(4000)]
    growthbook_in = {
        unit
        for unit in units
        if _growthbook(payload["features"], payload["savedGroups"], {"id": unit, "plan": "pro"})
        .eval_feature("new-checkout")
        .ruleId
        == "fr_ramp"
    }
    verdict_in = {
        unit
        for unit in units
        if decide(snap, "new-checkout", unit, {"id": unit, "plan": "pro"}).rule == "fr_ramp"
    }
    assert abs(len(growthbook_in) / len(units) - 0.3) < 0.04
    assert abs(len(verdict_in) / len(units) - 0.3) < 0.04
    # Two independent 30 % draws share about 9 % of units, not 30 %.
    assert len(growthbook_in & verdict_in) / len(units) < 0.15


def test_rest_export_imports_each_environment_as_its_definition_decides(
    run_import: Run, import_engine: Engine
) -> None:
    document = growthbook_rest_export()
    result = run_import(document, "-e", "production", "-e", "staging", "-e", "dev=development")
    assert result.exit_code == 0, result.output
    assert "flag old-header: not imported: archived in GrowthBook" in result.output
    groups = {group["id"]: group["values"] for group in document["savedGroups"]}
    for environment in ("production", "staging"):
        features = {
            feature["id"]: json.loads(feature["environments"][environment]["definition"])
            for feature in document["features"]
            if not feature["archived"] and feature["environments"][environment]["enabled"]
        }
        assert _compare(import_engine, environment, features, groups) > 0
    off = snapshot(import_engine, "development")
    result_off = decide(off, "dark-mode", "u-1", {"id": "u-1"})
    assert (result_off.value, result_off.reason) == (False, Reason.DISABLED)


def test_every_write_is_audited_as_the_import(run_import: Run, import_engine: Engine) -> None:
    features = {"audited-flag": {"defaultValue": True, "rules": [{"force": False}]}}
    result = run_import({"features": features}, "-e", "production")
    assert result.exit_code == 0, result.output
    with Session(import_engine) as session:
        flag_id = session.scalars(
            select(FeatureFlag.id).where(FeatureFlag.key == "audited-flag")
        ).one()
        actions = session.execute(
            select(AuditLogEntry.action, AuditLogEntry.actor).where(
                AuditLogEntry.resource_type == "feature_flag",
                AuditLogEntry.resource_id == str(flag_id),
            )
        ).all()
    # The definition, then the state in production, as the API records them.
    assert sorted(actions) == [("create", "import:growthbook"), ("update", "import:growthbook")]
