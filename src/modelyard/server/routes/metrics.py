"""Metric history endpoints (reference §1.5)."""

from __future__ import annotations

from typing import Any

from modelyard.errors import InvalidInput
from modelyard.schemas import requests as r
from modelyard.schemas.tracking import metric_points_to_dicts, metric_to_dict
from modelyard.server.rpc import RpcTable
from modelyard.service.tracking import TrackingService
from modelyard.service.validation import MAX_BULK_HISTORY_RUNS

rpc = RpcTable()
Json = dict[str, Any]


@rpc("metrics/get-history", "GET", request=r.GET_METRIC_HISTORY)
def get_metric_history(svc: TrackingService, req: Json) -> Json:
    run_id, key = req["run_id"], req["metric_key"]
    page = svc.get_metric_points(run_id, key, req["max_results"], req["page_token"])
    out: Json = {}
    if page.items:
        out["metrics"] = metric_points_to_dicts(key, run_id, page.items)
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("metrics/get-history-bulk-interval", "GET", request=r.GET_METRIC_HISTORY_BULK_INTERVAL)
def get_metric_history_bulk_interval(svc: TrackingService, req: Json) -> Json:
    metrics = svc.get_metric_history_bulk_interval(
        req["run_ids"], req["metric_key"], req["start_step"], req["end_step"], req["max_results"]
    )
    return {"metrics": [metric_to_dict(m) for m in metrics]} if metrics else {}


@rpc("metrics/get-history-bulk", "GET", request=r.GET_METRIC_HISTORY_BULK, ajax_only=True)
def get_metric_history_bulk(svc: TrackingService, req: Json) -> Json:
    """The full history of one metric for several runs (UI only), capped at ``max_results`` points."""
    run_ids: list[str] = list(dict.fromkeys(req["run_id"]))
    if len(run_ids) > MAX_BULK_HISTORY_RUNS:
        raise InvalidInput(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_HISTORY_RUNS} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    limit = req["max_results"]
    if not 1 <= limit <= r.MAX_BULK_HISTORY_RESULTS:
        raise InvalidInput(
            f"Invalid value {limit} for parameter 'max_results' supplied. It must be an integer "
            f"between 1 and {r.MAX_BULK_HISTORY_RESULTS}."
        )
    out: list[Json] = []
    for run_id in run_ids:
        remaining = limit - len(out)
        if remaining <= 0:
            break
        page = svc.get_metric_points(run_id, req["metric_key"], remaining, None)
        out += metric_points_to_dicts(req["metric_key"], run_id, page.items)
    return {"metrics": out} if out else {}
