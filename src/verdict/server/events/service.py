"""Event ingestion: which events of a batch are stored, and when the batch counts as done.

Decisions:
- The envelope (``{"events": [...]}``, at most ``MAX_BATCH_EVENTS``) is all or nothing:
  a malformed body is refused with 422 and a batch too long with 413.
- Each event is then judged alone. Valid events of a partly bad batch are stored and
  the bad ones are reported by index, so one broken event never costs a client the
  rest of its queue, and a client can drop exactly the events it must not resend.
- ``client_event_id`` is the idempotency key: an id already stored (or repeated in the
  batch) is a duplicate and is not stored again; the first write wins.
- An event naming an experiment is stored linked to its unit's assignment there, if
  the unit has one; conversion events mark the assignments they convert, in the same
  transaction.
- The batch is committed before the result is returned, so an acknowledgement (2xx)
  means every accepted event is durable; a crash before the commit stores none of them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from verdict.server.db.base import utcnow
from verdict.server.errors import InvalidInputError, PayloadTooLargeError
from verdict.server.events.ingest import (
    EventColumns,
    KnownKeys,
    insert_events,
    look_up_assignments,
    record_conversions,
    resolve_keys,
)
from verdict.server.events.schemas import (
    MAX_BATCH_EVENTS,
    EventError,
    EventIn,
    IngestResult,
)

__all__ = ["MAX_CLOCK_SKEW", "ingest_events"]

# Client clocks drift; an event dated further ahead than this is a bug, not skew.
MAX_CLOCK_SKEW = dt.timedelta(days=1)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is too large to store")
    return number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_envelope(body: bytes) -> list[Any]:
    try:
        # NaN and Infinity are not JSON, and neither database can store them in a
        # JSON document: refuse them while parsing.
        payload = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except ValueError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(payload, dict) or "events" not in payload:
        raise InvalidInputError('the body must be an object {"events": [...]}', field="body")
    unknown = sorted(set(payload) - {"events"})
    if unknown:
        raise InvalidInputError(f"unknown field {unknown[0]!r}", field=f"body.{unknown[0]}")
    events = payload["events"]
    if not isinstance(events, list):
        raise InvalidInputError("events must be a list", field="body.events")
    if len(events) > MAX_BATCH_EVENTS:
        raise PayloadTooLargeError(
            f"a batch holds at most {MAX_BATCH_EVENTS} events, this one {len(events)}: split it",
            field="body.events",
        )
    return events


# A lone surrogate can only come from a ``\uD800``-``\uDFFF`` escape, or from its
# (invalid) UTF-8 bytes that ``json.loads`` lets through: a body with neither needs no
# per-event check, which would otherwise encode every event a second time.
_MAY_HOLD_SURROGATES = re.compile(rb"\\u[dD][89abcdefABCDEF]|\xed[\xa0-\xbf]")


def _unencodable(value: Any) -> bool:
    """True when a string holds a lone surrogate (valid JSON escape, invalid UTF-8)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _validate(
    index: int, raw: Any, now: dt.datetime, *, check_unicode: bool
) -> EventIn | list[EventError]:
    prefix = f"body.events.{index}"
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as exc:
        return [
            EventError(
                index=index,
                field=".".join([prefix, *(str(part) for part in error["loc"])]),
                reason=error["msg"],
            )
            for error in exc.errors()
        ]
    if check_unicode and _unencodable(raw):
        return [EventError(index=index, field=prefix, reason="a string is not valid Unicode")]
    if event.timestamp is not None and event.timestamp > now + MAX_CLOCK_SKEW:
        return [
            EventError(
                index=index,
                field=f"{prefix}.timestamp",
                reason=f"more than {MAX_CLOCK_SKEW.days} day in the future",
            )
        ]
    return event


