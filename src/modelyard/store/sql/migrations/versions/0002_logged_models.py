"""Logged models (MLflow 3): models with their own ids, tags and params, and the runs that made them.

Revision ID: 0002_logged_models
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_logged_models"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def _model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("logged_models.model_id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
        sa.Column("model_type", sa.String(500)),
        sa.Column("source_run_id", sa.String(32)),
        sa.Column("status_message", sa.Text),
        sa.CheckConstraint(
            "lifecycle_stage IN ('active', 'deleted')", name="ck_logged_models_stage"
        ),
        **_MYSQL,
    )
    op.create_index(
        "ix_logged_models_experiment_created",
        "logged_models",
        ["experiment_id", "creation_timestamp_ms"],
    )
    op.create_index("ix_logged_models_source_run", "logged_models", ["source_run_id"])
    for name in ("logged_model_tags", "logged_model_params"):
        op.create_table(
            name,
            sa.Column("model_id", sa.String(64), _model_fk(), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            **_MYSQL,
        )
    op.create_table(
        "run_outputs",
        sa.Column(
            "run_uuid",
            sa.String(32),
            sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model_id", sa.String(64), _model_fk(), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        **_MYSQL,
    )
    op.create_index("ix_run_outputs_model", "run_outputs", ["model_id"])


def downgrade() -> None:
    for name in ("run_outputs", "logged_model_params", "logged_model_tags", "logged_models"):
        op.drop_table(name)
