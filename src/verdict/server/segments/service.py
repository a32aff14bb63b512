"""Segment use cases: create, read, list, edit and delete named targeting conditions.

A segment's condition is validated by the engine together with every other segment
(``$inSegment`` may nest segments; a cycle or an unknown segment is refused with the
field named). A segment in use (by a flag rule's ``segment`` or an ``$inSegment`` /
``$notInSegment`` in any environment, by another segment, or by an experiment) cannot
be deleted: the refusal names every user. An inactive segment matches nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import compile_config
from verdict.engine.errors import ConfigError, child_path
from verdict.server.api.filters import matches_text
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.db.json_search import mentions
from verdict.server.environments.models import Environment
from verdict.server.errors import ConflictError, InvalidInputError, NotFoundError
from verdict.server.experiments.models import Experiment, ExperimentSegment
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment
from verdict.server.flags.validation import deferred_segment_check, engine_field
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import User
from verdict.server.segments.models import Segment
from verdict.server.segments.schemas import SegmentCreate, SegmentOut, SegmentUpdate

__all__ = [
    "RESOURCE_TYPE",
    "SEGMENT_SORTS",
    "create_segment",
    "delete_segment",
    "get_segment",
    "list_segments",
    "segment_keys",
    "update_segment",
]

RESOURCE_TYPE = "segment"
_SEGMENT_OPERATORS = ("$inSegment", "$notInSegment")
_NOT_AUDITED = {"version", "created_at", "updated_at"}


def segment_keys(document: Any) -> Iterator[str]:
    """Segment keys named by ``$inSegment`` / ``$notInSegment`` anywhere in a condition."""
    if isinstance(document, dict):
        for name, value in document.items():
            if name in _SEGMENT_OPERATORS and isinstance(value, str):
                yield value
            else:
                yield from segment_keys(value)
    elif isinstance(document, list):
        for item in document:
            yield from segment_keys(item)


def _outs(session: Session, segments: Sequence[Segment]) -> list[SegmentOut]:
    ids = {s.owner_id for s in segments} | {s.created_by_id for s in segments}
    ids.discard(None)
    names: dict[uuid.UUID, str] = (
        dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
        if ids
        else {}
    )
    return [
        SegmentOut(
            id=s.id,
            key=s.key,
            name=s.name,
            description=s.description,
            conditions=s.conditions,
            is_active=s.is_active,
            size_estimate=s.size_estimate,
            owner=names.get(s.owner_id) if s.owner_id else None,
            created_by=names.get(s.created_by_id) if s.created_by_id else None,
            version=s.version,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )
        for s in segments
    ]


def _snapshot(out: SegmentOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude=_NOT_AUDITED)


def _load(session: Session, key: str) -> Segment:
    segment = session.scalars(select(Segment).where(Segment.key == key)).first()
    if segment is None:
        raise NotFoundError(f"no segment {key!r}")
    return segment


def get_segment(session: Session, *, key: str) -> SegmentOut:
    return _outs(session, [_load(session, key)])[0]


SEGMENT_SORTS: Sortable = {
    "key": Segment.key,
    "name": Segment.name,
    "created_at": Segment.created_at,
    "updated_at": Segment.updated_at,
}


def list_segments(
    session: Session,
    *,
    page: PageRequest,
    text: str | None = None,
    owner: str | None = None,
    is_active: bool | None = None,
) -> tuple[list[SegmentOut], str | None]:
    query = select(Segment)
    if text:
        query = query.where(matches_text(text, Segment.key, Segment.name, Segment.description))
    if owner is not None:
        query = query.where(Segment.owner_id.in_(select(User.id).where(User.username == owner)))
    if is_active is not None:
        query = query.where(Segment.is_active.is_(is_active))
    segments, cursor = paginate(
        session,
        query,
        page,
        sortable=SEGMENT_SORTS,
        id_column=Segment.id,
    )
    return _outs(session, segments), cursor


def _owner_id(session: Session, username: str | None) -> uuid.UUID | None:
    if username is None:
        return None
    user_id = session.scalars(select(User.id).where(User.username == username)).first()
    if user_id is None:
        raise InvalidInputError(f"unknown user {username!r}", field="body.owner")
    return user_id


def _check_conditions(session: Session, key: str, conditions: dict[str, Any]) -> None:
    """Compile every segment with this one's new condition; name the bad parts.

    A batch writer that deferred its checks (``flags.validation.deferred_checks``)
    compiles the segment table once at its end instead."""
    if deferred_segment_check(session, key):
        return
    table = dict(session.execute(select(Segment.key, Segment.conditions)).all())
    table[key] = conditions
    try:
        compile_config({"segments": table}, strict=True, refuse_mistakes=True)
    except ConfigError as exc:
        prefix = child_path("$.segments", key)
        own: list[tuple[str, str]] = []
        others: list[tuple[str, str]] = []  # other segments, broken through this one
        for issue in exc.issues:
            field = engine_field(issue.path, prefix, {"*": "body.conditions"})
            if field is None:
                others.append(("body.conditions", f"{issue.path}: {issue.reason}"))
            else:
                own.append((field, issue.reason))
        errors = own + others
        if errors:
            raise InvalidInputError(
                "; ".join(f"{field}: {reason}" for field, reason in errors), errors=errors
            ) from exc


def create_segment(session: Session, *, actor: Principal, data: SegmentCreate) -> SegmentOut:
    owner_id = _owner_id(session, data.owner)
    _check_conditions(session, data.key, data.conditions)
    segment = Segment(
        key=data.key,
        name=data.name,
        description=data.description,
        conditions=data.conditions,
        is_active=data.is_active,
        size_estimate=data.size_estimate,
        owner_id=owner_id,
        created_by_id=actor.user_id,
    )
    session.add(segment)
    with conflict_on_integrity_error(session, f"a segment {data.key!r} exists", field="body.key"):
        session.flush()
    out = _outs(session, [segment])[0]
    record(
        session,
        actor=actor,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=segment.id,
        before=None,
        after=_snapshot(out),
    )
    session.commit()
    return out


def update_segment(
    session: Session, *, actor: Principal, key: str, data: SegmentUpdate, if_match: str | None
) -> SegmentOut:
    segment = _load(session, key)
    check_version(if_match, segment.version)
    before = _snapshot(_outs(session, [segment])[0])
    changes = data.model_fields_set
    for field in ("name", "conditions", "is_active"):
        if field in changes and getattr(data, field) is None:
            raise InvalidInputError(f"{field} cannot be null", field=f"body.{field}")
    if "owner" in changes:
        segment.owner_id = _owner_id(session, data.owner)
    if data.conditions is not None:
        _check_conditions(session, key, data.conditions)
        segment.conditions = data.conditions
    for field in ("name", "description", "is_active", "size_estimate"):
        if field in changes:
            setattr(segment, field, getattr(data, field))
    segment.updated_at = utcnow()
    session.flush()
    out = _outs(session, [segment])[0]
    record(
        session,
        actor=actor,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=segment.id,
        before=before,
        after=_snapshot(out),
    )
    session.commit()
    return out


def _referrers(session: Session, segment: Segment) -> list[str]:
    key = segment.key
    users: list[str] = []
    flag_uses = sorted(
        f"{flag} in {environment}"
        for flag, environment, rules in session.execute(
            select(FeatureFlag.key, Environment.key, FeatureFlagEnvironment.rules)
            .join(FeatureFlagEnvironment, FeatureFlagEnvironment.flag_id == FeatureFlag.id)
            .join(Environment, Environment.id == FeatureFlagEnvironment.environment_id)
            .where(mentions(FeatureFlagEnvironment.rules, key))
        )
        if any(
            rule.get("segment") == key or key in set(segment_keys(rule.get("condition")))
            for rule in rules
            if isinstance(rule, dict)
        )
    )
    if flag_uses:
        users.append("flag rules (" + ", ".join(flag_uses) + ")")
    segments = sorted(
        other
        for other, conditions in session.execute(
            select(Segment.key, Segment.conditions).where(
                Segment.id != segment.id, mentions(Segment.conditions, key)
            )
        )
        if key in set(segment_keys(conditions))
    )
    if segments:
        users.append("segments (" + ", ".join(segments) + ")")
    linked = set(
        session.scalars(
            select(Experiment.key)
            .join(ExperimentSegment, ExperimentSegment.experiment_id == Experiment.id)
            .where(ExperimentSegment.segment_id == segment.id)
        ).all()
    )
    linked.update(
        experiment
        for experiment, targeting in session.execute(
            select(Experiment.key, Experiment.targeting).where(mentions(Experiment.targeting, key))
        )
        if key in set(segment_keys(targeting))
    )
    if linked:
        users.append("experiments (" + ", ".join(sorted(linked)) + ")")
    return users


def delete_segment(session: Session, *, actor: Principal, key: str, if_match: str | None) -> None:
    segment = _load(session, key)
    check_version(if_match, segment.version)
    users = _referrers(session, segment)
    if users:
        raise ConflictError(
            f"segment {key!r} is used by " + "; ".join(users) + "; remove those uses first",
            field="path.key",
        )
    record(
        session,
        actor=actor,
        action="delete",
        resource_type=RESOURCE_TYPE,
        resource_id=segment.id,
        before=_snapshot(_outs(session, [segment])[0]),
        after=None,
    )
    session.delete(segment)
    with conflict_on_integrity_error(
        session, f"segment {key!r} came into use meanwhile", field="path.key"
    ):
        session.commit()
