"""Request and response shapes of the identity API (login, users, roles, API keys)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from verdict.server.api.schemas import RequestModel
from verdict.server.identity.models import ApiKeyKind

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "LoginIn",
    "MeOut",
    "PermissionOut",
    "RoleCreate",
    "RoleOut",
    "RoleUpdate",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "UserUpdate",
]

Username = Annotated[
    str, StringConstraints(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@+-]+$")
]
Email = Annotated[
    str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", strip_whitespace=True)
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
PermissionName = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[a-z_]+$")]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


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
    is_superuser: bool = False
    roles: list[RoleName] = Field(default_factory=list, description="Role names.")


class UserUpdate(RequestModel):
    email: Email | None = None
    password: Password | None = None
    full_name: str | None = Field(default=None, max_length=255)
    is_active: bool | None = None
    is_superuser: bool | None = None
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
    name: RoleName
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
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown once; only its hash is stored.")
