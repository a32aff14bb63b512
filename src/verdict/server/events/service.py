"""Event ingestion: which events of a batch are stored, and when the batch counts as done.

Decisions:
- The envelope (``{"events": [...]}``, at most ``MAX_BATCH_EVENTS``) is all or nothing:
  a malformed body is refused with 422 and a batch too long with 413.
- Each event is then judged alone. Valid events of a partly bad batch are stored and
  the bad ones are reported by index, so one broken event never costs a client the
  rest of its queue, and a client can drop exactly the events it must not resend.
- ``client_event_id`` is the idempotency key: an id already stored (or repeated in the
  batch) is a duplicate and is not stored again; the first write wins.
- The batch is committed before the result is returned, so an acknowledgement (2xx)
  means every accepted event is durable; a crash before the commit stores none of them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from verdict.server.db.base import new_id, utcnow
from verdict.server.errors import InvalidInputError, PayloadTooLargeError
from verdict.server.events.ingest import (
    KnownKeys,
    insert_events,
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


def _unencodable(value: Any) -> bool:
    """True when a string holds a lone surrogate (valid JSON escape, invalid UTF-8)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _validate(index: int, raw: Any, now: dt.datetime) -> EventIn | list[EventError]:
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
    if _unencodable(raw):
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
    errors: list[EventError] = []
    rejected: set[int] = set()
    valid: list[tuple[int, EventIn]] = []
    for index, raw in enumerate(raw_events):
        outcome = _validate(index, raw, now)
        if isinstance(outcome, EventIn):
            valid.append((index, outcome))
        else:
            errors.extend(outcome)
            rejected.add(index)

    known = resolve_keys(
        session,
        experiment_keys=(e.experiment for _, e in valid if e.experiment is not None),
        flag_keys=(e.flag for _, e in valid if e.flag is not None),
    )
    rows: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    repeated = 0
    for index, event in valid:
        ids, problems = _references(index, event, known, environment_id)
        if problems:
            errors.extend(problems)
            rejected.add(index)
            continue
        if event.client_event_id is not None:
            if event.client_event_id in seen_ids:
                repeated += 1
                continue
            seen_ids.add(event.client_event_id)
        rows.append(
            {
                "id": new_id(),
                "client_event_id": event.client_event_id,
                "environment_id": environment_id,
                "event_type": event.type,
                "unit_id": event.unit_id,
                "session_id": event.session_id,
                "device_id": event.device_id,
                **ids,
                "assignment_id": None,
                "value": event.value,
                "properties": event.properties,
                "source": event.source,
                "context": event.context,
                "client_timestamp": event.timestamp or now,
                "received_at": now,
            }
        )

    stored = insert_events(session, rows)
    record_conversions(
        session,
        environment_id=environment_id,
        events=(
            (row["event_type"], row["unit_id"], row["client_timestamp"])
            for row in rows
            if row["id"] in stored and row["unit_id"] is not None
        ),
    )
    session.commit()
    return IngestResult(
        accepted=len(stored),
        duplicates=repeated + len(rows) - len(stored),
        rejected=len(rejected),
        errors=sorted(errors, key=lambda error: error.index),
    )
