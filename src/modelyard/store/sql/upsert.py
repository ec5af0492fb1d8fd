"""Dialect-specific bulk writes: insert-or-ignore, insert-or-update, and the latest-metric upsert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from modelyard.store.sql.tables import latest_metrics


def insert_ignore(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose primary key (or a unique key) is already stored."""
    if not rows:
        return
    name = conn.dialect.name
    if name == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif name == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    else:
        stmt = sa.insert(table).prefix_with("IGNORE")
    conn.execute(stmt, list(rows))


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, or overwrite ``update`` columns where a row with the same ``keys`` exists."""
    if not rows:
        return
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        ins: Any = (postgresql if name == "postgresql" else sqlite).insert(table)
        stmt = ins.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(ins.excluded, c) for c in update}
        )
    else:
        ins = mysql.insert(table)
        stmt = ins.on_duplicate_key_update({c: getattr(ins.inserted, c) for c in update})
    conn.execute(stmt, list(rows))


def upsert_latest_metrics(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Keep, per (run, key), the point with the greatest (step, timestamp, value).

    ``rows`` must hold at most one row per (run, key).
    """
    if not rows:
        return
    t = latest_metrics
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        ins: Any = (postgresql if name == "postgresql" else sqlite).insert(t)
        newer = sa.tuple_(
            ins.excluded.step, ins.excluded.timestamp, ins.excluded.value
        ) > sa.tuple_(t.c.step, t.c.timestamp, t.c.value)
        stmt = ins.on_conflict_do_update(
            index_elements=["run_uuid", "key"],
            set_={c: getattr(ins.excluded, c) for c in ("value", "is_nan", "timestamp", "step")},
            where=newer,
        )
    else:
        # MySQL evaluates the assignments left to right, each seeing the columns already updated.
        # In this order the comparison still gives the right answer for every column: is_nan is not
        # compared; once value is replaced, the step/timestamp part of the comparison decides alone.
        ins = mysql.insert(t)
        new = ins.inserted

        def newer_then(col: str) -> Any:
            cond = sa.tuple_(new.step, new.timestamp, new.value) > sa.tuple_(
                t.c.step, t.c.timestamp, t.c.value
            )
            return sa.func.IF(cond, getattr(new, col), getattr(t.c, col))

        stmt = ins.on_duplicate_key_update(
            [(c, newer_then(c)) for c in ("is_nan", "value", "timestamp", "step")]
        )
    conn.execute(stmt, list(rows))
