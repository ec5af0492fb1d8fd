"""Engines for SQLite, PostgreSQL and MySQL/MariaDB, and the translation of driver errors.

* SQLite: WAL journal, ``synchronous=NORMAL``, foreign keys on, case-sensitive ``LIKE`` (as on the other
  backends), a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so that concurrent writers
  queue on the lock instead of failing when a read transaction upgrades.
* PostgreSQL through psycopg 3 and MySQL through PyMySQL (chosen when the URI names no driver), with a
  connection pool and pre-ping.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from modelyard.errors import InvalidInput, ModelyardError, TemporarilyUnavailable

log = logging.getLogger(__name__)

_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
}


def parse_db_uri(uri: str) -> URL:
    """Parse a database URI, picking psycopg or PyMySQL when no driver is named."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidInput(
            f"Invalid database URI {uri!r}: expected sqlite:///path, postgresql://... or mysql://..."
        )
    try:
        url = make_url(uri)
    except exc.ArgumentError:
        raise InvalidInput(f"Invalid database URI {_redact(uri)!r}.") from None
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise InvalidInput(
            f"Unsupported database {backend!r}: modelyard stores runs in SQLite, PostgreSQL or MySQL."
        )
    if backend in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def _redact(uri: str) -> str:
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URI>"


def create_db_engine(
    uri: str, *, pool_size: int = 5, sqlite_busy_timeout_ms: int = 30000
) -> Engine:
    url = parse_db_uri(uri)
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        memory = url.database in (None, "", ":memory:")
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": sqlite_busy_timeout_ms / 1000,
        }
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            kwargs["pool_size"] = max(pool_size, 5)
            kwargs["max_overflow"] = 20
    else:
        kwargs.update(
            pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True, pool_recycle=3600
        )
    try:
        engine = sa.create_engine(url, **kwargs)
    except ModuleNotFoundError as e:
        extra = "postgres" if backend == "postgresql" else "mysql"
        raise InvalidInput(
            f"The database driver for {backend} is not installed ({e.name}). "
            f"Install it with: pip install 'modelyard[{extra}]'"
        ) from None
    if backend == "sqlite":
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("modelyard_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into modelyard errors; no SQL text reaches the caller."""
    try:
        yield
    except ModelyardError:
        raise
    except exc.OperationalError as e:
        log.warning("database operation failed: %s", e.orig if e.orig is not None else e)
        if _looks_like_lock_timeout(e):
            raise TemporarilyUnavailable("The database is busy; try again.") from None
        raise TemporarilyUnavailable(
            "The database cannot be reached or refused the operation."
        ) from None
    except exc.InterfaceError as e:
        log.warning("database interface error: %s", e)
        raise TemporarilyUnavailable("The database connection failed.") from None
    except exc.DataError as e:
        log.info("database rejected a value: %s", e.orig if e.orig is not None else e)
        raise InvalidInput(
            "A value is out of range or of the wrong type for the database."
        ) from None
    except exc.SQLAlchemyError:
        log.exception("unexpected database error")
        raise ModelyardError("Internal database error.") from None


def _looks_like_lock_timeout(e: exc.OperationalError) -> bool:
    text = str(e.orig).lower() if e.orig is not None else ""
    return "locked" in text or "lock wait timeout" in text or "deadlock" in text
