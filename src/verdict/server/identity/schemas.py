"""Request and response shapes of the identity API (login, users, roles, API keys).

Flags are strict booleans (``"is_superuser": 0`` or ``"yes"`` is refused, not read as
a guess). Names people see and trust must not look alike: usernames are plain ASCII,
and a role name's letters come from one script (no Latin "admin" next to one with a
Cyrillic "a", U+0430), with no invisible characters. E-mail addresses are compared without
case, so they are stored lower-cased.

The spec states these rules as patterns (so that a client, or a generated test, knows
which names are valid); validators enforce them, saying what is wrong rather than that
a pattern was not matched. An API key's body is one of two shapes told apart by
``kind``: admin keys take no environment, server and client keys need one.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    Tag,
)

from verdict.server.api.schemas import OneOf, RequestModel
from verdict.server.flags.storable import EnvironmentKey
from verdict.server.identity.models import ApiKeyKind
from verdict.server.identity.permissions import ACTIONS, RESOURCES, all_permissions, permission_name

__all__ = [
    "ROLE_NAME_PATTERN",
    "USERNAME_PATTERN",
    "AdminKeyCreate",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "EnvironmentKeyCreate",
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

USERNAME_PATTERN = r"^[A-Za-z0-9_.@+-]+$"
_USERNAME = re.compile(USERNAME_PATTERN)
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


# The letters a role name may use, by script: each range holds only letters of that one
# script, in NFKC form (tests/unit/server/identity/test_schemas.py checks every one).
# ASCII digits and punctuation go with any of them; words are apart by single spaces.
_ROLE_LETTERS = {
    "Latin": r"A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u0131\u0134-\u013E\u0141-\u0148"
    r"\u014A-\u017E\u01A0-\u01A1\u01AF-\u01B0\u0218-\u021B\u1EA0-\u1EF9",
    "Greek": r"\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03CE",
    "Cyrillic": r"\u0400-\u0481\u048A-\u04FF",
    "Hebrew": r"\u05D0-\u05EA",
    "Arabic": r"\u0620-\u064A",
    "Hangul": r"\uAC00-\uD7A3",
    "Chinese and Japanese (CJK, kana)": r"\u3041-\u3096\u309D-\u309E\u30A1-\u30FA"
    r"\u30FC-\u30FE\u4E00-\u9FFF",
}
_ROLE_COMMON = r"0-9\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E"
ROLE_NAME_PATTERN = (
    "^(?:"
    + "|".join(
        f"[{_ROLE_COMMON}{letters}]+(?: [{_ROLE_COMMON}{letters}]+)*"
        for letters in _ROLE_LETTERS.values()
    )
    + ")$"
)
_ROLE_NAME = re.compile(ROLE_NAME_PATTERN)
_PERMISSION_PATTERN = f"^({'|'.join(RESOURCES)}):({'|'.join(ACTIONS)})$"
_PERMISSIONS = frozenset(
    permission_name(resource, action) for resource, action in all_permissions()
)


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
    if not _ROLE_NAME.fullmatch(value):
        raise ValueError(
            f"a role name may hold the letters of one of {', '.join(_ROLE_LETTERS)}; ASCII "
            "digits and punctuation; and single spaces between words"
        )
    return value


def _known_permission(value: str) -> str:
    if value not in _PERMISSIONS:
        raise ValueError(
            f"unknown permission {value!r}: a permission is resource:action, the resource "
            f"one of {', '.join(RESOURCES)} and the action one of {', '.join(ACTIONS)}"
        )
    return value


def _no_environment(value: Any) -> Any:
    if value is not None:
        raise ValueError("admin keys act for every environment; leave environment out")
    return value


Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=150),
    AfterValidator(_plain_username),
    Field(json_schema_extra={"pattern": USERNAME_PATTERN}),
]
Email = Annotated[
    str,
    StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", strip_whitespace=True),
    AfterValidator(str.lower),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
PermissionName = Annotated[
    str,
    AfterValidator(_known_permission),
    Field(json_schema_extra={"pattern": _PERMISSION_PATTERN}),
]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
NewRoleName = Annotated[
    RoleName,
    AfterValidator(_unconfusable_name),
    Field(json_schema_extra={"pattern": ROLE_NAME_PATTERN}),
]


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


class _KeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=150)
    expires_at: AwareDatetime | None = None


class AdminKeyCreate(_KeyCreate):
    """An admin key acts for every environment, so it names none."""

    kind: Literal[ApiKeyKind.ADMIN]
    environment: Annotated[None, BeforeValidator(_no_environment)] = Field(
        default=None, description="Admin keys act for every environment: leave it out."
    )


class EnvironmentKeyCreate(_KeyCreate):
    """A server or client key acts for the one environment it names."""

    kind: Literal[ApiKeyKind.SERVER, ApiKeyKind.CLIENT]
    environment: EnvironmentKey = Field(description="The key of the environment it acts for.")


ApiKeyCreate = Annotated[
    Annotated[AdminKeyCreate, Tag("admin")] | Annotated[EnvironmentKeyCreate, Tag("environment")],
    OneOf(
        "kind",
        {
            ApiKeyKind.ADMIN.value: "admin",
            ApiKeyKind.SERVER.value: "environment",
            ApiKeyKind.CLIENT.value: "environment",
        },
    ),
]


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
