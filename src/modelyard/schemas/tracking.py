"""Tracking entities <-> MLflow response JSON, in both directions.

The server writes responses with the ``*_to_dict`` functions; the HTTP client reads them back with the
``*_from_dict`` functions, so one module owns the wire shape. The conventions (reference §1.1):

* field names are snake_case; a run carries both ``run_id`` and its deprecated alias ``run_uuid``;
* int64 values are JSON numbers, enums are their names;
* unset fields (``None``) and empty lists are left out;
* doubles that JSON cannot hold travel as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.

The ``*_from_dict`` functions read answers from a server (ours or MLflow's): they ignore unknown fields
and fill MLflow's defaults for missing ones. Request bodies are parsed elsewhere, strictly
(:mod:`modelyard.schemas.fields`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelyard.entities import (
    Dataset,
    DatasetInput,
    DatasetSummary,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
)
from modelyard.errors import InvalidInput

JsonDict = dict[str, Any]

_POS_INF = math.inf
_NEG_INF = -math.inf
_SPECIAL_DOUBLES: dict[str, float] = {
    "NaN": math.nan,
    "nan": math.nan,
    "Infinity": _POS_INF,
    "inf": _POS_INF,
    "-Infinity": _NEG_INF,
    "-inf": _NEG_INF,
}


# ---------------------------------------------------------------------------------------- doubles
def encode_double(value: float) -> float | str:
    """A double as JSON can carry it: NaN and ±inf become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if value != value:  # NaN, without a function call
        return "NaN"
    if value == _POS_INF:
        return "Infinity"
    if value == _NEG_INF:
        return "-Infinity"
    return value


def decode_double(value: object, field: str = "value") -> float:
    """The inverse of :func:`encode_double`; also takes numeric strings, as proto JSON does.

    Raises :class:`InvalidInput` naming ``field`` for anything else (booleans included).
    """
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return _bad(value, field)


def _bad(value: object, field: str) -> float:
    raise InvalidInput(f"Invalid value {_shown(value)} for parameter '{field}' supplied.")


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 100 else text[:100] + "..."


# ---------------------------------------------------------------------------------------- key/value
def tag_to_dict(tag: RunTag | ExperimentTag | InputTag) -> JsonDict:
    """Any key/value tag (run, experiment or dataset-input tag)."""
    return {"key": tag.key, "value": tag.value}


def param_to_dict(param: Param) -> JsonDict:
    return {"key": param.key, "value": param.value}


