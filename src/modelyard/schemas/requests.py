"""The request field table of every tracking endpoint (reference §1.4, §1.5).

Each constant is a :class:`~modelyard.schemas.fields.Message`; nested messages build entities directly
(a ``metrics`` list parses straight into :class:`~modelyard.entities.Metric` objects).
"""

from __future__ import annotations

from typing import Any

from modelyard.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.schemas.fields import (
    DOUBLE,
    ENUM,
    ID,
    INT32,
    INT64,
    MESSAGE,
    STRING,
    Field,
    Message,
)

#: Proto number order: ACTIVE_ONLY = 1, DELETED_ONLY = 2, ALL = 3.
VIEW_TYPES = tuple(v.value for v in ViewType)
#: Proto number order: RUNNING = 1 ... KILLED = 5.
RUN_STATUSES = tuple(s.value for s in RunStatus)

DEFAULT_MAX_RESULTS = 1000
DEFAULT_BULK_INTERVAL_RESULTS = 2500
DEFAULT_BULK_HISTORY_RESULTS = 25000
MAX_BULK_HISTORY_RESULTS = 25000


def _run_id(**kw: Any) -> Field:
    return Field("run_id", STRING, required=True, aliases=("run_uuid",), **kw)


def _key_value(name: str, build: Any) -> Message:
    return Message(
        name,
        [Field("key", STRING, required=True), Field("value", STRING, default="")],
        build=lambda d: build(d["key"], d["value"]),
    )


RUN_TAG = _key_value("RunTag", RunTag)
EXPERIMENT_TAG = _key_value("ExperimentTag", ExperimentTag)
INPUT_TAG = _key_value("InputTag", InputTag)
PARAM = _key_value("Param", Param)

METRIC = Message(
    "Metric",
    [
        Field("key", STRING, required=True),
        Field("value", DOUBLE, required=True),
        Field("timestamp", INT64, required=True),
        Field("step", INT64, default=0),
        Field("run_id", STRING),
        Field("dataset_name", STRING),
        Field("dataset_digest", STRING),
        Field("model_id", STRING),
    ],
    build=lambda d: Metric(
        d["key"],
        d["value"],
        d["timestamp"],
        d["step"],
        None,
        d["dataset_name"],
        d["dataset_digest"],
        d["model_id"],
    ),
)

DATASET = Message(
    "Dataset",
    [
        Field("name", STRING, required=True),
        Field("digest", STRING, required=True),
        Field("source_type", STRING, required=True),
        Field("source", STRING, required=True),
        Field("schema", STRING),
        Field("profile", STRING),
    ],
    build=lambda d: Dataset(
        d["name"], d["digest"], d["source_type"], d["source"], d["schema"], d["profile"]
    ),
)

DATASET_INPUT = Message(
    "DatasetInput",
    [
        Field("tags", MESSAGE, repeated=True, message=INPUT_TAG),
        Field("dataset", MESSAGE, required=True, message=DATASET),
    ],
    build=lambda d: DatasetInput(d["dataset"], tuple(d["tags"])),
)

# ------------------------------------------------------------------------------------ experiments
CREATE_EXPERIMENT = Message(
    "CreateExperiment",
    [
        Field("name", STRING, required=True),
        Field("artifact_location", STRING),
        Field("tags", MESSAGE, repeated=True, message=EXPERIMENT_TAG),
    ],
)
SEARCH_EXPERIMENTS = Message(
    "SearchExperiments",
    [
        Field("max_results", INT64, default=DEFAULT_MAX_RESULTS),
        Field("page_token", STRING),
        Field("filter", STRING),
        Field("order_by", STRING, repeated=True),
        Field("view_type", ENUM, default=ViewType.ACTIVE_ONLY.value, choices=VIEW_TYPES),
    ],
)
GET_EXPERIMENT = Message("GetExperiment", [Field("experiment_id", ID, required=True)])
GET_EXPERIMENT_BY_NAME = Message(
    "GetExperimentByName", [Field("experiment_name", STRING, required=True)]
)
DELETE_EXPERIMENT = Message("DeleteExperiment", [Field("experiment_id", ID, required=True)])
RESTORE_EXPERIMENT = Message("RestoreExperiment", [Field("experiment_id", ID, required=True)])
UPDATE_EXPERIMENT = Message(
    "UpdateExperiment",
    [Field("experiment_id", ID, required=True), Field("new_name", STRING)],
)
SET_EXPERIMENT_TAG = Message(
    "SetExperimentTag",
    [
        Field("experiment_id", ID, required=True),
        Field("key", STRING, required=True),
        Field("value", STRING, required=True, allow_empty=True),
    ],
)
DELETE_EXPERIMENT_TAG = Message(
    "DeleteExperimentTag",
    [Field("experiment_id", ID, required=True), Field("key", STRING, required=True)],
)
SEARCH_DATASETS = Message(
    "SearchDatasets", [Field("experiment_ids", ID, repeated=True, required=True)]
)

