"""The SQL tracking store: experiments, runs and their data on SQLite, PostgreSQL or MySQL.

Every public method runs in one transaction and translates driver errors at this boundary. Inputs are
already validated by :class:`modelyard.service.tracking.TrackingService`.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from modelyard.entities import (
    Dataset,
    DatasetInput,
    DatasetSummary,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from modelyard.store.base import MetricPoint, RunRecord
from modelyard.store.sql import tables as t
from modelyard.store.sql.convert import (
    RUN_INFO_COLUMNS,
    experiment_from_row,
    metric_from_row,
    metric_value_column,
    metrics_from_points,
    restore_metric_values,
    run_from_record,
    run_info_from_row,
    run_info_from_tuple,
    stored_metric_value,
)
from modelyard.store.sql.engine import read_connection, translate_errors
from modelyard.store.sql.paging import decode_page_token, encode_page_token
from modelyard.store.sql.search import experiments_query, runs_query
from modelyard.store.sql.upsert import insert_ignore, upsert, upsert_latest_metrics

RUN_NAME_TAG = "mlflow.runName"
DATASET_CONTEXT_TAG = "mlflow.data.context"
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
_CHUNK = 500


def _now_ms() -> int:
    return int(time.time() * 1000)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _exp_int(experiment_id: str) -> int:
    """The id as the integer the table holds; one no BIGINT column can hold does not exist."""
    try:
        value = int(experiment_id)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= _INT64_MAX:
        raise NotFound(f"No Experiment with id={experiment_id} exists", experiment_id=experiment_id)
    return value


_INT64_MAX = 2**63 - 1


_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+:")


def resolve_artifact_root(root: str) -> str:
    """A local path becomes an absolute ``file://`` URI; any URI with a scheme is kept as it is."""
    if _SCHEME.match(root):
        return root.rstrip("/")
    return "file://" + os.path.abspath(os.path.expanduser(root))


def _join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