def _pairs(items: Iterable[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    if not items:
        return []
    return [(str(d.get("key", "")), str(d.get("value", ""))) for d in items]


def param_from_dict(d: Mapping[str, Any]) -> Param:
    return Param(str(d.get("key", "")), str(d.get("value", "")))


def tag_from_dict(d: Mapping[str, Any]) -> RunTag:
    return RunTag(str(d.get("key", "")), str(d.get("value", "")))


# ---------------------------------------------------------------------------------------- experiments
def experiment_to_dict(experiment: Experiment) -> JsonDict:
    out: JsonDict = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
    }
    if experiment.last_update_time is not None:
        out["last_update_time"] = experiment.last_update_time
    if experiment.creation_time is not None:
        out["creation_time"] = experiment.creation_time
    if experiment.tags:
        out["tags"] = [{"key": t.key, "value": t.value} for t in experiment.tags]
    return out


def experiment_from_dict(d: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(d["experiment_id"]),
        name=d.get("name", ""),
        artifact_location=d.get("artifact_location", ""),
        lifecycle_stage=d.get("lifecycle_stage") or LifecycleStage.ACTIVE.value,
        creation_time=_opt_int(d.get("creation_time")),
        last_update_time=_opt_int(d.get("last_update_time")),
        tags=tuple(ExperimentTag(k, v) for k, v in _pairs(d.get("tags"))),
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ---------------------------------------------------------------------------------------- metrics
def metric_to_dict(metric: Metric) -> JsonDict:
    value: float | str = metric.value
    if value != value or value in (_POS_INF, _NEG_INF):
        value = encode_double(metric.value)
    out: JsonDict = {
        "key": metric.key,
        "value": value,
        "timestamp": metric.timestamp,
        "step": metric.step,
    }
    if metric.run_id is not None:
        out["run_id"] = metric.run_id
    if metric.dataset_name is not None:
        out["dataset_name"] = metric.dataset_name
    if metric.dataset_digest is not None:
        out["dataset_digest"] = metric.dataset_digest
    if metric.model_id is not None:
        out["model_id"] = metric.model_id
    return out


def metric_points_to_dicts(
    key: str, run_id: str | None, points: Iterable[tuple[float, int, int]]
) -> list[JsonDict]:
    """History points ``(value, timestamp, step)`` of one run and key, as :func:`metric_to_dict` writes
    them: one comprehension, so 100,000 points cost no function call each."""
    neg, pos, encode = _NEG_INF, _POS_INF, encode_double
    if run_id is None:
        return [
            {"key": key, "value": v if neg < v < pos else encode(v), "timestamp": ts, "step": s}
            for v, ts, s in points
        ]
    return [
        {
            "key": key,
            "value": v if neg < v < pos else encode(v),  # NaN fails both comparisons
            "timestamp": ts,
            "step": s,
            "run_id": run_id,
        }
        for v, ts, s in points
    ]


def metric_from_dict(d: Mapping[str, Any]) -> Metric:
    return Metric(
        key=d.get("key", ""),
        value=decode_double(d.get("value", 0.0)),
        timestamp=int(d.get("timestamp", 0)),
        step=int(d.get("step", 0)),
        run_id=d.get("run_id"),
        dataset_name=d.get("dataset_name"),
        dataset_digest=d.get("dataset_digest"),
        model_id=d.get("model_id"),
    )


# ---------------------------------------------------------------------------------------- datasets
def dataset_to_dict(dataset: Dataset) -> JsonDict:
    out: JsonDict = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
    }
    if dataset.schema is not None:
        out["schema"] = dataset.schema
    if dataset.profile is not None:
        out["profile"] = dataset.profile
    return out


def dataset_from_dict(d: Mapping[str, Any]) -> Dataset:
    return Dataset(
        name=d.get("name", ""),
        digest=d.get("digest", ""),
        source_type=d.get("source_type", ""),
        source=d.get("source", ""),
        schema=d.get("schema"),
        profile=d.get("profile"),
    )


def dataset_input_to_dict(item: DatasetInput) -> JsonDict:
    out: JsonDict = {"dataset": dataset_to_dict(item.dataset)}
    if item.tags:
        out["tags"] = [{"key": t.key, "value": t.value} for t in item.tags]
    return out


def dataset_input_from_dict(d: Mapping[str, Any]) -> DatasetInput:
    return DatasetInput(
        dataset=dataset_from_dict(d.get("dataset") or {}),
        tags=tuple(InputTag(k, v) for k, v in _pairs(d.get("tags"))),
    )


def dataset_summary_to_dict(summary: DatasetSummary) -> JsonDict:
    out: JsonDict = {
        "experiment_id": summary.experiment_id,
        "name": summary.name,
        "digest": summary.digest,
    }
    if summary.context is not None:
        out["context"] = summary.context
    return out


def dataset_summary_from_dict(d: Mapping[str, Any]) -> DatasetSummary:
    return DatasetSummary(
        experiment_id=str(d.get("experiment_id", "")),
        name=d.get("name", ""),
        digest=d.get("digest", ""),
        context=d.get("context"),
    )


# ---------------------------------------------------------------------------------------- runs
def run_info_to_dict(info: RunInfo) -> JsonDict:
    out: JsonDict = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status.value if isinstance(info.status, RunStatus) else info.status,
    }
    if info.start_time is not None:
        out["start_time"] = info.start_time
    if info.end_time is not None:
        out["end_time"] = info.end_time
    out["artifact_uri"] = info.artifact_uri
    out["lifecycle_stage"] = info.lifecycle_stage
    return out


