"""Environment pages: the list in display order, a new environment, one environment
(read, edit, delete).

Pages call :mod:`verdict.server.environments.service`, as the API does. An environment
that flags, overrides, API keys or experiments still use is not deleted; the page shows
what blocks it. The create form lives at ``/environments/-/new``: a key starts with a
letter, so that path is never an environment's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field

from verdict.server.api.pagination import PageRequest
from verdict.server.environments import service
from verdict.server.environments.models import Environment
from verdict.server.environments.schemas import EnvironmentCreate, EnvironmentUpdate
from verdict.server.web.forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
    optional,
    page_urls,
    require,
)
from verdict.server.web.keyed_pages import KeyedPages
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_FIELDS = ("key", "name", "description", "sort_order")


class EnvironmentForm(PageForm):
    key: str = Field(default="", max_length=200)
    name: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=20_000)
    sort_order: str = Field(default="", max_length=50)
    version: str = Field(default="", max_length=20)


def _values(environment: Environment) -> dict[str, Any]:
    return {
        "key": environment.key,
        "name": environment.name,
        "description": environment.description or "",
        "sort_order": str(environment.sort_order),
        "version": str(environment.version),
    }


def _typed(form: EnvironmentForm) -> dict[str, Any]:
    return form.model_dump(exclude={"csrf_token"})


def _body(form: EnvironmentForm, errors: FieldErrors) -> dict[str, Any]:
    return {
        "name": form.name.strip(),
        "description": optional(form.description),
        "sort_order": optional(form.sort_order),
    }


@router.get("/environments")
def environment_list(
    request: Request,
    user: PageUser,
    db: Db,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    deleted: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    require(user, "environment", "read")
    text = (q or "").strip() or None
    found, next_cursor = service.list_environments(
        db, page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="sort_order"), text=text
    )
    return render(
        request,
        "environments/list.html",
        {
            "environments": found,
            "q": text or "",
            "deleted": deleted,
            **page_urls("/environments", {"q": text}, cursor=cursor, next_cursor=next_cursor),
        },
    )


PAGES = KeyedPages(
    resource="environment",
    path="/environments",
    templates="environments",
    key_length=64,
    form=EnvironmentForm,
    create_schema=EnvironmentCreate,
    update_schema=EnvironmentUpdate,
    get=service.get_environment,
    create=service.create_environment,
    update=service.update_environment,
    delete=service.delete_environment,
    values=_values,
    typed=_typed,
    body=_body,
    blank=lambda user: {},
    fields=_FIELDS,
)
PAGES.install(router)
