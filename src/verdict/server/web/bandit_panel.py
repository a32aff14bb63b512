"""The bandit panel of an experiment's page: weights over time, the last updates and
"update the weights now".

The panel reads what the bandit service stored (phases and update records) and never
recomputes a weight; "update now" runs the same update as ``POST
/api/v1/experiments/{key}/bandit/updates`` and goes back to the page with its outcome.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from verdict.server.api.pagination import PageRequest
from verdict.server.bandits import service
from verdict.server.bandits.schemas import BanditUpdateOut
from verdict.server.db.base import utcnow
from verdict.server.experiments.models import Experiment, ExperimentType
from verdict.server.web.experiment_charts import weights_figure
from verdict.server.web.forms import require
from verdict.server.web.session import PageUser, check_csrf

__all__ = ["UPDATES_SHOWN", "bandit_panel", "router"]

router = APIRouter(include_in_schema=False)
UPDATES_SHOWN = 10


def bandit_panel(db: Session, experiment: Experiment) -> dict[str, Any] | None:
    """What the page shows of a bandit (None for any other experiment)."""
    if experiment.type is not ExperimentType.BANDIT:
        return None
    state = service.bandit_out(db, experiment)
    found, _ = service.list_updates(
        db, experiment, page=PageRequest(limit=UPDATES_SHOWN, cursor=None, sort="-created_at")
    )
    updates: list[BanditUpdateOut] = [service.update_out(update) for update in found]
    end = experiment.completed_at or utcnow()
    return {
        "state": state,
        "updates": updates,
        "figure": weights_figure(state.phases, [v.key for v in experiment.variants], end=end),
    }


@router.post("/experiments/{key}/bandit-update")
def update_now(
    request: Request,
    key: str,
    user: PageUser,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "experiment", "update")
    update = service.run_update(
        request.app.state.session_factory,
        request.app.state.engine,
        key=key,
        trigger="dashboard",
    )
    if update.phase is not None:
        notice = f"The weights moved: phase {update.phase} opened."
    else:
        notice = f"The weights stay as they are: {update.reason}."
    return RedirectResponse(
        f"/experiments/{quote(key, safe='')}?notice={quote(notice[:290])}#bandit", status_code=303
    )
