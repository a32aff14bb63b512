"""Experiment pages that change things: the create and edit forms, the lifecycle actions
(start, pause, resume, complete with a winner, archive) and "refresh results".

The forms are flat HTML inputs that this module turns into the API's own request
schemas (:class:`ExperimentCreate`, :class:`ExperimentUpdate`) and hands to the same
services, so a page accepts and refuses exactly what the API does. Every refusal, from
Pydantic or from a service's ``(field, reason)`` list, is shown next to the input its
field path names (``variants.1.weight`` is the weight input of the second variant
row), with the form as the user typed it, and nothing is stored.

Without JavaScript, "add a variant" and "add a metric" post the form back with one more
row; a row left blank is dropped. An edit sends only the fields whose inputs changed
(compared with the form as rendered from the stored experiment), with the version the
form was read at as If-Match: an edit made over someone else's is refused and shown,
never applied. A lifecycle action's GET shows a confirmation page; the POST performs
it and goes back to the experiment's page. "Refresh results" starts an analysis run
like ``POST /api/v1/experiments/{key}/analyses?wait=false`` and the detail page polls
its progress.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData

from verdict.server.analysis import runs
from verdict.server.api.versioning import check_version
from verdict.server.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    StaleVersionError,
    VersionRequiredError,
)
from verdict.server.experiments import actions, editing, service
from verdict.server.experiments.lifecycle import Action
from verdict.server.experiments.schemas import ExperimentCreate, ExperimentOut, ExperimentUpdate
from verdict.server.experiments.views import experiment_out
from verdict.server.problems import status_of
from verdict.server.web import forms
from verdict.server.web.experiment_form_data import (
    ExperimentForm,
    blank_form,
    form_choices,
    payload_of,
    read_form,
    stored_form,
)
from verdict.server.web.forms import require
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# Refused requests the form shows next to its fields; anything else is an error page.
_FORM_ERRORS = (InvalidInputError, ConflictError, StaleVersionError, VersionRequiredError)


async def _form_body(request: Request) -> FormData:
    """The posted form, read before the (synchronous) handler runs; no file uploads."""
    return await request.form(max_files=0, max_fields=600)


Body = Annotated[FormData, Depends(_form_body)]

# action -> (button, question, notice after success)
_ACTIONS: dict[Action, tuple[str, str, str]] = {
    Action.START: (
        "Start experiment",
        "Start the experiment? Units will be assigned to its variants from now on.",
        "The experiment is running.",
    ),
    Action.PAUSE: (
        "Pause experiment",
        "Pause the experiment? No unit is enrolled in it until it resumes.",
        "The experiment is paused.",
    ),
    Action.RESUME: (
        "Resume experiment",
        "Resume the experiment? Units are enrolled in it again.",
        "The experiment is running again.",
    ),
    Action.COMPLETE: (
        "Complete experiment",
        "Complete the experiment? It stops enrolling units for good.",
        "The experiment is completed.",
    ),
    Action.ARCHIVE: (
        "Archive experiment",
        "Archive the experiment? It can no longer be edited or started.",
        "The experiment is archived.",
    ),
}


def _to_detail(key: str, notice: str) -> RedirectResponse:
    return RedirectResponse(
        f"/experiments/{quote(key, safe='')}?notice={quote(notice)}", status_code=303
    )


def _problems(error: DomainError) -> list[tuple[str | None, str]]:
    listed: list[tuple[str, str]] = list(getattr(error, "errors", None) or [])
    if listed:
        return [(field, reason) for field, reason in listed]
    return [(error.field, error.detail)]


def _validation_problems(error: ValidationError) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        reason = item["msg"].removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch":
            reason = "must start with a letter and hold only letters, digits, '_', '.' and '-'"
        found.append((field, reason))
    return found


def _render_form(
    request: Request,
    db: Session,
    form: ExperimentForm,
    *,
    experiment: ExperimentOut | None = None,
    version: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "experiments/form.html",
        {
            "form": form,
            "experiment": experiment,
            "version": version,
            "choices": form_choices(db, form),
        },
        status_code=status_code,
    )


def _grow(form: ExperimentForm, which: str | None) -> bool:
    """Handle "add a variant" / "add a metric": True when the post was one of them."""
    if which == "variant":
        form.add_variant_row()
    elif which == "metric":
        form.add_metric_row()
    else:
        return False
    return True


@router.get("/experiments/new")
def new_experiment(request: Request, user: PageUser, db: Db) -> HTMLResponse:
    require(user, "experiment", "create")
    return _render_form(request, db, blank_form())


@router.post("/experiments/new")
def create_experiment(request: Request, user: PageUser, db: Db, body: Body) -> Response:
    check_csrf(request, _text(body, "csrf_token"))
    require(user, "experiment", "create")
    form = read_form(body, editing=False)
    if _grow(form, _text(body, "add")):
        return _render_form(request, db, form)
    data: ExperimentCreate | None = None
    try:
        data = ExperimentCreate.model_validate(payload_of(form))
    except ValidationError as error:
        form.report(_validation_problems(error))
    if data is None or form.has_errors():
        return _render_form(request, db, form, status_code=422)
    try:
        created = service.create_experiment(db, actor=user, data=data)
    except _FORM_ERRORS as error:
        db.rollback()
        form.report(_problems(error))
        return _render_form(request, db, form, status_code=status_of(error))
    return _to_detail(created.key, f"Experiment {created.key} created as a draft.")


@router.get("/experiments/{key}/edit")
def edit_experiment(request: Request, key: str, user: PageUser, db: Db) -> HTMLResponse:
    require(user, "experiment", "update")
    experiment = experiment_out(service.get_experiment(db, key=key))
    return _render_form(
        request,
        db,
        stored_form(experiment),
        experiment=experiment,
        version=str(experiment.version),
    )


@router.post("/experiments/{key}/edit")
def save_experiment(request: Request, key: str, user: PageUser, db: Db, body: Body) -> Response:
    check_csrf(request, _text(body, "csrf_token"))
    require(user, "experiment", "update")
    experiment = experiment_out(service.get_experiment(db, key=key))
    version = _text(body, "version")[:20]
    form = read_form(body, editing=True)

    def again(status_code: int) -> HTMLResponse:
        return _render_form(
            request, db, form, experiment=experiment, version=version, status_code=status_code
        )

    if _grow(form, _text(body, "add")):
        return again(200)
    stored = stored_form(experiment)
    payload = payload_of(form)
    changed = {
        name: payload[name] for name in form.changed_fields(payload, stored) if name in payload
    }
    if_match = forms.if_match(version)
    data: ExperimentUpdate | None = None
    try:
        data = ExperimentUpdate.model_validate(changed)
    except ValidationError as error:
        form.report(_validation_problems(error))
    if data is None or form.has_errors():
        return again(422)
    try:
        if not changed:
            check_version(if_match, experiment.version)
            return _to_detail(experiment.key, "Nothing changed.")
        saved = editing.update_experiment(db, actor=user, key=key, data=data, if_match=if_match)
    except _FORM_ERRORS as error:
        db.rollback()
        form.report(_problems(error))
        if isinstance(error, StaleVersionError):
            form.stale = True
        return again(status_of(error))
    return _to_detail(saved.key, "Changes saved.")


def _text(body: FormData, name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _action_page(
    request: Request,
    experiment: ExperimentOut,
    action: Action,
    *,
    problems: Iterable[tuple[str | None, str]] = (),
    winner: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    button, question, _ = _ACTIONS[action]
    return render(
        request,
        "experiments/form_action.html",
        {
            "experiment": experiment,
            "action": action.value,
            "allowed": action.value in experiment.allowed_actions,
            "button": button,
            "question": question,
            "problems": list(problems),
            "winner": winner,
        },
        status_code=status_code,
    )


def _confirm_page(action: Action) -> Callable[..., HTMLResponse]:
    def confirm(request: Request, key: str, user: PageUser, db: Db) -> HTMLResponse:
        require(user, "experiment", "update")
        experiment = experiment_out(service.get_experiment(db, key=key))
        return _action_page(request, experiment, action)

    return confirm


def _perform(action: Action) -> Callable[..., Response]:
    def perform(request: Request, key: str, user: PageUser, db: Db, body: Body) -> Response:
        check_csrf(request, _text(body, "csrf_token"))
        require(user, "experiment", "update")
        version = _text(body, "version")
        winner = _text(body, "winner")[:100] or None
        try:
            done = actions.perform(
                db,
                actor=user,
                key=key,
                action=action,
                if_match=forms.if_match(version) or "*",
                winner=winner if action is Action.COMPLETE else None,
            )
        except _FORM_ERRORS as error:
            db.rollback()
            experiment = experiment_out(service.get_experiment(db, key=key))
            return _action_page(
                request,
                experiment,
                action,
                problems=_problems(error),
                winner=winner or "",
                status_code=status_of(error),
            )
        return _to_detail(done.key, _ACTIONS[action][2])

    return perform


for _action in Action:
    router.add_api_route(
        f"/experiments/{{key}}/{_action.value}",
        _confirm_page(_action),
        methods=["GET"],
        name=f"confirm_{_action.value}",
    )
    router.add_api_route(
        f"/experiments/{{key}}/{_action.value}",
        _perform(_action),
        methods=["POST"],
        name=f"{_action.value}_experiment",
    )


def _analyse(factory: sessionmaker[Session], engine: Engine, run_id: uuid.UUID) -> None:
    """Run the analysis after the answer was sent; a failure is recorded on the run."""
    try:
        runs.execute_run(factory, engine, run_id)
    except DomainError as error:
        logger.info("analysis run %s failed: %s", run_id, error.detail)
    except Exception:
        logger.exception("analysis run %s failed", run_id)


@router.post("/experiments/{key}/refresh")
def refresh_results(
    request: Request,
    key: str,
    user: PageUser,
    db: Db,
    body: Body,
    background: BackgroundTasks,
) -> Response:
    check_csrf(request, _text(body, "csrf_token"))
    require(user, "experiment", "update")
    experiment = runs.find_experiment(db, key)
    full = _text(body, "full") == "true"
    run = runs.start_run(db, experiment=experiment, full=full, trigger="dashboard", actor=user)
    background.add_task(
        _analyse, request.app.state.session_factory, request.app.state.engine, run.id
    )
    return _to_detail(experiment.key, "Refreshing the results.")
