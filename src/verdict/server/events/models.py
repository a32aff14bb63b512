"""The event table: one append-only stream for every tracked action and metric value.

Seeds 000 and 003 kept per-experiment metric tables beside a general event table; here
every measurement is an event (``event_type`` names it, ``value`` carries it), so one
metric definition can read any experiment's data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from verdict.server.db.base import Base, new_id, utcnow

__all__ = ["Event"]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("length(event_type) > 0", name="event_type_not_empty"),
        CheckConstraint(
            "unit_id IS NOT NULL OR device_id IS NOT NULL OR session_id IS NOT NULL",
            name="has_subject",
        ),
        # Analysis: per experiment, per event type, grouped by unit.
        Index(
            "ix_events_experiment_id_event_type_unit_id", "experiment_id", "event_type", "unit_id"
        ),
        # Metric definitions read an event type over a time window.
        Index("ix_events_event_type_client_timestamp", "event_type", "client_timestamp"),
        Index("ix_events_unit_id", "unit_id"),
        Index("ix_events_variant_id", "variant_id"),
        Index("ix_events_feature_flag_id", "feature_flag_id"),
        Index("ix_events_assignment_id", "assignment_id"),
        Index("ix_events_received_at", "received_at"),
        Index("ix_events_client_timestamp", "client_timestamp"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Supplied by the client; the same id twice is the same event (idempotent retries).
    client_event_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    environment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("environments.id", ondelete="SET NULL")
    )
    event_type: Mapped[str] = mapped_column(String(255))
    unit_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    device_id: Mapped[str | None] = mapped_column(String(255))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL")
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("variants.id", ondelete="SET NULL")
    )
    feature_flag_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("feature_flags.id", ondelete="SET NULL")
    )
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL")
    )
    value: Mapped[float | None] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # Where the event was produced (seed 000 ``source``) and the session it came from.
    source: Mapped[str | None] = mapped_column(String(100))
    context: Mapped[dict[str, Any] | None] = mapped_column()
    client_timestamp: Mapped[dt.datetime] = mapped_column(default=utcnow)
    received_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
