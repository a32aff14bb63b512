"""The base of every request body: strict, and safe to store in either database."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

__all__ = ["RequestModel"]


def _nul_path(value: Any, path: str) -> str | None:
    """Where in ``value`` a string holds a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_path(key, path) or _nul_path(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}.{index}")
            if found:
                return found
    return None


class RequestModel(BaseModel):
    """Unknown fields are refused, and so are NUL characters anywhere in the body:
    PostgreSQL cannot store them in text or JSONB, and no legitimate value needs one."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        where = _nul_path(value, info.field_name or "")
        if where is not None:
            raise ValueError(f"contains a NUL character (at {where}), which cannot be stored")
        return value
