"""Audit log entries as the API shows them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["AuditEntryOut"]


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: dt.datetime
    actor: str
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str
    environment_id: uuid.UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
