"""Shared fixtures: real databases (SQLite, PostgreSQL, MariaDB/MySQL) made and dropped per test session.

PostgreSQL and MariaDB are expected on 127.0.0.1 (see README, "Running the tests"); when one is not
reachable its tests fail with a message saying so, they are never silently skipped. Set
``MODELYARD_TEST_BACKENDS=sqlite`` to run only the SQLite variants on a laptop without the services.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN = os.environ.get(
    "MODELYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN = os.environ.get("MODELYARD_TEST_MYSQL", "mysql://root@127.0.0.1:3306/")
BACKENDS = [
    b for b in os.environ.get("MODELYARD_TEST_BACKENDS", "sqlite,postgres,mysql").split(",") if b
]


def _pg_database() -> Iterator[str]:
    import psycopg

    name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN.replace("postgresql://", "postgresql://", 1)
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN} ({e}); start it or set MODELYARD_TEST_BACKENDS"
        )
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mysql_database() -> Iterator[str]:
    import pymysql

    name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5
        )
    except pymysql.err.OperationalError as e:
        pytest.fail(
            f"MariaDB/MySQL is not reachable at 127.0.0.1:3306 ({e}); start it or set MODELYARD_TEST_BACKENDS"
        )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield f"{MYSQL_ADMIN.rstrip('/')}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    yield from _pg_database()


@pytest.fixture(scope="session")
def mysql_uri() -> Iterator[str]:
    """A fresh, empty MariaDB/MySQL database for this test session."""
    yield from _mysql_database()


@pytest.fixture
def sqlite_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'modelyard.db'}"


@pytest.fixture(params=BACKENDS)
def db_uri(request) -> str:
    """The URI of a real database of each backend. SQLite is fresh per test; the others per session."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_uri")
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("postgres_uri")
    if request.param == "mysql":
        request.applymarker(pytest.mark.mysql)
        return request.getfixturevalue("mysql_uri")
    raise ValueError(f"unknown backend {request.param}")


@pytest.fixture
def store(db_uri, tmp_path):
    """A real SQL tracking store over each backend."""
    from modelyard.store.sql import open_tracking_store

    s = open_tracking_store(db_uri, default_artifact_root=str(tmp_path / "artifacts"))
    yield s
    s.close()


@pytest.fixture
def tracking(store):
    """The tracking service over each backend's store."""
    from modelyard.service.tracking import TrackingService

    return TrackingService(store)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names, since PostgreSQL and MySQL databases are shared per session."""
    return uuid.uuid4().hex[:10]
