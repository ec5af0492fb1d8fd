"""Logged models on the wire (reference §1.8): request field tables and entity <-> JSON.

A model travels as ``{"info": {...}, "data": {"params": [...], "metrics": [...]}}``. Path parameters
(``logged-models/{model_id}``) reach the request dict under their own names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.entities import (
    LoggedModel,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
    ModelOutput,
)
from modelyard.schemas.fields import BOOL, ENUM, ID, INT32, INT64, MESSAGE, STRING, Field, Message

#: Proto number order: LOGGED_MODEL_PENDING = 1, READY = 2, UPLOAD_FAILED = 3.
STATUSES = tuple(s.value for s in LoggedModelStatus)

JsonDict = dict[str, Any]


def _pair(name: str, build: Any) -> Message:
    return Message(
        name,
        [Field("key", STRING, required=True), Field("value", STRING, default="")],
        build=lambda d: build(d["key"], d["value"]),
    )


MODEL_TAG = _pair("LoggedModelTag", LoggedModelTag)
MODEL_PARAM = _pair("LoggedModelParameter", LoggedModelParam)
MODEL_OUTPUT = Message(
    "ModelOutput",
    [Field("model_id", STRING, required=True), Field("step", INT64, required=True)],
    build=lambda d: ModelOutput(d["model_id"], d["step"]),
)
ORDER_BY = Message(
    "OrderBy",
    [
        Field("field_name", STRING, required=True),
        Field("ascending", BOOL, default=True),
        Field("dataset_name", STRING),
        Field("dataset_digest", STRING),
    ],
    build=lambda d: (d["field_name"], d["ascending"]),
)
SEARCH_DATASET = Message(
    "Dataset",
    [Field("dataset_name", STRING, required=True), Field("dataset_digest", STRING)],
)

_MODEL_ID = Field("model_id", STRING, required=True)

CREATE_LOGGED_MODEL = Message(
    "CreateLoggedModel",
    [
        Field("experiment_id", ID, required=True),
        Field("name", STRING),
        Field("model_type", STRING),
        Field("source_run_id", STRING),
        Field("params", MESSAGE, repeated=True, message=MODEL_PARAM),
        Field("tags", MESSAGE, repeated=True, message=MODEL_TAG),
    ],
)
GET_LOGGED_MODEL = Message(
    "GetLoggedModel", [_MODEL_ID, Field("allow_deleted", BOOL, default=False)]
)
FINALIZE_LOGGED_MODEL = Message(
    "FinalizeLoggedModel",
    [_MODEL_ID, Field("status", ENUM, required=True, choices=STATUSES)],
)
DELETE_LOGGED_MODEL = Message("DeleteLoggedModel", [_MODEL_ID])
SEARCH_LOGGED_MODELS = Message(
    "SearchLoggedModels",
    [
        Field("experiment_ids", ID, repeated=True),
        Field("filter", STRING),
        Field("datasets", MESSAGE, repeated=True, message=SEARCH_DATASET),
        Field("max_results", INT32),
        Field("order_by", MESSAGE, repeated=True, message=ORDER_BY),
        Field("page_token", STRING),
    ],
)
SET_LOGGED_MODEL_TAGS = Message(
    "SetLoggedModelTags",
    [_MODEL_ID, Field("tags", MESSAGE, repeated=True, message=MODEL_TAG)],
)
DELETE_LOGGED_MODEL_TAG = Message(
    "DeleteLoggedModelTag", [_MODEL_ID, Field("tag_key", STRING, required=True)]
)
LOG_LOGGED_MODEL_PARAMS = Message(
    "LogLoggedModelParamsRequest",
    [_MODEL_ID, Field("params", MESSAGE, repeated=True, message=MODEL_PARAM)],
)
LOG_OUTPUTS = Message(
    "LogOutputs",
    [
        Field("run_id", STRING, required=True),
        Field("models", MESSAGE, repeated=True, required=True, message=MODEL_OUTPUT),
    ],
)


# ------------------------------------------------------------------------------ entity <-> JSON
def logged_model_to_dict(model: LoggedModel) -> JsonDict:
    info: JsonDict = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp_ms,
        "last_updated_timestamp_ms": model.last_updated_timestamp_ms,
        "artifact_uri": model.artifact_uri,
        "status": model.status,
    }
    for key in ("model_type", "source_run_id", "status_message"):
        value = getattr(model, key)
        if value:
            info[key] = value
    if model.tags:
        info["tags"] = [{"key": t.key, "value": t.value} for t in model.tags]
    data: JsonDict = {}
    if model.params:
        data["params"] = [{"key": p.key, "value": p.value} for p in model.params]
    return {"info": info, "data": data}


def logged_model_from_dict(d: Mapping[str, Any]) -> LoggedModel:
    """Read a model as a server (ours or MLflow's) sends it; unknown fields are ignored."""
    info = d.get("info") or {}
    data = d.get("data") or {}
    status = info.get("status") or LoggedModelStatus.PENDING.value
    if isinstance(status, int):
        status = STATUSES[status - 1] if 1 <= status <= len(STATUSES) else STATUSES[0]
    return LoggedModel(
        model_id=str(info.get("model_id", "")),
        experiment_id=str(info.get("experiment_id", "")),
        name=str(info.get("name", "")),
        artifact_uri=str(info.get("artifact_uri", "")),
        creation_timestamp_ms=int(info.get("creation_timestamp_ms") or 0),
        last_updated_timestamp_ms=int(info.get("last_updated_timestamp_ms") or 0),
        status=status,
        model_type=info.get("model_type") or None,
        source_run_id=info.get("source_run_id") or None,
        status_message=info.get("status_message") or None,
        tags=tuple(
            LoggedModelTag(str(t.get("key", "")), str(t.get("value", "")))
            for t in info.get("tags") or ()
        ),
        params=tuple(
            LoggedModelParam(str(p.get("key", "")), str(p.get("value", "")))
            for p in data.get("params") or ()
        ),
    )


def model_outputs_to_dict(outputs: list[ModelOutput]) -> JsonDict:
    """A run's ``outputs`` object; ``{}`` when it produced no model."""
    if not outputs:
        return {}
    return {"model_outputs": [{"model_id": o.model_id, "step": o.step} for o in outputs]}
