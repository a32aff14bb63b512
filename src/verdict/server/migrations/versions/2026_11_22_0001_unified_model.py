"""The unified model: every entity of the five seed documents in one schema.

See docs/data-model.md for each table and where its columns come from.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:17:06.668993
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUM_TYPES = (
    "api_key_kind",
    "experiment_type",
    "experiment_status",
    "metric_type",
    "metric_aggregation",
    "metric_capping",
    "metric_role",
    "segment_match",
    "flag_value_type",
    "assignment_reason",
    "analysis_method",
)
DEFAULT_ENVIRONMENTS = (
    ("development", "Development", 0),
    ("staging", "Staging", 1),
    ("production", "Production", 2),
)


def _dialect() -> str:
    return op.get_bind().dialect.name


def _key_identifier(name: str) -> sa.CheckConstraint:
    """The key syntax rule, in the dialect of the database being migrated."""
    if _dialect() == "postgresql":
        return sa.CheckConstraint("key ~ '^[A-Za-z][A-Za-z0-9_.-]*$'", name=op.f(name))
    return sa.CheckConstraint(
        "key GLOB '[A-Za-z]*' AND key NOT GLOB '*[^A-Za-z0-9_.-]*'", name=op.f(name)
    )


def _winner_fk_inline() -> tuple[sa.ForeignKeyConstraint, ...]:
    # experiments <-> variants reference each other. SQLite accepts a foreign key to a
    # table created later, and cannot add one afterwards; PostgreSQL adds it by ALTER
    # once variants exists (see upgrade()).
    if _dialect() == "postgresql":
        return ()
    return (
        sa.ForeignKeyConstraint(
            ["winner_variant_id"],
            ["variants.id"],
            name=op.f("fk_experiments_winner_variant_id_variants"),
            ondelete="SET NULL",
        ),
    )


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        _key_identifier("ck_environments_key_identifier"),
        sa.CheckConstraint("sort_order >= 0", name=op.f("ck_environments_sort_order_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("key", name=op.f("uq_environments_key")),
    )
    op.create_table(
        "permissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permissions")),
        sa.UniqueConstraint("name", name=op.f("uq_permissions_name")),
        sa.UniqueConstraint("resource", "action", name=op.f("uq_permissions_resource_action")),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_builtin", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("hashed_password", sa.String(length=255), nullable=True),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("is_superuser", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "preferences",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("email LIKE '%_@_%'", name=op.f("ck_users_email_has_at")),
        sa.CheckConstraint("length(username) > 0", name=op.f("ck_users_username_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("admin", "server", "client", name="api_key_kind", create_constraint=True),
            nullable=False,
        ),
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("hashed_secret", sa.String(length=255), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind = 'admin' OR environment_id IS NOT NULL",
            name=op.f("ck_api_keys_environment_for_sdk_keys"),
        ),
        sa.CheckConstraint(
            "revoked_at IS NULL OR revoked_at >= created_at",
            name=op.f("ck_api_keys_revoked_after_created"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_api_keys_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_api_keys_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index("ix_api_keys_environment_id", "api_keys", ["environment_id"], unique=False)
    op.create_table(
        "experiments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hypothesis", sa.Text(), nullable=True),
        sa.Column(
            "type",
            sa.Enum(
                "a_b",
                "multivariate",
                "split_url",
                "bandit",
                "feature",
                name="experiment_type",
                create_constraint=True,
            ),
            server_default="a_b",
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "running",
                "paused",
                "completed",
                "archived",
                name="experiment_status",
                create_constraint=True,
            ),
            server_default="draft",
            nullable=False,
        ),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "targeting",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("hash_attribute", sa.String(length=100), server_default="id", nullable=False),
        sa.Column("hash_seed", sa.String(length=100), nullable=True),
        sa.Column("coverage", sa.Float(), server_default="1", nullable=False),
        sa.Column("layer", sa.String(length=100), nullable=True),
        sa.Column("bucket_start", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bucket_end", sa.Integer(), server_default="10000", nullable=False),
        sa.Column("minimum_sample_size", sa.Integer(), nullable=True),
        sa.Column("confidence_level", sa.Float(), server_default="0.95", nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("winner_variant_id", sa.Uuid(), nullable=True),
        sa.Column("statistical_significance", sa.Float(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        _key_identifier("ck_experiments_key_identifier"),
        sa.CheckConstraint(
            "bucket_start >= 0 AND bucket_end <= 10000 AND bucket_start < bucket_end",
            name=op.f("ck_experiments_bucket_range"),
        ),
        sa.CheckConstraint(
            "completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at",
            name=op.f("ck_experiments_completed_after_started"),
        ),
        sa.CheckConstraint(
            "confidence_level > 0 AND confidence_level < 1",
            name=op.f("ck_experiments_confidence_level_fraction"),
        ),
        sa.CheckConstraint(
            "coverage >= 0 AND coverage <= 1", name=op.f("ck_experiments_coverage_fraction")
        ),
        sa.CheckConstraint(
            "end_at IS NULL OR start_at IS NULL OR end_at > start_at",
            name=op.f("ck_experiments_end_after_start"),
        ),
        sa.CheckConstraint(
            "minimum_sample_size IS NULL OR minimum_sample_size >= 0",
            name=op.f("ck_experiments_minimum_sample_size_not_negative"),
        ),
        sa.CheckConstraint(
            "statistical_significance IS NULL OR (statistical_significance >= 0 AND statistical_significance <= 1)",
            name=op.f("ck_experiments_significance_fraction"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_experiments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_experiments_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_experiments_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_experiments_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        *_winner_fk_inline(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("key", name=op.f("uq_experiments_key")),
    )
    op.create_index("ix_experiments_created_at", "experiments", ["created_at"], unique=False)
    op.create_index(
        "ix_experiments_environment_id", "experiments", ["environment_id"], unique=False
    )
    op.create_index("ix_experiments_layer", "experiments", ["layer"], unique=False)
    op.create_index("ix_experiments_owner_id", "experiments", ["owner_id"], unique=False)
    op.create_index("ix_experiments_status", "experiments", ["status"], unique=False)
    op.create_index("ix_experiments_target", "experiments", ["target"], unique=False)
    op.create_table(
        "metrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("event_name", sa.String(length=255), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "conversion",
                "revenue",
                "count",
                "duration",
                "ratio",
                "custom",
                name="metric_type",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "aggregation",
            sa.Enum(
                "sum",
                "mean",
                "count",
                "unique",
                "max",
                "min",
                "percentile",
                name="metric_aggregation",
                create_constraint=True,
            ),
            server_default="sum",
            nullable=False,
        ),
        sa.Column("percentile", sa.Float(), nullable=True),
        sa.Column("value_path", sa.String(length=255), nullable=True),
        sa.Column("calculation", sa.Text(), nullable=True),
        sa.Column("denominator_metric_id", sa.Uuid(), nullable=True),
        sa.Column("lower_is_better", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("minimum_sample_size", sa.Integer(), nullable=True),
        sa.Column("expected_effect", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=50), nullable=True),
        sa.Column(
            "capping",
            sa.Enum(
                "none", "absolute", "percentile", name="metric_capping", create_constraint=True
            ),
            server_default="none",
            nullable=False,
        ),
        sa.Column("cap_value", sa.Float(), nullable=True),
        sa.Column("conversion_window_hours", sa.Float(), nullable=True),
        sa.Column("conversion_delay_hours", sa.Float(), server_default="0", nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "aggregation <> 'percentile' OR (percentile > 0 AND percentile < 1)",
            name=op.f("ck_metrics_percentile_fraction"),
        ),
        sa.CheckConstraint(
            "capping <> 'percentile' OR cap_value < 1",
            name=op.f("ck_metrics_percentile_cap_fraction"),
        ),
        sa.CheckConstraint(
            "capping = 'none' OR (cap_value IS NOT NULL AND cap_value > 0)",
            name=op.f("ck_metrics_cap_value_for_capping"),
        ),
        _key_identifier("ck_metrics_key_identifier"),
        sa.CheckConstraint(
            "type <> 'ratio' OR denominator_metric_id IS NOT NULL",
            name=op.f("ck_metrics_ratio_has_denominator"),
        ),
        sa.CheckConstraint(
            "conversion_delay_hours >= 0", name=op.f("ck_metrics_conversion_delay_not_negative")
        ),
        sa.CheckConstraint(
            "conversion_window_hours IS NULL OR conversion_window_hours > 0",
            name=op.f("ck_metrics_conversion_window_positive"),
        ),
        sa.CheckConstraint(
            "denominator_metric_id IS NULL OR denominator_metric_id <> id",
            name=op.f("ck_metrics_denominator_not_self"),
        ),
        sa.CheckConstraint(
            "minimum_sample_size IS NULL OR minimum_sample_size >= 0",
            name=op.f("ck_metrics_minimum_sample_size_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["denominator_metric_id"],
            ["metrics.id"],
            name=op.f("fk_metrics_denominator_metric_id_metrics"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_metrics_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("key", name=op.f("uq_metrics_key")),
    )
    op.create_index(
        "ix_metrics_denominator_metric_id", "metrics", ["denominator_metric_id"], unique=False
    )
    op.create_index("ix_metrics_event_name", "metrics", ["event_name"], unique=False)
    op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("permission_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["permission_id"],
            ["permissions.id"],
            name=op.f("fk_role_permissions_permission_id_permissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_role_permissions_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role_id", "permission_id", name=op.f("pk_role_permissions")),
    )
    op.create_index(
        "ix_role_permissions_permission_id", "role_permissions", ["permission_id"], unique=False
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("size_estimate", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        _key_identifier("ck_segments_key_identifier"),
        sa.CheckConstraint(
            "size_estimate IS NULL OR size_estimate >= 0",
            name=op.f("ck_segments_size_estimate_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_segments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_segments_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("key", name=op.f("uq_segments_key")),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_user_roles_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_user_roles")),
    )
    op.create_index("ix_user_roles_role_id", "user_roles", ["role_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("length(action) > 0", name=op.f("ck_audit_log_action_not_empty")),
        sa.ForeignKeyConstraint(
            ["actor_api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_audit_log_actor_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_audit_log_environment_id_environments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_actor_user_id_at", "audit_log", ["actor_user_id", "at"], unique=False
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index(
        "ix_audit_log_resource_type_resource_id_at",
        "audit_log",
        ["resource_type", "resource_id", "at"],
        unique=False,
    )
    op.create_table(
        "experiment_metrics",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("metric_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "primary", "secondary", "guardrail", name="metric_role", create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("non_inferiority_margin", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "non_inferiority_margin IS NULL OR non_inferiority_margin >= 0",
            name=op.f("ck_experiment_metrics_margin_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_metrics_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["metric_id"],
            ["metrics.id"],
            name=op.f("fk_experiment_metrics_metric_id_metrics"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "metric_id", name=op.f("pk_experiment_metrics")),
    )
    op.create_index(
        "ix_experiment_metrics_metric_id", "experiment_metrics", ["metric_id"], unique=False
    )
    op.create_index(
        "ux_experiment_metrics_one_primary",
        "experiment_metrics",
        ["experiment_id"],
        unique=True,
        postgresql_where=sa.text("role = 'primary'"),
        sqlite_where=sa.text("role = 'primary'"),
    )
    op.create_table(
        "experiment_phases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column(
            "weights",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "coverage >= 0 AND coverage <= 1", name=op.f("ck_experiment_phases_coverage_fraction")
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_experiment_phases_ended_after_started"),
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_experiment_phases_number_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_experiment_phases_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_phases_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_phases")),
        sa.UniqueConstraint(
            "experiment_id", "number", name=op.f("uq_experiment_phases_experiment_id_number")
        ),
    )
    op.create_table(
        "experiment_segments",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        sa.Column(
            "match",
            sa.Enum("include", "exclude", name="segment_match", create_constraint=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_segments_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_experiment_segments_segment_id_segments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "segment_id", name=op.f("pk_experiment_segments")),
    )
    op.create_index(
        "ix_experiment_segments_segment_id", "experiment_segments", ["segment_id"], unique=False
    )
    op.create_table(
        "feature_flags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "value_type",
            sa.Enum(
                "boolean",
                "string",
                "number",
                "json",
                name="flag_value_type",
                create_constraint=True,
            ),
            server_default="boolean",
            nullable=False,
        ),
        sa.Column(
            "default_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "variants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("experiment_id", sa.Uuid(), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        _key_identifier("ck_feature_flags_key_identifier"),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_feature_flags_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_feature_flags_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_feature_flags_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_feature_flags_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_flags")),
        sa.UniqueConstraint("key", name=op.f("uq_feature_flags_key")),
    )
    op.create_index(
        "ix_feature_flags_experiment_id", "feature_flags", ["experiment_id"], unique=False
    )
    op.create_index("ix_feature_flags_owner_id", "feature_flags", ["owner_id"], unique=False)
    op.create_table(
        "variants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_control", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("weight", sa.Float(), server_default="0.5", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("response_template", sa.Text(), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column(
            "config_overrides",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("impressions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("conversions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("conversion_rate", sa.Float(), server_default="0", nullable=False),
        sa.Column("total_value", sa.Float(), server_default="0", nullable=False),
        sa.Column("confidence_interval_lower", sa.Float(), nullable=True),
        sa.Column("confidence_interval_upper", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "confidence_interval_lower IS NULL OR confidence_interval_upper IS NULL OR confidence_interval_lower <= confidence_interval_upper",
            name=op.f("ck_variants_interval_ordered"),
        ),
        sa.CheckConstraint(
            "conversion_rate >= 0 AND conversion_rate <= 1",
            name=op.f("ck_variants_conversion_rate_fraction"),
        ),
        sa.CheckConstraint(
            "conversions >= 0 AND conversions <= impressions",
            name=op.f("ck_variants_conversions_within_impressions"),
        ),
        sa.CheckConstraint("impressions >= 0", name=op.f("ck_variants_impressions_not_negative")),
        sa.CheckConstraint("weight >= 0 AND weight <= 1", name=op.f("ck_variants_weight_fraction")),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_variants_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variants")),
        sa.UniqueConstraint("experiment_id", "key", name=op.f("uq_variants_experiment_id_key")),
        sa.UniqueConstraint("experiment_id", "id", name=op.f("uq_variants_experiment_id_id")),
    )
    op.create_index("ix_variants_key", "variants", ["key"], unique=False)
    if _dialect() == "postgresql":
        op.create_foreign_key(
            op.f("fk_experiments_winner_variant_id_variants"),
            "experiments",
            "variants",
            ["winner_variant_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "ux_variants_one_control",
        "variants",
        ["experiment_id"],
        unique=True,
        postgresql_where=sa.text("is_control"),
        sqlite_where=sa.text("is_control"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.String(length=255), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("bucket", sa.SmallInteger(), nullable=True),
        sa.Column(
            "reason",
            sa.Enum(
                "bucketed",
                "forced",
                "bandit",
                "manual",
                name="assignment_reason",
                create_constraint=True,
            ),
            server_default="bucketed",
            nullable=False,
        ),
        sa.Column("sticky", sa.Boolean(), server_default="1", nullable=False),
        sa.Column(
            "assigned_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("has_converted", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "bucket IS NULL OR (bucket >= 0 AND bucket < 10000)",
            name=op.f("ck_assignments_bucket_range"),
        ),
        sa.CheckConstraint(
            "has_converted OR converted_at IS NULL",
            name=op.f("ck_assignments_converted_at_needs_conversion"),
        ),
        sa.CheckConstraint("length(unit_id) > 0", name=op.f("ck_assignments_unit_id_not_empty")),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_assignments_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id", "variant_id"],
            ["variants.experiment_id", "variants.id"],
            name=op.f("fk_assignments_experiment_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint(
            "experiment_id", "unit_id", name=op.f("uq_assignments_experiment_id_unit_id")
        ),
    )
    op.create_index(
        "ix_assignments_converted",
        "assignments",
        ["experiment_id", "variant_id"],
        unique=False,
        postgresql_where=sa.text("has_converted"),
        sqlite_where=sa.text("has_converted"),
    )
    op.create_index(
        "ix_assignments_unit_id",
        "assignments",
        ["unit_id"],
        unique=False,
        postgresql_using="hash",
    )
    op.create_table(
        "experiment_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("metric_id", sa.Uuid(), nullable=False),
        sa.Column("phase_id", sa.Uuid(), nullable=True),
        sa.Column(
            "method",
            sa.Enum(
                "frequentist",
                "bayesian",
                "sequential",
                name="analysis_method",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("cuped", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("conversions", sa.Integer(), nullable=True),
        sa.Column("mean_value", sa.Float(), nullable=True),
        sa.Column("variance", sa.Float(), nullable=True),
        sa.Column("ci_lower", sa.Float(), nullable=True),
        sa.Column("ci_upper", sa.Float(), nullable=True),
        sa.Column("absolute_lift", sa.Float(), nullable=True),
        sa.Column("relative_lift", sa.Float(), nullable=True),
        sa.Column("lift_ci_lower", sa.Float(), nullable=True),
        sa.Column("lift_ci_upper", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("chance_to_win", sa.Float(), nullable=True),
        sa.Column("expected_loss", sa.Float(), nullable=True),
        sa.Column("statistical_power", sa.Float(), nullable=True),
        sa.Column("confidence_level", sa.Float(), server_default="0.95", nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "chance_to_win IS NULL OR (chance_to_win >= 0 AND chance_to_win <= 1)",
            name=op.f("ck_experiment_results_chance_to_win_fraction"),
        ),
        sa.CheckConstraint(
            "ci_lower IS NULL OR ci_upper IS NULL OR mean_value IS NULL OR (ci_lower <= mean_value AND mean_value <= ci_upper)",
            name=op.f("ck_experiment_results_interval_contains_mean"),
        ),
        sa.CheckConstraint(
            "confidence_level > 0 AND confidence_level < 1",
            name=op.f("ck_experiment_results_confidence_level_fraction"),
        ),
        sa.CheckConstraint(
            "conversions IS NULL OR (conversions >= 0 AND conversions <= sample_size)",
            name=op.f("ck_experiment_results_conversions_within_sample"),
        ),
        sa.CheckConstraint(
            "data_window_start IS NULL OR data_window_end IS NULL OR data_window_end >= data_window_start",
            name=op.f("ck_experiment_results_window_ordered"),
        ),
        sa.CheckConstraint(
            "expected_loss IS NULL OR expected_loss >= 0",
            name=op.f("ck_experiment_results_loss_not_negative"),
        ),
        sa.CheckConstraint(
            "lift_ci_lower IS NULL OR lift_ci_upper IS NULL OR relative_lift IS NULL OR (lift_ci_lower <= relative_lift AND relative_lift <= lift_ci_upper)",
            name=op.f("ck_experiment_results_interval_contains_lift"),
        ),
        sa.CheckConstraint(
            "p_value IS NULL OR (p_value >= 0 AND p_value <= 1)",
            name=op.f("ck_experiment_results_p_value_fraction"),
        ),
        sa.CheckConstraint(
            "sample_size >= 0", name=op.f("ck_experiment_results_sample_size_not_negative")
        ),
        sa.CheckConstraint(
            "statistical_power IS NULL OR (statistical_power >= 0 AND statistical_power <= 1)",
            name=op.f("ck_experiment_results_power_fraction"),
        ),
        sa.CheckConstraint(
            "variance IS NULL OR variance >= 0",
            name=op.f("ck_experiment_results_variance_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_results_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["metric_id"],
            ["metrics.id"],
            name=op.f("fk_experiment_results_metric_id_metrics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["experiment_phases.id"],
            name=op.f("fk_experiment_results_phase_id_experiment_phases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id", "variant_id"],
            ["variants.experiment_id", "variants.id"],
            name=op.f("fk_experiment_results_experiment_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_results")),
    )
    op.create_index(
        "ix_experiment_results_experiment_id_metric_id_computed_at",
        "experiment_results",
        ["experiment_id", "metric_id", "computed_at"],
        unique=False,
    )
    op.create_index(
        "ix_experiment_results_phase_id", "experiment_results", ["phase_id"], unique=False
    )
    op.create_index(
        "ix_experiment_results_variant_id", "experiment_results", ["variant_id"], unique=False
    )
    op.create_table(
        "feature_flag_environments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flag_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("rollout_percentage", sa.Float(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "rollout_percentage IS NULL OR (rollout_percentage >= 0 AND rollout_percentage <= 100)",
            name=op.f("ck_feature_flag_environments_rollout_percentage_range"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_feature_flag_environments_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["feature_flags.id"],
            name=op.f("fk_feature_flag_environments_flag_id_feature_flags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_feature_flag_environments_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_flag_environments")),
        sa.UniqueConstraint(
            "flag_id",
            "environment_id",
            name=op.f("uq_feature_flag_environments_flag_id_environment_id"),
        ),
    )
    op.create_index(
        "ix_feature_flag_environments_environment_id",
        "feature_flag_environments",
        ["environment_id"],
        unique=False,
    )
    op.create_table(
        "feature_flag_overrides",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flag_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.String(length=255), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at > created_at",
            name=op.f("ck_feature_flag_overrides_expires_after_created"),
        ),
        sa.CheckConstraint(
            "length(unit_id) > 0", name=op.f("ck_feature_flag_overrides_unit_id_not_empty")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_feature_flag_overrides_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_feature_flag_overrides_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["feature_flags.id"],
            name=op.f("fk_feature_flag_overrides_flag_id_feature_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_flag_overrides")),
        sa.UniqueConstraint(
            "flag_id",
            "environment_id",
            "unit_id",
            name=op.f("uq_feature_flag_overrides_flag_id_environment_id_unit_id"),
        ),
    )
    op.create_index(
        "ix_feature_flag_overrides_environment_id",
        "feature_flag_overrides",
        ["environment_id"],
        unique=False,
    )
    op.create_index(
        "ix_feature_flag_overrides_expires_at",
        "feature_flag_overrides",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "feature_flag_prerequisites",
        sa.Column("flag_id", sa.Uuid(), nullable=False),
        sa.Column("prerequisite_flag_id", sa.Uuid(), nullable=False),
        sa.Column(
            "required_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "flag_id <> prerequisite_flag_id", name=op.f("ck_feature_flag_prerequisites_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["feature_flags.id"],
            name=op.f("fk_feature_flag_prerequisites_flag_id_feature_flags"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prerequisite_flag_id"],
            ["feature_flags.id"],
            name=op.f("fk_feature_flag_prerequisites_prerequisite_flag_id_feature_flags"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "flag_id", "prerequisite_flag_id", name=op.f("pk_feature_flag_prerequisites")
        ),
    )
    op.create_index(
        "ix_feature_flag_prerequisites_prerequisite_flag_id",
        "feature_flag_prerequisites",
        ["prerequisite_flag_id"],
        unique=False,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_event_id", sa.String(length=128), nullable=True),
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("unit_id", sa.String(length=255), nullable=True),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("experiment_id", sa.Uuid(), nullable=True),
        sa.Column("variant_id", sa.Uuid(), nullable=True),
        sa.Column("feature_flag_id", sa.Uuid(), nullable=True),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("client_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("length(event_type) > 0", name=op.f("ck_events_event_type_not_empty")),
        sa.CheckConstraint(
            "unit_id IS NOT NULL OR device_id IS NOT NULL OR session_id IS NOT NULL",
            name=op.f("ck_events_has_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_events_assignment_id_assignments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_events_environment_id_environments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_events_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["feature_flag_id"],
            ["feature_flags.id"],
            name=op.f("fk_events_feature_flag_id_feature_flags"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_events_variant_id_variants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("client_event_id", name=op.f("uq_events_client_event_id")),
    )
    op.create_index("ix_events_assignment_id", "events", ["assignment_id"], unique=False)
    op.create_index(
        "ix_events_event_type_client_timestamp",
        "events",
        ["event_type", "client_timestamp"],
        unique=False,
    )
    op.create_index(
        "ix_events_experiment_id_event_type_unit_id",
        "events",
        ["experiment_id", "event_type", "unit_id"],
        unique=False,
    )
    op.create_index("ix_events_feature_flag_id", "events", ["feature_flag_id"], unique=False)
    op.create_index("ix_events_received_at", "events", ["received_at"], unique=False)
    op.create_index("ix_events_client_timestamp", "events", ["client_timestamp"], unique=False)
    op.create_index("ix_events_unit_id", "events", ["unit_id"], unique=False)
    op.create_index("ix_events_variant_id", "events", ["variant_id"], unique=False)

    environments = sa.table(
        "environments",
        sa.column("id", sa.Uuid()),
        sa.column("key", sa.String()),
        sa.column("name", sa.String()),
        sa.column("sort_order", sa.Integer()),
    )
    op.bulk_insert(
        environments,
        [
            {"id": uuid.uuid4(), "key": key, "name": name, "sort_order": order}
            for key, name, order in DEFAULT_ENVIRONMENTS
        ],
    )


def downgrade() -> None:
    if _dialect() == "postgresql":
        op.drop_constraint(
            op.f("fk_experiments_winner_variant_id_variants"), "experiments", type_="foreignkey"
        )
    op.drop_index("ix_events_variant_id", table_name="events")
    op.drop_index("ix_events_unit_id", table_name="events")
    op.drop_index("ix_events_received_at", table_name="events")
    op.drop_index("ix_events_client_timestamp", table_name="events")
    op.drop_index("ix_events_feature_flag_id", table_name="events")
    op.drop_index("ix_events_experiment_id_event_type_unit_id", table_name="events")
    op.drop_index("ix_events_event_type_client_timestamp", table_name="events")
    op.drop_index("ix_events_assignment_id", table_name="events")
    op.drop_table("events")
    op.drop_index(
        "ix_feature_flag_prerequisites_prerequisite_flag_id",
        table_name="feature_flag_prerequisites",
    )
    op.drop_table("feature_flag_prerequisites")
    op.drop_index("ix_feature_flag_overrides_expires_at", table_name="feature_flag_overrides")
    op.drop_index("ix_feature_flag_overrides_environment_id", table_name="feature_flag_overrides")
    op.drop_table("feature_flag_overrides")
    op.drop_index(
        "ix_feature_flag_environments_environment_id", table_name="feature_flag_environments"
    )
    op.drop_table("feature_flag_environments")
    op.drop_index("ix_experiment_results_variant_id", table_name="experiment_results")
    op.drop_index("ix_experiment_results_phase_id", table_name="experiment_results")
    op.drop_index(
        "ix_experiment_results_experiment_id_metric_id_computed_at", table_name="experiment_results"
    )
    op.drop_table("experiment_results")
    op.drop_index("ix_assignments_unit_id", table_name="assignments")
    op.drop_index(
        "ix_assignments_converted",
        table_name="assignments",
        postgresql_where=sa.text("has_converted"),
        sqlite_where=sa.text("has_converted"),
    )
    op.drop_table("assignments")
    op.drop_index(
        "ux_variants_one_control",
        table_name="variants",
        postgresql_where=sa.text("is_control"),
        sqlite_where=sa.text("is_control"),
    )
    op.drop_index("ix_variants_key", table_name="variants")
    op.drop_table("variants")
    op.drop_index("ix_feature_flags_owner_id", table_name="feature_flags")
    op.drop_index("ix_feature_flags_experiment_id", table_name="feature_flags")
    op.drop_table("feature_flags")
    op.drop_index("ix_experiment_segments_segment_id", table_name="experiment_segments")
    op.drop_table("experiment_segments")
    op.drop_table("experiment_phases")
    op.drop_index(
        "ux_experiment_metrics_one_primary",
        table_name="experiment_metrics",
        postgresql_where=sa.text("role = 'primary'"),
        sqlite_where=sa.text("role = 'primary'"),
    )
    op.drop_index("ix_experiment_metrics_metric_id", table_name="experiment_metrics")
    op.drop_table("experiment_metrics")
    op.drop_index("ix_audit_log_resource_type_resource_id_at", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_user_id_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_user_roles_role_id", table_name="user_roles")
    op.drop_table("user_roles")
    op.drop_table("segments")
    op.drop_index("ix_role_permissions_permission_id", table_name="role_permissions")
    op.drop_table("role_permissions")
    op.drop_index("ix_metrics_event_name", table_name="metrics")
    op.drop_index("ix_metrics_denominator_metric_id", table_name="metrics")
    op.drop_table("metrics")
    op.drop_index("ix_experiments_target", table_name="experiments")
    op.drop_index("ix_experiments_status", table_name="experiments")
    op.drop_index("ix_experiments_owner_id", table_name="experiments")
    op.drop_index("ix_experiments_layer", table_name="experiments")
    op.drop_index("ix_experiments_environment_id", table_name="experiments")
    op.drop_index("ix_experiments_created_at", table_name="experiments")
    op.drop_table("experiments")
    op.drop_index("ix_api_keys_environment_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("roles")
    op.drop_table("permissions")
    op.drop_table("environments")
    if _dialect() == "postgresql":
        for name in ENUM_TYPES:
            postgresql.ENUM(name=name).drop(op.get_bind(), checkfirst=True)
