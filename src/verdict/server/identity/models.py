"""Identity tables: users, roles, permissions (resource x action) and API keys."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id, utcnow
from verdict.server.db.types import db_enum

if TYPE_CHECKING:
    from verdict.server.environments.models import Environment

__all__ = [
    "AccessToken",
    "AccessTokenKind",
    "ApiKey",
    "ApiKeyKind",
    "Permission",
    "Role",
    "User",
    "role_permissions",
    "user_roles",
]


class ApiKeyKind(enum.StrEnum):
    ADMIN = "admin"  # management API
    SERVER = "server"  # SDK configuration and events, one environment
    CLIENT = "client"  # evaluation only, one environment


class AccessTokenKind(enum.StrEnum):
    BEARER = "bearer"  # Authorization: Bearer, for API clients and the CLI
    COOKIE = "cookie"  # the dashboard's session cookie


user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_user_roles_role_id", "role_id"),
)

role_permissions = Table(
    "role_permissions",
    Base.metadata,
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("permission_id", ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_role_permissions_permission_id", "permission_id"),
)


class User(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("length(username) > 0", name="username_not_empty"),
        CheckConstraint("email LIKE '%_@_%'", name="email_has_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    # Stored lower-cased (schemas.Email), so this constraint ignores case.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    last_login_at: Mapped[dt.datetime | None]
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, back_populates="users")


class Role(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "roles"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    users: Mapped[list[User]] = relationship(secondary=user_roles, back_populates="roles")
    permissions: Mapped[list[Permission]] = relationship(
        secondary=role_permissions, back_populates="roles"
    )


class Permission(Base):
    __tablename__ = "permissions"
    __table_args__ = (UniqueConstraint("resource", "action"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    resource: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[Role]] = relationship(
        secondary=role_permissions, back_populates="permissions"
    )


class ApiKey(Base):
    """A credential for machines. Only a hash of the secret is kept; the prefix is shown."""

    __tablename__ = "api_keys"
    __table_args__ = (
        # Server and client keys act for exactly one environment; admin keys for all.
        CheckConstraint(
            "kind = 'admin' OR environment_id IS NOT NULL", name="environment_for_sdk_keys"
        ),
        CheckConstraint(
            "revoked_at IS NULL OR revoked_at >= created_at", name="revoked_after_created"
        ),
        Index("ix_api_keys_environment_id", "environment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(150))
    kind: Mapped[ApiKeyKind] = mapped_column(db_enum(ApiKeyKind, "api_key_kind"))
    environment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE")
    )
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    hashed_secret: Mapped[str] = mapped_column(String(255))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Made by a person (their login or one of their keys): the key acts with its
    # owner's (created_by) permissions and dies with them. When the owner's row is
    # deleted created_by_id becomes NULL, and this flag still marks the key as dead.
    personal: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    environment: Mapped[Environment | None] = relationship()
    created_by: Mapped[User | None] = relationship()


class AccessToken(Base):
    """A login session: only the SHA-256 of the token is stored, so a leak reveals none."""

    __tablename__ = "access_tokens"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index("ix_access_tokens_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[AccessTokenKind] = mapped_column(db_enum(AccessTokenKind, "access_token_kind"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()
