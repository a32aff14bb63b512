"""Response shapes of the health endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["DatabaseHealth", "Health"]


class DatabaseHealth(BaseModel):
    reachable: bool
    dialect: str
    revision: str | None = Field(description="Migration revision the database is at.")
    head: str | None = Field(description="Newest revision this build ships.")
    up_to_date: bool
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: DatabaseHealth
