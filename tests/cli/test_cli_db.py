"""``modelyard db upgrade`` on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def test_upgrade_creates_then_reports_nothing_to_do(invoke, tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = invoke("db", "upgrade", uri)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"Created the modelyard schema in {uri} (revision ")
    second = invoke("db", "upgrade", uri)
    assert second.exit_code == 0, second.output
    assert "already at the latest schema" in second.stdout
    # the database is usable by the other commands without further ado
    assert invoke("experiments", "create", "--name", "x", "--tracking-uri", uri).exit_code == 0


@pytest.mark.parametrize(
    "uri",
    ["modelyard.db", "oracle://scott:tiger@db/orcl", "sqlite:////no/such/directory/modelyard.db"],
)
def test_bad_uri_is_one_line(invoke, one_line_error, uri) -> None:
    one_line_error(invoke("db", "upgrade", uri))


def test_unreachable_database_names_it_without_the_password(invoke, one_line_error) -> None:
    result = invoke("db", "upgrade", "postgresql://postgres:hunter2@127.0.0.1:1/nowhere")
    one_line_error(result, "postgresql://postgres:***@127.0.0.1:1/nowhere")
    assert "hunter2" not in result.output


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A uniquely named, empty PostgreSQL database, dropped afterwards."""
    import psycopg

    if "postgres" not in os.environ.get("MODELYARD_TEST_BACKENDS", "postgres").split(","):
        pytest.skip("MODELYARD_TEST_BACKENDS leaves out postgres")
    name = f"modelyard_cli_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_upgrade_postgres(invoke, fresh_postgres) -> None:
    import psycopg

    result = invoke("db", "upgrade", fresh_postgres)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Created the modelyard schema in {fresh_postgres} (revision ")
    with psycopg.connect(fresh_postgres) as conn:
        tables = {
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert {"experiments", "runs", "metrics", "params", "tags", "alembic_version"} <= tables
    assert f"(revision {revision})" in result.stdout

    again = invoke("db", "upgrade", fresh_postgres)
    assert again.exit_code == 0, again.output
    assert f"already at the latest schema (revision {revision})" in again.stdout
