"""Every check, unique and foreign-key rule is enforced by the database itself.

Bad values are written with raw SQL, past the ORM's own validation, so these tests
prove the database refuses them (what matters when another tool writes the tables).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, inspect, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tests.integration.model_graph import at, build_graph
from verdict.server import models as m

Graph = dict[type[Any], Any]


def _raw(value: Any) -> Any:
    # Strings go in as untyped SQL literals so that neither SQLAlchemy's enum
    # validation nor a varchar-to-enum type error on PostgreSQL hides the real check.
    if isinstance(value, str):
        return text("'" + value.replace("'", "''") + "'")
    return value


def set_raw(session: Session, obj: Any, **values: Any) -> None:
    table = inspect(type(obj)).local_table
    identity = inspect(obj).identity
    condition = [col == key for col, key in zip(table.primary_key.columns, identity, strict=True)]
    session.execute(update(table).where(*condition).values({k: _raw(v) for k, v in values.items()}))


def clone(obj: Any, **changes: Any) -> Any:
    """A copy of ``obj`` as a new row: same column values, a new id, ``changes`` applied."""
    mapper = inspect(type(obj))
    values = {attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs}
    if "id" in values:
        values["id"] = uuid.uuid4()
    values.pop("version", None)
    values.update(changes)
    return type(obj)(**values)


CHECKS: list[tuple[type[Any], dict[str, Any], str]] = [
    (m.Environment, {"key": "1st"}, "key_identifier"),
    (m.Environment, {"key": "qa eu"}, "key_identifier"),
    (m.Environment, {"sort_order": -1}, "sort_order_not_negative"),
    (m.User, {"username": ""}, "username_not_empty"),
    (m.User, {"email": "not-an-address"}, "email_has_at"),
    (m.ApiKey, {"kind": "superuser"}, "api_key_kind"),
    (m.ApiKey, {"environment_id": None}, "environment_for_sdk_keys"),
    (m.ApiKey, {"revoked_at": at(-1)}, "revoked_after_created"),
    (m.Experiment, {"key": "has space"}, "key_identifier"),
    (m.Experiment, {"coverage": 1.5}, "coverage_fraction"),
    (m.Experiment, {"bucket_start": 6000}, "bucket_range"),
    (m.Experiment, {"bucket_end": 10001}, "bucket_range"),
    (m.Experiment, {"minimum_sample_size": -1}, "minimum_sample_size_not_negative"),
    (m.Experiment, {"end_at": at(-1)}, "end_after_start"),
    (m.Experiment, {"completed_at": at(0)}, "completed_after_started"),
    (m.Experiment, {"statistical_significance": 1.2}, "significance_fraction"),
    (m.Experiment, {"confidence_level": 1.0}, "confidence_level_fraction"),
    (m.Experiment, {"status": "active"}, "experiment_status"),
    (m.Experiment, {"type": "holdout"}, "experiment_type"),
    (m.Variant, {"weight": 1.5}, "weight_fraction"),
    (m.Variant, {"weight": -0.1}, "weight_fraction"),
    (m.Variant, {"impressions": -1}, "impressions_not_negative|conversions_within_impressions"),
    (m.Variant, {"conversions": 991}, "conversions_within_impressions"),
    (m.Variant, {"conversion_rate": 1.2}, "conversion_rate_fraction"),
    (m.Variant, {"confidence_interval_lower": 0.2}, "interval_ordered"),
    (m.ExperimentPhase, {"number": 0}, "number_positive"),
    (m.ExperimentPhase, {"coverage": -0.1}, "coverage_fraction"),
    (m.ExperimentPhase, {"ended_at": at(0)}, "ended_after_started"),
    (m.ExperimentMetric, {"non_inferiority_margin": -0.5}, "margin_not_negative"),
    (m.ExperimentMetric, {"role": "tertiary"}, "metric_role"),
    (m.ExperimentSegment, {"match": "maybe"}, "segment_match"),
    (m.Metric, {"key": "-x"}, "key_identifier"),
    (m.Metric, {"denominator_metric_id": None}, "ratio_has_denominator"),
    (m.Metric, {"percentile": 1.5}, "percentile_fraction"),
    (m.Metric, {"cap_value": None}, "cap_value_for_capping"),
    (m.Metric, {"cap_value": 5.0}, "percentile_cap_fraction"),
    (m.Metric, {"conversion_window_hours": 0.0}, "conversion_window_positive"),
    (m.Metric, {"conversion_delay_hours": -1.0}, "conversion_delay_not_negative"),
    (m.Metric, {"minimum_sample_size": -5}, "minimum_sample_size_not_negative"),
    (m.Metric, {"type": "rate"}, "metric_type"),
    (m.Metric, {"aggregation": "median"}, "metric_aggregation"),
    (m.Metric, {"capping": "soft"}, "metric_capping"),
    (m.ExperimentResult, {"p_value": 1.5}, "p_value_fraction"),
    (m.ExperimentResult, {"p_value": -0.01}, "p_value_fraction"),
    (m.ExperimentResult, {"sample_size": -1, "conversions": None}, "sample_size_not_negative"),
    (m.ExperimentResult, {"conversions": 991}, "conversions_within_sample"),
    (m.ExperimentResult, {"variance": -1.0}, "variance_not_negative"),
    (m.ExperimentResult, {"ci_lower": 0.2}, "interval_contains_mean"),
    (m.ExperimentResult, {"lift_ci_upper": 0.05}, "interval_contains_lift"),
    (m.ExperimentResult, {"chance_to_win": 2.0}, "chance_to_win_fraction"),
    (m.ExperimentResult, {"statistical_power": -0.1}, "power_fraction"),
    (m.ExperimentResult, {"expected_loss": -1.0}, "loss_not_negative"),
    (m.ExperimentResult, {"confidence_level": 0.0}, "confidence_level_fraction"),
    (m.ExperimentResult, {"data_window_end": at(0)}, "window_ordered"),
    (m.ExperimentResult, {"method": "vibes"}, "analysis_method"),
    (m.Assignment, {"bucket": 10000}, "bucket_range"),
    (m.Assignment, {"has_converted": False}, "converted_at_needs_conversion"),
    (m.Assignment, {"unit_id": ""}, "unit_id_not_empty"),
    (m.Assignment, {"reason": "random"}, "assignment_reason"),
    (m.Event, {"event_type": ""}, "event_type_not_empty"),
    (m.Event, {"unit_id": None, "device_id": None, "session_id": None}, "has_subject"),
    (m.FeatureFlag, {"key": "new checkout"}, "key_identifier"),
    (m.FeatureFlag, {"value_type": "date"}, "flag_value_type"),
    (m.FeatureFlagEnvironment, {"rollout_percentage": 100.5}, "rollout_percentage_range"),
    (m.FeatureFlagEnvironment, {"rollout_percentage": -1.0}, "rollout_percentage_range"),
    (m.FeatureFlagOverride, {"unit_id": ""}, "unit_id_not_empty"),
    (m.FeatureFlagOverride, {"expires_at": at(0)}, "expires_after_created"),
    (m.Segment, {"size_estimate": -1}, "size_estimate_not_negative"),
    (m.Segment, {"key": "x/y"}, "key_identifier"),
    (m.AuditLogEntry, {"action": ""}, "action_not_empty"),
    (m.AccessToken, {"expires_at": at(-1)}, "expires_after_created"),
    (m.AccessToken, {"kind": "magic"}, "access_token_kind"),
]


@pytest.mark.parametrize(
    ("model", "values", "constraint"),
    CHECKS,
    ids=[f"{model.__tablename__}-{constraint}-{next(iter(v))}" for model, v, constraint in CHECKS],
)
def test_check_rule_rejects_a_bad_row(
    db_session: Session, model: type[Any], values: dict[str, Any], constraint: str
) -> None:
    graph = build_graph(db_session)
    with pytest.raises(DBAPIError) as caught, db_session.begin_nested():
        set_raw(db_session, graph[model], **values)
    message = str(caught.value.orig)
    # Several rules may catch one bad value; the database reports whichever it checks first.
    assert any(name in message for name in constraint.split("|")), message


def test_prerequisite_on_itself_is_refused(db_session: Session) -> None:
    graph = build_graph(db_session)
    flag = graph[m.FeatureFlag]
    with pytest.raises(IntegrityError, match="not_self"), db_session.begin_nested():
        db_session.add(
            m.FeatureFlagPrerequisite(
                flag_id=flag.id, prerequisite_flag_id=flag.id, required_value=True
            )
        )
        db_session.flush()


UNIQUES: list[tuple[str, Callable[[Graph], Any]]] = [
    ("environment key", lambda g: clone(g[m.Environment])),
    ("username", lambda g: clone(g[m.User], email="other@example.com")),
    ("email", lambda g: clone(g[m.User], username="other")),
    ("role name", lambda g: clone(g[m.Role])),
    ("permission resource+action", lambda g: clone(g[m.Permission], name="other")),
    ("api key prefix", lambda g: clone(g[m.ApiKey])),
    ("experiment key", lambda g: clone(g[m.Experiment], winner_variant_id=None)),
    ("variant key per experiment", lambda g: clone(g[m.Variant])),
    ("one control per experiment", lambda g: clone(g[m.Variant], key="third", is_control=True)),
    ("phase number", lambda g: clone(g[m.ExperimentPhase])),
    (
        "one primary metric",
        lambda g: [
            m.ExperimentMetric(
                experiment_id=g[m.Experiment].id,
                metric_id=g[m.Metric].denominator_metric_id,
                role=m.MetricRole.PRIMARY,
            ),
            m.ExperimentMetric(
                experiment_id=g[m.Experiment].id,
                metric_id=g[m.Metric].id,
                role=m.MetricRole.PRIMARY,
            ),
        ],
    ),
    ("metric key", lambda g: clone(g[m.Metric])),
    ("segment key", lambda g: clone(g[m.Segment])),
    ("flag key", lambda g: clone(g[m.FeatureFlag])),
    ("flag state per environment", lambda g: clone(g[m.FeatureFlagEnvironment])),
    ("override per unit", lambda g: clone(g[m.FeatureFlagOverride])),
    ("assignment per experiment and unit", lambda g: clone(g[m.Assignment])),
    ("client event id", lambda g: clone(g[m.Event])),
    ("access token digest", lambda g: clone(g[m.AccessToken])),
]


@pytest.mark.parametrize(("name", "make"), UNIQUES, ids=[name for name, _ in UNIQUES])
def test_unique_rule_rejects_a_duplicate(
    db_session: Session, name: str, make: Callable[[Graph], Any]
) -> None:
    graph = build_graph(db_session)
    rows = make(graph)
    if name == "one primary metric":
        # The graph's link is a guardrail; the metric link table is keyed by metric too.
        db_session.execute(delete(m.ExperimentMetric))
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add_all(rows if isinstance(rows, list) else [rows])
        db_session.flush()


MISSING = uuid.UUID(int=1)
FOREIGN_KEYS: list[tuple[type[Any], str]] = [
    (m.Variant, "experiment_id"),
    (m.Assignment, "variant_id"),
    (m.Assignment, "experiment_id"),
    (m.Event, "experiment_id"),
    (m.Event, "assignment_id"),
    (m.ExperimentResult, "metric_id"),
    (m.FeatureFlagEnvironment, "environment_id"),
    (m.FeatureFlagOverride, "flag_id"),
    (m.FeatureFlagPrerequisite, "prerequisite_flag_id"),
    (m.ApiKey, "environment_id"),
    (m.Experiment, "winner_variant_id"),
    (m.Metric, "denominator_metric_id"),
]


@pytest.mark.parametrize(
    ("model", "column"), FOREIGN_KEYS, ids=[f"{m_.__tablename__}.{c}" for m_, c in FOREIGN_KEYS]
)
def test_foreign_key_rejects_a_dangling_reference(
    db_session: Session, model: type[Any], column: str
) -> None:
    graph = build_graph(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        set_raw(db_session, graph[model], **{column: MISSING})


def test_a_flag_others_depend_on_cannot_be_deleted(db_session: Session) -> None:
    graph = build_graph(db_session)
    base = graph[m.FeatureFlagPrerequisite].prerequisite_flag_id
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(delete(m.FeatureFlag).where(m.FeatureFlag.id == base))


def test_a_metric_linked_to_an_experiment_cannot_be_deleted(db_session: Session) -> None:
    graph = build_graph(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(delete(m.Metric).where(m.Metric.id == graph[m.Metric].id))


def test_deleting_an_experiment_cascades_to_its_variants_and_assignments(
    db_session: Session,
) -> None:
    graph = build_graph(db_session)
    experiment_id = graph[m.Experiment].id
    db_session.execute(delete(m.ExperimentResult))
    db_session.execute(delete(m.FeatureFlag).where(m.FeatureFlag.experiment_id == experiment_id))
    db_session.execute(delete(m.Experiment).where(m.Experiment.id == experiment_id))
    for model in (m.Variant, m.Assignment, m.ExperimentPhase, m.ExperimentMetric):
        count = db_session.query(model).filter_by(experiment_id=experiment_id).count()
        assert count == 0, model.__name__
    event = db_session.get(m.Event, graph[m.Event].id, populate_existing=True)
    assert event is not None
    assert event.experiment_id is None


def test_deleting_a_user_keeps_what_they_owned(db_session: Session) -> None:
    graph = build_graph(db_session)
    db_session.execute(delete(m.User).where(m.User.id == graph[m.User].id))
    experiment = db_session.get(m.Experiment, graph[m.Experiment].id, populate_existing=True)
    assert experiment is not None
    assert experiment.owner_id is None
    entry = db_session.get(m.AuditLogEntry, graph[m.AuditLogEntry].id, populate_existing=True)
    assert entry is not None
    assert entry.actor == "ada"
    assert entry.actor_user_id is None


def test_an_assignment_to_another_experiments_variant_is_refused(db_session: Session) -> None:
    graph = build_graph(db_session)
    other = clone(graph[m.Experiment], key="other", winner_variant_id=None)
    db_session.add(other)
    db_session.flush()
    with pytest.raises(IntegrityError), db_session.begin_nested():
        set_raw(db_session, graph[m.Assignment], experiment_id=other.id)
