"""The import applies the management API's save-time rules, checked once at its end.

- A condition is imported exactly when the API's own service would save it: the
  service (``put_state``, what ``PUT /flags/{key}/environments/{env}`` calls) is the
  reference, on the same conditions; one it refuses is listed under its flag as not
  mapped, and the rest of the flag is written.
- What the planner did not catch is caught by the final check of the whole
  configuration: reported with the flag (or segment) it belongs to, and with the
  reason the API gives for the same write; nothing is written.
- As an API write, an import is refused only for the issues it adds: a configuration
  already broken elsewhere does not block it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from verdict.engine import FlagType
from verdict.server.audit.models import AuditLogEntry
from verdict.server.environments.models import Environment
from verdict.server.errors import InvalidInputError
from verdict.server.flags import service as flags
from verdict.server.flags import states
from verdict.server.flags.imports.apply import Existing, apply_plan
from verdict.server.flags.imports.plan import (
    ImportPlan,
    PlannedFlag,
    PlannedRule,
    PlannedSegment,
    PlannedState,
)
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment
from verdict.server.flags.schemas import FlagCreate, FlagStateIn
from verdict.server.flags.validation import deferred_checks
from verdict.server.identity.service import SYSTEM
from verdict.server.segments.models import Segment

from .conftest import Run

CONDITIONS: list[dict[str, Any]] = [
    {"plan": {"$gt": True}},
    {"plan": {"$gt": "free"}},
    {"tags": {"$in": "beta"}},
    {"tags": {"$in": ["beta"]}},
    {"os": {"$type": "undefined"}},
    {"os": {"$type": "integer"}},
    {"os": {"$type": "string"}},
    {"v": {"$vgte": None}},
    {"v": {"$vgte": "1.2.0"}},
    {"beta": {"$exists": 1}},
    {"beta": {"$exists": False}},
    {"$country": "FR"},
    {"ua": {"$regex": "(a+)+"}},
    {"ua": {"$regex": "^Mozilla"}},
    {"x": {"$eq": [1]}},
    {"n": {"$size": "2"}},
    {"n": {"$size": {"$gt": 1}}},
]


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _api_refusal(engine: Engine, rules: list[dict[str, Any]], environment: str) -> Any:
    """What the API's service answers to saving ``rules``: ``None`` (saved) or its
    errors, ``[(field, reason)]``."""
    import verdict.server.models  # noqa: F401

    key = _key("api")
    with Session(engine) as session:
        flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key=key, name=key))
        try:
            states.put_state(
                session,
                actor=SYSTEM,
                flag_key=key,
                environment_key=environment,
                data=FlagStateIn.model_validate({"enabled": True, "rules": rules}),
                if_match='"0"',
            )
        except InvalidInputError as exc:
            return exc.errors
    return None


def _stored_rules(engine: Engine, key: str, environment: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rules: list[dict[str, Any]] = session.scalars(
            select(FeatureFlagEnvironment.rules)
            .join(FeatureFlag, FeatureFlag.id == FeatureFlagEnvironment.flag_id)
            .join(Environment, Environment.id == FeatureFlagEnvironment.environment_id)
            .where(FeatureFlag.key == key, Environment.key == environment)
        ).one()
    return rules


def test_a_condition_is_imported_exactly_when_the_api_would_save_it(
    run_import: Run, import_engine: Engine
) -> None:
    keys = [_key(f"cond{index}") for index in range(len(CONDITIONS))]
    features = {
        key: {
            "defaultValue": False,
            "rules": [{"id": "r", "condition": condition, "force": True}, {"force": False}],
        }
        for key, condition in zip(keys, CONDITIONS, strict=True)
    }
    result = run_import({"features": features}, "-e", "production")
    assert result.exit_code == 0, result.output
    saved_by_api = refused_by_api = 0
    for key, condition in zip(keys, CONDITIONS, strict=True):
        rule = {"type": "force", "value": True, "condition": condition}
        refusal = _api_refusal(import_engine, [rule], "production")
        imported = _stored_rules(import_engine, key, "production")
        if refusal is None:
            saved_by_api += 1
            assert imported[0] == {"id": "r", **rule}, condition
        else:
            refused_by_api += 1
            assert imported == [{"type": "force", "value": False}], condition
            # Listed under the flag with the reason the API gives for the same field.
            ((field, reason),) = refusal
            where = field.removeprefix("body.rules.0.condition.")
            block = result.output.split(f"flag {key}: create\n", 1)[1].split("\nflag ", 1)[0]
            assert f"rule 1 (r) not mapped: its condition: {where}: {reason}" in block
    assert saved_by_api >= 6
    assert refused_by_api >= 9


def _plan(*flags_: PlannedFlag, segments: list[PlannedSegment] | None = None) -> ImportPlan:
    return ImportPlan(
        source="growthbook",
        format="test",
        environments=[None],
        flags=list(flags_),
        segments=segments or [],
    )


def _flag(key: str, *conditions: dict[str, Any]) -> PlannedFlag:
    rules = [
        PlannedRule({"type": "force", "value": True, "condition": condition}, f"rule {index}")
        for index, condition in enumerate(conditions, 1)
    ]
    return PlannedFlag(
        key=key,
        name=key,
        value_type=FlagType.BOOLEAN,
        default=False,
        states={None: PlannedState(enabled=True, rules=rules)},
    )


def _count(engine: Engine, model: Any, keys: list[str]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(model.key.in_(keys))) or 0


def _audit_entries(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(AuditLogEntry)) or 0


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_final_check_names_the_flag_with_the_apis_reason_and_writes_nothing(
    import_engine: Engine, dry_run: bool
) -> None:
    good, bad = _key("good"), _key("bad")
    mistaken = {"plan": {"$gt": True}}
    # Planned by hand: the planner would have left the rule out.
    plan = _plan(_flag(good, {"plan": "pro"}), _flag(bad, {"plan": "pro"}, mistaken))
    rules = [
        {"type": "force", "value": True, "condition": {"plan": "pro"}},
        {"type": "force", "value": True, "condition": mistaken},
    ]
    ((field, reason),) = _api_refusal(import_engine, rules, "production")
    assert field == "body.rules.1.condition.plan.$gt"
    before = _audit_entries(import_engine)
    report = apply_plan(
        import_engine,
        plan,
        targets={None: "production"},
        existing=Existing.FAIL,
        dry_run=dry_run,
    )
    assert report.problems == [f"flag {bad!r} in production: rules.1.condition.plan.$gt: {reason}"]
    assert not report.written
    assert _count(import_engine, FeatureFlag, [good, bad]) == 0
    assert _audit_entries(import_engine) == before


def test_a_segment_the_final_check_refuses_is_named(import_engine: Engine) -> None:
    segment, flag = _key("seg"), _key("uses")
    plan = _plan(
        _flag(flag, {"$inSegment": segment}),
        segments=[PlannedSegment(segment, segment, {"tags": {"$in": "beta"}})],
    )
    report = apply_plan(
        import_engine, plan, targets={None: "production"}, existing=Existing.FAIL, dry_run=False
    )
    assert report.problems == [f"segment {segment!r}: tags.$in: $in needs an array"]
    assert _count(import_engine, Segment, [segment]) == 0
    assert _count(import_engine, FeatureFlag, [flag]) == 0


def test_a_configuration_broken_before_the_import_does_not_block_it(
    run_import: Run, import_engine: Engine
) -> None:
    import verdict.server.models  # noqa: F401

    environment, broken = _key("env"), _key("broken")
    with Session(import_engine) as session:
        session.add(Environment(key=environment, name=environment))
        session.commit()
        flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key=broken, name=broken))
    with Session(import_engine) as session:
        # Stored straight into the database, as by a version before today's rules.
        flag_id = session.scalars(select(FeatureFlag.id).where(FeatureFlag.key == broken)).one()
        environment_id = session.scalars(
            select(Environment.id).where(Environment.key == environment)
        ).one()
        rules = [{"type": "force", "value": True, "condition": {"plan": {"$gt": True}}}]
        session.add(
            FeatureFlagEnvironment(
                flag_id=flag_id, environment_id=environment_id, enabled=True, rules=rules
            )
        )
        session.commit()
    # The reference: the API saves an unrelated flag there.
    assert _api_refusal(import_engine, [{"type": "force", "value": True}], environment) is None
    key = _key("new")
    features = {key: {"defaultValue": False, "rules": [{"force": True}]}}
    result = run_import({"features": features}, "-e", environment)
    assert result.exit_code == 0, result.output
    assert _stored_rules(import_engine, key, environment) == [{"type": "force", "value": True}]


def test_checks_are_deferred_only_inside_the_context(import_engine: Engine) -> None:
    import verdict.server.models  # noqa: F401

    # A private environment: the deferred write below is committed, broken.
    environment, deferred, checked = _key("env"), _key("deferred"), _key("checked")
    rules = [{"type": "force", "value": True, "condition": {"a": {"$in": 1}}}]
    data = FlagStateIn.model_validate({"enabled": True, "rules": rules})
    with Session(import_engine) as session:
        session.add(Environment(key=environment, name=environment))
        session.commit()
        for key in (deferred, checked):
            flags.create_flag(session, actor=SYSTEM, data=FlagCreate(key=key, name=key))
        with deferred_checks(session) as checks:
            states.put_state(
                session,
                actor=SYSTEM,
                flag_key=deferred,
                environment_key=environment,
                data=data,
                if_match='"0"',
            )
            issues = checks.issues(session)
            with pytest.raises(RuntimeError), deferred_checks(session):
                pass
        assert [(issue.environment, issue.reason) for issue in issues] == [
            (environment, "$in needs an array")
        ]
        assert issues[0].path.endswith(".rules[0].condition.a.$in")
        with pytest.raises(InvalidInputError) as refused:
            states.put_state(
                session,
                actor=SYSTEM,
                flag_key=checked,
                environment_key=environment,
                data=data,
                if_match='"0"',
            )
    assert refused.value.errors == [("body.rules.0.condition.a.$in", "$in needs an array")]
