"""Metric definitions: create, read, list, edit, delete.

Every CHECK constraint of the ``metrics`` table is checked here first and reported as
invalid input naming the field: a ratio needs a denominator (another, non-ratio metric,
given by key), percentile aggregation needs a percentile in (0, 1), capping needs a
positive cap value (below 1 for percentile capping). Settings that only one choice uses
(a denominator, a percentile, a cap value) are refused with any other choice, so a
stored metric never carries a value that silently does nothing. A metric that an
experiment uses, or that another metric divides by, cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.analysis.models import Metric, MetricAggregation, MetricCapping, MetricType
from verdict.server.analysis.schemas import MetricCreate, MetricOut, MetricUpdate
from verdict.server.api.filters import has_tag, matches_text
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version, stale_edit
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from verdict.server.experiments.models import Experiment, ExperimentMetric
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import User

__all__ = [
    "METRIC_SORTS",
    "create_metric",
    "delete_metric",
    "get_metric",
    "list_metrics",
    "update_metric",
]

RESOURCE_TYPE = "metric"
_NOT_NULL = frozenset(
    {
        "name",
        "event_name",
        "type",
        "aggregation",
        "lower_is_better",
        "capping",
        "conversion_delay_hours",
        "tags",
        "archived",
    }
)
# Columns copied from the request as they are (denominator and owner are resolved).
_COLUMNS = (
    "name",
    "description",
    "event_name",
    "type",
    "aggregation",
    "percentile",
    "value_path",
    "calculation",
    "lower_is_better",
    "minimum_sample_size",
    "expected_effect",
    "unit",
    "capping",
    "cap_value",
    "conversion_window_hours",
    "conversion_delay_hours",
    "tags",
    "archived",
)


def _username(session: Session, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user.username if user else None


def _out(session: Session, metric: Metric) -> MetricOut:
    return MetricOut(
        id=metric.id,
        key=metric.key,
        **{name: getattr(metric, name) for name in _COLUMNS},
        denominator=metric.denominator.key if metric.denominator else None,
        owner=_username(session, metric.owner_id),
        version=metric.version,
        created_at=metric.created_at,
        updated_at=metric.updated_at,
    )


def _snapshot(session: Session, metric: Metric) -> dict[str, Any]:
    return _out(session, metric).model_dump(
        mode="json", exclude={"version", "created_at", "updated_at"}
    )


def _find(session: Session, key: str) -> Metric:
    metric = session.scalars(select(Metric).where(Metric.key == key)).first()
    if metric is None:
        raise NotFoundError(f"no metric with key {key!r}", field="path.key")
    return metric


def get_metric(session: Session, *, key: str) -> MetricOut:
    return _out(session, _find(session, key))


METRIC_SORTS: Sortable = {
    "key": Metric.key,
    "name": Metric.name,
    "created_at": Metric.created_at,
    "updated_at": Metric.updated_at,
}


def list_metrics(
    session: Session,
    *,
    page: PageRequest,
    type_: MetricType | None = None,
    tag: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    archived: bool = False,
) -> tuple[list[MetricOut], str | None]:
    query = select(Metric).where(Metric.archived == archived)
    if type_ is not None:
        query = query.where(Metric.type == type_)
    if tag:
        query = query.where(has_tag(session, Metric.tags, tag))
    if owner:
        query = query.where(Metric.owner_id.in_(select(User.id).where(User.username == owner)))
    if text:
        query = query.where(
            matches_text(text, Metric.key, Metric.name, Metric.description, Metric.event_name)
        )
    found, cursor = paginate(
        session,
        query,
        page,
        sortable=METRIC_SORTS,
        id_column=Metric.id,
    )
    return [_out(session, m) for m in found], cursor


def _rule_problems(
    session: Session, key: str, values: dict[str, Any], denominator_key: str | None
) -> tuple[list[tuple[str, str]], Metric | None]:
    """The table's CHECK rules over the metric as it would be stored."""
    problems: list[tuple[str, str]] = []
    denominator = None
    is_ratio = values["type"] is MetricType.RATIO
    if denominator_key is None:
        if is_ratio:
            problems.append(
                ("body.denominator", "a ratio metric needs a denominator metric (its key)")
            )
    elif not is_ratio:
        problems.append(("body.denominator", "only ratio metrics have a denominator"))
    elif denominator_key == key:
        problems.append(("body.denominator", "a metric cannot be its own denominator"))
    else:
        denominator = session.scalars(select(Metric).where(Metric.key == denominator_key)).first()
        if denominator is None:
            problems.append(("body.denominator", f"unknown metric {denominator_key!r}"))
        elif denominator.type is MetricType.RATIO:
            problems.append(
                ("body.denominator", f"the denominator {denominator_key!r} is itself a ratio")
            )
    percentile = values["percentile"]
    if is_ratio and values["aggregation"] is MetricAggregation.PERCENTILE:
        problems.append(
            ("body.aggregation", "a ratio metric sums its parts; percentile aggregation is not one")
        )
    if values["aggregation"] is MetricAggregation.PERCENTILE:
        if percentile is None:
            problems.append(
                ("body.percentile", "percentile aggregation needs a percentile in (0, 1)")
            )
    elif percentile is not None:
        problems.append(("body.percentile", "only percentile aggregation takes a percentile"))
    cap_value = values["cap_value"]
    if values["capping"] is MetricCapping.NONE:
        if cap_value is not None:
            problems.append(("body.cap_value", "set capping to use a cap_value"))
    elif cap_value is None:
        problems.append(("body.cap_value", f"{values['capping'].value} capping needs a cap_value"))
    elif values["capping"] is MetricCapping.PERCENTILE and cap_value >= 1:
        problems.append(("body.cap_value", "percentile capping needs a cap_value in (0, 1)"))
    return problems, denominator


