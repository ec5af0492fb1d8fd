"""Identity and access: users, groups, access tokens, grants, the audit log, failed logins and
server secrets.

Revision ID: 0004_auth
Revises: 0003_registry
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_auth"
down_revision = "0003_registry"
branch_labels = None
depends_on = None

_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("users.id", ondelete="CASCADE")


def _group_fk() -> sa.ForeignKey:
    return sa.ForeignKey("user_groups.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("password_hash", sa.String(512), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("username", name="uq_users_username"),
        **_MYSQL,
    )
    op.create_table(
        "user_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", name="uq_user_groups_name"),
        **_MYSQL,
    )
    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.Integer, _group_fk(), nullable=False),
        sa.Column("user_id", sa.Integer, _user_fk(), nullable=False),
        sa.UniqueConstraint("group_id", "user_id", name="uq_group_members_group_user"),
        **_MYSQL,
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, _user_fk(), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("last_used_at", sa.BigInteger),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("secret_sha256", name="uq_access_tokens_secret"),
        **_MYSQL,
    )
    op.create_index("ix_access_tokens_user", "access_tokens", ["user_id"])
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(256), nullable=False),
        sa.Column("user_id", sa.Integer, _user_fk()),
        sa.Column("group_id", sa.Integer, _group_fk()),
        sa.Column("permission", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL AND group_id IS NOT NULL) OR (user_id IS NOT NULL AND group_id IS NULL)",
            name="ck_grants_one_principal",
        ),
        sa.UniqueConstraint("resource_type", "resource_id", "user_id", name="uq_grants_user"),
        sa.UniqueConstraint("resource_type", "resource_id", "group_id", name="uq_grants_group"),
        **_MYSQL,
    )
    op.create_index("ix_grants_user", "grants", ["user_id"])
    op.create_index("ix_grants_group", "grants", ["group_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False, server_default=""),
        sa.Column("remote_addr", sa.String(64), nullable=False, server_default=""),
        sa.Column("details", sa.Text),
        **_MYSQL,
    )
    op.create_index("ix_audit_log_timestamp", "audit_log", ["timestamp"])
    op.create_table(
        "failed_logins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=False, server_default=""),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        **_MYSQL,
    )
    op.create_index("ix_failed_logins_user_time", "failed_logins", ["username", "timestamp"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        **_MYSQL,
    )


def downgrade() -> None:
    for table in (
        "server_secrets",
        "failed_logins",
        "audit_log",
        "grants",
        "access_tokens",
        "group_members",
        "user_groups",
        "users",
    ):
        op.drop_table(table)