class SqlTrackingStore:
    """A :class:`modelyard.store.base.TrackingStore` over SQLAlchemy Core."""

    def __init__(self, engine: Engine, *, default_artifact_root: str = "./mlartifacts") -> None:
        self.engine = engine
        self.default_artifact_root = resolve_artifact_root(default_artifact_root)
        self._ensure_default_experiment()

    # ------------------------------------------------------------------ plumbing
    def _write(self) -> Any:
        return self.engine.begin()

    def _read(self) -> Any:
        return read_connection(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_default_experiment(self) -> None:
        with translate_errors():
            with self._read() as conn:
                found = conn.execute(
                    sa.select(t.experiments.c.experiment_id).where(
                        t.experiments.c.experiment_id == 0
                    )
                ).first()
            if found:
                return
            now = _now_ms()
            try:
                with self._write() as conn:
                    if conn.dialect.name in ("mysql", "mariadb"):
                        conn.exec_driver_sql(
                            "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
                        )
                    conn.execute(
                        t.experiments.insert().values(
                            experiment_id=0,
                            name=DEFAULT_EXPERIMENT_NAME,
                            artifact_location=_join_uri(self.default_artifact_root, "0"),
                            lifecycle_stage="active",
                            creation_time=now,
                            last_update_time=now,
                        )
                    )
            except exc.IntegrityError:
                pass  # another process created it first

    # ------------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[ExperimentTag]
    ) -> str:
        now = _now_ms()
        location = resolve_artifact_root(artifact_location) if artifact_location else None
        with translate_errors():
            try:
                with self._write() as conn:
                    result = conn.execute(
                        t.experiments.insert().values(
                            name=name,
                            artifact_location=location or "",
                            lifecycle_stage="active",
                            creation_time=now,
                            last_update_time=now,
                        )
                    )
                    exp_id = result.inserted_primary_key[0]
                    if location is None:
                        conn.execute(
                            t.experiments.update()
                            .where(t.experiments.c.experiment_id == exp_id)
                            .values(
                                artifact_location=_join_uri(self.default_artifact_root, str(exp_id))
                            )
                        )
                    if tags:
                        rows = {tag.key: tag.value for tag in tags}
                        conn.execute(
                            t.experiment_tags.insert(),
                            [
                                {"experiment_id": exp_id, "key": k, "value": v}
                                for k, v in rows.items()
                            ],
                        )
            except exc.IntegrityError:
                raise AlreadyExists(f"Experiment(name={name}) already exists.", name=name) from None
        return str(exp_id)

    def _experiment_row(self, conn: Connection, experiment_id: str) -> Any:
        row = conn.execute(
            sa.select(t.experiments).where(t.experiments.c.experiment_id == _exp_int(experiment_id))
        ).first()
        if row is None:
            raise NotFound(
                f"No Experiment with id={experiment_id} exists", experiment_id=experiment_id
            )
        return row

    def _experiment_tags(
        self, conn: Connection, ids: Sequence[int]
    ) -> dict[int, tuple[ExperimentTag, ...]]:
        out: dict[int, list[ExperimentTag]] = defaultdict(list)
        for chunk in _chunks(list(ids)):
            for row in conn.execute(
                sa.select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(chunk))
            ):
                out[row.experiment_id].append(ExperimentTag(row.key, row.value))
        return {k: tuple(v) for k, v in out.items()}

    def get_experiment(self, experiment_id: str) -> Experiment:
        with translate_errors(), self._read() as conn:
            row = self._experiment_row(conn, experiment_id)
            tags = self._experiment_tags(conn, [row.experiment_id])
        return experiment_from_row(row, tags.get(row.experiment_id, ()))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with translate_errors(), self._read() as conn:
            row = conn.execute(sa.select(t.experiments).where(t.experiments.c.name == name)).first()
            if row is None:
                return None
            tags = self._experiment_tags(conn, [row.experiment_id])
        return experiment_from_row(row, tags.get(row.experiment_id, ()))

    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Experiment]:
        offset = decode_page_token(page_token)
        query = experiments_query(filter_string, view_type.stages(), order_by)
        with translate_errors(), self._read() as conn:
            rows = conn.execute(query.offset(offset).limit(max_results + 1)).all()
            more = len(rows) > max_results
            rows = rows[:max_results]
            tags = self._experiment_tags(conn, [r.experiment_id for r in rows])
        items = [experiment_from_row(r, tags.get(r.experiment_id, ())) for r in rows]
        return PagedList(items, encode_page_token(offset + max_results) if more else None)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        now = _now_ms()
        with translate_errors(), self._write() as conn:
            row = self._experiment_row(conn, experiment_id)
            exp_id = row.experiment_id
            if stage == LifecycleStage.DELETED.value:
                if row.lifecycle_stage == stage:
                    raise InvalidState(
                        f"Cannot delete an already deleted experiment: {experiment_id}",
                        experiment_id=experiment_id,
                    )
                conn.execute(
                    t.experiments.update()
                    .where(t.experiments.c.experiment_id == exp_id)
                    .values(lifecycle_stage=stage, deleted_time=now, last_update_time=now)
                )
                # Its active runs go with it, marked with the same time so restore brings back just them.
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.experiment_id == exp_id, t.runs.c.lifecycle_stage == "active")
                    .values(lifecycle_stage=stage, deleted_time=now)
                )
            else:
                if row.lifecycle_stage == stage:
                    raise InvalidState(
                        f"Cannot restore an active experiment: {experiment_id}",
                        experiment_id=experiment_id,
                    )
                conn.execute(
                    t.experiments.update()
                    .where(t.experiments.c.experiment_id == exp_id)
                    .values(lifecycle_stage=stage, deleted_time=None, last_update_time=now)
                )
                if row.deleted_time is not None:
                    conn.execute(
                        t.runs.update()
                        .where(
                            t.runs.c.experiment_id == exp_id,
                            t.runs.c.lifecycle_stage == "deleted",
                            t.runs.c.deleted_time == row.deleted_time,
                        )
                        .values(lifecycle_stage=stage, deleted_time=None)
                    )

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED.value)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE.value)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        with translate_errors():
            try:
                with self._write() as conn:
                    row = self._experiment_row(conn, experiment_id)
                    conn.execute(
                        t.experiments.update()
                        .where(t.experiments.c.experiment_id == row.experiment_id)
                        .values(name=new_name, last_update_time=_now_ms())
                    )
            except exc.IntegrityError:
                raise AlreadyExists(
                    f"Experiment(name={new_name}) already exists.", name=new_name
                ) from None

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        with translate_errors(), self._write() as conn:
            row = self._experiment_row(conn, experiment_id)
            upsert(
                conn,
                t.experiment_tags,
                [{"experiment_id": row.experiment_id, "key": tag.key, "value": tag.value}],
                keys=("experiment_id", "key"),
                update=("value",),
            )
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == row.experiment_id)
                .values(last_update_time=_now_ms())
            )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        with translate_errors(), self._write() as conn:
            row = self._experiment_row(conn, experiment_id)
            deleted = conn.execute(
                t.experiment_tags.delete().where(
                    t.experiment_tags.c.experiment_id == row.experiment_id,
                    t.experiment_tags.c.key == key,
                )
            ).rowcount
            if not deleted:
                raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str,
        tags: Sequence[RunTag],
    ) -> Run:
        run_id = uuid.uuid4().hex
        with translate_errors(), self._write() as conn:
            exp = self._experiment_row(conn, experiment_id)
            artifact_uri = _join_uri(exp.artifact_location, run_id, "artifacts")
            conn.execute(
                t.runs.insert().values(
                    run_uuid=run_id,
                    experiment_id=exp.experiment_id,
                    name=run_name,
                    user_id=user_id,
                    status=RunStatus.RUNNING.value,
                    start_time=start_time,
                    end_time=None,
                    lifecycle_stage="active",
                    artifact_uri=artifact_uri,
                )
            )
            tag_map = {tag.key: tag.value for tag in tags}
            if tag_map:
                conn.execute(
                    t.tags.insert(),
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in tag_map.items()],
                )
        info = RunInfo(
            run_id=run_id,
            experiment_id=str(exp.experiment_id),
            run_name=run_name,
            user_id=user_id,
            status=RunStatus.RUNNING.value,
            start_time=start_time,
            end_time=None,
            artifact_uri=artifact_uri,
            lifecycle_stage="active",
        )
        return Run(info, RunData(tags=tuple(RunTag(k, v) for k, v in tag_map.items())))

    def _run_row(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(_RUN_ROW, {"run_id": run_id}).first()
        if row is None:
            raise NotFound(f"Run with id={run_id} not found", run_id=run_id)
        return row

    def get_run_info(self, run_id: str) -> RunInfo:
        with translate_errors(), self._read() as conn:
            return run_info_from_row(self._run_row(conn, run_id))

    def get_run(self, run_id: str) -> Run:
        with translate_errors(), self._read() as conn:
            rows = _fetch(conn, sa.select(*RUN_INFO_COLUMNS).where(t.runs.c.run_uuid == run_id))
            if not rows:
                raise NotFound(f"Run with id={run_id} not found", run_id=run_id)
            return run_from_record(self._load_records(conn, rows)[0])

    def _load_records(self, conn: Connection, rows: Sequence[Any]) -> list[RunRecord]:
        """Attach params, tags, latest metrics and inputs to raw rows of ``RUN_INFO_COLUMNS``.

        One query per child table and chunk of runs, fetched as raw DBAPI tuples in (run, key) order
        and cut into runs by ``groupby``: no per-row objects beyond what the driver makes.
        """
        ids = [r[0] for r in rows]
        params: dict[str, list[Any]] = {}
        tags: dict[str, list[Any]] = {}
        metrics: dict[str, list[Any]] = {}
        inputs: dict[str, list[DatasetInput]] = defaultdict(list)
        for chunk in _chunks(ids):
            params.update(_by_run(_child_rows(conn, "params", ("value",), chunk)))
            tags.update(_by_run(_child_rows(conn, "tags", ("value",), chunk)))
            found = _child_rows(conn, "latest_metrics", _METRIC_COLUMNS, chunk)
            metrics.update(_by_run(restore_metric_values(found, 2)))
            self._load_inputs(conn, chunk, inputs)
        return [
            RunRecord(
                run_info_from_tuple(row),
                metrics.get(row[0], ()),
                params.get(row[0], ()),
                tags.get(row[0], ()),
                inputs.get(row[0], ()),
            )
            for row in rows
        ]

    def _load_inputs(
        self, conn: Connection, run_ids: Sequence[str], out: dict[str, list[DatasetInput]]
    ) -> None:
        ri, ds, rit = t.run_inputs, t.datasets, t.run_input_tags
        found = conn.execute(
            sa.select(ri.c.run_uuid, ri.c.dataset_id, ds)
            .join(ds, ds.c.dataset_id == ri.c.dataset_id)
            .where(ri.c.run_uuid.in_(run_ids))
        ).all()
        if not found:
            return
        input_tags: dict[tuple[str, int], list[InputTag]] = defaultdict(list)
        for r in conn.execute(sa.select(rit).where(rit.c.run_uuid.in_(run_ids))):
            input_tags[(r.run_uuid, r.dataset_id)].append(InputTag(r.key, r.value))
        for r in found:
            dataset = Dataset(r.name, r.digest, r.source_type, r.source, r.schema, r.profile)
            out[r.run_uuid].append(
                DatasetInput(dataset, tuple(input_tags.get((r.run_uuid, r.dataset_id), ())))
            )

    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if end_time is not None:
            values["end_time"] = end_time
        if run_name is not None:
            values["name"] = run_name
        with translate_errors(), self._write() as conn:
            row = self._run_row(conn, run_id)
            if values:
                conn.execute(t.runs.update().where(t.runs.c.run_uuid == run_id).values(**values))
            if run_name is not None:
                upsert(
                    conn,
                    t.tags,
                    [{"run_uuid": run_id, "key": RUN_NAME_TAG, "value": run_name}],
                    keys=("run_uuid", "key"),
                    update=("value",),
                )
            row = self._run_row(conn, run_id)
        return run_info_from_row(row)

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        with translate_errors(), self._write() as conn:
            self._run_row(conn, run_id)
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_uuid == run_id)
                .values(
                    lifecycle_stage=stage, deleted_time=_now_ms() if stage == "deleted" else None
                )
            )

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED.value)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE.value)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Run]:
        page = self.search_run_records(
            experiment_ids, filter_string, view_type, max_results, order_by, page_token
        )
        return PagedList([run_from_record(r) for r in page.items], page.next_page_token)

    def search_run_records(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[RunRecord]:
        offset = decode_page_token(page_token)
        valid_ids = [e for e in experiment_ids if e.isdigit()]
        if not valid_ids:
            return PagedList([], None)
        query = runs_query(valid_ids, filter_string, view_type.stages(), order_by)
        query = query.with_only_columns(*RUN_INFO_COLUMNS).offset(offset).limit(max_results + 1)
        with translate_errors(), self._read() as conn:
            rows = _fetch(conn, query)
            more = len(rows) > max_results
            records = self._load_records(conn, rows[:max_results])
        return PagedList(records, encode_page_token(offset + max_results) if more else None)

    # ------------------------------------------------------------------ run data
    def _active_run_row(self, conn: Connection, run_id: str) -> Any:
        row = self._run_row(conn, run_id)
        if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"The run {run_id} must be in the 'active' state. Current state is {row.lifecycle_stage}.",
                run_id=run_id,
            )
        return row

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        with translate_errors(), self._write() as conn:
            self._active_run_row(conn, run_id)
            if params:
                self._log_params(conn, run_id, params)
            if tags:
                tag_map = {tag.key: tag.value for tag in tags}
                upsert(
                    conn,
                    t.tags,
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in tag_map.items()],
                    keys=("run_uuid", "key"),
                    update=("value",),
                )
                if RUN_NAME_TAG in tag_map:
                    conn.execute(
                        t.runs.update()
                        .where(t.runs.c.run_uuid == run_id)
                        .values(name=tag_map[RUN_NAME_TAG])
                    )
            if metrics:
                self._log_metrics(conn, run_id, metrics)

    def _log_params(self, conn: Connection, run_id: str, params: Sequence[Param]) -> None:
        wanted = {p.key: p.value for p in params}
        existing = dict(
            conn.execute(
                sa.select(t.params.c.key, t.params.c.value).where(
                    t.params.c.run_uuid == run_id, t.params.c.key.in_(list(wanted))
                )
            ).all()
        )
        for key, value in wanted.items():
            if key in existing and existing[key] != value:
                raise InvalidInput(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged "
                    f"with value='{existing[key]}' for run ID='{run_id}'. Attempted logging new value "
                    f"'{value}'.",
                    run_id=run_id,
                )
        new = [
            {"run_uuid": run_id, "key": k, "value": v}
            for k, v in wanted.items()
            if k not in existing
        ]
        insert_ignore(conn, t.params, new)

    def _log_metrics(self, conn: Connection, run_id: str, metrics: Sequence[Metric]) -> None:
        rows = []
        latest: dict[str, dict[str, Any]] = {}
        for m in metrics:
            value, is_nan = stored_metric_value(m.value)
            row = {
                "run_uuid": run_id,
                "key": m.key,
                "step": m.step,
                "timestamp": m.timestamp,
                "value": value,
                "is_nan": is_nan,
            }
            rows.append(row)
            best = latest.get(m.key)
            if best is None or (m.step, m.timestamp, value) > (
                best["step"],
                best["timestamp"],
                best["value"],
            ):
                latest[m.key] = row
        insert_ignore(conn, t.metrics, rows)
        upsert_latest_metrics(conn, list(latest.values()))

    def delete_tag(self, run_id: str, key: str) -> None:
        with translate_errors(), self._write() as conn:
            self._active_run_row(conn, run_id)
            deleted = conn.execute(
                t.tags.delete().where(t.tags.c.run_uuid == run_id, t.tags.c.key == key)
            ).rowcount
            if not deleted:
                raise NotFound(f"No tag with name: {key} in run with id {run_id}", run_id=run_id)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        with translate_errors(), self._write() as conn:
            run = self._active_run_row(conn, run_id)
            for item in datasets:
                ds = item.dataset
                insert_ignore(
                    conn,
                    t.datasets,
                    [
                        {
                            "experiment_id": run.experiment_id,
                            "name": ds.name,
                            "digest": ds.digest,
                            "source_type": ds.source_type,
                            "source": ds.source,
                            "schema": ds.schema,
                            "profile": ds.profile,
                        }
                    ],
                )
                dataset_id = conn.execute(
                    sa.select(t.datasets.c.dataset_id).where(
                        t.datasets.c.experiment_id == run.experiment_id,
                        t.datasets.c.name == ds.name,
                        t.datasets.c.digest == ds.digest,
                    )
                ).scalar_one()
                tag_map = {tag.key: tag.value for tag in item.tags}
                insert_ignore(
                    conn,
                    t.run_inputs,
                    [
                        {
                            "run_uuid": run_id,
                            "dataset_id": dataset_id,
                            "context": tag_map.get(DATASET_CONTEXT_TAG),
                        }
                    ],
                )
                insert_ignore(
                    conn,
                    t.run_input_tags,
                    [
                        {"run_uuid": run_id, "dataset_id": dataset_id, "key": k, "value": v}
                        for k, v in tag_map.items()
                    ],
                )

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[Metric]:
        page = self.get_metric_points(run_id, key, max_results, page_token)
        return PagedList(metrics_from_points(key, page.items, run_id), page.next_page_token)

    def get_metric_points(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[MetricPoint]:
        m = t.metrics
        query = (
            sa.select(metric_value_column(m.c.value, m.c.is_nan), m.c.timestamp, m.c.step)
            .where(m.c.run_uuid == run_id, m.c.key == key)
            .order_by(m.c.step, m.c.timestamp, m.c.value)
        )
        offset = decode_page_token(page_token)
        if max_results is not None:
            query = query.offset(offset).limit(max_results + 1)
        elif offset:
            query = query.offset(offset)
        with translate_errors(), self._read() as conn:
            rows = _fetch(conn, query)
        more = max_results is not None and len(rows) > max_results
        if more:
            rows = rows[:max_results]
        points = restore_metric_values(rows, 0)
        token = encode_page_token(offset + len(points)) if more else None
        return PagedList(points, token)

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        key: str,
        start_step: int | None,
        end_step: int | None,
        max_results: int,
    ) -> list[Metric]:
        """Up to ``max_results`` steps per run, spread evenly, always keeping the first and last."""
        m = t.metrics
        out: list[Metric] = []
        with translate_errors(), self._read() as conn:
            for run_id in dict.fromkeys(run_ids):
                cond = [m.c.run_uuid == run_id, m.c.key == key]
                if start_step is not None and end_step is not None:
                    cond += [m.c.step >= start_step, m.c.step <= end_step]
                steps = (
                    conn.execute(sa.select(m.c.step).where(*cond).distinct().order_by(m.c.step))
                    .scalars()
                    .all()
                )
                chosen = _sample_steps(steps, max_results)
                if not chosen:
                    continue
                rows = []
                for chunk in _chunks(chosen):
                    rows += conn.execute(
                        sa.select(m.c.key, m.c.value, m.c.is_nan, m.c.timestamp, m.c.step).where(
                            m.c.run_uuid == run_id, m.c.key == key, m.c.step.in_(chunk)
                        )
                    ).all()
                rows.sort(key=lambda r: (r.step, r.timestamp))
                out.extend(metric_from_row(r, run_id) for r in rows)
        return out

    def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        ids = [int(e) for e in experiment_ids if e.isdigit()]
        if not ids:
            return []
        ds, ri = t.datasets, t.run_inputs
        query = (
            sa.select(ds.c.experiment_id, ds.c.name, ds.c.digest, ri.c.context)
            .join(ri, ri.c.dataset_id == ds.c.dataset_id)
            .where(ds.c.experiment_id.in_(ids))
            .distinct()
            .order_by(ds.c.experiment_id, ds.c.name, ds.c.digest)
            .limit(1000)
        )
        with translate_errors(), self._read() as conn:
            return [
                DatasetSummary(str(r.experiment_id), r.name, r.digest, r.context)
                for r in conn.execute(query)
            ]

    def run_keys(self, experiment_ids: Sequence[str], max_keys: int) -> dict[str, list[str]]:
        """The distinct param, metric and tag keys of the runs in the experiments (any lifecycle
        stage), sorted, at most ``max_keys`` of each: one indexed pass per table (the runs by
        ``ix_runs_experiment_start``, their keys by each table's primary key)."""
        ids = [int(e) for e in experiment_ids if e.isdigit()]
        out: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
        if not ids:
            return out
        runs_in = sa.select(t.runs.c.run_uuid).where(t.runs.c.experiment_id.in_(ids))
        tables = {"params": t.params, "metrics": t.latest_metrics, "tags": t.tags}
        with translate_errors(), self._read() as conn:
            for kind, table in tables.items():
                query = (
                    sa.select(table.c.key)
                    .where(table.c.run_uuid.in_(runs_in))
                    .distinct()
                    .order_by(table.c.key)
                    .limit(max_keys)
                )
                out[kind] = list(conn.execute(query).scalars())
        return out

    # ------------------------------------------------------------------ maintenance
    def deleted_run_ids(self, older_than_ms: int | None) -> list[str]:
        query = sa.select(t.runs.c.run_uuid).where(t.runs.c.lifecycle_stage == "deleted")
        if older_than_ms is not None:
            query = query.where(t.runs.c.deleted_time <= _now_ms() - older_than_ms)
        with translate_errors(), self._read() as conn:
            return list(conn.execute(query).scalars())

    def deleted_experiment_ids(self, older_than_ms: int | None) -> list[str]:
        query = sa.select(t.experiments.c.experiment_id).where(
            t.experiments.c.lifecycle_stage == "deleted"
        )
        if older_than_ms is not None:
            query = query.where(t.experiments.c.deleted_time <= _now_ms() - older_than_ms)
        with translate_errors(), self._read() as conn:
            return [str(i) for i in conn.execute(query).scalars()]

    def hard_delete_runs(self, run_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(run_ids))
        with translate_errors(), self._write() as conn:
            _delete_run_rows(conn, ids)
        return len(ids)

    def hard_delete_experiments(self, experiment_ids: Sequence[str]) -> int:
        ids = [
            int(e)
            for e in dict.fromkeys(experiment_ids)
            if e.isdigit() and e != DEFAULT_EXPERIMENT_ID
        ]
        with translate_errors(), self._write() as conn:
            for chunk in _chunks(ids):
                run_ids = list(
                    conn.execute(
                        sa.select(t.runs.c.run_uuid).where(t.runs.c.experiment_id.in_(chunk))
                    ).scalars()
                )
                _delete_run_rows(conn, run_ids)
                dataset_ids = sa.select(t.datasets.c.dataset_id).where(
                    t.datasets.c.experiment_id.in_(chunk)
                )
                conn.execute(
                    t.run_inputs.delete().where(t.run_inputs.c.dataset_id.in_(dataset_ids))
                )
                conn.execute(t.datasets.delete().where(t.datasets.c.experiment_id.in_(chunk)))
                conn.execute(
                    t.experiment_tags.delete().where(t.experiment_tags.c.experiment_id.in_(chunk))
                )
                conn.execute(t.experiments.delete().where(t.experiments.c.experiment_id.in_(chunk)))
        return len(ids)


