"""The Alembic migrations build exactly the schema of ``tables.py``, on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelyard.store.sql import create_db_engine, upgrade_database
from modelyard.store.sql.migrations import HEAD, SCRIPT_LOCATION
from modelyard.store.sql.tables import metadata


def test_head_constant_is_alembic_head():
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_migrated_schema_matches_tables(db_uri):
    _before, after = upgrade_database(db_uri)
    assert after == HEAD
    assert upgrade_database(db_uri) == (HEAD, HEAD)  # a second upgrade is a no-op
    engine = create_db_engine(db_uri)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, metadata)
            names = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {t.name for t in metadata.sorted_tables} <= names


def test_bad_uri_is_a_clear_error():
    import pytest

    from modelyard.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Invalid database URI"):
        upgrade_database("not a uri")
    with pytest.raises(InvalidInput, match="Unsupported database"):
        upgrade_database("oracle://x/y")
