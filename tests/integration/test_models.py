"""Every model round-trips on SQLite and PostgreSQL, column by column."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from tests.integration.model_graph import build_graph
from verdict.server import models as m


def _columns(obj: Any) -> dict[str, Any]:
    mapper = inspect(type(obj))
    return {attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs}


def test_every_model_has_a_round_trip_row(db_session: Session) -> None:
    graph = build_graph(db_session)
    mapped = {mapper.class_ for mapper in m.Base.registry.mappers}
    assert mapped == set(graph), "add a fully populated row to tests/integration/model_graph.py"


def test_every_model_round_trips_every_column(db_session: Session) -> None:
    graph = build_graph(db_session)
    expected = {cls: _columns(obj) for cls, obj in graph.items()}
    db_session.expunge_all()
    for cls, values in expected.items():
        identity = inspect(graph[cls]).identity
        loaded = db_session.get(cls, identity)
        assert loaded is not None, cls.__name__
        for column, value in values.items():
            got = getattr(loaded, column)
            assert got == value, f"{cls.__name__}.{column}: {got!r} != {value!r}"
            if isinstance(value, dt.datetime):
                assert got.tzinfo is not None, f"{cls.__name__}.{column} lost its time zone"


def test_association_tables_round_trip(db_session: Session) -> None:
    build_graph(db_session)
    db_session.expunge_all()
    user = db_session.scalars(select(m.User).where(m.User.username == "ada")).one()
    assert [role.name for role in user.roles] == ["analyst"]
    assert [(p.resource, p.action) for p in user.roles[0].permissions] == [("report", "export")]


def test_relationships_resolve_both_ways(db_session: Session) -> None:
    graph = build_graph(db_session)
    db_session.expunge_all()
    experiment = db_session.get(m.Experiment, graph[m.Experiment].id)
    assert experiment is not None
    assert [v.key for v in experiment.variants] == ["control", "warm"]
    assert experiment.winner_variant is not None
    assert experiment.winner_variant.key == "warm"
    assert [p.number for p in experiment.phases] == [1]
    assert experiment.metric_links[0].metric.denominator is not None
    assert experiment.segment_links[0].segment.key == "beta-testers"
    flag = db_session.get(m.FeatureFlag, graph[m.FeatureFlag].id)
    assert flag is not None
    assert flag.prerequisites[0].prerequisite.key == "payments-v2"
    assert flag.environments[0].environment.key == "qa-eu"
    assert flag.overrides[0].unit_id == "user-42"


def test_first_migration_creates_the_three_standard_environments(db_session: Session) -> None:
    standard = ["development", "staging", "production"]
    query = select(m.Environment.key).where(m.Environment.key.in_(standard))
    assert db_session.scalars(query.order_by(m.Environment.sort_order)).all() == standard


def test_edits_bump_the_version_counter(db_session: Session) -> None:
    graph = build_graph(db_session)
    flag = graph[m.FeatureFlag]
    assert flag.version == 1
    flag.name = "Renamed"
    db_session.flush()
    assert flag.version == 2


def test_naive_timestamps_are_refused(db_session: Session) -> None:
    db_session.add(m.Environment(key="naive", name="n", created_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        db_session.flush()
