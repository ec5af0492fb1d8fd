"""Model registry endpoints (reference §1.9) and the modelyard superset: transition requests,
comments and the activity log (Databricks' paths and field names).

Handlers get a :class:`RegistryService` already bound to the user the request names (see
:func:`modelyard.server.deps.request_user`).
"""

from __future__ import annotations

from typing import Any

from modelyard.entities import ActivityType
from modelyard.schemas import registry as s
from modelyard.server.deps import get_registry
from modelyard.server.rpc import RpcTable
from modelyard.service.registry import RegistryService

rpc = RpcTable(get_registry)
Json = dict[str, Any]


def _rm(model: Any) -> Json:
    return {"registered_model": s.registered_model_to_dict(model)}


def _mv(mv: Any) -> Json:
    return {"model_version": s.model_version_to_dict(mv)}


# ------------------------------------------------------------------------------ registered models
@rpc("registered-models/create", "POST", request=s.CREATE_REGISTERED_MODEL)
def create_registered_model(svc: RegistryService, req: Json) -> Json:
    return _rm(svc.create_registered_model(req["name"], req["tags"], req["description"]))


@rpc("registered-models/rename", "POST", request=s.RENAME_REGISTERED_MODEL)
def rename_registered_model(svc: RegistryService, req: Json) -> Json:
    return _rm(svc.rename_registered_model(req["name"], req["new_name"]))


@rpc("registered-models/update", "PATCH", request=s.UPDATE_REGISTERED_MODEL)
def update_registered_model(svc: RegistryService, req: Json) -> Json:
    return _rm(svc.update_registered_model(req["name"], req["description"]))


@rpc("registered-models/delete", "DELETE", request=s.NAME_ONLY)
def delete_registered_model(svc: RegistryService, req: Json) -> Json:
    svc.delete_registered_model(req["name"])
    return {}


@rpc("registered-models/get", "GET", request=s.NAME_ONLY)
def get_registered_model(svc: RegistryService, req: Json) -> Json:
    return _rm(svc.get_registered_model(req["name"]))


