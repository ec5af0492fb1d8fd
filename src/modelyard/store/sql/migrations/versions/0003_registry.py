"""Model registry: registered models, versions, tags, aliases, transition requests, comments, the
activity log, webhooks and their delivery queue.

Revision ID: 0003_registry
Revises: 0002_logged_models
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_registry"
down_revision = "0002_logged_models"
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _rm_fk() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.id", ondelete="CASCADE")


def _mv_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
        name=name,
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("user_id", sa.String(256)),
        sa.Column("next_version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
        **_MYSQL,
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("model_id", sa.Integer, _rm_fk(), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", _LONG_TEXT, nullable=False),
        **_MYSQL,
    )
    op.create_table(
        "registered_model_aliases",
        sa.Column("model_id", sa.Integer, _rm_fk(), primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        **_MYSQL,
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.Integer, _rm_fk(), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(256)),
        sa.Column("current_stage", sa.String(20), nullable=False, server_default="None"),
        sa.Column("description", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("storage_location", sa.Text),
        sa.Column("run_id", sa.String(32)),
        sa.Column("run_link", sa.Text),
        sa.Column("logged_model_id", sa.String(64)),
        sa.Column("status", sa.String(32), nullable=False, server_default="READY"),
        sa.Column("status_message", sa.Text),
        sa.CheckConstraint(
            "current_stage IN ('None', 'Staging', 'Production', 'Archived')",
            name="ck_model_versions_stage",
        ),
        **_MYSQL,
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_updated", "model_versions", ["last_updated_timestamp"])
    op.create_table(
        "model_version_tags",
        sa.Column("model_id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", _LONG_TEXT, nullable=False),
        _mv_fk("fk_model_version_tags_version"),
        **_MYSQL,
    )
    op.create_table(
        "transition_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("archive_existing_versions", sa.Boolean, nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_by", sa.String(256)),
        sa.Column("resolved_timestamp", sa.BigInteger),
        sa.Column("resolution_comment", sa.Text),
        sa.CheckConstraint(
            "status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')",
            name="ck_transition_requests_status",
        ),
        _mv_fk("fk_transition_requests_version"),
        **_MYSQL,
    )
    op.create_index(
        "ix_transition_requests_version", "transition_requests", ["model_id", "version", "status"]
    )
    op.create_table(
        "model_version_comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        _mv_fk("fk_model_version_comments_version"),
        **_MYSQL,
    )
    op.create_index(
        "ix_model_version_comments_version", "model_version_comments", ["model_id", "version"]
    )
    op.create_table(
        "registry_activities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("activity_type", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("from_stage", sa.String(20)),
        sa.Column("to_stage", sa.String(20)),
        sa.Column("comment", sa.Text),
        sa.Column("system_comment", sa.Text),
        **_MYSQL,
    )
    op.create_index(
        "ix_registry_activities_model", "registry_activities", ["model_id", "version", "id"]
    )
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("pinned_address", sa.String(64), nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
        **_MYSQL,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column(
            "webhook_id",
            sa.String(64),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("payload", _LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("completed_timestamp", sa.BigInteger),
        **_MYSQL,
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "creation_timestamp"]
    )
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column(
            "delivery_id",
            sa.String(64),
            sa.ForeignKey("webhook_deliveries.delivery_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("response_status", sa.Integer),
        sa.Column("error", sa.Text),
        **_MYSQL,
    )


def downgrade() -> None:
    for name in (
        "webhook_delivery_attempts",
        "webhook_deliveries",
        "webhooks",
        "registry_activities",
        "model_version_comments",
        "transition_requests",
        "model_version_tags",
        "model_versions",
        "registered_model_aliases",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(name)
