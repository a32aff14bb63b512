"""Reading a source file: bounded in size, JSON only, and its shape checked with the
field named when it is wrong.

A file is read whole (at most :data:`MAX_FILE_BYTES`), parsed with orjson (which
refuses NaN, numbers too large for a double and nesting deeper than 1,024 levels),
then validated by the mapper's Pydantic models; a problem is a
:class:`SourceError` whose message starts with the file and the JSON path, e.g.
``export.json: features.checkout.rules.2.coverage: Input should be a valid number``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

__all__ = ["MAX_FILE_BYTES", "SourceError", "read_json", "validated"]

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest source file read (50 MiB)."""

_SHOWN_ERRORS = 5
Model = TypeVar("Model", bound=BaseModel)


class SourceError(Exception):
    """The source file cannot be imported: unreadable, not JSON, too big, or the wrong
    shape. The message names the file and, where there is one, the field."""


def read_json(path: str, *, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The JSON document in ``path`` (``-``: standard input)."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with Path(path).open("rb") as stream:
                data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise SourceError(
            f"{path}: larger than {max_bytes:,} bytes, the most one import reads; "
            "export fewer flags (one project or tag at a time)"
        )
    if not data.strip():
        raise SourceError(f"{path}: is empty, not a JSON document")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{path}: is not valid JSON: {exc}") from exc


def _location(parts: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in parts) or "(the document)"


def validated(model: type[Model], document: Any, path: str, prefix: str = "") -> Model:
    """``document`` as ``model``, or a :class:`SourceError` naming the bad fields."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        lines = [
            f"{prefix}{_location(error['loc'])}: {error['msg']}" for error in errors[:_SHOWN_ERRORS]
        ]
        more = len(errors) - _SHOWN_ERRORS
        if more > 0:
            lines.append(f"and {more} more")
        raise SourceError(f"{path}: " + "; ".join(lines)) from exc
