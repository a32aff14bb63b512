"""Cursor paging: stable under inserts, cheap at any depth.

A cursor encodes the sort value and id of the last row served; the next page asks for
rows after that pair in the same order. Cursors are opaque base64 JSON to clients;
one that this API did not issue (forged, or from another sort) is refused with 400
naming ``query.cursor`` before any query runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from verdict.server.errors import DomainError, InvalidInputError

__all__ = [
    "MAX_LIMIT",
    "InvalidCursorError",
    "Page",
    "PageRequest",
    "Sortable",
    "every_item",
    "page_request",
    "paginate",
]

T = TypeVar("T")
MAX_LIMIT = 200

# The names a list can be sorted by, and the column each one sorts on: one constant per
# list, in its service, passed both to ``paginate`` and (for the spec) to ``page_request``.
Sortable = Mapping[str, InstrumentedAttribute[Any]]


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


def page_request(default_sort: str, sortable: Collection[str] = ()) -> Any:
    """A dependency reading ``limit``, ``cursor`` and ``sort`` with a per-route default.

    ``sortable`` (the service's constant, the names its ``paginate`` accepts) puts them
    in the spec as the pattern ``sort`` must match, so that a client, or a generated
    test, knows which values are valid; a wrong one is refused before the route runs
    (422 naming ``query.sort``). Without it ``sort`` is any text and a wrong one is
    refused by ``paginate`` (also 422 naming ``query.sort``).
    """
    if sortable and default_sort.removeprefix("-") not in sortable:
        raise ValueError(f"the default sort {default_sort!r} is not one of {list(sortable)}")
    names = "|".join(re.escape(name) for name in sortable)
    choices = f" One of {', '.join(sortable)}." if sortable else ""

    def dependency(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
        cursor: Annotated[str | None, Query(description="From the previous page.")] = None,
        sort: str = default_sort,
    ) -> PageRequest:
        return PageRequest(limit=limit, cursor=cursor, sort=sort)

    # Set as an object, not written in the signature: annotations are evaluated in
    # the module's namespace, where this call's ``choices`` and ``names`` are not.
    dependency.__annotations__["sort"] = Annotated[
        str,
        Query(
            description=f"Field to sort by; prefix with - for descending.{choices}",
            pattern=f"^-?({names})$" if names else None,
        ),
    ]
    return dependency


def _encode(value: Any, row_id: uuid.UUID) -> str:
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    raw = json.dumps([value, str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class InvalidCursorError(DomainError):
    """A ``cursor`` this API did not issue (forged, truncated, or for another sort);
    a bad request (400), like any other input that cannot even be read."""

    title = "Invalid cursor"

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a cursor this API issued: {reason}", field="query.cursor")


def _decode(cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (ValueError, binascii.Error) as exc:  # JSONDecodeError is a ValueError
        raise InvalidCursorError("it is not base64 JSON") from exc
    if not isinstance(decoded, list) or len(decoded) != 2 or not isinstance(decoded[1], str):
        raise InvalidCursorError("it is not a [value, id] pair")
    value, row_id = decoded
    try:
        return value, uuid.UUID(row_id)
    except ValueError as exc:
        raise InvalidCursorError("its id is not a UUID") from exc


def _sort_value(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    """The cursor's sort value as the column's Python type, the way ``_encode`` wrote
    it (dates and times as ISO 8601 text, everything else as JSON has it)."""
    if value is None:
        return None
    try:
        python_type: type = column.type.python_type
    except NotImplementedError:
        python_type = object
    if hasattr(python_type, "fromisoformat"):  # datetime, date, time
        if not isinstance(value, str):
            raise InvalidCursorError(f"its {column.key} is not a date")
        try:
            return python_type.fromisoformat(value)
        except ValueError as exc:
            raise InvalidCursorError(f"its {column.key} is not a date") from exc
    if issubclass(python_type, bool):
        expected: tuple[type, ...] = (bool,)
    elif issubclass(python_type, int | float):
        expected = (int, float)
    elif issubclass(python_type, str):
        expected = (str,)
    else:
        expected = (str, int, float, bool)
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        raise InvalidCursorError(f"its {column.key} has the wrong type")
    if isinstance(value, str) and "\x00" in value:
        raise InvalidCursorError(f"its {column.key} holds a NUL character")
    return value


def paginate(
    session: Session,
    query: Select[Any],
    request: PageRequest,
    *,
    sortable: Sortable,
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
        raw_value, last_id = _decode(request.cursor)
        value = _sort_value(raw_value, column)
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


def every_item(
    fetch: Callable[[PageRequest], tuple[Sequence[T], str | None]], *, sort: str
) -> list[T]:
    """Every item of a list service, page after page (the command line and exports
    need whole lists; the API hands out pages)."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page, cursor = fetch(PageRequest(limit=MAX_LIMIT, cursor=cursor, sort=sort))
        items.extend(page)
        if cursor is None:
            return items
