"""The environment configuration builder: its document compiles with the engine and
decides flags and experiments as the stored rows say.

Rows are written with the ORM in a transaction that is rolled back after each test.
The database is shared with other tests, so the document may hold their flags and
experiments too; assertions look only at this test's keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.integration.conftest import unique
from verdict.engine import EvaluationContext, ExperimentReason, Reason, Snapshot, compile_config
from verdict.server.environments.models import Environment
from verdict.server.errors import NotFoundError
from verdict.server.experiments.models import (
    Experiment,
    ExperimentSegment,
    ExperimentStatus,
    SegmentMatch,
    Variant,
)
from verdict.server.flags.config import environment_config
from verdict.server.flags.models import (
    FeatureFlag,
    FeatureFlagEnvironment,
    FeatureFlagOverride,
    FeatureFlagPrerequisite,
    FlagValueType,
)
from verdict.server.segments.models import Segment

NOW = dt.datetime.now(dt.UTC)


def _environment(session: Session) -> Environment:
    environment = Environment(key=unique("cfg"), name="Config test")
    session.add(environment)
    session.flush()
    return environment


def _compiled(document: dict[str, Any], keys: set[str]) -> Snapshot:
    snapshot = compile_config(document, strict=False)
    mine = [p for p in snapshot.problems if any(f".{key}" in p.path for key in keys)]
    assert mine == []
    return snapshot


def test_flags_carry_their_state_prerequisites_rollout_and_unexpired_overrides(
    db_session: Session,
) -> None:
    environment = _environment(db_session)
    other = _environment(db_session)
    staff = Segment(key=unique("staff"), name="Staff", conditions={"email": {"$regex": "@acme$"}})
    retired = Segment(key=unique("old"), name="Old", conditions={}, is_active=False)
    parent = FeatureFlag(key=unique("parent"), name="P", default_value=False)
    child = FeatureFlag(
        key=unique("child"),
        name="C",
        value_type=FlagValueType.STRING,
        default_value="old",
        variants=[{"key": "new", "value": "new"}, {"key": "old", "value": "old"}],
    )
    archived = FeatureFlag(key=unique("gone"), name="G", default_value=False, archived=True)
    untouched = FeatureFlag(key=unique("idle"), name="I", default_value=True)
    db_session.add_all([staff, retired, parent, child, archived, untouched])
    db_session.flush()
    child.prerequisites = [
        FeatureFlagPrerequisite(prerequisite_flag_id=parent.id, required_value=True)
    ]
    db_session.add_all(
        [
            FeatureFlagEnvironment(
                flag_id=parent.id,
                environment_id=environment.id,
                enabled=True,
                rules=[{"type": "force", "value": True}],
            ),
            FeatureFlagEnvironment(
                flag_id=child.id,
                environment_id=environment.id,
                enabled=True,
                rollout_percentage=100,
                rules=[
                    {"id": "nobody", "type": "force", "segment": retired.key, "value": "new"},
                    {"id": "staff", "type": "force", "segment": staff.key, "variant": "new"},
                ],
            ),
            FeatureFlagEnvironment(
                flag_id=child.id, environment_id=other.id, enabled=False, rules=[]
            ),
            FeatureFlagOverride(
                flag_id=child.id,
                environment_id=environment.id,
                unit_id="vip",
                value="new",
                expires_at=NOW + dt.timedelta(days=1),
            ),
            FeatureFlagOverride(
                flag_id=child.id,
                environment_id=environment.id,
                unit_id="lapsed",
                value="new",
                created_at=NOW - dt.timedelta(days=3),
                expires_at=NOW - dt.timedelta(days=1),
            ),
        ]
    )
    db_session.flush()

    document = environment_config(db_session, environment.key)

    assert document["segments"][retired.key] == {"$nor": []}
    assert archived.key not in document["flags"]
    assert document["flags"][untouched.key] == {
        "type": "boolean",
        "default": True,
        "enabled": False,
        "variants": [],
        "rules": [],
        "prerequisites": [],
    }
    spec = document["flags"][child.key]
    assert spec["prerequisites"] == [{"flag": parent.key, "value": True}]
    assert spec["rollout"] == 100
    assert list(spec["overrides"]) == ["vip"]
    snapshot = _compiled(document, {child.key, parent.key, untouched.key})
    staff_member = snapshot.evaluate(child.key, EvaluationContext("u1", {"email": "a@acme"}))
    assert (staff_member.value, staff_member.variant, staff_member.rule) == (
        "new",
        "new",
        "staff",
    )
    assert snapshot.evaluate(child.key, EvaluationContext("u2", {})).reason is Reason.DEFAULT
    vip = snapshot.evaluate(child.key, EvaluationContext("vip", {}))
    assert (vip.value, vip.rule) == ("new", "override")
    assert snapshot.value(child.key, "lapsed", {}) == "old"
    assert snapshot.evaluate(untouched.key, EvaluationContext("u1")).reason is Reason.DISABLED
    elsewhere = environment_config(db_session, other.key)
    assert elsewhere["flags"][child.key]["enabled"] is False
    assert "overrides" not in elsewhere["flags"][child.key]


def _experiment(
    session: Session,
    *,
    status: ExperimentStatus,
    environment: Environment | None,
    **columns: Any,
) -> Experiment:
    experiment = Experiment(
        key=unique("exp"),
        name="E",
        status=status,
        environment_id=environment.id if environment else None,
        variants=[
            Variant(
                key="treatment",
                weight=0.5,
                position=1,
                configuration={"color": "green"},
                system_prompt="Be brief",
                url="https://example.com/new",
            ),
            Variant(key="control", weight=0.5, position=0, is_control=True),
        ],
        **columns,
    )
    session.add(experiment)
    return experiment


def test_experiments_of_the_environment_are_mapped_to_the_engine_shape(
    db_session: Session,
) -> None:
    environment = _environment(db_session)
    other = _environment(db_session)
    us = Segment(key=unique("us"), name="US", conditions={"country": "US"})
    ca = Segment(key=unique("ca"), name="CA", conditions={"country": "CA"})
    bots = Segment(key=unique("bots"), name="Bots", conditions={"bot": True})
    db_session.add_all([us, ca, bots])
    db_session.flush()
    layer = unique("layer")
    running = _experiment(
        db_session,
        status=ExperimentStatus.RUNNING,
        environment=environment,
        targeting={"plan": "pro"},
        coverage=1.0,
        hash_seed="seed-1",
        forced_variants={"qa-1": "treatment"},
        layer=layer,
        bucket_start=0,
        bucket_end=10_000,
        segment_links=[
            ExperimentSegment(segment_id=us.id, match=SegmentMatch.INCLUDE),
            ExperimentSegment(segment_id=ca.id, match=SegmentMatch.INCLUDE),
            ExperimentSegment(segment_id=bots.id, match=SegmentMatch.EXCLUDE),
        ],
    )
    paused = _experiment(db_session, status=ExperimentStatus.PAUSED, environment=None)
    draft = _experiment(db_session, status=ExperimentStatus.DRAFT, environment=environment)
    foreign = _experiment(db_session, status=ExperimentStatus.RUNNING, environment=other)
    completed = _experiment(db_session, status=ExperimentStatus.COMPLETED, environment=None)
    flag = FeatureFlag(
        key=unique("flag"),
        name="F",
        default_value=False,
        variants=[{"key": "control", "value": False}, {"key": "treatment", "value": True}],
    )
    db_session.add(flag)
    db_session.flush()
    db_session.add(
        FeatureFlagEnvironment(
            flag_id=flag.id,
            environment_id=environment.id,
            enabled=True,
            rules=[{"type": "experiment", "experiment": completed.key}],
        )
    )
    db_session.flush()

    document = environment_config(db_session, environment.key)

    experiments = document["experiments"]
    assert {running.key, paused.key} <= set(experiments)
    assert not {draft.key, foreign.key} & set(experiments)
    assert experiments[completed.key]["status"] == "completed"
    spec = experiments[running.key]
    assert spec["seed"] == "seed-1"
    empty = {
        "configuration": {},
        "response_template": None,
        "system_prompt": None,
        "config_overrides": {},
    }
    assert spec["variants"] == [
        {"key": "control", "weight": 0.5, "payload": empty},
        {
            "key": "treatment",
            "weight": 0.5,
            "payload": {**empty, "configuration": {"color": "green"}, "system_prompt": "Be brief"},
            "url": "https://example.com/new",
        },
    ]
    assert spec["condition"] == {
        "$and": [
            {"plan": "pro"},
            {"$or": [{"$inSegment": key} for key in sorted([us.key, ca.key])]},
            {"$nor": [{"$inSegment": bots.key}]},
        ]
    }
    assert (spec["layer"], spec["layer_range"]) == (layer, [0, 10_000])
    assert spec["forced"] == {"qa-1": "treatment"}
    assert document["layers"][layer] == {"seed": layer}
    snapshot = _compiled(document, {running.key, paused.key, completed.key, flag.key})
    member = snapshot.decide(running.key, EvaluationContext("u1", {"plan": "pro", "country": "CA"}))
    assert (member.in_experiment, member.reason) == (True, ExperimentReason.BUCKETED)
    bot = snapshot.decide(
        running.key, EvaluationContext("u1", {"plan": "pro", "country": "US", "bot": True})
    )
    assert bot.reason is ExperimentReason.NOT_TARGETED
    outsider = snapshot.decide(
        running.key, EvaluationContext("u1", {"plan": "pro", "country": "FR"})
    )
    assert outsider.reason is ExperimentReason.NOT_TARGETED
    forced = snapshot.decide(running.key, EvaluationContext("qa-1", {}))
    assert (forced.variant, forced.reason) == ("treatment", ExperimentReason.FORCED)
    assert snapshot.decide(paused.key, EvaluationContext("u1")).reason is (
        ExperimentReason.NOT_RUNNING
    )
    assert snapshot.evaluate(flag.key, EvaluationContext("u1")).reason is Reason.DEFAULT


def test_a_single_included_segment_becomes_the_experiments_segment(db_session: Session) -> None:
    environment = _environment(db_session)
    us = Segment(key=unique("us"), name="US", conditions={"country": "US"})
    db_session.add(us)
    db_session.flush()
    experiment = _experiment(
        db_session,
        status=ExperimentStatus.RUNNING,
        environment=environment,
        segment_links=[ExperimentSegment(segment_id=us.id, match=SegmentMatch.INCLUDE)],
    )
    db_session.flush()
    spec = environment_config(db_session, environment.key)["experiments"][experiment.key]
    assert spec["segment"] == us.key
    assert "condition" not in spec


def test_an_unknown_environment_has_no_configuration(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        environment_config(db_session, "no-such-environment")
