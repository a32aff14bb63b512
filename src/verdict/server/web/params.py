"""The request parameters many dashboard pages take, typed and bounded once: the
database session, a flag's and an environment's key in a path, a form's CSRF token,
its version and the environment it was posted from."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN

__all__ = ["Db", "EnvironmentField", "EnvironmentKey", "FlagKey", "Token", "Version"]

Db = Annotated[Session, Depends(get_db)]
FlagKey = Annotated[str, Path(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern)]
EnvironmentKey = Annotated[str, Path(min_length=1, max_length=64, pattern=KEY_PATTERN.pattern)]
Token = Annotated[str, Form(max_length=200)]
Version = Annotated[int, Form(ge=0)]
EnvironmentField = Annotated[str, Form(max_length=64)]
