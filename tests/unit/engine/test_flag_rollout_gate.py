"""The flag-wide rollout gate: ``"rollout": p`` lets only p % of units reach the rules.

Membership is recomputed here with the independent reference MurmurHash3 of
``bucketing_reference`` (never with the engine's own hashing), on the flag key's
inclusion hash: ``"<flag key>:inclusion:<unit id>"``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verdict.engine import ConfigError, ErrorCode, EvaluationContext, Reason, compile_config

from .bucketing_reference import murmur3_x86_32

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
UNITS = [f"user-{n}" for n in range(2000)]
EVERYONE_ON = {"id": "everyone", "type": "force", "value": True}


def _inside(flag_key: str, unit: str, percentage: float) -> bool:
    """Reference: is the unit's inclusion bucket below floor(p * 100 + 0.5)?"""
    bucket = murmur3_x86_32(f"{flag_key}:inclusion:{unit}".encode()) % 10_000
    return bucket < math.floor(percentage * 100 + 0.5)


def _gated(percentage: float | None, **spec: Any) -> Any:
    flag = {"type": "boolean", "default": False, "rules": [EVERYONE_ON], **spec}
    if percentage is not None:
        flag["rollout"] = percentage
    return compile_config({"flags": {"gated": flag}})


def _reached(snapshot: Any, units: list[str]) -> set[str]:
    return {unit for unit in units if snapshot.value("gated", unit, {}) is True}


def test_only_units_inside_the_percentage_of_the_flag_inclusion_hash_get_the_rules() -> None:
    snapshot = _gated(12.5)
    assert _reached(snapshot, UNITS) == {u for u in UNITS if _inside("gated", u, 12.5)}
    outside = next(u for u in UNITS if not _inside("gated", u, 12.5))
    result = snapshot.evaluate("gated", EvaluationContext(outside))
    assert (result.value, result.reason, result.rule) == (False, Reason.DEFAULT, "rollout")
    inside = next(u for u in UNITS if _inside("gated", u, 12.5))
    result = snapshot.evaluate("gated", EvaluationContext(inside))
    assert (result.value, result.reason, result.rule) == (True, Reason.TARGETING_MATCH, "everyone")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
)
def test_raising_the_flag_rollout_never_removes_a_unit(low_steps: int, high_steps: int) -> None:
    low, high = sorted((low_steps / 100, high_steps / 100))
    units = UNITS[:400]
    smaller, larger = _reached(_gated(low), units), _reached(_gated(high), units)
    assert smaller <= larger


def test_zero_serves_everyone_the_default_and_one_hundred_changes_nothing() -> None:
    assert _reached(_gated(0), UNITS[:300]) == set()
    assert _reached(_gated(100), UNITS[:300]) == _reached(_gated(None), UNITS[:300])
    assert _reached(_gated(100), UNITS[:300]) == set(UNITS[:300])


def test_the_gate_without_a_targeting_key_is_an_error_unless_it_is_zero_or_full() -> None:
    result = _gated(40).evaluate("gated", EvaluationContext(None))
    assert (result.reason, result.error_code, result.rule) == (
        Reason.ERROR,
        ErrorCode.TARGETING_KEY_MISSING,
        "rollout",
    )
    assert _gated(0).evaluate("gated", EvaluationContext(None)).rule == "rollout"
    assert _gated(100).evaluate("gated", EvaluationContext(None)).value is True


def test_overrides_and_the_kill_switch_come_before_the_gate() -> None:
    outside = next(u for u in UNITS if not _inside("gated", u, 10))
    expiry = (NOW + timedelta(days=1)).isoformat()
    snapshot = _gated(10, overrides={outside: {"value": True, "expires_at": expiry}})
    result = snapshot.evaluate("gated", EvaluationContext(outside), now=NOW)
    assert (result.value, result.rule) == (True, "override")
    disabled = _gated(100, enabled=False).evaluate("gated", EvaluationContext(outside))
    assert disabled.reason is Reason.DISABLED


def test_prerequisites_are_checked_before_the_gate() -> None:
    config = {
        "flags": {
            "parent": {"type": "boolean", "default": False},
            "gated": {
                "type": "boolean",
                "default": False,
                "rollout": 100,
                "prerequisites": [{"flag": "parent", "value": True}],
                "rules": [EVERYONE_ON],
            },
        }
    }
    result = compile_config(config).evaluate("gated", EvaluationContext("user-1"))
    assert result.rule == "prerequisite:parent"


def test_a_rollout_rule_on_the_default_seed_nests_inside_the_gate() -> None:
    ramp = {"id": "ramp", "type": "rollout", "percentage": 30, "value": True}
    snapshot = _gated(20, rules=[ramp])
    reached = _reached(snapshot, UNITS)
    # Same inclusion hash: the effective share is min(gate, rule), not their product.
    assert reached == {u for u in UNITS if _inside("gated", u, 20)}
    assert 0.15 < len(reached) / len(UNITS) < 0.25


def test_the_gate_keeps_the_default_variant_name() -> None:
    config = {
        "flags": {
            "gated": {
                "type": "string",
                "default": "off",
                "variants": [{"key": "on", "value": "yes"}, {"key": "off", "value": "off"}],
                "rollout": 0,
                "rules": [{"type": "force", "variant": "on"}],
            }
        }
    }
    result = compile_config(config).evaluate("gated", EvaluationContext("user-1"))
    assert (result.value, result.variant, result.rule) == ("off", "off", "rollout")


@pytest.mark.parametrize("bad", [-1, 100.5, "50", True, math.inf])
def test_a_rollout_outside_zero_to_one_hundred_is_a_configuration_error(bad: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        _gated(bad)
    assert [issue.path for issue in caught.value.issues] == ["$.flags.gated.rollout"]


def test_a_bad_rollout_is_reported_even_without_rules() -> None:
    with pytest.raises(ConfigError) as caught:
        compile_config({"flags": {"gated": {"type": "boolean", "default": False, "rollout": 200}}})
    assert caught.value.issues[0].path == "$.flags.gated.rollout"
