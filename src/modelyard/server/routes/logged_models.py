"""Logged-model endpoints (MLflow 3, reference §1.8) and ``runs/outputs``.

Paths carry the model id (``logged-models/{model_id}``); the RPC layer adds path parameters to the
request under their names.
"""

from __future__ import annotations

from typing import Any

from modelyard.schemas import logged_models as s
from modelyard.server.deps import get_logged_models
from modelyard.server.rpc import RpcTable
from modelyard.service.logged_models import LoggedModelService

rpc = RpcTable(get_logged_models)
Json = dict[str, Any]


def _model(model: Any) -> Json:
    return {"model": s.logged_model_to_dict(model)}


@rpc("logged-models", "POST", request=s.CREATE_LOGGED_MODEL)
def create_logged_model(svc: LoggedModelService, req: Json) -> Json:
    return _model(
        svc.create_logged_model(
            req["experiment_id"],
            req["name"],
            req["model_type"],
            req["source_run_id"],
            req["params"],
            req["tags"],
        )
    )


@rpc("logged-models/search", "POST", request=s.SEARCH_LOGGED_MODELS)
def search_logged_models(svc: LoggedModelService, req: Json) -> Json:
    page = svc.search_logged_models(
        req["experiment_ids"], req["filter"], req["order_by"], req["max_results"], req["page_token"]
    )
    out: Json = {}
    if page.items:
        out["models"] = [s.logged_model_to_dict(m) for m in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("logged-models/{model_id}", "GET", request=s.GET_LOGGED_MODEL)
def get_logged_model(svc: LoggedModelService, req: Json) -> Json:
    return _model(svc.get_logged_model(req["model_id"], req["allow_deleted"]))


@rpc("logged-models/{model_id}", "PATCH", request=s.FINALIZE_LOGGED_MODEL)
def finalize_logged_model(svc: LoggedModelService, req: Json) -> Json:
    return _model(svc.finalize_logged_model(req["model_id"], req["status"]))


@rpc("logged-models/{model_id}", "DELETE", request=s.DELETE_LOGGED_MODEL)
def delete_logged_model(svc: LoggedModelService, req: Json) -> Json:
    svc.delete_logged_model(req["model_id"])
    return {}


@rpc("logged-models/{model_id}/tags", "PATCH", request=s.SET_LOGGED_MODEL_TAGS)
def set_logged_model_tags(svc: LoggedModelService, req: Json) -> Json:
    return _model(svc.set_logged_model_tags(req["model_id"], req["tags"]))


@rpc("logged-models/{model_id}/tags/{tag_key:path}", "DELETE", request=s.DELETE_LOGGED_MODEL_TAG)
def delete_logged_model_tag(svc: LoggedModelService, req: Json) -> Json:
    svc.delete_logged_model_tag(req["model_id"], req["tag_key"])
    return {}


@rpc("logged-models/{model_id}/params", "POST", request=s.LOG_LOGGED_MODEL_PARAMS)
def log_logged_model_params(svc: LoggedModelService, req: Json) -> Json:
    svc.log_logged_model_params(req["model_id"], req["params"])
    return {}


@rpc("runs/outputs", "POST", request=s.LOG_OUTPUTS)
def log_outputs(svc: LoggedModelService, req: Json) -> Json:
    svc.log_outputs(req["run_id"], req["models"])
    return {}
