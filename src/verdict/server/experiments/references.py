"""Resolving what a request names by key (environment, segments, metrics, owner).

Each resolver records a ``(field, reason)`` problem for every name it cannot resolve
instead of raising, so one answer lists every unknown name of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.analysis.models import Metric
from verdict.server.datasources.models import DataSource
from verdict.server.environments.models import Environment
from verdict.server.experiments.models import ExperimentSegment, MetricRole, SegmentMatch
from verdict.server.experiments.rules import FieldProblems
from verdict.server.experiments.schemas import MetricLinkIn
from verdict.server.identity.models import User
from verdict.server.segments.models import Segment

__all__ = [
    "resolve_data_source",
    "resolve_environment",
    "resolve_metric_links",
    "resolve_owner",
    "resolve_segments",
    "segment_conditions",
]


def resolve_environment(
    session: Session, key: str | None, problems: FieldProblems, field: str
) -> Environment | None:
    if key is None:
        return None
    environment = session.scalars(select(Environment).where(Environment.key == key)).first()
    if environment is None:
        problems.append((field, f"unknown environment {key!r}"))
    return environment


def resolve_data_source(
    session: Session, key: str | None, problems: FieldProblems, field: str
) -> DataSource | None:
    if key is None:
        return None
    source = session.scalars(select(DataSource).where(DataSource.key == key)).first()
    if source is None:
        problems.append((field, f"unknown data source {key!r}"))
    elif source.archived:
        problems.append((field, f"data source {key!r} is archived"))
    return source


def resolve_owner(
    session: Session, username: str | None, problems: FieldProblems, field: str
) -> User | None:
    if username is None:
        return None
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        problems.append((field, f"unknown user {username!r}"))
    return user


def resolve_segments(
    session: Session,
    include: Sequence[str],
    exclude: Sequence[str],
    problems: FieldProblems,
    field_prefix: str = "body.",
) -> list[ExperimentSegment]:
    """Segment links for the include and exclude lists; a segment may be in only one."""
    wanted = set(include) | set(exclude)
    found = {
        s.key: s for s in session.scalars(select(Segment).where(Segment.key.in_(wanted))).all()
    }
    links: dict[str, ExperimentSegment] = {}
    for match, keys in ((SegmentMatch.INCLUDE, include), (SegmentMatch.EXCLUDE, exclude)):
        field = f"{field_prefix}{match.value}_segments"
        for index, key in enumerate(keys):
            segment = found.get(key)
            if segment is None:
                problems.append((f"{field}.{index}", f"unknown segment {key!r}"))
                continue
            existing = links.get(key)
            if existing is not None:
                if existing.match is not match:
                    problems.append(
                        (f"{field}.{index}", f"segment {key!r} is both included and excluded")
                    )
                continue  # the same segment twice in one list is harmless
            links[key] = ExperimentSegment(segment=segment, match=match)
    return list(links.values())


def resolve_metric_links(
    session: Session,
    links: Sequence[MetricLinkIn],
    problems: FieldProblems,
    field: str = "body.metrics",
    already_linked: frozenset[str] = frozenset(),
) -> list[tuple[Metric, MetricLinkIn]]:
    """The metrics ``links`` name, checked: known, not archived (unless already linked),
    listed once, and at most one primary."""
    keys = {link.metric for link in links}
    found = {m.key: m for m in session.scalars(select(Metric).where(Metric.key.in_(keys))).all()}
    resolved: list[tuple[Metric, MetricLinkIn]] = []
    seen: set[str] = set()
    primary_seen = False
    for index, link in enumerate(links):
        metric = found.get(link.metric)
        if metric is None:
            problems.append((f"{field}.{index}.metric", f"unknown metric {link.metric!r}"))
            continue
        if metric.archived and link.metric not in already_linked:
            problems.append((f"{field}.{index}.metric", f"metric {link.metric!r} is archived"))
        if link.metric in seen:
            problems.append((f"{field}.{index}.metric", f"metric {link.metric!r} is repeated"))
            continue
        seen.add(link.metric)
        if link.role is MetricRole.PRIMARY:
            if primary_seen:
                problems.append(
                    (f"{field}.{index}.role", "an experiment has at most one primary metric")
                )
            primary_seen = True
        resolved.append((metric, link))
    return resolved


def segment_conditions(session: Session) -> dict[str, Any]:
    """Every segment's condition by key, for ``$inSegment`` in targeting conditions."""
    rows = session.execute(select(Segment.key, Segment.conditions))
    return {key: conditions for key, conditions in rows}
