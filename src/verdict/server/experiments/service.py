"""Experiment use cases: create (with variants, metric links and segments in one
request), read, list, delete, and the experiment's audit history and phases.

Editing lives in :mod:`.editing`, lifecycle actions in :mod:`.actions`. Every change is
committed with its audit entry in one transaction; a refused request writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from verdict.server.api.filters import has_tag, matches_text
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version, stale_edit
from verdict.server.audit.models import AuditLogEntry
from verdict.server.audit.service import AUDIT_SORTS, record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.environments.models import Environment
from verdict.server.errors import ConflictError, NotFoundError
from verdict.server.experiments import references
from verdict.server.experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentPhase,
    ExperimentSegment,
    ExperimentStatus,
    ExperimentType,
    Variant,
)
from verdict.server.experiments.rules import (
    FieldProblems,
    bucket_problems,
    forced_problems,
    raise_if_any,
    schedule_problems,
    targeting_problems,
    variant_problems,
)
from verdict.server.experiments.schemas import ExperimentCreate, VariantIn
from verdict.server.experiments.views import experiment_snapshot
from verdict.server.flags.references import flags_serving_experiment
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import User

__all__ = [
    "EXPERIMENT_SORTS",
    "RESOURCE_TYPE",
    "create_experiment",
    "delete_experiment",
    "experiment_query",
    "fill_weights",
    "flush_edit",
    "get_experiment",
    "list_experiments",
    "list_history",
    "list_phases",
    "new_variant",
    "touch",
]

RESOURCE_TYPE = "experiment"


def experiment_query() -> Select[Any]:
    """Experiments with everything the API shows, loaded in a fixed number of queries.

    The winner is read through ``winner_variant_id``, never the ``winner_variant``
    relationship: that one is a post-update relationship, and once loaded it makes every
    flush of the experiment issue a second UPDATE (and a second version bump).
    """
    return select(Experiment).options(
        joinedload(Experiment.owner),
        joinedload(Experiment.environment),
        joinedload(Experiment.data_source),
        selectinload(Experiment.variants),
        selectinload(Experiment.phases),
        selectinload(Experiment.metric_links).joinedload(ExperimentMetric.metric),
        selectinload(Experiment.segment_links).joinedload(ExperimentSegment.segment),
    )


def get_experiment(session: Session, *, key: str) -> Experiment:
    experiment: Experiment | None = session.scalars(
        experiment_query().where(Experiment.key == key)
    ).first()
    if experiment is None:
        raise NotFoundError(f"no experiment with key {key!r}", field="path.key")
    return experiment


EXPERIMENT_SORTS: Sortable = {
    "key": Experiment.key,
    "name": Experiment.name,
    "created_at": Experiment.created_at,
    "updated_at": Experiment.updated_at,
}


def list_experiments(
    session: Session,
    *,
    page: PageRequest,
    status: ExperimentStatus | None = None,
    type_: ExperimentType | None = None,
    tag: str | None = None,
    owner: str | None = None,
    text: str | None = None,
    environment: str | None = None,
) -> tuple[Sequence[Experiment], str | None]:
    query = experiment_query()
    if status is not None:
        query = query.where(Experiment.status == status)
    if type_ is not None:
        query = query.where(Experiment.type == type_)
    if tag:
        query = query.where(has_tag(session, Experiment.tags, tag))
    if owner:
        query = query.where(Experiment.owner_id.in_(select(User.id).where(User.username == owner)))
    if environment:
        query = query.where(
            Experiment.environment_id.in_(
                select(Environment.id).where(Environment.key == environment)
            )
        )
    if text:
        query = query.where(
            matches_text(text, Experiment.key, Experiment.name, Experiment.description)
        )
    return paginate(
        session,
        query,
        page,
        sortable=EXPERIMENT_SORTS,
        id_column=Experiment.id,
    )


def fill_weights(variants: Sequence[Variant], unset: Sequence[Variant]) -> None:
    """Give the variants in ``unset`` equal shares of what the others leave of 100%."""
    if not unset:
        return
    missing = {id(v) for v in unset}
    given = sum(v.weight for v in variants if id(v) not in missing)
    share = max(0.0, 1.0 - given) / len(unset)
    for variant in unset:
        variant.weight = share


def new_variant(data: VariantIn, position: int) -> Variant:
    return Variant(
        key=data.key,
        label=data.label,
        description=data.description,
        is_control=data.is_control,
        weight=data.weight if data.weight is not None else 0.0,
        position=position,
        configuration=data.configuration,
        url=data.url,
        response_template=data.response_template,
        system_prompt=data.system_prompt,
        config_overrides=data.config_overrides,
    )


def _key_taken(session: Session, key: str) -> bool:
    return session.scalars(select(Experiment.id).where(Experiment.key == key)).first() is not None


def create_experiment(session: Session, *, actor: Principal, data: ExperimentCreate) -> Experiment:
    if _key_taken(session, data.key):
        raise ConflictError(f"an experiment with key {data.key!r} exists", field="body.key")
    problems: FieldProblems = []
    environment = references.resolve_environment(
        session, data.environment, problems, "body.environment"
    )
    owner_id = actor.user_id
    if data.owner is not None:
        owner = references.resolve_owner(session, data.owner, problems, "body.owner")
        owner_id = owner.id if owner else None
    segment_links = references.resolve_segments(
        session, data.include_segments, data.exclude_segments, problems
    )
    metric_links = references.resolve_metric_links(session, data.metrics, problems)
    data_source = references.resolve_data_source(
        session, data.data_source, problems, "body.data_source"
    )
    problems.extend(variant_problems(data.variants, "body.variants"))
    problems.extend(forced_problems(data.forced_variants, (v.key for v in data.variants)))
    problems.extend(bucket_problems(data.bucket_start, data.bucket_end))
    problems.extend(schedule_problems(data.start_at, data.end_at))
    problems.extend(
        targeting_problems(data.targeting, references.segment_conditions(session), "body.targeting")
    )
    raise_if_any(problems, "the experiment is invalid")

    variants = [new_variant(v, position) for position, v in enumerate(data.variants)]
    fill_weights(
        variants, [v for v, d in zip(variants, data.variants, strict=True) if d.weight is None]
    )
    experiment = Experiment(
        key=data.key,
        name=data.name,
        description=data.description,
        hypothesis=data.hypothesis,
        type=data.type,
        status=ExperimentStatus.DRAFT,
        owner_id=owner_id,
        target=data.target,
        environment=environment,
        targeting=data.targeting,
        forced_variants=dict(data.forced_variants),
        hash_attribute=data.hash_attribute,
        hash_seed=data.hash_seed,
        coverage=data.coverage,
        layer=data.layer,
        bucket_start=data.bucket_start,
        bucket_end=data.bucket_end,
        minimum_sample_size=data.minimum_sample_size,
        confidence_level=data.confidence_level,
        data_source=data_source,
        analysis_method=data.analysis_method,
        cuped_days=data.cuped_days,
        breakdowns=list(data.breakdowns),
        bandit_update_minutes=data.bandit_update_minutes,
        bandit_floor=data.bandit_floor,
        bandit_burn_in=data.bandit_burn_in,
        bandit_top_two=data.bandit_top_two,
        tags=list(data.tags),
        start_at=data.start_at,
        end_at=data.end_at,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
        variants=variants,
        metric_links=[
            ExperimentMetric(
                metric=metric,
                role=link.role,
                position=position,
                non_inferiority_margin=link.non_inferiority_margin,
            )
            for position, (metric, link) in enumerate(metric_links)
        ],
        segment_links=segment_links,
    )
    session.add(experiment)
    with conflict_on_integrity_error(
        session, f"an experiment with key {data.key!r} exists", field="body.key"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=experiment.id,
        before=None,
        after=experiment_snapshot(experiment),
        environment_id=experiment.environment_id,
    )
    session.commit()
    return experiment


def delete_experiment(
    session: Session, *, actor: Principal, key: str, if_match: str | None
) -> None:
    experiment = get_experiment(session, key=key)
    check_version(if_match, experiment.version)
    if experiment.status is not ExperimentStatus.DRAFT:
        raise ConflictError(
            f"only draft experiments can be deleted; {key!r} is {experiment.status.value}: "
            "archive it instead",
            field="status",
        )
    serving = flags_serving_experiment(session, key)
    if serving:
        raise ConflictError(
            f"experiment {key!r} is served by flag rules ({', '.join(serving)}); "
            "remove those rules first",
            field="path.key",
        )
    record(
        session,
        actor=actor,
        action="delete",
        resource_type=RESOURCE_TYPE,
        resource_id=experiment.id,
        before=experiment_snapshot(experiment),
        after=None,
        environment_id=experiment.environment_id,
    )
    session.delete(experiment)
    session.commit()


def list_history(
    session: Session, *, key: str, page: PageRequest
) -> tuple[Sequence[AuditLogEntry], str | None]:
    """The experiment's audit entries (its variants and links are part of its snapshot)."""
    experiment_id = _experiment_id(session, key)
    query = select(AuditLogEntry).where(
        AuditLogEntry.resource_type == RESOURCE_TYPE,
        AuditLogEntry.resource_id == str(experiment_id),
    )
    return paginate(session, query, page, sortable=AUDIT_SORTS, id_column=AuditLogEntry.id)


def list_phases(session: Session, *, key: str) -> Sequence[ExperimentPhase]:
    experiment_id = _experiment_id(session, key)
    return session.scalars(
        select(ExperimentPhase)
        .where(ExperimentPhase.experiment_id == experiment_id)
        .order_by(ExperimentPhase.number)
    ).all()


def _experiment_id(session: Session, key: str) -> uuid.UUID:
    found = session.scalars(select(Experiment.id).where(Experiment.key == key)).first()
    if found is None:
        raise NotFoundError(f"no experiment with key {key!r}", field="path.key")
    return found


def touch(experiment: Experiment, actor: Principal) -> None:
    """Mark the experiment edited, which also bumps its version (its ETag)."""
    experiment.updated_at = utcnow()
    experiment.updated_by_id = actor.user_id


def flush_edit(session: Session, experiment: Experiment) -> None:
    """Flush an edit; a concurrent edit that got there first makes it stale (412)."""
    with stale_edit(
        session,
        f"experiment {experiment.key!r} was changed by someone else meanwhile; "
        "read it again and reapply your change",
    ):
        session.flush()
