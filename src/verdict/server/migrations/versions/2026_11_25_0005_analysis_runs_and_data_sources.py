"""Analysis: data sources, analysis runs and state, result breakdowns, analysis settings.

Creates ``data_sources`` (an external engine's URL and the mapping of its exposure and
event tables), ``analysis_runs`` (one analysis of one experiment: status, window, SRM,
decision, daily series) and ``analysis_states`` (incremental state, inputs last
analysed, retries, the portable lock). ``experiment_results`` gains the run, a
breakdown dimension, the absolute interval, the CUPED variance reduction and a note;
``experiments`` gains its data source, analysis method, CUPED window and breakdowns.
The permission ``data_source:*`` is added: every action for admin, read for the others.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ACTIONS = ("read", "create", "update", "delete")
GRANTS = {"admin": ACTIONS, "experimenter": ("read",), "viewer": ("read",)}


def _dialect() -> str:
    return op.get_bind().dialect.name


def _key_identifier(name: str) -> sa.CheckConstraint:
    if _dialect() == "postgresql":
        return sa.CheckConstraint("key ~ '^[A-Za-z][A-Za-z0-9_.-]*$'", name=op.f(name))
    return sa.CheckConstraint(
        "key GLOB '[A-Za-z]*' AND key NOT GLOB '*[^A-Za-z0-9_.-]*'", name=op.f(name)
    )


def _method_type() -> sa.Enum:
    # The type exists since 0001 (experiment_results.method); never create it again.
    if _dialect() == "postgresql":
        return postgresql.ENUM(
            "frequentist", "bayesian", "sequential", name="analysis_method", create_type=False
        )
    return sa.Enum(
        "frequentist", "bayesian", "sequential", name="analysis_method", create_constraint=True
    )


def upgrade() -> None:
    op.create_table(
        "data_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("exposures", JSON, nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        _key_identifier("ck_data_sources_key_identifier"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_sources")),
        sa.UniqueConstraint("key", name=op.f("uq_data_sources_key")),
    )
    op.create_table(
        "analysis_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("phase_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                name="analysis_run_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("full", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_field", sa.String(length=255), nullable=True),
        sa.Column("data_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scanned_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scanned_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("method", _method_type(), nullable=True),
        sa.Column("summary", JSON, nullable=True),
        sa.Column("srm", JSON, nullable=True),
        sa.Column("decision", JSON, nullable=True),
        sa.Column("timeseries", JSON, nullable=True),
        sa.CheckConstraint(
            "finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
            name=op.f("ck_analysis_runs_finished_after_started"),
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name=op.f("ck_analysis_runs_progress_fraction")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_analysis_runs_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["experiment_phases.id"],
            name=op.f("fk_analysis_runs_phase_id_experiment_phases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_analysis_runs_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_runs")),
    )
    op.create_index(
        "ix_analysis_runs_experiment_id_created_at",
        "analysis_runs",
        ["experiment_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "analysis_states",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("incremental", JSON, nullable=True),
        sa.Column("inputs_marker", sa.String(length=255), nullable=True),
        sa.Column("last_run_id", sa.Uuid(), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_analysis_states_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["analysis_runs.id"],
            name=op.f("fk_analysis_states_last_run_id_analysis_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_analysis_states")),
    )
    with op.batch_alter_table("experiment_results") as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("dimension", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("dimension_value", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("absolute_ci_lower", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("absolute_ci_upper", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("variance_reduction", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.create_index("ix_experiment_results_run_id", ["run_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_experiment_results_run_id_analysis_runs"),
            "analysis_runs",
            ["run_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_check_constraint(
            op.f("ck_experiment_results_dimension_with_value"),
            "(dimension IS NULL) = (dimension_value IS NULL)",
        )
    with op.batch_alter_table("experiments") as batch_op:
        batch_op.add_column(sa.Column("data_source_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "analysis_method",
                _method_type(),
                server_default="frequentist",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("cuped_days", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("breakdowns", JSON, server_default="[]", nullable=False))
        batch_op.create_index("ix_experiments_data_source_id", ["data_source_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_experiments_data_source_id_data_sources"),
            "data_sources",
            ["data_source_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_check_constraint(
            op.f("ck_experiments_cuped_days_positive"), "cuped_days IS NULL OR cuped_days > 0"
        )
    # Experiments that exist keep analysing as before the column existed: CUPED on.
    op.execute("UPDATE experiments SET cuped_days = 14")
    _grant_data_source_permissions()


def _grant_data_source_permissions() -> None:
    bind = op.get_bind()
    permissions = sa.table(
        "permissions",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("resource", sa.String()),
        sa.column("action", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    roles = sa.table("roles", sa.column("id", sa.Uuid()), sa.column("name", sa.String()))
    role_permissions = sa.table(
        "role_permissions", sa.column("role_id", sa.Uuid()), sa.column("permission_id", sa.Uuid())
    )
    now = dt.datetime.now(dt.UTC)
    ids = {action: uuid.uuid4() for action in ACTIONS}
    op.bulk_insert(
        permissions,
        [
            {
                "id": pid,
                "name": f"data_source:{action}",
                "description": f"{action.capitalize()} data sources",
                "resource": "data_source",
                "action": action,
                "created_at": now,
            }
            for action, pid in ids.items()
        ],
    )
    role_ids = dict(bind.execute(sa.select(roles.c.name, roles.c.id)).all())
    op.bulk_insert(
        role_permissions,
        [
            {"role_id": role_ids[role], "permission_id": ids[action]}
            for role, actions in GRANTS.items()
            if role in role_ids
            for action in actions
        ],
    )


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(
        "DELETE FROM role_permissions WHERE permission_id IN "
        "(SELECT id FROM permissions WHERE resource = 'data_source')"
    )
    op.execute("DELETE FROM permissions WHERE resource = 'data_source'")
    with op.batch_alter_table("experiments") as batch_op:
        if _dialect() == "sqlite":
            # SQLite's stand-in for the enumeration type is a CHECK on the column.
            batch_op.drop_constraint(op.f("ck_experiments_analysis_method"), type_="check")
        batch_op.drop_constraint(op.f("ck_experiments_cuped_days_positive"), type_="check")
        batch_op.drop_constraint(
            op.f("fk_experiments_data_source_id_data_sources"), type_="foreignkey"
        )
        batch_op.drop_index("ix_experiments_data_source_id")
        batch_op.drop_column("breakdowns")
        batch_op.drop_column("cuped_days")
        batch_op.drop_column("analysis_method")
        batch_op.drop_column("data_source_id")
    with op.batch_alter_table("experiment_results") as batch_op:
        batch_op.drop_constraint(op.f("ck_experiment_results_dimension_with_value"), type_="check")
        batch_op.drop_constraint(
            op.f("fk_experiment_results_run_id_analysis_runs"), type_="foreignkey"
        )
        batch_op.drop_index("ix_experiment_results_run_id")
        for column in (
            "note",
            "variance_reduction",
            "absolute_ci_upper",
            "absolute_ci_lower",
            "dimension_value",
            "dimension",
            "run_id",
        ):
            batch_op.drop_column(column)
    op.drop_table("analysis_states")
    op.drop_index("ix_analysis_runs_experiment_id_created_at", table_name="analysis_runs")
    op.drop_table("analysis_runs")
    op.drop_table("data_sources")
    if _dialect() == "postgresql":
        postgresql.ENUM(name="analysis_run_status").drop(bind, checkfirst=True)
