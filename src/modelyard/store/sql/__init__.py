"""The SQL stores (SQLAlchemy 2 Core over SQLite, PostgreSQL or MySQL). The only door to SQLAlchemy."""

from __future__ import annotations

from modelyard.store.sql.engine import create_db_engine, translate_errors
from modelyard.store.sql.logged_models import SqlLoggedModelStore
from modelyard.store.sql.migrations import upgrade
from modelyard.store.sql.tracking import SqlTrackingStore


def upgrade_database(uri: str) -> tuple[str | None, str]:
    """Create or migrate the schema at ``uri``; returns (revision before, revision after)."""
    engine = create_db_engine(uri)
    try:
        with translate_errors():
            return upgrade(engine)
    finally:
        engine.dispose()


def open_tracking_store(
    uri: str,
    *,
    pool_size: int = 5,
    sqlite_busy_timeout_ms: int = 30000,
    default_artifact_root: str = "./mlartifacts",
) -> SqlTrackingStore:
    """Open the tracking store at ``uri``, creating or migrating its schema first."""
    engine = create_db_engine(
        uri, pool_size=pool_size, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms
    )
    try:
        with translate_errors():
            upgrade(engine)
        return SqlTrackingStore(engine, default_artifact_root=default_artifact_root)
    except BaseException:
        engine.dispose()
        raise


def logged_model_store_for(tracking_store: object) -> SqlLoggedModelStore:
    """The logged-model store over the same database (and engine) as a SQL tracking store."""
    engine = getattr(tracking_store, "engine", None)
    if engine is None:
        raise TypeError(f"{tracking_store!r} is not a SQL tracking store")
    return SqlLoggedModelStore(engine)


__all__ = [
    "SqlLoggedModelStore",
    "SqlTrackingStore",
    "create_db_engine",
    "logged_model_store_for",
    "open_tracking_store",
    "upgrade_database",
]
