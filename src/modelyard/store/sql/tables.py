"""The tracking schema as SQLAlchemy Core tables.

Rows never leave ``store/sql``: the store turns them into entities. The schema is designed for speed:

* ``latest_metrics`` keeps the latest value of each (run, key) on write, so search and ordering by a
  metric never scan the history;
* ``metrics`` is keyed by (run, key, step, timestamp, value, is_nan): identical points are stored once
  (a retried batch is idempotent) and history reads walk the primary key in step order;
* NaN is stored as 0 with ``is_nan`` set (MySQL has no NaN); ±inf is clamped to ±DBL_MAX and read
  back as ±inf;
* on MySQL every table uses ``utf8mb4_bin`` so keys, names and values compare case-sensitively, as on
  the other backends.

The Alembic migrations in ``migrations/versions`` create exactly this schema; a test compares them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}

#: Text that may exceed 64 KiB on MySQL (experiment tag values, dataset schemas and profiles).
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

experiments = sa.Table(
    "experiments",
    metadata,
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

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", LongText, nullable=False),
    **_MYSQL,
)

runs = sa.Table(
    "runs",
    metadata,
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
        "status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')", name="ck_runs_status"
    ),
    sa.CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="ck_runs_stage"),
    sa.Index("ix_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
    **_MYSQL,
)


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_uuid", ondelete="CASCADE")


params = sa.Table(
    "params",
    metadata,
    sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_params_key_run", "key", "run_uuid"),
    **_MYSQL,
    sqlite_with_rowid=False,  # clustered by (run_uuid, key): see migration 0005
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_tags_key_run", "key", "run_uuid"),
    **_MYSQL,
    sqlite_with_rowid=False,  # clustered by (run_uuid, key): see migration 0005
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("timestamp", sa.BigInteger, primary_key=True),
    sa.Column("value", sa.Double(), primary_key=True),
    sa.Column("is_nan", sa.Boolean, primary_key=True),
    sqlite_with_rowid=False,
    **_MYSQL,
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Double(), nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
    **_MYSQL,
    sqlite_with_rowid=False,  # clustered by (run_uuid, key): see migration 0005
)

datasets = sa.Table(
    "datasets",
    metadata,
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
    sa.Column("schema", LongText),
    sa.Column("profile", LongText),
    sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_exp_name_digest"),
    **_MYSQL,
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
    sa.Column(
        "dataset_id",
        sa.Integer,
        sa.ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("context", sa.String(500)),
    sa.Index("ix_run_inputs_dataset", "dataset_id"),
    **_MYSQL,
)

run_input_tags = sa.Table(
    "run_input_tags",
    metadata,
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


# -- logged models (MLflow 3) ------------------------------------------------------------------------


def _model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("logged_models.model_id", ondelete="CASCADE")


logged_models = sa.Table(
    "logged_models",
    metadata,
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
    sa.CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="ck_logged_models_stage"),
    sa.Index("ix_logged_models_experiment_created", "experiment_id", "creation_timestamp_ms"),
    sa.Index("ix_logged_models_source_run", "source_run_id"),
    **_MYSQL,
)

logged_model_tags = sa.Table(
    "logged_model_tags",
    metadata,
    sa.Column("model_id", sa.String(64), _model_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    **_MYSQL,
)

logged_model_params = sa.Table(
    "logged_model_params",
    metadata,
    sa.Column("model_id", sa.String(64), _model_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    **_MYSQL,
)

run_outputs = sa.Table(
    "run_outputs",
    metadata,
    sa.Column("run_uuid", sa.String(32), _run_fk(), primary_key=True),
    sa.Column("model_id", sa.String(64), _model_fk(), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Index("ix_run_outputs_model", "model_id"),
    **_MYSQL,
)


# -- model registry ----------------------------------------------------------------------------------
# A registered model has a surrogate integer id, so a rename touches one row. ``next_version`` is the
# per-model counter that hands out consecutive version numbers under a row lock (never reused).


def _registered_model_fk() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.id", ondelete="CASCADE")


registered_models = sa.Table(
    "registered_models",
    metadata,
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

registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    sa.Column("model_id", sa.Integer, _registered_model_fk(), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", LongText, nullable=False),
    **_MYSQL,
)

registered_model_aliases = sa.Table(
    "registered_model_aliases",
    metadata,
    sa.Column("model_id", sa.Integer, _registered_model_fk(), primary_key=True),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    **_MYSQL,
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("model_id", sa.Integer, _registered_model_fk(), primary_key=True),
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
    sa.Index("ix_model_versions_run", "run_id"),
    sa.Index("ix_model_versions_updated", "last_updated_timestamp"),
    **_MYSQL,
)


def _model_version_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
        name=name,
    )


model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("model_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", LongText, nullable=False),
    _model_version_fk("fk_model_version_tags_version"),
    **_MYSQL,
)

transition_requests = sa.Table(
    "transition_requests",
    metadata,
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
    _model_version_fk("fk_transition_requests_version"),
    sa.Index("ix_transition_requests_version", "model_id", "version", "status"),
    **_MYSQL,
)

model_version_comments = sa.Table(
    "model_version_comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    _model_version_fk("fk_model_version_comments_version"),
    sa.Index("ix_model_version_comments_version", "model_id", "version"),
    **_MYSQL,
)

#: Append-only: rows are inserted, never updated, and outlive the model (no foreign key).
registry_activities = sa.Table(
    "registry_activities",
    metadata,
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
    sa.Index("ix_registry_activities_model", "model_id", "version", "id"),
    **_MYSQL,
)

webhooks = sa.Table(
    "webhooks",
    metadata,
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

#: The delivery queue: any worker claims a due row with a lease; an expired lease is claimed again.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column(
        "webhook_id",
        sa.String(64),
        sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("payload", LongText, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("completed_timestamp", sa.BigInteger),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "creation_timestamp"),
    **_MYSQL,
)

webhook_delivery_attempts = sa.Table(
    "webhook_delivery_attempts",
    metadata,
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


# -- identity and access ------------------------------------------------------------------------------
# Users, groups (MLflow's roles), personal access tokens (only the SHA-256 of the secret is stored),
# per-resource grants, the audit log, failed logins (rate limiting shared by every server worker) and
# server secrets (the UI session signing key, created once for all workers).


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("users.id", ondelete="CASCADE")


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(256), nullable=False),
    sa.Column("password_hash", sa.String(512), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("username", name="uq_users_username"),
    **_MYSQL,
)

#: Not named ``groups``: that is a reserved word of MySQL 8.
groups = sa.Table(
    "user_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("name", name="uq_user_groups_name"),
    **_MYSQL,
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "group_id", sa.Integer, sa.ForeignKey("user_groups.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("user_id", sa.Integer, _user_fk(), nullable=False),
    sa.UniqueConstraint("group_id", "user_id", name="uq_group_members_group_user"),
    sa.Index("ix_group_members_user", "user_id"),
    **_MYSQL,
)

access_tokens = sa.Table(
    "access_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.Integer, _user_fk(), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("last_used_at", sa.BigInteger),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("secret_sha256", name="uq_access_tokens_secret"),
    sa.Index("ix_access_tokens_user", "user_id"),
    **_MYSQL,
)

#: One row per (resource, user) or (resource, group); ``resource_id`` ``*`` is every resource of the
#: type. NULLs are distinct in unique constraints on every backend, so each constraint binds one kind.
grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(256), nullable=False),
    sa.Column("user_id", sa.Integer, _user_fk()),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("user_groups.id", ondelete="CASCADE")),
    sa.Column("permission", sa.String(32), nullable=False),
    sa.CheckConstraint(
        "(user_id IS NULL AND group_id IS NOT NULL) OR (user_id IS NOT NULL AND group_id IS NULL)",
        name="ck_grants_one_principal",
    ),
    sa.UniqueConstraint("resource_type", "resource_id", "user_id", name="uq_grants_user"),
    sa.UniqueConstraint("resource_type", "resource_id", "group_id", name="uq_grants_group"),
    sa.Index("ix_grants_user", "user_id"),
    sa.Index("ix_grants_group", "group_id"),
    **_MYSQL,
)

#: Append-only; keeps names, not ids, so it outlives deleted users.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("subject", sa.String(512), nullable=False, server_default=""),
    sa.Column("remote_addr", sa.String(64), nullable=False, server_default=""),
    sa.Column("details", sa.Text),
    sa.Index("ix_audit_log_timestamp", "timestamp"),
    **_MYSQL,
)

failed_logins = sa.Table(
    "failed_logins",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(256), nullable=False),
    sa.Column("remote_addr", sa.String(64), nullable=False, server_default=""),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Index("ix_failed_logins_user_time", "username", "timestamp"),
    **_MYSQL,
)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    **_MYSQL,
)
