"""The model registry on the wire (reference §1.9, §8): request field tables and entity <-> JSON.

MLflow's messages, plus transition requests, comments and activities with Databricks' field names.
Versions travel as strings (``"3"``) and are accepted as numbers too. Empty fields are omitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.entities import (
    Activity,
    Comment,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    RegistryTag,
    TransitionRequest,
)
from modelyard.schemas.fields import BOOL, ID, INT64, MESSAGE, STRING, Field, Message

JsonDict = dict[str, Any]

TAG = Message(
    "RegistryTag",
    [Field("key", STRING, required=True), Field("value", STRING, default="")],
    build=lambda d: RegistryTag(d["key"], d["value"]),
)

_NAME = Field("name", STRING, required=True)
_VERSION = Field("version", ID, required=True)
_KEY = Field("key", STRING, required=True)

# ------------------------------------------------------------------------------ registered models
CREATE_REGISTERED_MODEL = Message(
    "CreateRegisteredModel",
    [
        _NAME,
        Field("tags", MESSAGE, repeated=True, message=TAG),
        Field("description", STRING),
        Field("deployment_job_id", STRING),
    ],
)
RENAME_REGISTERED_MODEL = Message(
    "RenameRegisteredModel", [_NAME, Field("new_name", STRING, required=True)]
)
UPDATE_REGISTERED_MODEL = Message(
    "UpdateRegisteredModel",
    [_NAME, Field("description", STRING), Field("deployment_job_id", STRING)],
)
NAME_ONLY = Message("RegisteredModelName", [_NAME])
SEARCH = Message(
    "SearchRegistry",
    [
        Field("filter", STRING),
        Field("max_results", INT64),
        Field("order_by", STRING, repeated=True),
        Field("page_token", STRING),
    ],
)
GET_LATEST_VERSIONS = Message("GetLatestVersions", [_NAME, Field("stages", STRING, repeated=True)])
SET_REGISTERED_MODEL_TAG = Message(
    "SetRegisteredModelTag",
    [_NAME, _KEY, Field("value", STRING, required=True, allow_empty=True)],
)
DELETE_REGISTERED_MODEL_TAG = Message("DeleteRegisteredModelTag", [_NAME, _KEY])
SET_ALIAS = Message(
    "SetRegisteredModelAlias", [_NAME, Field("alias", STRING, required=True), _VERSION]
)
ALIAS = Message("RegisteredModelAlias", [_NAME, Field("alias", STRING, required=True)])

# ------------------------------------------------------------------------------ model versions
CREATE_MODEL_VERSION = Message(
    "CreateModelVersion",
    [
        _NAME,
        Field("source", STRING, required=True),
        Field("run_id", STRING),
        Field("tags", MESSAGE, repeated=True, message=TAG),
        Field("run_link", STRING),
        Field("description", STRING),
        Field("model_id", STRING),
    ],
)
UPDATE_MODEL_VERSION = Message(
    "UpdateModelVersion", [_NAME, _VERSION, Field("description", STRING)]
)
TRANSITION_STAGE = Message(
    "TransitionModelVersionStage",
    [
        _NAME,
        _VERSION,
        Field("stage", STRING, required=True),
        Field("archive_existing_versions", BOOL, default=False),
        Field("comment", STRING),
    ],
)
VERSION_ONLY = Message("ModelVersionName", [_NAME, _VERSION])
SET_MODEL_VERSION_TAG = Message(
    "SetModelVersionTag",
    [_NAME, _VERSION, _KEY, Field("value", STRING, required=True, allow_empty=True)],
)
DELETE_MODEL_VERSION_TAG = Message("DeleteModelVersionTag", [_NAME, _VERSION, _KEY])

# ------------------------------------------------------------------------------ requests, comments
CREATE_TRANSITION_REQUEST = Message(
    "CreateTransitionRequest",
    [
        _NAME,
        _VERSION,
        Field("stage", STRING, required=True),
        Field("comment", STRING),
        Field("archive_existing_versions", BOOL, default=False),
    ],
)
_REQUEST_KEYS = [
    Field("id", ID),
    Field("name", STRING),
    Field("version", ID),
    Field("stage", STRING),
    Field("comment", STRING),
]
APPROVE_TRANSITION_REQUEST = Message(
    "ApproveTransitionRequest", [*_REQUEST_KEYS, Field("archive_existing_versions", BOOL)]
)
REJECT_TRANSITION_REQUEST = Message("RejectTransitionRequest", _REQUEST_KEYS)
DELETE_TRANSITION_REQUEST = Message(
    "DeleteTransitionRequest", [*_REQUEST_KEYS, Field("creator", STRING)]
)
LIST_TRANSITION_REQUESTS = Message(
    "ListTransitionRequests", [_NAME, Field("version", ID), Field("status", STRING)]
)
CREATE_COMMENT = Message(
    "CreateComment", [_NAME, _VERSION, Field("comment", STRING, required=True)]
)
UPDATE_COMMENT = Message(
    "UpdateComment", [Field("id", ID, required=True), Field("comment", STRING, required=True)]
)
DELETE_COMMENT = Message("DeleteComment", [Field("id", ID, required=True)])
LIST_ACTIVITIES = Message("ListActivities", [_NAME, Field("version", ID)])


# ------------------------------------------------------------------------------ entity -> JSON
def _put(out: JsonDict, key: str, value: Any) -> None:
    if value is not None and value != "":
        out[key] = value


def _tags(tags: tuple[RegistryTag, ...]) -> list[JsonDict]:
    return [{"key": t.key, "value": t.value} for t in tags]


def model_version_to_dict(mv: ModelVersion) -> JsonDict:
    out: JsonDict = {
        "name": mv.name,
        "version": mv.version,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "current_stage": mv.current_stage,
        "source": mv.source,
        "status": mv.status,
    }
    for key in ("user_id", "description", "run_id", "run_link", "status_message", "model_id"):
        _put(out, key, getattr(mv, key))
    if mv.tags:
        out["tags"] = _tags(mv.tags)
    if mv.aliases:
        out["aliases"] = list(mv.aliases)
    return out


def registered_model_to_dict(model: RegisteredModel) -> JsonDict:
    out: JsonDict = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }
    _put(out, "user_id", model.user_id)
    _put(out, "description", model.description)
    if model.latest_versions:
        out["latest_versions"] = [model_version_to_dict(v) for v in model.latest_versions]
    if model.tags:
        out["tags"] = _tags(model.tags)
    if model.aliases:
        out["aliases"] = [{"alias": a.alias, "version": a.version} for a in model.aliases]
    return out


def transition_request_to_dict(r: TransitionRequest) -> JsonDict:
    out: JsonDict = {
        "id": r.id,
        "name": r.name,
        "version": r.version,
        "to_stage": r.to_stage,
        "user_id": r.user_id,
        "creation_timestamp": r.creation_timestamp,
        "status": r.status,
        "archive_existing_versions": r.archive_existing_versions,
    }
    for key in ("comment", "resolved_by", "resolved_timestamp", "resolution_comment"):
        _put(out, key, getattr(r, key))
    return out


def comment_to_dict(c: Comment) -> JsonDict:
    return {
        "id": c.id,
        "name": c.name,
        "version": c.version,
        "user_id": c.user_id,
        "comment": c.comment,
        "creation_timestamp": c.creation_timestamp,
        "last_updated_timestamp": c.last_updated_timestamp,
    }


def activity_to_dict(a: Activity) -> JsonDict:
    out: JsonDict = {
        "id": a.id,
        "name": a.name,
        "activity_type": a.activity_type,
        "user_id": a.user_id,
        "creation_timestamp": a.creation_timestamp,
        "last_updated_timestamp": a.creation_timestamp,
    }
    for key in ("version", "from_stage", "to_stage", "comment", "system_comment"):
        _put(out, key, getattr(a, key))
    return out


# ------------------------------------------------------------------------------ JSON -> entity
def _tags_from(items: Any) -> tuple[RegistryTag, ...]:
    return tuple(RegistryTag(str(t.get("key", "")), str(t.get("value", ""))) for t in items or ())


def model_version_from_dict(d: Mapping[str, Any]) -> ModelVersion:
    """Read a version as a server (ours or MLflow's) sends it; unknown fields are ignored."""
    return ModelVersion(
        name=str(d.get("name", "")),
        version=str(d.get("version", "")),
        creation_timestamp=int(d.get("creation_timestamp") or 0),
        last_updated_timestamp=int(d.get("last_updated_timestamp") or 0),
        source=str(d.get("source", "")),
        current_stage=str(d.get("current_stage") or "None"),
        status=str(d.get("status") or "READY"),
        user_id=d.get("user_id") or None,
        description=d.get("description") or None,
        run_id=d.get("run_id") or None,
        run_link=d.get("run_link") or None,
        status_message=d.get("status_message") or None,
        model_id=d.get("model_id") or None,
        tags=_tags_from(d.get("tags")),
        aliases=tuple(str(a) for a in d.get("aliases") or ()),
    )


def registered_model_from_dict(d: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=str(d.get("name", "")),
        creation_timestamp=int(d.get("creation_timestamp") or 0),
        last_updated_timestamp=int(d.get("last_updated_timestamp") or 0),
        user_id=d.get("user_id") or None,
        description=d.get("description") or None,
        latest_versions=tuple(model_version_from_dict(v) for v in d.get("latest_versions") or ()),
        tags=_tags_from(d.get("tags")),
        aliases=tuple(
            ModelAlias(str(a.get("alias", "")), str(a.get("version", "")))
            for a in d.get("aliases") or ()
        ),
    )


def transition_request_from_dict(d: Mapping[str, Any]) -> TransitionRequest:
    return TransitionRequest(
        id=str(d.get("id", "")),
        name=str(d.get("name", "")),
        version=str(d.get("version", "")),
        to_stage=str(d.get("to_stage", "")),
        user_id=str(d.get("user_id", "")),
        creation_timestamp=int(d.get("creation_timestamp") or 0),
        status=str(d.get("status") or "PENDING"),
        comment=d.get("comment") or None,
        archive_existing_versions=bool(d.get("archive_existing_versions")),
        resolved_by=d.get("resolved_by") or None,
        resolved_timestamp=d.get("resolved_timestamp"),
        resolution_comment=d.get("resolution_comment") or None,
    )


def comment_from_dict(d: Mapping[str, Any]) -> Comment:
    return Comment(
        id=str(d.get("id", "")),
        name=str(d.get("name", "")),
        version=str(d.get("version", "")),
        user_id=str(d.get("user_id", "")),
        comment=str(d.get("comment", "")),
        creation_timestamp=int(d.get("creation_timestamp") or 0),
        last_updated_timestamp=int(d.get("last_updated_timestamp") or 0),
    )


def activity_from_dict(d: Mapping[str, Any]) -> Activity:
    return Activity(
        id=str(d.get("id", "")),
        name=str(d.get("name", "")),
        activity_type=str(d.get("activity_type", "")),
        user_id=str(d.get("user_id", "")),
        creation_timestamp=int(d.get("creation_timestamp") or 0),
        version=d.get("version") or None,
        from_stage=d.get("from_stage") or None,
        to_stage=d.get("to_stage") or None,
        comment=d.get("comment") or None,
        system_comment=d.get("system_comment") or None,
    )
