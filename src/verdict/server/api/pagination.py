"""Cursor paging: stable under inserts, cheap at any depth.

A cursor encodes the sort value and id of the last row served; the next page asks for
rows after that pair in the same order. Cursors are opaque base64 JSON to clients.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from verdict.server.errors import InvalidInputError

__all__ = ["MAX_LIMIT", "Page", "PageRequest", "page_request", "paginate"]

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None
    sort: str


def page_request(default_sort: str) -> Any:
    """A dependency reading ``limit``, ``cursor`` and ``sort`` with a per-route default."""

    def dependency(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
        cursor: Annotated[str | None, Query(description="From the previous page.")] = None,
        sort: Annotated[
            str, Query(description="Field to sort by; prefix with - for descending.")
        ] = default_sort,
    ) -> PageRequest:
        return PageRequest(limit=limit, cursor=cursor, sort=sort)

    return dependency


def _encode(value: Any, row_id: uuid.UUID) -> str:
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    raw = json.dumps([value, str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, row_id = json.loads(raw)
        return value, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidInputError("not a cursor this API issued", field="query.cursor") from exc


def paginate(
    session: Session,
    query: Select[Any],
    request: PageRequest,
    *,
    sortable: dict[str, InstrumentedAttribute[Any]],
    id_column: InstrumentedAttribute[uuid.UUID],
) -> tuple[Sequence[Any], str | None]:
    """One page of ``query`` ordered by ``request.sort`` (``-name`` for descending)."""
    descending = request.sort.startswith("-")
    name = request.sort.removeprefix("-")
    if name not in sortable:
        raise InvalidInputError(
            f"cannot sort by {name!r}; choose one of {', '.join(sorted(sortable))} "
            "(prefix with - for descending)",
            field="query.sort",
        )
    column = sortable[name]
    if request.cursor is not None:
        value, last_id = _decode(request.cursor)
        python_type = column.type.python_type
        if value is not None and hasattr(python_type, "fromisoformat"):
            value = python_type.fromisoformat(value)
        if descending:
            after = or_(column < value, and_(column == value, id_column < last_id))
        else:
            after = or_(column > value, and_(column == value, id_column > last_id))
        query = query.where(after)
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    rows = session.scalars(query.order_by(*order).limit(request.limit + 1)).all()
    if len(rows) <= request.limit:
        return rows, None
    page = rows[: request.limit]
    last = page[-1]
    return page, _encode(getattr(last, column.key), getattr(last, id_column.key))
