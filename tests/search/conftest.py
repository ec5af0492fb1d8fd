"""A real database per backend, built from ``tables.metadata.create_all`` and loaded with the small
dataset of ``search_reference``, for the SQL search tests.

Each PostgreSQL and MariaDB database is created under a unique name for this session and dropped
afterwards; the engine comes from ``create_db_engine`` so SQLite runs with the production pragmas
(``case_sensitive_like`` among them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from search_reference import EXPERIMENTS, RUNS, stored_metric

from modelyard.store.sql import tables as t
from modelyard.store.sql.engine import create_db_engine
from modelyard.store.sql.search import experiments_query, runs_query

PG_ADMIN = os.environ.get(
    "MODELYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    b for b in os.environ.get("MODELYARD_TEST_BACKENDS", "sqlite,postgres,mysql").split(",") if b
]
_MARKS = {"postgres": [pytest.mark.postgres], "mysql": [pytest.mark.mysql], "sqlite": []}


@dataclass
class SearchDB:
    backend: str
    engine: sa.Engine

    def runs(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        experiment_ids: Sequence[str] = ("1",),
        stages: Sequence[str] = ("active",),
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """The run ids found, in order."""
        query = runs_query(experiment_ids, filter_string, stages, order_by)
        if offset is not None:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [row.run_uuid for row in conn.execute(query)]

    def experiments(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        stages: Sequence[str] = ("active",),
    ) -> list[int]:
        query = experiments_query(filter_string, stages, order_by)
        with self.engine.connect() as conn:
            return [row.experiment_id for row in conn.execute(query)]


def _create_database(backend: str) -> tuple[str, Any]:
    """Create a uniquely named database; return its URI and a function that drops it."""
    name = f"modelyard_search_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        raise AssertionError("sqlite needs no server database")
    if backend == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop
    import pymysql

    def mysql_exec(sql: str) -> None:
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5
        )
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    mysql_exec(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    return f"mysql://root@127.0.0.1:3306/{name}", lambda: mysql_exec(
        f"DROP DATABASE IF EXISTS `{name}`"
    )


def _load(engine: sa.Engine) -> None:
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            t.experiments.insert(),
            [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "artifact_location": f"file:///tmp/{e.experiment_id}",
                    "lifecycle_stage": e.lifecycle_stage,
                    "creation_time": e.creation_time,
                    "last_update_time": e.last_update_time,
                }
                for e in EXPERIMENTS
            ],
        )
        conn.execute(
            t.experiment_tags.insert(),
            [
                {"experiment_id": e.experiment_id, "key": k, "value": v}
                for e in EXPERIMENTS
                for k, v in e.tags.items()
            ],
        )
        conn.execute(
            t.runs.insert(),
            [
                {
                    "run_uuid": r.run_id,
                    "experiment_id": r.experiment_id,
                    "name": r.name,
                    "user_id": r.user_id,
                    "status": r.status,
                    "start_time": r.start_time,
                    "end_time": r.end_time,
                    "lifecycle_stage": r.lifecycle_stage,
                    "artifact_uri": r.artifact_uri,
                }
                for r in RUNS
            ],
        )
        metric_rows = []
        for r in RUNS:
            for k, v in r.metrics.items():
                value, is_nan = stored_metric(v)
                metric_rows.append(
                    {
                        "run_uuid": r.run_id,
                        "key": k,
                        "value": value,
                        "is_nan": is_nan,
                        "timestamp": 1,
                        "step": 0,
                    }
                )
        conn.execute(t.latest_metrics.insert(), metric_rows)
        conn.execute(
            t.params.insert(),
            [
                {"run_uuid": r.run_id, "key": k, "value": v}
                for r in RUNS
                for k, v in r.params.items()
            ],
        )
        conn.execute(
            t.tags.insert(),
            [{"run_uuid": r.run_id, "key": k, "value": v} for r in RUNS for k, v in r.tags.items()],
        )
        datasets: dict[tuple[int, str, str], int] = {}
        for r in RUNS:
            for name, digest, context in r.inputs:
                key = (r.experiment_id, name, digest)
                if key not in datasets:
                    datasets[key] = len(datasets) + 1
                    conn.execute(
                        t.datasets.insert().values(
                            dataset_id=datasets[key],
                            experiment_id=r.experiment_id,
                            name=name,
                            digest=digest,
                            source_type="local",
                            source="file:///data",
                        )
                    )
                conn.execute(
                    t.run_inputs.insert().values(
                        run_uuid=r.run_id, dataset_id=datasets[key], context=context
                    )
                )


@pytest.fixture(scope="session", params=[pytest.param(b, marks=_MARKS[b]) for b in BACKENDS])
def search_db(request, tmp_path_factory) -> Iterator[SearchDB]:
    """The search dataset in a fresh database of each backend (read-only: tests must not write)."""
    backend = request.param
    drop = None
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}"
    else:
        try:
            uri, drop = _create_database(backend)
        except Exception as e:  # a missing service fails loudly, never skips
            pytest.fail(
                f"{backend} is not reachable ({e}); start it or set MODELYARD_TEST_BACKENDS"
            )
    engine = create_db_engine(uri)
    try:
        _load(engine)
        yield SearchDB(backend, engine)
    finally:
        engine.dispose()
        if drop is not None:
            drop()
