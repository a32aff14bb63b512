"""A complete, valid object graph: one fully populated row of every model.

Round-trip and constraint tests start from it, so a model added without a row here
makes ``test_every_model_has_a_round_trip_row`` fail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from verdict.server import models as m

T0 = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def build_graph(session: Session) -> dict[type[Any], Any]:
    """Insert one row of each model, every nullable column set, and return them by class."""
    environment = m.Environment(key="qa-eu", name="QA Europe", description="QA", sort_order=7)
    user = m.User(
        username="ada",
        email="ada@example.com",
        hashed_password="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        full_name="Ada Lovelace",
        is_active=True,
        is_superuser=True,
        last_login_at=at(1),
        preferences={"theme": "dark", "page_size": 50},
    )
    permission = m.Permission(
        name="report:export",
        description="Export reports",
        resource="report",
        action="export",
        created_at=at(0),
    )
    role = m.Role(name="analyst", description="Exports reports", is_builtin=False)
    role.permissions.append(permission)
    user.roles.append(role)
    session.add_all([environment, user, role, permission])
    session.flush()

    api_key = m.ApiKey(
        name="checkout service",
        kind=m.ApiKeyKind.SERVER,
        environment_id=environment.id,
        prefix="vk_srv_3f9a1c",
        hashed_secret="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$c2VjcmV0",
        created_by_id=user.id,
        personal=True,
        created_at=at(0),
        last_used_at=at(2),
        expires_at=at(24 * 365),
        revoked_at=at(48),
    )
    segment = m.Segment(
        key="beta-testers",
        name="Beta testers",
        description="Opted in",
        conditions={"beta": True, "country": {"$in": ["US", "CA"]}},
        is_active=True,
        size_estimate=12_000,
        owner_id=user.id,
        created_by_id=user.id,
    )
    orders = m.Metric(
        key="orders",
        name="Orders",
        description="Orders placed",
        event_name="order_placed",
        type=m.MetricType.COUNT,
        aggregation=m.MetricAggregation.SUM,
        unit="orders",
    )
    token = m.AccessToken(
        user_id=user.id,
        token_hash="a" * 64,
        kind=m.AccessTokenKind.COOKIE,
        created_at=at(0),
        expires_at=at(12),
        last_used_at=at(1),
        revoked_at=at(2),
    )
    session.add_all([api_key, segment, orders, token])
    session.flush()
    revenue_per_order = m.Metric(
        key="revenue-per-order",
        name="Revenue per order",
        description="Revenue over orders",
        event_name="purchase",
        type=m.MetricType.RATIO,
        aggregation=m.MetricAggregation.PERCENTILE,
        percentile=0.9,
        value_path="$.properties.amount",
        calculation="sum(amount) / count(orders) per unit",
        denominator_metric_id=orders.id,
        lower_is_better=False,
        minimum_sample_size=1000,
        expected_effect=0.02,
        unit="USD",
        capping=m.MetricCapping.PERCENTILE,
        cap_value=0.99,
        conversion_window_hours=72.0,
        conversion_delay_hours=1.5,
        tags=["revenue", "core"],
        owner_id=user.id,
        archived=False,
    )
    warehouse = m.DataSource(
        key="model-graph-warehouse",
        name="Analytics warehouse",
        description="Segment-style tracks table",
        url="duckdb:////data/analytics.duckdb",
        exposures={"table": "exposures", "columns": {"unit": "user_id"}},
        events={"query": "SELECT * FROM tracks", "columns": {"unit": "user_id"}},
        archived=False,
    )
    session.add(warehouse)
    session.flush()
    experiment = m.Experiment(
        key="reply-tone",
        name="Friendlier reply tone",
        description="Does a warmer tone convert better?",
        hypothesis="A warmer system prompt raises conversion by 2%",
        type=m.ExperimentType.MULTIVARIATE,
        status=m.ExperimentStatus.RUNNING,
        owner_id=user.id,
        target="support-bot",
        environment_id=environment.id,
        targeting={"plan": "pro", "$inSegment": "beta-testers"},
        forced_variants={"qa-user-1": "warm"},
        hash_attribute="account_id",
        hash_seed="reply-tone-v2",
        coverage=0.8,
        layer="support",
        bucket_start=2500,
        bucket_end=5000,
        minimum_sample_size=5000,
        confidence_level=0.9,
        tags=["bot", "tone"],
        start_at=at(0),
        end_at=at(24 * 14),
        started_at=at(0.5),
        completed_at=at(24 * 15),
        statistical_significance=0.97,
        data_source_id=warehouse.id,
        analysis_method=m.AnalysisMethod.SEQUENTIAL,
        cuped_days=7.0,
        breakdowns=["country"],
        bandit_update_minutes=30,
        bandit_floor=0.05,
        bandit_burn_in=250,
        bandit_top_two=0.5,
        created_by_id=user.id,
        updated_by_id=user.id,
    )
    session.add_all([revenue_per_order, experiment])
    session.flush()
    control = m.Variant(
        experiment_id=experiment.id,
        key="control",
        label="Neutral",
        description="Today's prompt",
        is_control=True,
        weight=0.5,
        position=0,
        configuration={"tone": "neutral"},
        url="https://example.com/a",
        response_template="Hello {name}.",
        system_prompt="You are concise.",
        config_overrides={"temperature": 0.2},
        impressions=1000,
        conversions=120,
        conversion_rate=0.12,
        total_value=4567.5,
        confidence_interval_lower=0.1,
        confidence_interval_upper=0.14,
    )
    warm = m.Variant(
        experiment_id=experiment.id,
        key="warm",
        label="Warm",
        description="Friendlier prompt",
        is_control=False,
        weight=0.5,
        position=1,
        configuration={"tone": "warm"},
        url="https://example.com/b",
        response_template="Hi {name}! Lovely to hear from you.",
        system_prompt="You are warm and kind.",
        config_overrides={"temperature": 0.7},
        impressions=990,
        conversions=131,
        conversion_rate=0.1323,
        total_value=5012.25,
        confidence_interval_lower=0.11,
        confidence_interval_upper=0.15,
    )
    session.add_all([control, warm])
    session.flush()
    experiment.winner_variant_id = warm.id
    phase = m.ExperimentPhase(
        experiment_id=experiment.id,
        number=1,
        started_at=at(0.5),
        ended_at=at(24),
        coverage=0.8,
        weights={"control": 0.5, "warm": 0.5},
        reason="launch",
        created_by_id=user.id,
    )
    metric_link = m.ExperimentMetric(
        experiment_id=experiment.id,
        metric_id=revenue_per_order.id,
        role=m.MetricRole.GUARDRAIL,
        position=2,
        non_inferiority_margin=0.01,
    )
    segment_link = m.ExperimentSegment(
        experiment_id=experiment.id, segment_id=segment.id, match=m.SegmentMatch.EXCLUDE
    )
    flag = m.FeatureFlag(
        key="new-checkout",
        name="New checkout",
        description="The redesigned checkout",
        value_type=m.FlagValueType.JSON,
        default_value={"layout": "classic"},
        variants=[{"key": "wide", "value": {"layout": "wide"}, "weight": 0.5}],
        tags=["checkout"],
        owner_id=user.id,
        experiment_id=experiment.id,
        archived=False,
        created_by_id=user.id,
        updated_by_id=user.id,
    )
    base_flag = m.FeatureFlag(
        key="payments-v2",
        name="Payments v2",
        value_type=m.FlagValueType.BOOLEAN,
        default_value=False,
    )
    session.add_all([phase, metric_link, segment_link, flag, base_flag])
    session.flush()
    flag_state = m.FeatureFlagEnvironment(
        flag_id=flag.id,
        environment_id=environment.id,
        enabled=True,
        rules=[{"condition": {"country": "US"}, "force": {"layout": "wide"}}],
        rollout_percentage=12.5,
        updated_by_id=user.id,
        updated_at=at(3),
    )
    prerequisite = m.FeatureFlagPrerequisite(
        flag_id=flag.id, prerequisite_flag_id=base_flag.id, required_value=True
    )
    override = m.FeatureFlagOverride(
        flag_id=flag.id,
        environment_id=environment.id,
        unit_id="user-42",
        value={"layout": "wide"},
        reason="QA",
        expires_at=at(72),
        created_by_id=user.id,
        created_at=at(1),
    )
    assignment = m.Assignment(
        experiment_id=experiment.id,
        variant_id=warm.id,
        unit_id="user-42",
        device_id="device-9",
        session_id="6f1c3a52-0d1e-4c51-9a83-0d3b9d1f7f10",
        context={"plan": "pro", "country": "US"},
        bucket=4321,
        reason=m.AssignmentReason.FORCED,
        sticky=False,
        assigned_at=at(2),
        has_converted=True,
        converted_at=at(5),
    )
    session.add_all([flag_state, prerequisite, override, assignment])
    session.flush()
    event = m.Event(
        client_event_id="evt-0001",
        environment_id=environment.id,
        event_type="purchase",
        unit_id="user-42",
        session_id="sess-1",
        device_id="device-9",
        experiment_id=experiment.id,
        variant_id=warm.id,
        feature_flag_id=flag.id,
        assignment_id=assignment.id,
        value=49.99,
        properties={"amount": 49.99, "currency": "USD", "items": [1, 2]},
        source="web",
        context={"user_agent": "Mozilla/5.0"},
        client_timestamp=at(5),
        received_at=at(5.01),
    )
    run = m.AnalysisRun(
        experiment_id=experiment.id,
        phase_id=phase.id,
        status=m.AnalysisRunStatus.SUCCEEDED,
        full=True,
        trigger="api",
        requested_by_id=user.id,
        created_at=at(29.9),
        started_at=at(29.95),
        finished_at=at(30),
        progress=1.0,
        stage="stored",
        error="previous attempt timed out",
        error_field="data_source.url",
        data_window_start=at(0.5),
        data_window_end=at(30),
        scanned_from=at(0.5),
        scanned_to=at(30),
        method=m.AnalysisMethod.BAYESIAN,
        summary={"exposures": {"warm": 990}},
        srm={"p_value": 0.4, "mismatch": False},
        decision={"verdict": "keep_running"},
        timeseries={"revenue-per-order": []},
    )
    session.add(run)
    session.flush()
    bandit_update = m.BanditUpdate(
        experiment_id=experiment.id,
        created_at=at(29.99),
        status=m.BanditUpdateStatus.APPLIED,
        trigger="worker",
        reason="Thompson sampling on 'revenue-per-order' (normal posterior), floor 0.05",
        metric_key="revenue-per-order",
        phase_id=phase.id,
        analysis_run_id=run.id,
        weights={"control": 0.3, "warm": 0.7},
        probabilities={"control": 0.31, "warm": 0.69},
        arms={"control": {"units": 1000, "mean": 1.5, "variance": 4.0}},
    )
    session.add(bandit_update)
    state = m.AnalysisState(
        experiment_id=experiment.id,
        incremental={"table": "verdict_unit_aggregates_x", "through": "2026-01-02T00:00:00Z"},
        inputs_marker="events:10;assignments:5",
        last_run_id=run.id,
        failures=1,
        next_attempt_at=at(31),
        last_error="database unreachable",
        locked_by="worker-1",
        locked_until=at(30.1),
    )
    result = m.ExperimentResult(
        run_id=run.id,
        dimension="country",
        dimension_value="FR",
        absolute_ci_lower=-0.01,
        absolute_ci_upper=0.03,
        variance_reduction=0.25,
        note="CUPED-adjusted",
        experiment_id=experiment.id,
        variant_id=warm.id,
        metric_id=revenue_per_order.id,
        phase_id=phase.id,
        method=m.AnalysisMethod.BAYESIAN,
        cuped=True,
        sample_size=990,
        conversions=131,
        mean_value=0.1323,
        variance=0.1148,
        ci_lower=0.11,
        ci_upper=0.15,
        absolute_lift=0.0123,
        relative_lift=0.1025,
        lift_ci_lower=-0.05,
        lift_ci_upper=0.26,
        p_value=0.21,
        chance_to_win=0.89,
        expected_loss=0.0012,
        statistical_power=0.42,
        confidence_level=0.9,
        computed_at=at(30),
        data_window_start=at(0.5),
        data_window_end=at(30),
    )
    audit = m.AuditLogEntry(
        at=at(6),
        actor_user_id=user.id,
        actor_api_key_id=api_key.id,
        actor="ada",
        action="update",
        resource_type="feature_flag",
        resource_id=str(flag.id),
        environment_id=environment.id,
        before={"enabled": False},
        after={"enabled": True},
        request_id="req-123",
    )
    session.add_all([event, state, result, audit])
    session.flush()
    return {
        m.Environment: environment,
        m.User: user,
        m.Role: role,
        m.Permission: permission,
        m.ApiKey: api_key,
        m.AccessToken: token,
        m.Segment: segment,
        m.Metric: revenue_per_order,
        m.Experiment: experiment,
        m.Variant: warm,
        m.ExperimentPhase: phase,
        m.ExperimentMetric: metric_link,
        m.ExperimentSegment: segment_link,
        m.FeatureFlag: flag,
        m.FeatureFlagEnvironment: flag_state,
        m.FeatureFlagPrerequisite: prerequisite,
        m.FeatureFlagOverride: override,
        m.Assignment: assignment,
        m.Event: event,
        m.ExperimentResult: result,
        m.AuditLogEntry: audit,
        m.DataSource: warehouse,
        m.AnalysisRun: run,
        m.AnalysisState: state,
        m.BanditUpdate: bandit_update,
    }