@rpc("registered-models/search", "GET", request=s.SEARCH)
def search_registered_models(svc: RegistryService, req: Json) -> Json:
    page = svc.search_registered_models(
        req["filter"], req["max_results"], req["order_by"], req["page_token"]
    )
    out: Json = {}
    if page.items:
        out["registered_models"] = [s.registered_model_to_dict(m) for m in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("registered-models/get-latest-versions", "POST", "GET", request=s.GET_LATEST_VERSIONS)
def get_latest_versions(svc: RegistryService, req: Json) -> Json:
    versions = svc.get_latest_versions(req["name"], req["stages"])
    return {"model_versions": [s.model_version_to_dict(v) for v in versions]} if versions else {}


@rpc("registered-models/set-tag", "POST", request=s.SET_REGISTERED_MODEL_TAG)
def set_registered_model_tag(svc: RegistryService, req: Json) -> Json:
    svc.set_registered_model_tag(req["name"], req["key"], req["value"])
    return {}


@rpc("registered-models/delete-tag", "DELETE", request=s.DELETE_REGISTERED_MODEL_TAG)
def delete_registered_model_tag(svc: RegistryService, req: Json) -> Json:
    svc.delete_registered_model_tag(req["name"], req["key"])
    return {}


@rpc("registered-models/alias", "POST", request=s.SET_ALIAS)
def set_registered_model_alias(svc: RegistryService, req: Json) -> Json:
    svc.set_registered_model_alias(req["name"], req["alias"], req["version"])
    return {}


@rpc("registered-models/alias", "DELETE", request=s.ALIAS)
def delete_registered_model_alias(svc: RegistryService, req: Json) -> Json:
    svc.delete_registered_model_alias(req["name"], req["alias"])
    return {}


@rpc("registered-models/alias", "GET", request=s.ALIAS)
def get_model_version_by_alias(svc: RegistryService, req: Json) -> Json:
    return _mv(svc.get_model_version_by_alias(req["name"], req["alias"]))


@rpc("registered-models/activities", "GET", request=s.LIST_ACTIVITIES)
def list_model_activities(svc: RegistryService, req: Json) -> Json:
    activities = svc.list_activities(req["name"], req["version"])
    return {"activities": [s.activity_to_dict(a) for a in activities]} if activities else {}


# ------------------------------------------------------------------------------ model versions
@rpc("model-versions/create", "POST", request=s.CREATE_MODEL_VERSION)
def create_model_version(svc: RegistryService, req: Json) -> Json:
    return _mv(
        svc.create_model_version(
            req["name"],
            req["source"],
            req["run_id"],
            req["tags"],
            req["run_link"],
            req["description"],
            req["model_id"],
        )
    )


@rpc("model-versions/update", "PATCH", request=s.UPDATE_MODEL_VERSION)
def update_model_version(svc: RegistryService, req: Json) -> Json:
    return _mv(svc.update_model_version(req["name"], req["version"], req["description"]))


@rpc("model-versions/transition-stage", "POST", request=s.TRANSITION_STAGE)
def transition_model_version_stage(svc: RegistryService, req: Json) -> Json:
    return _mv(
        svc.transition_model_version_stage(
            req["name"],
            req["version"],
            req["stage"],
            req["archive_existing_versions"],
            req["comment"],
        )
    )


@rpc("databricks/model-versions/transition-stage", "POST", request=s.TRANSITION_STAGE)
def transition_model_version_stage_with_comment(svc: RegistryService, req: Json) -> Json:
    return transition_model_version_stage(svc, req)


@rpc("model-versions/delete", "DELETE", request=s.VERSION_ONLY)
def delete_model_version(svc: RegistryService, req: Json) -> Json:
    svc.delete_model_version(req["name"], req["version"])
    return {}


@rpc("model-versions/get", "GET", request=s.VERSION_ONLY)
def get_model_version(svc: RegistryService, req: Json) -> Json:
    return _mv(svc.get_model_version(req["name"], req["version"]))


@rpc("model-versions/search", "GET", request=s.SEARCH)
def search_model_versions(svc: RegistryService, req: Json) -> Json:
    page = svc.search_model_versions(
        req["filter"], req["max_results"], req["order_by"], req["page_token"]
    )
    out: Json = {}
    if page.items:
        out["model_versions"] = [s.model_version_to_dict(v) for v in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("model-versions/get-download-uri", "GET", request=s.VERSION_ONLY)
def get_model_version_download_uri(svc: RegistryService, req: Json) -> Json:
    return {"artifact_uri": svc.get_model_version_download_uri(req["name"], req["version"])}


@rpc("model-versions/set-tag", "POST", request=s.SET_MODEL_VERSION_TAG)
def set_model_version_tag(svc: RegistryService, req: Json) -> Json:
    svc.set_model_version_tag(req["name"], req["version"], req["key"], req["value"])
    return {}


@rpc("model-versions/delete-tag", "DELETE", request=s.DELETE_MODEL_VERSION_TAG)
def delete_model_version_tag(svc: RegistryService, req: Json) -> Json:
    svc.delete_model_version_tag(req["name"], req["version"], req["key"])
    return {}


@rpc("model-versions/activities", "GET", request=s.VERSION_ONLY)
def list_version_activities(svc: RegistryService, req: Json) -> Json:
    activities = svc.list_activities(req["name"], req["version"])
    return {"activities": [s.activity_to_dict(a) for a in activities]} if activities else {}


# ------------------------------------------------------------------------------ transition requests
def _activity_for(svc: RegistryService, request: Any, kind: ActivityType) -> Json | None:
    """The activity-log entry a resolution just wrote (the newest of its kind on the version)."""
    for activity in reversed(svc.list_activities(request.name, request.version)):
        if activity.activity_type == kind.value:
            return s.activity_to_dict(activity)
    return None  # pragma: no cover - the resolution always writes one


def _resolution(svc: RegistryService, request: Any, kind: ActivityType) -> Json:
    out: Json = {"request": s.transition_request_to_dict(request)}
    activity = _activity_for(svc, request, kind)
    if activity is not None:
        out["activity"] = activity
    return out


@rpc("transition-requests/create", "POST", request=s.CREATE_TRANSITION_REQUEST)
def create_transition_request(svc: RegistryService, req: Json) -> Json:
    request = svc.create_transition_request(
        req["name"], req["version"], req["stage"], req["comment"], req["archive_existing_versions"]
    )
    return {"request": s.transition_request_to_dict(request)}


@rpc("transition-requests/approve", "POST", request=s.APPROVE_TRANSITION_REQUEST)
def approve_transition_request(svc: RegistryService, req: Json) -> Json:
    request, mv = svc.approve_transition_request(
        req["name"],
        req["version"],
        req["stage"],
        req["archive_existing_versions"],
        req["comment"],
        req["id"],
    )
    out = _resolution(svc, request, ActivityType.APPROVED_REQUEST)
    out["model_version"] = s.model_version_to_dict(mv)
    return out


@rpc("transition-requests/reject", "POST", request=s.REJECT_TRANSITION_REQUEST)
def reject_transition_request(svc: RegistryService, req: Json) -> Json:
    request = svc.reject_transition_request(
        req["name"], req["version"], req["stage"], req["comment"], req["id"]
    )
    return _resolution(svc, request, ActivityType.REJECTED_REQUEST)


@rpc("transition-requests/delete", "DELETE", request=s.DELETE_TRANSITION_REQUEST)
def delete_transition_request(svc: RegistryService, req: Json) -> Json:
    request = svc.cancel_transition_request(
        req["name"], req["version"], req["stage"], req["comment"], req["id"]
    )
    return _resolution(svc, request, ActivityType.CANCELLED_REQUEST)


@rpc("transition-requests/list", "GET", request=s.LIST_TRANSITION_REQUESTS)
def list_transition_requests(svc: RegistryService, req: Json) -> Json:
    requests = svc.list_transition_requests(req["name"], req["version"], req["status"])
    return {"requests": [s.transition_request_to_dict(r) for r in requests]} if requests else {}


# ------------------------------------------------------------------------------ comments
@rpc("comments/create", "POST", request=s.CREATE_COMMENT)
def create_comment(svc: RegistryService, req: Json) -> Json:
    return {
        "comment": s.comment_to_dict(
            svc.create_comment(req["name"], req["version"], req["comment"])
        )
    }


@rpc("comments/update", "PATCH", request=s.UPDATE_COMMENT)
def update_comment(svc: RegistryService, req: Json) -> Json:
    return {"comment": s.comment_to_dict(svc.update_comment(req["id"], req["comment"]))}


@rpc("comments/delete", "DELETE", request=s.DELETE_COMMENT)
def delete_comment(svc: RegistryService, req: Json) -> Json:
    svc.delete_comment(req["id"])
    return {}


@rpc("comments/list", "GET", request=s.VERSION_ONLY)
def list_comments(svc: RegistryService, req: Json) -> Json:
    comments = svc.list_comments(req["name"], req["version"])
    return {"comments": [s.comment_to_dict(c) for c in comments]} if comments else {}
