"""Flag routes: /api/v1/flags, each flag's state per environment, overrides, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, OptionalIfMatch, set_etag
from verdict.server.audit.schemas import AuditEntryOut
from verdict.server.audit.service import AUDIT_SORTS
from verdict.server.db import get_db
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN
from verdict.server.flags import overrides, service, states
from verdict.server.flags.models import FlagValueType
from verdict.server.flags.schemas import (
    FlagCreate,
    FlagOut,
    FlagStateIn,
    FlagStateOut,
    FlagUpdate,
    OverrideIn,
    OverrideOut,
)
from verdict.server.identity.auth import Principal, Require

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/flags", tags=["flags"])
Db = Annotated[Session, Depends(get_db)]
FlagKey = Annotated[
    str,
    Path(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern, description="Key."),
]
EnvironmentKey = Annotated[
    str, Path(min_length=1, max_length=64, pattern=KEY_PATTERN.pattern, description="Its key.")
]
UnitId = Annotated[
    str, Path(min_length=1, max_length=255, pattern=r"^[^\x00]+$", description="The unit id.")
]
Reader = Annotated[Principal, Depends(Require("feature_flag", "read"))]
Editor = Annotated[Principal, Depends(Require("feature_flag", "update"))]
_PLAIN = r"^[^\x00]*$"


@router.get("", response_model=Page[FlagOut], summary="List flags")
def list_flags(
    _: Reader,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("key", service.FLAG_SORTS))],
    tag: Annotated[str | None, Query(max_length=64, pattern=_PLAIN)] = None,
    owner: Annotated[
        str | None, Query(max_length=150, pattern=_PLAIN, description="Username")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=_PLAIN, description="Text in key, name")
    ] = None,
    archived: Annotated[
        bool | None, Query(description="false (default): live flags; true: archived ones")
    ] = False,
    type: Annotated[FlagValueType | None, Query(description="Value type")] = None,
    environment: Annotated[
        str | None,
        Query(max_length=64, pattern=_PLAIN, description="Only flags configured there"),
    ] = None,
    enabled: Annotated[
        bool | None, Query(description="With environment: on (true) or off (false) there")
    ] = None,
) -> Page[FlagOut]:
    items, cursor = service.list_flags(
        db,
        page=page,
        tag=tag,
        owner=owner,
        text=q,
        archived=archived,
        value_type=type,
        environment=environment,
        enabled=enabled,
    )
    return Page[FlagOut](items=items, next_cursor=cursor)


@router.post("", response_model=FlagOut, status_code=201, summary="Create a flag")
def create_flag(
    principal: Annotated[Principal, Depends(Require("feature_flag", "create"))],
    body: FlagCreate,
    db: Db,
    response: Response,
) -> FlagOut:
    flag = service.create_flag(db, actor=principal, data=body)
    set_etag(response, flag.version)
    return flag


@router.get("/{key}", response_model=FlagOut, summary="Get a flag")
def get_flag(_: Reader, key: FlagKey, db: Db, response: Response) -> FlagOut:
    flag = service.get_flag(db, key=key)
    set_etag(response, flag.version)
    return flag


@router.patch("/{key}", response_model=FlagOut, summary="Edit a flag's definition")
def update_flag(
    principal: Editor,
    key: FlagKey,
    body: FlagUpdate,
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> FlagOut:
    flag = service.update_flag(db, actor=principal, key=key, data=body, if_match=if_match)
    set_etag(response, flag.version)
    return flag


@router.post("/{key}/archive", response_model=FlagOut, summary="Archive a flag")
def archive_flag(
    principal: Editor, key: FlagKey, db: Db, response: Response, if_match: IfMatch = None
) -> FlagOut:
    flag = service.archive_flag(db, actor=principal, key=key, archived=True, if_match=if_match)
    set_etag(response, flag.version)
    return flag


@router.post("/{key}/unarchive", response_model=FlagOut, summary="Restore an archived flag")
def unarchive_flag(
    principal: Editor, key: FlagKey, db: Db, response: Response, if_match: IfMatch = None
) -> FlagOut:
    flag = service.archive_flag(db, actor=principal, key=key, archived=False, if_match=if_match)
    set_etag(response, flag.version)
    return flag


@router.delete("/{key}", status_code=204, summary="Delete a flag (refused while others require it)")
def delete_flag(
    principal: Annotated[Principal, Depends(Require("feature_flag", "delete"))],
    key: FlagKey,
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_flag(db, actor=principal, key=key, if_match=if_match)
    return Response(status_code=204)


@router.get(
    "/{key}/history",
    response_model=Page[AuditEntryOut],
    summary="A flag's audit entries (definition, states, overrides), newest first",
)
def flag_history(
    _: Reader,
    key: FlagKey,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("-at", AUDIT_SORTS))],
) -> Page[AuditEntryOut]:
    entries, cursor = service.list_history(db, key=key, page=page)
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(e) for e in entries], next_cursor=cursor
    )


# -- state per environment -----------------------------------------------------------


@router.get(
    "/{key}/environments/{environment}",
    response_model=FlagStateOut,
    summary="A flag's state in an environment",
)
def get_state(
    _: Reader, key: FlagKey, environment: EnvironmentKey, db: Db, response: Response
) -> FlagStateOut:
    state = states.get_state(db, flag_key=key, environment_key=environment)
    set_etag(response, state.version)
    return state


@router.put(
    "/{key}/environments/{environment}",
    response_model=FlagStateOut,
    summary='Replace a flag\'s state in an environment (If-Match: "0" the first time)',
)
def put_state(
    principal: Editor,
    key: FlagKey,
    environment: EnvironmentKey,
    body: FlagStateIn,
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> FlagStateOut:
    state = states.put_state(
        db,
        actor=principal,
        flag_key=key,
        environment_key=environment,
        data=body,
        if_match=if_match,
    )
    set_etag(response, state.version)
    return state


def _switch(enabled: bool) -> Callable[..., FlagStateOut]:
    """The endpoint that turns a flag on (or off) in an environment."""

    def switch(
        principal: Editor,
        key: FlagKey,
        environment: EnvironmentKey,
        db: Db,
        response: Response,
        if_match: OptionalIfMatch = None,
    ) -> FlagStateOut:
        state = states.set_enabled(
            db,
            actor=principal,
            flag_key=key,
            environment_key=environment,
            enabled=enabled,
            if_match=if_match,
        )
        set_etag(response, state.version)
        return state

    switch.__name__ = "enable_flag" if enabled else "disable_flag"
    return switch


_SWITCH_DESCRIPTION = (
    "A quick toggle: no body and no read first. `If-Match` is optional here (the switch "
    "is one field, so flipping it blind overwrites no one's edit); when sent it is "
    "checked (412 if stale). Rules and rollout stay as they are; asking for the current "
    "position changes nothing (same version, no audit entry). Otherwise the change is "
    "audited (`enable` / `disable`) and the state's ETag goes up by one."
)
router.post(
    "/{key}/environments/{environment}/enable",
    response_model=FlagStateOut,
    summary="Turn a flag on in an environment (If-Match optional)",
    description=_SWITCH_DESCRIPTION,
)(_switch(True))
router.post(
    "/{key}/environments/{environment}/disable",
    response_model=FlagStateOut,
    summary="Turn a flag off in an environment, the kill switch (If-Match optional)",
    description=_SWITCH_DESCRIPTION,
)(_switch(False))


# -- overrides -----------------------------------------------------------------------


@router.get(
    "/{key}/environments/{environment}/overrides",
    response_model=Page[OverrideOut],
    summary="A flag's per-unit overrides in an environment",
)
def list_overrides(
    _: Reader,
    key: FlagKey,
    environment: EnvironmentKey,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("unit_id", overrides.OVERRIDE_SORTS))],
    expired: Annotated[
        bool | None, Query(description="true: only expired; false: only in force")
    ] = None,
) -> Page[OverrideOut]:
    items, cursor = overrides.list_overrides(
        db, flag_key=key, environment_key=environment, page=page, expired=expired
    )
    return Page[OverrideOut](items=items, next_cursor=cursor)


@router.put(
    "/{key}/environments/{environment}/overrides/{unit_id:path}",
    response_model=OverrideOut,
    responses={201: {"model": OverrideOut, "description": "Created"}},
    summary="Force a value for one unit (creates or replaces its override)",
)
def put_override(
    principal: Editor,
    key: FlagKey,
    environment: EnvironmentKey,
    unit_id: UnitId,
    body: OverrideIn,
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> OverrideOut:
    """Creating needs no If-Match; replacing an existing override needs its ETag."""
    override, created = overrides.put_override(
        db,
        actor=principal,
        flag_key=key,
        environment_key=environment,
        unit_id=unit_id,
        data=body,
        if_match=if_match,
    )
    response.status_code = 201 if created else 200
    set_etag(response, override.version)
    return override


@router.delete(
    "/{key}/environments/{environment}/overrides/{unit_id:path}",
    status_code=204,
    summary="Remove a unit's override",
)
def delete_override(
    principal: Editor,
    key: FlagKey,
    environment: EnvironmentKey,
    unit_id: UnitId,
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    overrides.delete_override(
        db,
        actor=principal,
        flag_key=key,
        environment_key=environment,
        unit_id=unit_id,
        if_match=if_match,
    )
    return Response(status_code=204)
