"""The initial tracking schema.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_LONG = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_uuid", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2000), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
        sa.Column("creation_time", sa.BigInteger),
        sa.Column("last_update_time", sa.BigInteger),
        sa.Column("deleted_time", sa.BigInteger),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
        sa.CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="ck_experiments_stage"),
        **_MYSQL,
    )
    op.create_table(
        "experiment_tags",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", _LONG, nullable=False),
        **_MYSQL,
    )
    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
        sa.Column("artifact_uri", sa.String(2000), nullable=False, server_default=""),
        sa.Column("deleted_time", sa.BigInteger),
        sa.CheckConstraint(
            "status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')",
            name="ck_runs_status",
        ),
        sa.CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="ck_runs_stage"),
        **_MYSQL,
    )
    op.create_index(
        "ix_runs_experiment_start", "runs", ["experiment_id", "lifecycle_stage", "start_time"]
    )
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            **_MYSQL,
        )
        op.create_index(f"ix_{name}_key_run", name, ["key", "run_uuid"])
    op.create_table(
        "metrics",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("timestamp", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Double(), primary_key=True),
        sa.Column("is_nan", sa.Boolean, primary_key=True),
        sqlite_with_rowid=False,
        **_MYSQL,
    )
    op.create_table(
        "latest_metrics",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        **_MYSQL,
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("schema", _LONG),
        sa.Column("profile", _LONG),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_exp_name_digest"),
        **_MYSQL,
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("context", sa.String(500)),
        **_MYSQL,
    )
    op.create_index("ix_run_inputs_dataset", "run_inputs", ["dataset_id"])
    op.create_table(
        "run_input_tags",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_uuid", "dataset_id"],
            ["run_inputs.run_uuid", "run_inputs.dataset_id"],
            ondelete="CASCADE",
            name="fk_run_input_tags_input",
        ),
        **_MYSQL,
    )


def downgrade() -> None:
    for name in (
        "run_input_tags",
        "run_inputs",
        "datasets",
        "latest_metrics",
        "metrics",
        "tags",
        "params",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(name)