def _references(
    index: int, event: EventIn, known: KnownKeys, environment_id: uuid.UUID
) -> tuple[dict[str, uuid.UUID | None], list[EventError]]:
    """The ids the event's keys name, or why a key names nothing usable."""
    prefix = f"body.events.{index}"
    ids: dict[str, uuid.UUID | None] = {
        "experiment_id": None,
        "variant_id": None,
        "feature_flag_id": None,
    }
    errors: list[EventError] = []
    if event.experiment is not None:
        experiment = known.experiments.get(event.experiment)
        if experiment is None:
            errors.append(
                EventError(
                    index=index,
                    field=f"{prefix}.experiment",
                    reason=f"no experiment has the key {event.experiment!r}",
                )
            )
        elif experiment.environment_id not in (None, environment_id):
            errors.append(
                EventError(
                    index=index,
                    field=f"{prefix}.experiment",
                    reason=f"experiment {event.experiment!r} does not run in this API "
                    "key's environment",
                )
            )
        else:
            ids["experiment_id"] = experiment.id
            if event.variant is not None:
                ids["variant_id"] = experiment.variants.get(event.variant)
                if ids["variant_id"] is None:
                    errors.append(
                        EventError(
                            index=index,
                            field=f"{prefix}.variant",
                            reason=f"experiment {event.experiment!r} has no variant "
                            f"{event.variant!r}",
                        )
                    )
    if event.flag is not None:
        ids["feature_flag_id"] = known.flags.get(event.flag)
        if ids["feature_flag_id"] is None:
            errors.append(
                EventError(
                    index=index,
                    field=f"{prefix}.flag",
                    reason=f"no feature flag has the key {event.flag!r}",
                )
            )
    return ids, errors


def _named_keys(raw_events: list[Any], name: str) -> set[str]:
    """The keys events name in field ``name``, read before validation so that keys are
    resolved before the single pass that validates and stores each event."""
    return {
        key
        for raw in raw_events
        if isinstance(raw, dict) and isinstance(key := raw.get(name), str) and key
    }


def ingest_events(
    session: Session,
    *,
    environment_id: uuid.UUID,
    body: bytes,
    now: dt.datetime | None = None,
) -> IngestResult:
    """Validate, deduplicate and store one batch; commit; say what became of each event."""
    now = now or utcnow()
    raw_events = _parse_envelope(body)
    check_unicode = _MAY_HOLD_SURROGATES.search(body) is not None
    # A key named by an event that turns out invalid is looked up for nothing, which is
    # harmless; resolving first lets each event be validated, checked and turned into
    # column values in one pass, its model dropped at once (see ``EventColumns``).
    known = resolve_keys(
        session,
        experiment_keys=_named_keys(raw_events, "experiment"),
        flag_keys=_named_keys(raw_events, "flag"),
    )
    errors: list[EventError] = []
    rejected = 0
    repeated = 0
    seen_ids: set[str] = set()
    columns = EventColumns()
    for index, raw in enumerate(raw_events):
        event = _validate(index, raw, now, check_unicode=check_unicode)
        if isinstance(event, EventIn):
            ids, problems = _references(index, event, known, environment_id)
            if not problems:
                if event.client_event_id is not None:
                    if event.client_event_id in seen_ids:
                        repeated += 1
                        continue
                    seen_ids.add(event.client_event_id)
                columns.add(event, ids, now)
                continue
        else:
            problems = event
        errors.extend(problems)
        rejected += 1

    # Assignments are looked up before the insert, so each event is stored already
    # linked to its unit's assignment in its experiment, and the same lookup tells
    # which assignments the stored events convert.
    lookup = look_up_assignments(
        session,
        environment_id=environment_id,
        events=zip(columns.event_type, columns.unit_id, columns.experiment_id, strict=True),
    )
    columns.assignment_id = [
        lookup.assignment_id(experiment_id, unit_id)
        for experiment_id, unit_id in zip(columns.experiment_id, columns.unit_id, strict=True)
    ]
    stored = insert_events(session, environment_id=environment_id, received_at=now, columns=columns)
    record_conversions(
        session,
        lookup=lookup,
        events=(
            (event_type, unit_id, moment)
            for client_event_id, event_type, unit_id, moment in zip(
                columns.client_event_id,
                columns.event_type,
                columns.unit_id,
                columns.client_timestamp,
                strict=True,
            )
            if unit_id is not None and stored.holds(client_event_id)
        ),
    )
    session.commit()
    return IngestResult(
        accepted=stored.count,
        duplicates=repeated + len(columns) - stored.count,
        rejected=rejected,
        errors=sorted(errors, key=lambda error: error.index),
    )