def run_info_from_dict(d: Mapping[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=d.get("run_id") or d.get("run_uuid") or "",
        experiment_id=str(d.get("experiment_id", "")),
        run_name=d.get("run_name", ""),
        user_id=d.get("user_id", ""),
        status=d.get("status") or RunStatus.RUNNING.value,
        start_time=_opt_int(d.get("start_time")),
        end_time=_opt_int(d.get("end_time")),
        artifact_uri=d.get("artifact_uri", ""),
        lifecycle_stage=d.get("lifecycle_stage") or LifecycleStage.ACTIVE.value,
    )


def run_to_dict(run: Run) -> JsonDict:
    data: JsonDict = {}
    if run.data.metrics:
        data["metrics"] = [metric_to_dict(m) for m in run.data.metrics]
    if run.data.params:
        data["params"] = [{"key": p.key, "value": p.value} for p in run.data.params]
    if run.data.tags:
        data["tags"] = [{"key": t.key, "value": t.value} for t in run.data.tags]
    inputs: JsonDict = {}
    if run.inputs.dataset_inputs:
        inputs["dataset_inputs"] = [dataset_input_to_dict(i) for i in run.inputs.dataset_inputs]
    return {"info": run_info_to_dict(run.info), "data": data, "inputs": inputs}


def run_record_to_dict(
    info: RunInfo,
    metrics: Sequence[tuple[str, str, float, int, int]],
    params: Sequence[tuple[str, str, str]],
    tags: Sequence[tuple[str, str, str]],
    inputs: Sequence[DatasetInput],
) -> JsonDict:
    """A run held as plain tuples (the fields of a store's ``RunRecord``, in order), written exactly
    as :func:`run_to_dict` writes the same run: ``run_record_to_dict(*record)``.

    ``metrics`` are ``(run_id, key, value, timestamp, step)``; ``params`` and ``tags`` ``(run_id, key,
    value)``.
    """
    neg, pos, encode = _NEG_INF, _POS_INF, encode_double
    data: JsonDict = {}
    if metrics:
        data["metrics"] = [
            {"key": k, "value": v if neg < v < pos else encode(v), "timestamp": ts, "step": s}
            for _, k, v, ts, s in metrics
        ]
    if params:
        data["params"] = [{"key": k, "value": v} for _, k, v in params]
    if tags:
        data["tags"] = [{"key": k, "value": v} for _, k, v in tags]
    out_inputs: JsonDict = {}
    if inputs:
        out_inputs["dataset_inputs"] = [dataset_input_to_dict(i) for i in inputs]
    return {"info": run_info_to_dict(info), "data": data, "inputs": out_inputs}


def run_from_dict(d: Mapping[str, Any]) -> Run:
    data = d.get("data") or {}
    inputs = d.get("inputs") or {}
    return Run(
        info=run_info_from_dict(d.get("info") or {}),
        data=RunData(
            metrics=tuple(metric_from_dict(m) for m in data.get("metrics") or ()),
            params=tuple(Param(k, v) for k, v in _pairs(data.get("params"))),
            tags=tuple(RunTag(k, v) for k, v in _pairs(data.get("tags"))),
        ),
        inputs=RunInputs(
            dataset_inputs=tuple(
                dataset_input_from_dict(i) for i in inputs.get("dataset_inputs") or ()
            )
        ),
    )


__all__ = [
    "dataset_from_dict",
    "dataset_input_from_dict",
    "dataset_input_to_dict",
    "dataset_summary_from_dict",
    "dataset_summary_to_dict",
    "dataset_to_dict",
    "decode_double",
    "encode_double",
    "experiment_from_dict",
    "experiment_to_dict",
    "metric_from_dict",
    "metric_points_to_dicts",
    "metric_to_dict",
    "param_from_dict",
    "param_to_dict",
    "run_from_dict",
    "run_info_from_dict",
    "run_info_to_dict",
    "run_record_to_dict",
    "run_to_dict",
    "tag_from_dict",
    "tag_to_dict",
]