# ------------------------------------------------------------------------------------ runs
CREATE_RUN = Message(
    "CreateRun",
    [
        Field("experiment_id", ID),
        Field("user_id", STRING),
        Field("run_name", STRING),
        Field("start_time", INT64),
        Field("tags", MESSAGE, repeated=True, message=RUN_TAG),
    ],
)
UPDATE_RUN = Message(
    "UpdateRun",
    [
        _run_id(),
        Field("status", ENUM, choices=RUN_STATUSES),
        Field("end_time", INT64),
        Field("run_name", STRING),
    ],
)
DELETE_RUN = Message("DeleteRun", [_run_id()])
RESTORE_RUN = Message("RestoreRun", [_run_id()])
GET_RUN = Message("GetRun", [_run_id()])
SEARCH_RUNS = Message(
    "SearchRuns",
    [
        Field("experiment_ids", ID, repeated=True),
        Field("filter", STRING),
        Field("run_view_type", ENUM, default=ViewType.ACTIVE_ONLY.value, choices=VIEW_TYPES),
        Field("max_results", INT32, default=DEFAULT_MAX_RESULTS),
        Field("order_by", STRING, repeated=True),
        Field("page_token", STRING),
    ],
)
LOG_METRIC = Message(
    "LogMetric",
    [
        _run_id(),
        Field("key", STRING, required=True),
        Field("value", DOUBLE, required=True),
        Field("timestamp", INT64, required=True),
        Field("step", INT64, default=0),
        Field("model_id", STRING),
        Field("dataset_name", STRING),
        Field("dataset_digest", STRING),
    ],
)
LOG_PARAM = Message(
    "LogParam",
    [
        _run_id(),
        Field("key", STRING, required=True),
        Field("value", STRING, required=True, allow_empty=True),
    ],
)
SET_TAG = Message(
    "SetTag",
    [
        _run_id(),
        Field("key", STRING, required=True),
        Field("value", STRING, required=True, allow_empty=True),
    ],
)
DELETE_TAG = Message("DeleteTag", [_run_id(), Field("key", STRING, required=True)])
LOG_BATCH = Message(
    "LogBatch",
    [
        _run_id(),
        Field("metrics", MESSAGE, repeated=True, message=METRIC),
        Field("params", MESSAGE, repeated=True, message=PARAM),
        Field("tags", MESSAGE, repeated=True, message=RUN_TAG),
    ],
)
LOG_INPUTS = Message(
    "LogInputs",
    [_run_id(), Field("datasets", MESSAGE, repeated=True, message=DATASET_INPUT)],
)

# ------------------------------------------------------------------------------------ metrics
GET_METRIC_HISTORY = Message(
    "GetMetricHistory",
    [
        _run_id(),
        Field("metric_key", STRING, required=True),
        Field("page_token", STRING),
        Field("max_results", INT32),
    ],
)
GET_METRIC_HISTORY_BULK_INTERVAL = Message(
    "GetMetricHistoryBulkInterval",
    [
        Field("run_ids", STRING, repeated=True, required=True),
        Field("metric_key", STRING, required=True),
        Field("start_step", INT32),
        Field("end_step", INT32),
        Field("max_results", INT32, default=DEFAULT_BULK_INTERVAL_RESULTS),
    ],
)
GET_METRIC_HISTORY_BULK = Message(
    "GetMetricHistoryBulk",
    [
        Field("run_id", STRING, repeated=True, required=True),
        Field("metric_key", STRING, required=True),
        Field("max_results", INT32, default=DEFAULT_BULK_HISTORY_RESULTS),
    ],
)
