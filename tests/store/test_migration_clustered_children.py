"""Migration 0005: SQLite's params, tags and latest metrics become ``WITHOUT ROWID`` tables, keeping
every row; PostgreSQL and MySQL are left as they are."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from modelyard.entities import Metric, Param, RunTag
from modelyard.store.sql import create_db_engine, open_tracking_store
from modelyard.store.sql.migrations import HEAD, SCRIPT_LOCATION, upgrade

_CHILDREN = ("params", "tags", "latest_metrics")


def _alembic(engine: sa.Engine, verb: str, revision: str) -> None:
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", SCRIPT_LOCATION)
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, revision)


def _without_rowid(path: str) -> dict[str, bool]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)",
            _CHILDREN,
        ).fetchall()
    return {name: "WITHOUT ROWID" in sql.upper() for name, sql in rows}


def _dump(path: str) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in _CHILDREN}


def test_sqlite_upgrade_clusters_the_run_children_and_keeps_their_rows(tmp_path):
    path = str(tmp_path / "old.db")
    uri = f"sqlite:///{path}"
    engine = create_db_engine(uri)
    try:
        _alembic(engine, "upgrade", "0004_auth")  # a database from before this revision
    finally:
        engine.dispose()
    assert _without_rowid(path) == dict.fromkeys(_CHILDREN, False)

    store = open_tracking_store(uri, default_artifact_root=str(tmp_path / "artifacts"))
    try:
        exp = store.create_experiment("clustered", None, ())
        run = store.create_run(exp, "u", 1, "r", ())
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            [Metric("loss", 0.5, 1, 0), Metric("nan", float("nan"), 1, 0)],
            [Param("lr", "0.1")],
            [RunTag("team", "a")],
        )
        got = store.get_run(run_id)
    finally:
        store.close()
    assert _without_rowid(path) == dict.fromkeys(_CHILDREN, True)
    rows = _dump(path)
    assert rows["params"] == [(run_id, "lr", "0.1")]
    assert (run_id, "team", "a") in rows["tags"]
    assert {r[1] for r in rows["latest_metrics"]} == {"loss", "nan"}
    assert {p.key: p.value for p in got.data.params} == {"lr": "0.1"}

    engine = create_db_engine(uri)
    try:
        _alembic(engine, "downgrade", "0004_auth")
        assert _without_rowid(path) == dict.fromkeys(_CHILDREN, False)
        assert _dump(path) == rows  # nothing lost either way
        assert upgrade(engine) == ("0004_auth", HEAD)
    finally:
        engine.dispose()
    assert _without_rowid(path) == dict.fromkeys(_CHILDREN, True)
    assert _dump(path) == rows


def test_other_backends_keep_their_tables(db_uri):
    engine = create_db_engine(db_uri)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert set(_CHILDREN) <= names
