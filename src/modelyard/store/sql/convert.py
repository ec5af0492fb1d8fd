"""Rows to entities, and metric values to and from their stored form."""

from __future__ import annotations

import math
from typing import Any

from modelyard.entities import Experiment, ExperimentTag, Metric, RunInfo

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


def metrics_from_rows(key: str, rows: Any, run_id: str | None) -> list[Metric]:
    """Fast path for long histories: rows of (value, is_nan, timestamp, step), all of one key."""
    out = []
    append = out.append
    new = tuple.__new__  # skips the generated __new__ of the named tuple: ~2x faster on 100k rows
    for value, is_nan, timestamp, step in rows:
        if is_nan or value >= DBL_MAX or value <= -DBL_MAX:
            value = loaded_metric_value(value, is_nan)
        append(new(Metric, (key, value, timestamp, step, run_id, None, None, None)))
    return out


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
