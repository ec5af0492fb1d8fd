"""Run endpoints: lifecycle, search and logging (reference §1.5)."""

from __future__ import annotations

from typing import Any

from modelyard.entities import Metric, Param, RunTag, ViewType
from modelyard.schemas import requests as r
from modelyard.schemas.tracking import run_info_to_dict, run_record_to_dict, run_to_dict
from modelyard.server.rpc import RpcTable
from modelyard.service.tracking import TrackingService

rpc = RpcTable()
Json = dict[str, Any]


@rpc("runs/create", "POST", request=r.CREATE_RUN)
def create_run(svc: TrackingService, req: Json) -> Json:
    run = svc.create_run(
        experiment_id=req["experiment_id"],
        user_id=req["user_id"],
        start_time=req["start_time"],
        tags=req["tags"],
        run_name=req["run_name"],
    )
    return {"run": run_to_dict(run)}


@rpc("runs/update", "POST", request=r.UPDATE_RUN)
def update_run(svc: TrackingService, req: Json) -> Json:
    info = svc.update_run_info(req["run_id"], req["status"], req["end_time"], req["run_name"])
    return {"run_info": run_info_to_dict(info)}


@rpc("runs/delete", "POST", request=r.DELETE_RUN)
def delete_run(svc: TrackingService, req: Json) -> Json:
    svc.delete_run(req["run_id"])
    return {}


@rpc("runs/restore", "POST", request=r.RESTORE_RUN)
def restore_run(svc: TrackingService, req: Json) -> Json:
    svc.restore_run(req["run_id"])
    return {}


@rpc("runs/get", "GET", request=r.GET_RUN)
def get_run(svc: TrackingService, req: Json) -> Json:
    run = run_to_dict(svc.get_run(req["run_id"]))
    if outputs := svc.get_run_outputs(run["info"]["run_id"]):
        run["outputs"] = {
            "model_outputs": [{"model_id": o.model_id, "step": o.step} for o in outputs]
        }
    return {"run": run}


@rpc("runs/search", "POST", request=r.SEARCH_RUNS)
def search_runs(svc: TrackingService, req: Json) -> Json:
    page = svc.search_run_records(
        req["experiment_ids"],
        req["filter"],
        ViewType(req["run_view_type"]),
        req["max_results"],
        req["order_by"],
        req["page_token"],
    )
    out: Json = {}
    if page.items:
        out["runs"] = [run_record_to_dict(*record) for record in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("runs/log-metric", "POST", request=r.LOG_METRIC)
def log_metric(svc: TrackingService, req: Json) -> Json:
    metric = Metric(
        req["key"],
        req["value"],
        req["timestamp"],
        req["step"],
        None,
        req["dataset_name"],
        req["dataset_digest"],
        req["model_id"],
    )
    svc.log_metric(req["run_id"], metric)
    return {}


@rpc("runs/log-parameter", "POST", request=r.LOG_PARAM)
def log_param(svc: TrackingService, req: Json) -> Json:
    svc.log_param(req["run_id"], Param(req["key"], req["value"]))
    return {}


@rpc("runs/set-tag", "POST", request=r.SET_TAG)
def set_tag(svc: TrackingService, req: Json) -> Json:
    svc.set_tag(req["run_id"], RunTag(req["key"], req["value"]))
    return {}


@rpc("runs/delete-tag", "POST", request=r.DELETE_TAG)
def delete_tag(svc: TrackingService, req: Json) -> Json:
    svc.delete_tag(req["run_id"], req["key"])
    return {}


@rpc("runs/log-batch", "POST", request=r.LOG_BATCH)
def log_batch(svc: TrackingService, req: Json) -> Json:
    svc.log_batch(req["run_id"], req["metrics"], req["params"], req["tags"])
    return {}


@rpc("runs/log-inputs", "POST", request=r.LOG_INPUTS)
def log_inputs(svc: TrackingService, req: Json) -> Json:
    svc.log_inputs(req["run_id"], req["datasets"])
    return {}