#: One run's row by id, built once: every write checks its run first, inside the write lock.
_RUN_ROW = sa.select(t.runs).where(t.runs.c.run_uuid == sa.bindparam("run_id"))


def _fetch(conn: Connection, query: sa.Executable) -> list[Any]:
    """All rows of ``query`` as the driver's tuples: SQLAlchemy's per-row processing would cost more
    than the query on long results. Only for columns the driver returns as they are (no booleans on
    SQLite/MySQL, no JSON)."""
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


#: The latest-metric columns a run record holds after ``(run_uuid, key)``; NULL stands for NaN.
_METRIC_COLUMNS = ("CASE WHEN {is_nan} THEN NULL ELSE {value} END", "{timestamp}", "{step}")
_CHILD_SQL: dict[tuple[str, str, tuple[str, ...], int], str] = {}


def _child_rows(
    conn: Connection, table: str, columns: tuple[str, ...], run_ids: Sequence[str]
) -> list[Any]:
    """``(run_uuid, key, *columns)`` rows of a child table for some runs, in (run, key) order.

    The SQL text is built once per dialect, table and number of ids and run through the driver
    directly: compiling an expanding ``IN`` of hundreds of ids through SQLAlchemy on every search
    cost more than the query. ``columns`` are names, or templates naming columns in braces.
    """
    dialect = conn.dialect
    cache_key = (dialect.name, table, columns, len(run_ids))  # at most _CHUNK lengths per table
    sql = _CHILD_SQL.get(cache_key)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        names = {c: quote(c) for c in ("run_uuid", "key", "value", "is_nan", "timestamp", "step")}
        selected = [c.format(**names) if "{" in c else quote(c) for c in columns]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"  # format and pyformat drivers
        sql = (
            f"SELECT {names['run_uuid']}, {names['key']}, {', '.join(selected)} FROM {table} "
            f"WHERE {names['run_uuid']} IN ({', '.join([mark] * len(run_ids))}) "
            f"ORDER BY {names['run_uuid']}, {names['key']}"
        )
        _CHILD_SQL[cache_key] = sql
    result = conn.exec_driver_sql(sql, tuple(run_ids))
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _by_run(rows: list[Any]) -> dict[str, list[Any]]:
    """Rows sorted by their first column (the run id), cut into one list per run."""
    return {run_id: list(group) for run_id, group in groupby(rows, itemgetter(0))}


def _delete_run_rows(conn: Connection, run_ids: Sequence[str]) -> None:
    children: Iterable[sa.Table] = (
        t.run_input_tags,
        t.run_inputs,
        t.metrics,
        t.latest_metrics,
        t.params,
        t.tags,
    )
    for chunk in _chunks(list(run_ids)):
        for table in children:
            conn.execute(table.delete().where(table.c.run_uuid.in_(chunk)))
        conn.execute(t.runs.delete().where(t.runs.c.run_uuid.in_(chunk)))


def _sample_steps(steps: Sequence[int], max_results: int) -> list[int]:
    if len(steps) <= max_results:
        return list(steps)
    if max_results == 1:
        return [steps[-1]]
    stride = (len(steps) - 1) / (max_results - 1)
    return sorted(
        {steps[min(len(steps) - 1, math.floor(i * stride + 0.5))] for i in range(max_results)}
    )
