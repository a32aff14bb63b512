"""Bandits: the settings of a bandit experiment and the history of its weight updates.

``experiments`` gains the bandit settings (minutes between updates, the floor, the
burn-in and top-two sampling's beta), with the defaults every existing experiment
takes; ``bandit_updates`` keeps every update attempt. Downgrading drops both.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_CHECKS = (
    (
        "ck_experiments_bandit_update_minutes_range",
        "bandit_update_minutes >= 1 AND bandit_update_minutes <= 10080",
    ),
    ("ck_experiments_bandit_floor_range", "bandit_floor > 0 AND bandit_floor <= 0.5"),
    ("ck_experiments_bandit_burn_in_not_negative", "bandit_burn_in >= 0"),
    (
        "ck_experiments_bandit_top_two_fraction",
        "bandit_top_two IS NULL OR (bandit_top_two > 0 AND bandit_top_two <= 1)",
    ),
)
_COLUMNS = ("bandit_top_two", "bandit_burn_in", "bandit_floor", "bandit_update_minutes")


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch_op:
        batch_op.add_column(
            sa.Column("bandit_update_minutes", sa.Integer(), server_default="60", nullable=False)
        )
        batch_op.add_column(
            sa.Column("bandit_floor", sa.Float(), server_default="0.01", nullable=False)
        )
        batch_op.add_column(
            sa.Column("bandit_burn_in", sa.Integer(), server_default="100", nullable=False)
        )
        batch_op.add_column(sa.Column("bandit_top_two", sa.Float(), nullable=True))
        for name, condition in _CHECKS:
            batch_op.create_check_constraint(op.f(name), condition)
    op.create_table(
        "bandit_updates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "applied",
                "burn_in",
                "skipped",
                "failed",
                name="bandit_update_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("metric_key", sa.String(length=100), nullable=True),
        sa.Column("phase_id", sa.Uuid(), nullable=True),
        sa.Column("analysis_run_id", sa.Uuid(), nullable=True),
        sa.Column("weights", JSON, nullable=False),
        sa.Column("probabilities", JSON, nullable=False),
        sa.Column("arms", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_bandit_updates_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["experiment_phases.id"],
            name=op.f("fk_bandit_updates_phase_id_experiment_phases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["analysis_run_id"],
            ["analysis_runs.id"],
            name=op.f("fk_bandit_updates_analysis_run_id_analysis_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bandit_updates")),
    )
    op.create_index(
        "ix_bandit_updates_experiment_id_created_at",
        "bandit_updates",
        ["experiment_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_bandit_updates_experiment_id_created_at", table_name="bandit_updates")
    op.drop_table("bandit_updates")
    if op.get_bind().dialect.name == "postgresql":
        postgresql.ENUM(name="bandit_update_status").drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("experiments") as batch_op:
        for name, _ in _CHECKS:
            batch_op.drop_constraint(op.f(name), type_="check")
        for column in _COLUMNS:
            batch_op.drop_column(column)