def _resolve_owner(
    session: Session, username: str | None, problems: list[tuple[str, str]]
) -> uuid.UUID | None:
    if username is None:
        return None
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        problems.append(("body.owner", f"unknown user {username!r}"))
        return None
    return user.id


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        detail = "the metric is invalid: " + "; ".join(f"{f}: {r}" for f, r in problems)
        raise InvalidInputError(detail, field=problems[0][0], errors=problems)


def create_metric(session: Session, *, actor: Principal, data: MetricCreate) -> MetricOut:
    if session.scalars(select(Metric.id).where(Metric.key == data.key)).first() is not None:
        raise ConflictError(f"a metric with key {data.key!r} exists", field="body.key")
    values = data.model_dump(include=set(_COLUMNS))
    problems, denominator = _rule_problems(session, data.key, values, data.denominator)
    owner_id = actor.user_id
    if data.owner is not None:
        owner_id = _resolve_owner(session, data.owner, problems)
    _raise(problems)
    metric = Metric(key=data.key, **values, denominator=denominator, owner_id=owner_id)
    session.add(metric)
    with conflict_on_integrity_error(
        session, f"a metric with key {data.key!r} exists", field="body.key"
    ):
        session.flush()
    out = _out(session, metric)
    record(
        session,
        actor=actor,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=metric.id,
        before=None,
        after=_snapshot(session, metric),
    )
    session.commit()
    return out


def update_metric(
    session: Session, *, actor: Principal, key: str, data: MetricUpdate, if_match: str | None
) -> MetricOut:
    metric = _find(session, key)
    check_version(if_match, metric.version)
    sent = data.model_fields_set
    problems = [
        (f"body.{name}", "cannot be null")
        for name in sorted(sent & _NOT_NULL)
        if getattr(data, name) is None
    ]
    _raise(problems)
    values = {name: getattr(metric, name) for name in _COLUMNS}
    values.update({name: getattr(data, name) for name in sent & set(_COLUMNS)})
    denominator_key = (
        data.denominator
        if "denominator" in sent
        else (metric.denominator.key if metric.denominator else None)
    )
    problems, denominator = _rule_problems(session, key, values, denominator_key)
    if values["type"] is MetricType.RATIO and metric.type is not MetricType.RATIO:
        dividing = _metrics_dividing_by(session, metric)
        if dividing:
            problems.append(
                (
                    "body.type",
                    f"cannot become a ratio: it is the denominator of {', '.join(dividing)}",
                )
            )
    owner_id = metric.owner_id
    if "owner" in sent:
        owner_id = _resolve_owner(session, data.owner, problems)
    _raise(problems)
    before = _snapshot(session, metric)
    for name, value in values.items():
        setattr(metric, name, value)
    metric.denominator = denominator
    metric.owner_id = owner_id
    metric.updated_at = utcnow()
    with stale_edit(
        session, f"metric {key!r} was changed by someone else meanwhile; read it again"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=metric.id,
        before=before,
        after=_snapshot(session, metric),
    )
    out = _out(session, metric)
    session.commit()
    return out


def _metrics_dividing_by(session: Session, metric: Metric) -> Sequence[str]:
    return session.scalars(
        select(Metric.key).where(Metric.denominator_metric_id == metric.id).order_by(Metric.key)
    ).all()


def delete_metric(session: Session, *, actor: Principal, key: str, if_match: str | None) -> None:
    metric = _find(session, key)
    check_version(if_match, metric.version)
    experiments = session.scalars(
        select(Experiment.key)
        .join(ExperimentMetric, ExperimentMetric.experiment_id == Experiment.id)
        .where(ExperimentMetric.metric_id == metric.id)
        .order_by(Experiment.key)
    ).all()
    if experiments:
        raise ConflictError(
            f"metric {key!r} is used by experiment(s) {', '.join(experiments)}; "
            "unlink it from them or archive it instead",
            field="path.key",
        )
    dividing = _metrics_dividing_by(session, metric)
    if dividing:
        raise ConflictError(
            f"metric {key!r} is the denominator of {', '.join(dividing)}; archive it instead",
            field="path.key",
        )
    record(
        session,
        actor=actor,
        action="delete",
        resource_type=RESOURCE_TYPE,
        resource_id=metric.id,
        before=_snapshot(session, metric),
        after=None,
    )
    session.delete(metric)
    with conflict_on_integrity_error(session, f"metric {key!r} is in use", field="path.key"):
        session.flush()
    session.commit()
