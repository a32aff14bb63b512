"""Experiment routes: /api/v1/experiments, its lifecycle actions, phases and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, set_etag
from verdict.server.audit.schemas import AuditEntryOut
from verdict.server.audit.service import AUDIT_SORTS
from verdict.server.db import get_db
from verdict.server.experiments import actions, editing, service
from verdict.server.experiments.lifecycle import Action
from verdict.server.experiments.models import ExperimentStatus, ExperimentType
from verdict.server.experiments.schemas import (
    CompleteIn,
    ExperimentCreate,
    ExperimentOut,
    ExperimentUpdate,
    PhaseOut,
)
from verdict.server.experiments.views import experiment_out, phase_out
from verdict.server.identity.auth import Principal, Require

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])
Db = Annotated[Session, Depends(get_db)]
Reader = Annotated[Principal, Depends(Require("experiment", "read"))]
Editor = Annotated[Principal, Depends(Require("experiment", "update"))]


@router.get("", response_model=Page[ExperimentOut], summary="List experiments")
def list_experiments(
    _: Reader,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("-created_at", service.EXPERIMENT_SORTS))],
    status: ExperimentStatus | None = None,
    type: ExperimentType | None = None,
    tag: Annotated[str | None, Query(description="Experiments carrying this tag")] = None,
    owner: Annotated[str | None, Query(description="Owner's username")] = None,
    q: Annotated[str | None, Query(description="Text in key, name or description")] = None,
    environment: Annotated[str | None, Query(description="Environment key")] = None,
) -> Page[ExperimentOut]:
    found, cursor = service.list_experiments(
        db,
        page=page,
        status=status,
        type_=type,
        tag=tag,
        owner=owner,
        text=q,
        environment=environment,
    )
    return Page[ExperimentOut](items=[experiment_out(e) for e in found], next_cursor=cursor)


@router.post(
    "",
    response_model=ExperimentOut,
    status_code=201,
    summary="Create an experiment with its variants, metrics and segments",
)
def create_experiment(
    body: ExperimentCreate,
    principal: Annotated[Principal, Depends(Require("experiment", "create"))],
    db: Db,
    response: Response,
) -> ExperimentOut:
    experiment = service.create_experiment(db, actor=principal, data=body)
    set_etag(response, experiment.version)
    return experiment_out(experiment)


@router.get("/{key}", response_model=ExperimentOut, summary="Get an experiment")
def get_experiment(key: str, _: Reader, db: Db, response: Response) -> ExperimentOut:
    experiment = service.get_experiment(db, key=key)
    set_etag(response, experiment.version)
    return experiment_out(experiment)


@router.patch("/{key}", response_model=ExperimentOut, summary="Edit an experiment")
def update_experiment(
    key: str,
    body: ExperimentUpdate,
    principal: Editor,
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> ExperimentOut:
    experiment = editing.update_experiment(
        db, actor=principal, key=key, data=body, if_match=if_match
    )
    set_etag(response, experiment.version)
    return experiment_out(experiment)


@router.delete("/{key}", status_code=204, summary="Delete a draft experiment")
def delete_experiment(
    key: str,
    principal: Annotated[Principal, Depends(Require("experiment", "delete"))],
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_experiment(db, actor=principal, key=key, if_match=if_match)
    return Response(status_code=204)


def _act(
    db: Session,
    principal: Principal,
    key: str,
    action: Action,
    if_match: str | None,
    response: Response,
    winner: str | None = None,
) -> ExperimentOut:
    experiment = actions.perform(
        db, actor=principal, key=key, action=action, if_match=if_match, winner=winner
    )
    set_etag(response, experiment.version)
    return experiment_out(experiment)


@router.post("/{key}/start", response_model=ExperimentOut, summary="Start a draft")
def start_experiment(
    key: str, principal: Editor, db: Db, response: Response, if_match: IfMatch = None
) -> ExperimentOut:
    """Checks the start rules (all failures at once), stamps started_at, opens phase 1."""
    return _act(db, principal, key, Action.START, if_match, response)


@router.post("/{key}/pause", response_model=ExperimentOut, summary="Pause a running experiment")
def pause_experiment(
    key: str, principal: Editor, db: Db, response: Response, if_match: IfMatch = None
) -> ExperimentOut:
    return _act(db, principal, key, Action.PAUSE, if_match, response)


@router.post("/{key}/resume", response_model=ExperimentOut, summary="Resume a paused experiment")
def resume_experiment(
    key: str, principal: Editor, db: Db, response: Response, if_match: IfMatch = None
) -> ExperimentOut:
    return _act(db, principal, key, Action.RESUME, if_match, response)


@router.post("/{key}/complete", response_model=ExperimentOut, summary="Complete an experiment")
def complete_experiment(
    key: str,
    principal: Editor,
    db: Db,
    response: Response,
    body: CompleteIn | None = None,
    if_match: IfMatch = None,
) -> ExperimentOut:
    """Names the winning variant (or none), stamps completed_at, ends the open phase."""
    winner = body.winner if body is not None else None
    return _act(db, principal, key, Action.COMPLETE, if_match, response, winner)


@router.post("/{key}/archive", response_model=ExperimentOut, summary="Archive an experiment")
def archive_experiment(
    key: str, principal: Editor, db: Db, response: Response, if_match: IfMatch = None
) -> ExperimentOut:
    return _act(db, principal, key, Action.ARCHIVE, if_match, response)


@router.get("/{key}/phases", response_model=list[PhaseOut], summary="Allocation history")
def list_phases(key: str, _: Reader, db: Db) -> list[PhaseOut]:
    return [phase_out(p) for p in service.list_phases(db, key=key)]


@router.get(
    "/{key}/history", response_model=Page[AuditEntryOut], summary="The experiment's audit log"
)
def experiment_history(
    key: str,
    _: Reader,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("-at", AUDIT_SORTS))],
) -> Page[AuditEntryOut]:
    entries, cursor = service.list_history(db, key=key, page=page)
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(e) for e in entries], next_cursor=cursor
    )
