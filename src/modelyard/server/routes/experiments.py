"""Experiment endpoints (reference §1.4)."""

from __future__ import annotations

from typing import Any

from modelyard.entities import ViewType
from modelyard.errors import NotFound
from modelyard.schemas import requests as r
from modelyard.schemas.tracking import dataset_summary_to_dict, experiment_to_dict
from modelyard.server.rpc import RpcTable
from modelyard.service.tracking import TrackingService

rpc = RpcTable()
Json = dict[str, Any]


@rpc("experiments/create", "POST", request=r.CREATE_EXPERIMENT)
def create_experiment(svc: TrackingService, req: Json) -> Json:
    experiment_id = svc.create_experiment(req["name"], req["artifact_location"], req["tags"])
    return {"experiment_id": experiment_id}


@rpc("experiments/search", "GET", "POST", request=r.SEARCH_EXPERIMENTS)
def search_experiments(svc: TrackingService, req: Json) -> Json:
    page = svc.search_experiments(
        ViewType(req["view_type"]),
        req["max_results"],
        req["filter"],
        req["order_by"],
        req["page_token"],
    )
    out: Json = {}
    if page.items:
        out["experiments"] = [experiment_to_dict(e) for e in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("experiments/get", "GET", request=r.GET_EXPERIMENT)
def get_experiment(svc: TrackingService, req: Json) -> Json:
    return {"experiment": experiment_to_dict(svc.get_experiment(req["experiment_id"]))}


@rpc("experiments/get-by-name", "GET", request=r.GET_EXPERIMENT_BY_NAME)
def get_experiment_by_name(svc: TrackingService, req: Json) -> Json:
    name = req["experiment_name"]
    experiment = svc.get_experiment_by_name(name)
    if experiment is None:
        raise NotFound(f"Could not find experiment with name '{name}'", experiment_name=name)
    return {"experiment": experiment_to_dict(experiment)}


@rpc("experiments/delete", "POST", request=r.DELETE_EXPERIMENT)
def delete_experiment(svc: TrackingService, req: Json) -> Json:
    svc.delete_experiment(req["experiment_id"])
    return {}


@rpc("experiments/restore", "POST", request=r.RESTORE_EXPERIMENT)
def restore_experiment(svc: TrackingService, req: Json) -> Json:
    svc.restore_experiment(req["experiment_id"])
    return {}


@rpc("experiments/update", "POST", request=r.UPDATE_EXPERIMENT)
def update_experiment(svc: TrackingService, req: Json) -> Json:
    svc.rename_experiment(req["experiment_id"], req["new_name"])
    return {}


@rpc("experiments/set-experiment-tag", "POST", request=r.SET_EXPERIMENT_TAG)
def set_experiment_tag(svc: TrackingService, req: Json) -> Json:
    svc.set_experiment_tag(req["experiment_id"], req["key"], req["value"])
    return {}


@rpc("experiments/delete-experiment-tag", "POST", request=r.DELETE_EXPERIMENT_TAG)
def delete_experiment_tag(svc: TrackingService, req: Json) -> Json:
    svc.delete_experiment_tag(req["experiment_id"], req["key"])
    return {}


@rpc("experiments/search-datasets", "POST", request=r.SEARCH_DATASETS, ajax_only=True)
def search_datasets(svc: TrackingService, req: Json) -> Json:
    summaries = svc.search_datasets(req["experiment_ids"])
    return (
        {"dataset_summaries": [dataset_summary_to_dict(s) for s in summaries]} if summaries else {}
    )
