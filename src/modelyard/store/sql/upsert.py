"""Dialect-specific bulk writes: insert-or-ignore, insert-or-update, and the latest-metric upsert.

Each statement is built once per dialect and table and reused (the rows are its parameters):
building an ``ON CONFLICT`` construct makes SQLAlchemy copy the table's columns for ``excluded``,
which on a one-metric ``log-metric`` had cost more than the SQL, inside the write lock. The dialect
modules are imported with the first statement of their dialect.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelyard.store.sql.tables import latest_metrics


def _insert(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import mysql

    return mysql.insert(table)


def insert_ignore(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose primary key (or a unique key) is already stored."""
    if rows:
        conn.execute(_insert_ignore(conn.dialect.name, table), list(rows))


@functools.cache
def _insert_ignore(dialect: str, table: sa.Table) -> Any:
    if dialect in ("postgresql", "sqlite"):
        return _insert(dialect, table).on_conflict_do_nothing()
    return sa.insert(table).prefix_with("IGNORE")


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, or overwrite ``update`` columns where a row with the same ``keys`` exists."""
    if rows:
        conn.execute(_upsert(conn.dialect.name, table, tuple(keys), tuple(update)), list(rows))


@functools.cache
def _upsert(dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    ins = _insert(dialect, table)
    if dialect in ("postgresql", "sqlite"):
        return ins.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(ins.excluded, c) for c in update}
        )
    return ins.on_duplicate_key_update({c: getattr(ins.inserted, c) for c in update})


def upsert_latest_metrics(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Keep, per (run, key), the point with the greatest (step, timestamp, value).

    ``rows`` must hold at most one row per (run, key).
    """
    if rows:
        conn.execute(_latest(conn.dialect.name), list(rows))


@functools.cache
def _latest(dialect: str) -> Any:
    t = latest_metrics
    ins = _insert(dialect, t)
    if dialect in ("postgresql", "sqlite"):
        newer = sa.tuple_(
            ins.excluded.step, ins.excluded.timestamp, ins.excluded.value
        ) > sa.tuple_(t.c.step, t.c.timestamp, t.c.value)
        return ins.on_conflict_do_update(
            index_elements=["run_uuid", "key"],
            set_={c: getattr(ins.excluded, c) for c in ("value", "is_nan", "timestamp", "step")},
            where=newer,
        )
    # MySQL evaluates the assignments left to right, each seeing the columns already updated.
    # In this order the comparison still gives the right answer for every column: is_nan is not
    # compared; once value is replaced, the step/timestamp part of the comparison decides alone.
    new = ins.inserted

    def newer_then(col: str) -> Any:
        cond = sa.tuple_(new.step, new.timestamp, new.value) > sa.tuple_(
            t.c.step, t.c.timestamp, t.c.value
        )
        return sa.func.IF(cond, getattr(new, col), getattr(t.c, col))

    return ins.on_duplicate_key_update(
        [(c, newer_then(c)) for c in ("is_nan", "value", "timestamp", "step")]
    )
