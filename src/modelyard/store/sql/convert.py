"""Rows to entities and plain records, and metric values to and from their stored form."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from modelyard.entities import (
    Experiment,
    ExperimentTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from modelyard.store.base import MetricPoint, RunRecord
from modelyard.store.sql import tables as t

DBL_MAX = 1.7976931348623157e308


def stored_metric_value(value: float) -> tuple[float, bool]:
    """(value, is_nan) as kept in the database: NaN is 0 with the flag, ±inf is ±DBL_MAX."""
    value = float(value)
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (DBL_MAX if value > 0 else -DBL_MAX), False
    return value, False


def loaded_metric_value(value: float, is_nan: bool) -> float:
    if is_nan:
        return math.nan
    if value >= DBL_MAX:
        return math.inf
    if value <= -DBL_MAX:
        return -math.inf
    return value


def metric_from_row(row: Any, run_id: str | None = None) -> Metric:
    return Metric(
        row.key, loaded_metric_value(row.value, row.is_nan), row.timestamp, row.step, run_id
    )


def restore_metric_values(rows: list[Any], index: int) -> list[Any]:
    """Rows whose column ``index`` is a stored value (NULL for NaN): that column as the real value.

    The query selects ``NULL`` for NaN (see :func:`metric_value_column`), so the common case (no NaN,
    no ±inf) is one scan and the rows are returned as they are.
    """
    lowest = -DBL_MAX
    if not any((v := r[index]) is None or v >= DBL_MAX or v <= lowest for r in rows):
        return rows
    out = []
    for r in rows:
        v = r[index]
        if v is None or v >= DBL_MAX or v <= lowest:
            v = loaded_metric_value(0.0 if v is None else v, v is None)
            r = (*r[:index], v, *r[index + 1 :])
        out.append(r)
    return out


def metric_value_column(value: Any, is_nan: Any) -> Any:
    """The stored value as one column, ``NULL`` for NaN (read back by :func:`restore_metric_values`)."""
    return sa.case((is_nan == sa.true(), sa.null()), else_=value)


def metrics_from_points(
    key: str, points: Sequence[MetricPoint], run_id: str | None
) -> list[Metric]:
    """History points as :class:`Metric` entities of one key."""
    new = tuple.__new__  # skips the generated __new__ of the named tuple: ~2x faster on 100k rows
    return [
        new(Metric, (key, value, timestamp, step, run_id, None, None, None))
        for value, timestamp, step in points
    ]


def run_from_record(record: RunRecord) -> Run:
    info, metrics, params, tags, inputs = record
    return Run(
        info,
        RunData(
            metrics=tuple(Metric(k, v, ts, step) for _, k, v, ts, step in metrics),
            params=tuple(Param(k, v) for _, k, v in params),
            tags=tuple(RunTag(k, v) for _, k, v in tags),
        ),
        RunInputs(tuple(inputs)),
    )


def experiment_from_row(row: Any, tags: tuple[ExperimentTag, ...] = ()) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=row.lifecycle_stage,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        tags=tags,
    )


#: The ``runs`` columns of a :class:`RunInfo`, in its field order (see :func:`run_info_from_tuple`).
RUN_INFO_COLUMNS = (
    t.runs.c.run_uuid,
    t.runs.c.experiment_id,
    t.runs.c.name,
    t.runs.c.user_id,
    t.runs.c.status,
    t.runs.c.start_time,
    t.runs.c.end_time,
    t.runs.c.artifact_uri,
    t.runs.c.lifecycle_stage,
)


def run_info_from_tuple(row: Sequence[Any]) -> RunInfo:
    """A raw DBAPI row of :data:`RUN_INFO_COLUMNS`."""
    run_id, exp_id, name, user_id, status, start, end, artifact_uri, stage = row
    return RunInfo(run_id, str(exp_id), name, user_id, status, start, end, artifact_uri, stage)


def run_info_from_row(row: Any) -> RunInfo:
    return RunInfo(
        run_id=row.run_uuid,
        experiment_id=str(row.experiment_id),
        run_name=row.name,
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=row.lifecycle_stage,
    )
