"""Login sessions, edit versions on users and roles, the permission catalogue and roles.

Creates ``access_tokens`` (hashed login tokens), adds ``version`` to ``users`` and
``roles`` for If-Match edits, and inserts every permission (resource x action) and the
built-in roles admin, experimenter and viewer. The lists are copied here on purpose:
a migration must keep meaning what it meant when it shipped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOURCES = (
    "experiment",
    "feature_flag",
    "segment",
    "metric",
    "environment",
    "user",
    "role",
    "api_key",
    "audit_log",
)
ACTIONS = ("read", "create", "update", "delete")
AUTHORING = ("experiment", "feature_flag", "segment", "metric")
ROLES = {
    "admin": (
        "Everything, including users, roles and API keys.",
        [(r, a) for r in RESOURCES for a in ACTIONS],
    ),
    "experimenter": (
        "Creates and runs experiments, flags, segments and metrics; reads the rest.",
        [(r, a) for r in AUTHORING for a in ACTIONS]
        + [(r, "read") for r in ("environment", "user", "role", "audit_log")],
    ),
    "viewer": (
        "Reads experiments, flags, segments, metrics, environments and the audit log.",
        [(r, "read") for r in (*AUTHORING, "environment", "user", "audit_log")],
    ),
}

permissions_table = sa.table(
    "permissions",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("resource", sa.String()),
    sa.column("action", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
roles_table = sa.table(
    "roles",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("is_builtin", sa.Boolean()),
)
role_permissions_table = sa.table(
    "role_permissions", sa.column("role_id", sa.Uuid()), sa.column("permission_id", sa.Uuid())
)


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("bearer", "cookie", name="access_token_kind", create_constraint=True),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_access_tokens_expires_after_created")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_access_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_tokens_token_hash")),
    )
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"], unique=False)
    for table in ("roles", "users"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))

    now = dt.datetime.now(dt.UTC)
    permission_ids = {(r, a): uuid.uuid4() for r in RESOURCES for a in ACTIONS}
    op.bulk_insert(
        permissions_table,
        [
            {
                "id": pid,
                "name": f"{r}:{a}",
                "description": f"{a.capitalize()} {r.replace('_', ' ')}s",
                "resource": r,
                "action": a,
                "created_at": now,
            }
            for (r, a), pid in permission_ids.items()
        ],
    )
    role_ids = {name: uuid.uuid4() for name in ROLES}
    op.bulk_insert(
        roles_table,
        [
            {"id": role_ids[name], "name": name, "description": desc, "is_builtin": True}
            for name, (desc, _) in ROLES.items()
        ],
    )
    op.bulk_insert(
        role_permissions_table,
        [
            {"role_id": role_ids[name], "permission_id": permission_ids[grant]}
            for name, (_, grants) in ROLES.items()
            for grant in grants
        ],
    )


def downgrade() -> None:
    bind = op.get_bind()
    builtin = sa.select(roles_table.c.id).where(roles_table.c.is_builtin.is_(True))
    bind.execute(
        sa.delete(role_permissions_table).where(role_permissions_table.c.role_id.in_(builtin))
    )
    user_roles_table = sa.table("user_roles", sa.column("role_id", sa.Uuid()))
    bind.execute(sa.delete(user_roles_table).where(user_roles_table.c.role_id.in_(builtin)))
    bind.execute(sa.delete(roles_table).where(roles_table.c.is_builtin.is_(True)))
    names = [f"{r}:{a}" for r in RESOURCES for a in ACTIONS]
    bind.execute(sa.delete(permissions_table).where(permissions_table.c.name.in_(names)))
    for table in ("users", "roles"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
    op.drop_index("ix_access_tokens_user_id", table_name="access_tokens")
    op.drop_table("access_tokens")
    if bind.dialect.name == "postgresql":
        postgresql.ENUM(name="access_token_kind").drop(bind, checkfirst=True)
