"""Bandit routes: the bandit's state and weights history, and an update on demand.

``GET /api/v1/experiments/{key}/bandit`` answers the settings, the weights in force,
the last update and every phase (the weights history); ``GET …/bandit/updates`` pages
through every update attempt with its reason; ``POST …/bandit/updates`` runs one now.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from verdict.server.analysis.runs import find_experiment
from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.bandits import service
from verdict.server.bandits.schemas import BanditOut, BanditUpdateOut
from verdict.server.db import get_db
from verdict.server.identity.auth import Principal, Require
from verdict.server.problems import problem_doc

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/experiments", tags=["bandits"])
Db = Annotated[Session, Depends(get_db)]
Reader = Annotated[Principal, Depends(Require("experiment", "read"))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("No such experiment")}


@router.get(
    "/{key}/bandit",
    response_model=BanditOut,
    summary="A bandit's settings, weights and weights history",
    responses={**_NOT_FOUND, 422: problem_doc("The experiment is not a bandit")},
)
def get_bandit(key: str, _: Reader, db: Db) -> BanditOut:
    return service.bandit_out(db, find_experiment(db, key))


@router.get(
    "/{key}/bandit/updates",
    response_model=Page[BanditUpdateOut],
    summary="List a bandit's weight updates",
    responses=_NOT_FOUND,
)
def list_bandit_updates(
    key: str,
    _: Reader,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("-created_at", service.BANDIT_UPDATE_SORTS))],
) -> Page[BanditUpdateOut]:
    """Every update attempt, newest first: applied ones with the phase they opened,
    the others with the reason the weights were kept."""
    found, cursor = service.list_updates(db, find_experiment(db, key), page=page)
    return Page[BanditUpdateOut](
        items=[service.update_out(update) for update in found], next_cursor=cursor
    )


@router.post(
    "/{key}/bandit/updates",
    response_model=BanditUpdateOut,
    status_code=201,
    summary="Update a bandit's weights now",
    responses={
        **_NOT_FOUND,
        409: problem_doc("The experiment is not running"),
        422: problem_doc("The experiment is not a bandit"),
    },
)
def run_bandit_update(
    key: str,
    request: Request,
    _: Annotated[Principal, Depends(Require("experiment", "update"))],
) -> BanditUpdateOut:
    """Analyse now and move the weights by Thompson sampling. The answer is the update
    record: status ``applied`` with the new weights and phase, or ``burn_in``,
    ``skipped`` or ``failed`` with the weights kept and the reason."""
    return service.run_update(
        request.app.state.session_factory, request.app.state.engine, key=key, trigger="api"
    )
