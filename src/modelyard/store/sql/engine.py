"""Engines for SQLite, PostgreSQL and MySQL/MariaDB, and the translation of driver errors.

* SQLite: WAL journal, ``synchronous=NORMAL``, foreign keys on, case-sensitive ``LIKE`` (as on the other
  backends), a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so that concurrent writers
  queue on the lock instead of failing when a read transaction upgrades. Write transactions are also
  queued on a :class:`SqliteWriteLock` (a ``threading.Lock`` per process plus an ``fcntl.flock`` on a
  ``<database>-lock`` file beside the database, across processes), which hands the lock to the next
  writer the moment a transaction ends; SQLite's own busy handler polls with growing sleeps and
  oversleeps. Read transactions (``modelyard_readonly``) never take it: in WAL they do not wait for
  writers. The busy timeout stays as the fallback for writers outside modelyard.
* PostgreSQL through psycopg 3 and MySQL through PyMySQL (chosen when the URI names no driver), with a
  connection pool and pre-ping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; threads are still queued
    fcntl = None  # type: ignore[assignment]

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
    write_lock: SqliteWriteLock | None = None
    if backend == "sqlite":
        memory = url.database in (None, "", ":memory:")
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": sqlite_busy_timeout_ms / 1000,
            "factory": _LockingConnection,
        }
        write_lock = _write_lock_for(url, memory)
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
    if write_lock is not None:
        _configure_sqlite(engine, sqlite_busy_timeout_ms, write_lock, queue_readers=memory)
    return engine


class SqliteWriteLock:
    """Queues the write transactions on one SQLite database, waking the next writer at once.

    Threads of one process queue on a ``threading.Lock`` (waiting at most the busy timeout, then the
    writer gets :class:`TemporarilyUnavailable`, as SQLite's own timeout would give); the one thread
    holding it then takes an exclusive ``flock`` on ``lock_path``, which queues the processes (server
    workers, a local client) writing the same file. The kernel drops a dead holder's ``flock``. With
    ``lock_path=None`` (an in-memory database, or a lock file that cannot be opened) only the threads
    of this process are queued. The file is opened by each process on first use, never inherited
    across ``fork`` (a descriptor shared with the parent would share its lock).
    """

    def __init__(self, lock_path: str | None) -> None:
        self.lock_path = lock_path
        self._reset()

    def _reset(self) -> None:
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()

    def _after_fork_in_child(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._reset()

    def acquire(self, timeout_s: float) -> None:
        if self._pid != os.getpid():
            self._after_fork_in_child()
        if not self._threads.acquire(timeout=timeout_s):
            raise TemporarilyUnavailable("The database is busy; try again.")
        try:
            fd = self._file()
            if fd is not None and not _flock_at_once(fd, fcntl.LOCK_EX | fcntl.LOCK_NB):
                fcntl.flock(fd, fcntl.LOCK_EX)  # another process writes: sleep until it is done
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None and not _flock_at_once(self._fd, fcntl.LOCK_UN):
                fcntl.flock(self._fd, fcntl.LOCK_UN)  # raises what went wrong
        finally:
            self._threads.release()

    def _file(self) -> int | None:
        if self._fd is None and self.lock_path is not None:
            try:
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                log.warning(
                    "cannot open the SQLite write lock %s (%s); writers across processes "
                    "fall back to SQLite's busy timeout",
                    self.lock_path,
                    e.strerror or e,
                )
                self.lock_path = None
        return self._fd


def _load_flock_holding_the_gil() -> Callable[[int, int], int] | None:
    """libc's ``flock`` called without releasing the GIL, for the calls that cannot block.

    ``fcntl.flock`` always lets go of the GIL around the system call; when other threads of the
    process want it, getting it back can take a whole switch interval, and the write lock would stay
    held (or wait to be taken) for that long. ``LOCK_UN`` and ``LOCK_NB`` return at once, so holding
    the GIL through them costs nothing.
    """
    try:
        import ctypes

        flock = ctypes.PyDLL(None).flock
    except (ImportError, OSError, AttributeError):  # pragma: no cover - no ctypes or no libc flock
        return None
    flock.argtypes = [ctypes.c_int, ctypes.c_int]
    flock.restype = ctypes.c_int
    return flock  # type: ignore[no-any-return]


_flock_holding_the_gil = _load_flock_holding_the_gil() if fcntl is not None else None


def _flock_at_once(fd: int, operation: int) -> bool:
    """``flock(fd, operation)`` for a non-blocking operation; False if it did not succeed."""
    if _flock_holding_the_gil is not None:
        return _flock_holding_the_gil(fd, operation) == 0
    try:
        fcntl.flock(fd, operation)
    except BlockingIOError:
        return False
    return True


class _LockingConnection(sqlite3.Connection):
    """A pysqlite connection that lets go of its :class:`SqliteWriteLock` once COMMIT/ROLLBACK ran.

    SQLAlchemy's ``commit`` and ``rollback`` events fire *before* the statement; releasing there
    would let the next writer's ``BEGIN IMMEDIATE`` run into the still-held SQLite lock.
    """

    held: SqliteWriteLock | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def _let_go(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            held.release()


_FILE_LOCKS: dict[str, SqliteWriteLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _forget_file_locks_in_child() -> None:
    global _FILE_LOCKS_GUARD
    _FILE_LOCKS_GUARD = threading.Lock()
    for lock in _FILE_LOCKS.values():
        lock._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_file_locks_in_child)


def _write_lock_for(url: URL, memory: bool) -> SqliteWriteLock:
    """One lock per database file and process, shared by every engine on that file."""
    path = _sqlite_file(url) if not memory else None
    if path is None or fcntl is None:
        return SqliteWriteLock(None)
    lock_path = os.path.realpath(path) + "-lock"
    with _FILE_LOCKS_GUARD:
        lock = _FILE_LOCKS.get(lock_path)
        if lock is None:
            lock = _FILE_LOCKS[lock_path] = SqliteWriteLock(lock_path)
        return lock


def _sqlite_file(url: URL) -> str | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database.startswith("file:"):  # a SQLite URI filename (``?uri=true``)
        if "mode=memory" in str(url.query.get("mode", "")) or "mode=memory" in database:
            return None
        database = database[len("file:") :].split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    return os.path.abspath(database)


def _configure_sqlite(
    engine: Engine, busy_timeout_ms: int, write_lock: SqliteWriteLock, *, queue_readers: bool
) -> None:
    """Pragmas on connect; ``BEGIN IMMEDIATE`` under ``write_lock`` for writers.

    Readers take the lock too when ``queue_readers``: an in-memory database has one connection for
    all threads, and it cannot hold two transactions at once.
    """
    timeout_s = busy_timeout_ms / 1000

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
        begin = "BEGIN IMMEDIATE"
        if conn.get_execution_options().get("modelyard_readonly"):
            if not queue_readers:
                conn.exec_driver_sql("BEGIN")  # WAL: readers never wait for writers
                return
            begin = "BEGIN"
        dbapi_conn = conn.connection.dbapi_connection
        if not isinstance(dbapi_conn, _LockingConnection):
            conn.exec_driver_sql(begin)
            return
        # An in-memory database shares one connection between threads: a second transaction waits
        # here until the first one's COMMIT or ROLLBACK lets go of the lock.
        write_lock.acquire(timeout_s)
        dbapi_conn.held = write_lock
        try:
            conn.exec_driver_sql(begin)
        except BaseException:
            dbapi_conn._let_go()
            raise


def read_connection(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite its transaction is a plain ``BEGIN`` that takes no
    write lock (WAL readers never wait for writers); elsewhere it is an ordinary connection."""
    return engine.connect().execution_options(modelyard_readonly=True)


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
