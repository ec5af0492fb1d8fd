"""Alembic migrations of the tracking schema.

:func:`upgrade_database` brings a database to :data:`HEAD`; when the database is already there it
returns after one cheap query, without importing Alembic.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

#: The newest revision; a test checks that it is Alembic's head.
HEAD = "0005_clustered_run_children"
SCRIPT_LOCATION = str(Path(__file__).parent)


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to ``revision``; returns (revision before, revision after)."""
    with engine.connect() as conn:
        before = current_revision(conn)
    if before == HEAD and revision in ("head", HEAD):
        return before, before
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", SCRIPT_LOCATION)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.connect() as conn:
        after = current_revision(conn)
    return before, after or ""
