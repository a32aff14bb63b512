"""Request and response shapes of the identity API (login, users, roles, API keys).

Flags are strict booleans (``"is_superuser": 0`` or ``"yes"`` is refused, not read as
a guess). Names people see and trust must not look alike: usernames are plain ASCII,
and a role name's letters come from one script (no Latin "admin" next to one with a
Cyrillic "a", U+0430), with no invisible characters. E-mail addresses are compared without
case, so they are stored lower-cased.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
)

from verdict.server.api.schemas import RequestModel
from verdict.server.identity.models import ApiKeyKind

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "LoginIn",
    "MeOut",
    "Password",
    "PermissionOut",
    "RoleCreate",
    "RoleOut",
    "RoleUpdate",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "UserUpdate",
]

_USERNAME = re.compile(r"[A-Za-z0-9_.@+-]+")
# Scripts whose letters are written together in one language count as one.
_SCRIPT_FAMILIES = {
    "CJK": "JAPANESE",
    "HIRAGANA": "JAPANESE",
    "KATAKANA": "JAPANESE",
    "KATAKANA-HIRAGANA": "JAPANESE",
}


def _plain_username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise ValueError(
            "a username may hold only ASCII letters, digits and _ . @ + - "
            "(so that no two usernames look alike)"
        )
    return value


def _script(character: str) -> str:
    first = unicodedata.name(character, "UNKNOWN").split(" ")[0]
    return _SCRIPT_FAMILIES.get(first, first)


def _unconfusable_name(value: str) -> str:
    if unicodedata.normalize("NFKC", value) != value:
        raise ValueError("a role name must be in Unicode normal form NFKC")
    if value != value.strip() or any(
        unicodedata.category(c)[0] == "C" or (c.isspace() and c != " ") for c in value
    ):
        raise ValueError(
            "a role name may not hold control or invisible characters, or start or end with a space"
        )
    scripts = {_script(c) for c in value if c.isalpha()}
    if len(scripts) > 1:
        raise ValueError(
            f"a role name's letters must come from one script, not {' and '.join(sorted(scripts))} "
            "(mixed scripts make look-alike names)"
        )
    return value


Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=150),
    AfterValidator(_plain_username),
]
Email = Annotated[
    str,
    StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", strip_whitespace=True),
    AfterValidator(str.lower),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
PermissionName = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[a-z_]+$")]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
NewRoleName = Annotated[RoleName, AfterValidator(_unconfusable_name)]


class LoginIn(RequestModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime


class MeOut(BaseModel):
    name: str
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    permissions: list[str]


class UserCreate(RequestModel):
    username: Username
    email: Email
    password: Password
    full_name: str | None = Field(default=None, max_length=255)
    is_superuser: StrictBool = False
    roles: list[RoleName] = Field(default_factory=list, description="Role names.")


class UserUpdate(RequestModel):
    email: Email | None = None
    password: Password | None = None
    full_name: str | None = Field(default=None, max_length=255)
    is_active: StrictBool | None = None
    is_superuser: StrictBool | None = None
    roles: list[RoleName] | None = None


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    email: str
    full_name: str | None
    is_active: bool
    is_superuser: bool
    last_login_at: dt.datetime | None
    roles: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PermissionOut(BaseModel):
    name: str
    resource: str
    action: str
    description: str | None


class RoleCreate(RequestModel):
    name: NewRoleName
    description: str | None = None
    permissions: list[PermissionName] = Field(
        default_factory=list, description="Permission names such as experiment:update."
    )


class RoleUpdate(RequestModel):
    description: str | None = None
    permissions: list[PermissionName] | None = None


class RoleOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    is_builtin: bool
    permissions: list[str]
    version: int


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=150)
    kind: ApiKeyKind
    environment: str | None = Field(
        default=None, description="Environment key; required for server and client keys."
    )
    expires_at: AwareDatetime | None = None


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: ApiKeyKind
    environment: str | None
    prefix: str
    created_by: str | None
    personal: bool = Field(
        description="Made by a person: acts with their permissions and dies with them."
    )
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown once; only its hash is stored.")
