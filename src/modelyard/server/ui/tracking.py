"""Tracking pages: experiments, the runs table, a run, comparison of runs; their form posts and the
chart data endpoint. Every handler calls :class:`~modelyard.service.tracking.TrackingService` (the
same service as the REST API); view state comes from the query string only.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.entities import RunTag, ViewType
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.server.auth import readable_page
from modelyard.server.auth.targets import EXPERIMENT
from modelyard.server.responses import OrjsonResponse
from modelyard.server.ui.artifacts import browse
from modelyard.server.ui.markdown import render_markdown
from modelyard.server.ui.pages import Routes, error_page, query_list, read_form, redirect, render
from modelyard.service.tracking import MAX_RUN_KEYS, NOTE_TAG, PARENT_RUN_TAG, TrackingService
from modelyard.store.base import RunRecord

router = Routes()

PAGE_SIZES = (25, 50, 100, 250, 500)
DEFAULT_PAGE_SIZE = 50
MAX_AUTO_COLUMNS = 6
#: buckets of the preloaded chart data: about a chart's width on a laptop screen; charts.js uses
#: it for charts from half to twice as wide (else it asks for its own width)
PRELOAD_BUCKETS = 1000
ATTRIBUTE_COLUMNS = (
    ("attributes.run_name", "Run"),
    ("attributes.status", "Status"),
    ("attributes.start_time", "Started"),
    ("attributes.end_time", "Duration"),
    ("attributes.user_id", "User"),
)
VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
SOURCE_TAGS = (
    ("Source", "mlflow.source.name"),
    ("Source type", "mlflow.source.type"),
    ("Git commit", "mlflow.source.git.commit"),
    ("Git branch", "mlflow.source.git.branch"),
    ("Git repository", "mlflow.source.git.repoURL"),
)


def tracking(request: Request) -> TrackingService:
    service: TrackingService = request.app.state.tracking
    return service


def _view(request: Request) -> tuple[str, ViewType]:
    name = request.query_params.get("view", "active")
    return (name, VIEWS[name]) if name in VIEWS else ("active", ViewType.ACTIVE_ONLY)


def _page_size(request: Request) -> int:
    raw = request.query_params.get("max", "")
    return int(raw) if raw.isdigit() and int(raw) in PAGE_SIZES else DEFAULT_PAGE_SIZE


def quote_key(key: str) -> str:
    """A key as a search identifier part: backticked unless it is a plain name."""
    if key.replace("_", "a").replace(".", "a").replace("-", "a").isalnum() and "`" not in key:
        return key
    return "`" + key.replace("`", "") + "`"


def column_order_key(column: str) -> str:
    kind, _, key = column.partition(".")
    return f"{kind}.{quote_key(key)}" if kind in ("params", "metrics", "tags") else column


# ------------------------------------------------------------------------------ experiments
@router.get("/")
@router.get("/experiments")
def experiments_page(request: Request) -> Response:
    svc = tracking(request)
    view_name, view = _view(request)
    text = request.query_params.get("filter", "")
    order = request.query_params.get("order_by", "")
    token = request.query_params.get("page_token") or None
    error = None
    experiments: list[Any] = []
    next_token = None
    try:
        size, orders = _page_size(request), [order] if order else []

        def fetch(page_token: str | None, max_results: int) -> Any:
            return svc.search_experiments(view, max_results, text or None, orders, page_token)

        experiments, next_token = readable_page(
            request, EXPERIMENT, token, size, fetch, lambda e: e.experiment_id
        )
    except InvalidInput as exc:
        error = exc.message
    return render(
        request,
        "experiments.html",
        status_code=400 if error else 200,
        nav="experiments",
        title="Experiments",
        experiments=experiments,
        next_token=next_token,
        filter=text,
        order_by=order,
        view=view_name,
        error=error,
        form_error=request.query_params.get("error"),
    )


@router.post("/ui/experiments/create")
async def create_experiment(request: Request) -> Response:
    form = await read_form(request)
    name = form.get("name", [""])[0].strip()
    try:
        experiment_id = await run_in_threadpool(tracking(request).create_experiment, name)
    except InvalidInput as exc:
        return redirect(f"/experiments?error={_q(exc.message)}")
    except ModelyardError as exc:
        if exc.error_code == "RESOURCE_ALREADY_EXISTS":
            return redirect(f"/experiments?error={_q(exc.message)}")
        raise
    return redirect(f"/experiments/{experiment_id}")


@router.post("/ui/experiments/{experiment_id}/{action}")
async def change_experiment(request: Request, experiment_id: str, action: str) -> Response:
    form = await read_form(request)
    svc = tracking(request)
    back = form.get("next", ["/experiments"])[0]
    try:
        if action == "rename":
            await run_in_threadpool(
                svc.rename_experiment, experiment_id, form.get("name", [""])[0].strip()
            )
        elif action == "delete":
            await run_in_threadpool(svc.delete_experiment, experiment_id)
        elif action == "restore":
            await run_in_threadpool(svc.restore_experiment, experiment_id)
        else:
            return error_page(request, InvalidInput(f"Unknown action {action!r}."))
    except InvalidInput as exc:
        return redirect(_with_error(back, exc.message))
    except ModelyardError as exc:
        if exc.error_code in ("RESOURCE_ALREADY_EXISTS", "INVALID_STATE"):
            return redirect(_with_error(back, exc.message))
        raise
    return redirect(back)


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _with_error(url: str, message: str) -> str:
    return url + ("&" if "?" in url else "?") + "error=" + _q(message)


# ------------------------------------------------------------------------------ runs table
@router.get("/experiments/{experiment_id}")
def experiment_runs_page(request: Request, experiment_id: str) -> Response:
    return _runs_page(request, [experiment_id])


@router.get("/runs")
def runs_page(request: Request) -> Response:
    ids = query_list(request, "experiments")
    if not ids:
        return redirect("/experiments?error=" + _q("Tick one or more experiments first."))
    return _runs_page(request, ids)


def _runs_page(request: Request, experiment_ids: list[str]) -> Response:
    svc = tracking(request)
    try:
        experiments = [svc.get_experiment(e) for e in experiment_ids]
    except ModelyardError as exc:
        return error_page(request, exc)
    view_name, view = _view(request)
    text = request.query_params.get("filter", "")
    orders = request.query_params.getlist("order_by")
    order = orders[0] if orders else ""
    token = request.query_params.get("page_token") or None
    page_number = (
        int(request.query_params.get("page", "1") or 1)
        if request.query_params.get("page", "1").isdigit()
        else 1
    )
    size = _page_size(request)
    error = None
    records: list[RunRecord] = []
    next_token = None
    try:
        page = svc.search_run_records(
            experiment_ids, text or None, view, size, [order] if order else [], token
        )
        records, next_token = list(page.items), page.next_page_token
    except InvalidInput as exc:
        error = exc.message
    # Columns: chosen in the URL (``columns``), else a few of the keys on this page.
    seen: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
    for record in records:
        for _, key, *_ in record.metrics:
            seen["metrics"].append(key)
        for _, key, _ in record.params:
            seen["params"].append(key)
        for _, key, _ in record.tags:
            if not key.startswith("mlflow."):
                seen["tags"].append(key)
    available = {kind: sorted(set(keys)) for kind, keys in seen.items()}
    all_keys = request.query_params.get("keys") == "all"  # without JavaScript: every key, now
    if all_keys:
        try:
            available = _run_keys(svc, experiment_ids)
        except ModelyardError as exc:
            return error_page(request, exc)
    if "columns" in request.query_params:
        columns = [c for c in query_list(request, "columns") if c.partition(".")[0] in seen]
    else:
        columns = [f"metrics.{k}" for k in available["metrics"][:MAX_AUTO_COLUMNS]] + [
            f"params.{k}" for k in available["params"][:MAX_AUTO_COLUMNS]
        ]
    for column in columns:  # a chosen key stays choosable on pages where no run has it
        kind, _, key = column.partition(".")
        if key not in available[kind]:
            available[kind].append(key)
    rows = _nest([_row(record, columns) for record in records], request)
    return render(
        request,
        "runs.html",
        status_code=400 if error else 200,
        nav="experiments",
        title=", ".join(e.name for e in experiments),
        experiments=experiments,
        experiment_ids=",".join(experiment_ids),
        rows=rows,
        columns=columns,
        attribute_columns=ATTRIBUTE_COLUMNS,
        available=available,
        filter=text,
        order_by=order,
        view=view_name,
        page_size=size,
        page_sizes=PAGE_SIZES,
        page_number=page_number,
        next_token=next_token,
        error=error,
        form_error=request.query_params.get("error"),
        selected=query_list(request, "selected"),
        collapsed=query_list(request, "collapsed"),
        order_key=column_order_key,
        all_keys=all_keys,
    )


def _run_keys(svc: TrackingService, experiment_ids: list[str]) -> dict[str, list[str]]:
    """Every key of the experiments' runs for the column chooser (system tags left out)."""
    keys = svc.run_keys(experiment_ids)
    keys["tags"] = [k for k in keys["tags"] if not k.startswith("mlflow.")]
    return keys


@router.get("/ui/data/run-keys")
def run_keys_data(request: Request) -> Response:
    """The column chooser's keys: every param, metric and tag key of the experiments' runs."""
    keys = _run_keys(tracking(request), query_list(request, "experiments"))
    return OrjsonResponse({**keys, "max_keys": MAX_RUN_KEYS})


def _row(record: RunRecord, columns: Sequence[str]) -> dict[str, Any]:
    info = record.info
    data: dict[str, Any] = {}
    for _, key, value, *_ in record.metrics:
        data[f"metrics.{key}"] = value
    for _, key, value in record.params:
        data[f"params.{key}"] = value
    tags = {key: value for _, key, value in record.tags}
    for key, value in tags.items():
        data[f"tags.{key}"] = value
    duration = (
        info.end_time - info.start_time
        if info.end_time is not None and info.start_time is not None
        else None
    )
    return {
        "info": info,
        "duration": duration,
        "parent": tags.get(PARENT_RUN_TAG),
        "cells": [data.get(c) for c in columns],
        "depth": 0,
        "children": 0,
    }


def _nest(rows: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """Children right after their parent (when both are on this page), marked with their depth."""
    if request.query_params.get("nest", "1") == "0":
        return rows
    by_id = {r["info"].run_id: r for r in rows}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for row in rows:
        parent = row["parent"]
        if parent and parent in by_id and parent != row["info"].run_id:
            children.setdefault(parent, []).append(row)
        else:
            roots.append(row)
    out: list[dict[str, Any]] = []

    def walk(row: dict[str, Any], depth: int, ancestors: tuple[str, ...]) -> None:
        run_id = row["info"].run_id
        row["depth"] = depth
        row["ancestors"] = " ".join(ancestors)
        kids = children.get(run_id, [])
        row["children"] = len(kids)
        out.append(row)
        if run_id in ancestors:  # a cycle of parent tags: stop
            return
        for kid in kids:
            walk(kid, depth + 1, (*ancestors, run_id))

    for row in roots:
        walk(row, 0, ())
    placed = {r["info"].run_id for r in out}
    out += [r for r in rows if r["info"].run_id not in placed]  # rows caught in a cycle
    return out


@router.post("/ui/runs/{action}")
async def change_runs(request: Request, action: str) -> Response:
    form = await read_form(request)
    svc = tracking(request)
    back = form.get("next", ["/experiments"])[0]
    run_ids = form.get("run_id", [])
    if action not in ("delete", "restore"):
        return error_page(request, InvalidInput(f"Unknown action {action!r}."))
    if not run_ids:
        return redirect(_with_error(back, "Select one or more runs first."))
    change = svc.delete_run if action == "delete" else svc.restore_run
    try:
        for run_id in run_ids:
            await run_in_threadpool(change, run_id)
    except ModelyardError as exc:
        if exc.error_code in (
            "INVALID_PARAMETER_VALUE",
            "INVALID_STATE",
            "RESOURCE_DOES_NOT_EXIST",
        ):
            return redirect(_with_error(back, exc.message))
        raise
    return redirect(back)


# ------------------------------------------------------------------------------ run page
@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Response:
    svc = tracking(request)
    try:
        run = svc.get_run(run_id)
        experiment = svc.get_experiment(run.info.experiment_id)
    except ModelyardError as exc:
        return error_page(request, exc)
    info = run.info
    tags = {t.key: t.value for t in run.data.tags}
    metrics = sorted(run.data.metrics, key=lambda m: m.key)
    keys = [m.key for m in metrics]
    chosen = [k for k in query_list(request, "charts") if k in keys] or keys[:4]
    return render(
        request,
        "run.html",
        nav="experiments",
        title=info.run_name or info.run_id,
        run=run,
        experiment=experiment,
        duration=(info.end_time - info.start_time)
        if info.end_time is not None and info.start_time is not None
        else None,
        source=[(label, tags[key]) for label, key in SOURCE_TAGS if tags.get(key)],
        parent=tags.get(PARENT_RUN_TAG),
        note=tags.get(NOTE_TAG, ""),
        note_html=render_markdown(tags.get(NOTE_TAG, "")),
        params=sorted(run.data.params, key=lambda p: p.key),
        metrics=metrics,
        user_tags=sorted((k, v) for k, v in tags.items() if not k.startswith("mlflow.")),
        system_tags=sorted((k, v) for k, v in tags.items() if k.startswith("mlflow.")),
        chart_keys=chosen,
        chart=_chart_settings(request),
        chart_data={
            "runs": [{"id": info.run_id, "name": info.run_name}],
            "keys": chosen,
            "preload": {k: history_url([info.run_id], k, PRELOAD_BUCKETS) for k in chosen},
            "preload_buckets": PRELOAD_BUCKETS,
        },
        form_error=request.query_params.get("error"),
        editing=request.query_params.get("edit") == "note",
        artifacts=browse(
            request.app.state.artifacts,
            run,
            request.query_params.get("apath", ""),
            request.query_params.get("artifact", ""),
        ),
    )


def history_url(run_ids: Sequence[str], key: str, buckets: int) -> str:
    """The chart data URL of one metric, as the run page preloads it (``<link rel="preload">``): the
    browser fetches it while it loads the page's scripts, and charts.js uses the same URL."""
    query = [("run_id", r) for r in run_ids] + [("key", key), ("buckets", str(buckets))]
    return "/ui/data/metric-history?" + urlencode(query)


def _chart_settings(request: Request, x_param: str = "x") -> dict[str, Any]:
    x = request.query_params.get(x_param, "step")
    try:
        smooth = float(request.query_params.get("smooth", "0"))
    except ValueError:
        smooth = 0.0
    if not math.isfinite(smooth):
        smooth = 0.0
    return {
        "x": x if x in ("step", "time", "relative") else "step",
        "smooth": min(max(smooth, 0.0), 0.99),
        "log": request.query_params.get("log") == "1",
    }


@router.post("/ui/runs/{run_id}/note")
async def edit_note(request: Request, run_id: str) -> Response:
    form = await read_form(request)
    text = form.get("note", [""])[0]
    try:
        await run_in_threadpool(tracking(request).set_tag, run_id, RunTag(NOTE_TAG, text))
    except ModelyardError as exc:
        if exc.error_code in ("INVALID_PARAMETER_VALUE", "INVALID_STATE"):
            return redirect(_with_error(f"/runs/{_q(run_id)}", exc.message))
        return error_page(request, exc)
    return redirect(f"/runs/{_q(run_id)}")


# ------------------------------------------------------------------------------ compare
@router.get("/compare")
def compare_page(request: Request) -> Response:
    svc = tracking(request)
    run_ids = query_list(request, "runs")
    if not run_ids:
        return render(
            request,
            "error.html",
            status_code=400,
            nav="experiments",
            title="No runs to compare",
            message="Select two or more runs with the checkboxes of a runs table, then press Compare.",
            status=400,
        )
    try:
        runs = [svc.get_run(r) for r in run_ids[:100]]
    except ModelyardError as exc:
        return error_page(request, exc)
    param_keys = sorted({p.key for r in runs for p in r.data.params})
    metric_keys = sorted({m.key for r in runs for m in r.data.metrics})
    params = [{p.key: p.value for p in r.data.params} for r in runs]
    metrics = [{m.key: m.value for m in r.data.metrics} for r in runs]
    param_rows = [(k, [p.get(k) for p in params]) for k in param_keys]
    metric_rows = [(k, [m.get(k) for m in metrics]) for k in metric_keys]
    only_diff = request.query_params.get("diff") == "1"

    def differs(values: list[Any]) -> bool:
        return len({repr(v) for v in values}) > 1

    if only_diff:
        param_rows = [row for row in param_rows if differs(row[1])]
        metric_rows = [row for row in metric_rows if differs(row[1])]
    fields = [f"params.{k}" for k in param_keys] + [f"metrics.{k}" for k in metric_keys]
    data = {
        "runs": [{"id": r.info.run_id, "name": r.info.run_name} for r in runs],
        "fields": fields,
        "values": [
            {
                **{f"params.{k}": v for k, v in p.items()},
                **{f"metrics.{k}": _finite(v) for k, v in m.items()},
            }
            for p, m in zip(params, metrics, strict=True)
        ],
        "metric_keys": metric_keys,
    }
    q = request.query_params
    default_x = fields[0] if fields else ""
    default_y = f"metrics.{metric_keys[0]}" if metric_keys else default_x
    settings = {
        "x": q.get("x") if q.get("x") in fields else default_x,
        "y": q.get("y") if q.get("y") in fields else default_y,
        "z": q.get("z")
        if q.get("z") in fields
        else (f"metrics.{metric_keys[-1]}" if metric_keys else default_x),
        "dims": [d for d in query_list(request, "dims") if d in fields] or fields[:8],
        "metric": q.get("metric")
        if q.get("metric") in metric_keys
        else (metric_keys[:1] or [""])[0],
    }
    return render(
        request,
        "compare.html",
        nav="experiments",
        title=f"Compare {len(runs)} runs",
        runs=runs,
        param_rows=param_rows,
        metric_rows=metric_rows,
        differs=differs,
        only_diff=only_diff,
        fields=fields,
        metric_keys=metric_keys,
        settings=settings,
        chart=_chart_settings(request, "x_axis"),
        data=data,
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------ chart data
@router.get("/ui/data/metric-history")
def metric_history_data(request: Request) -> Response:
    """Bucketed history of one metric for one or more runs (see :class:`ChartService`)."""
    run_ids = query_list(request, "run_id")
    key = request.query_params.get("key", "")
    raw = request.query_params.get("buckets", "1000")
    if not raw.isdigit():
        raise InvalidInput(
            f"Invalid value {raw!r} for parameter 'buckets': an integer is required."
        )
    result = request.app.state.charts.metric_buckets(run_ids, key, int(raw))
    out = []
    for run_id, (count, buckets) in result.items():
        out.append(
            {
                "run_id": run_id,
                "count": count,
                "bucketed": count > len(buckets),
                "step": [b.first_step for b in buckets],
                "timestamp": [b.first_timestamp for b in buckets],
                "mean": [_json_float(b.mean) for b in buckets],
                "low": [_json_float(b.low) for b in buckets],
                "high": [_json_float(b.high) for b in buckets],
            }
        )
    return _compressed(request, OrjsonResponse({"key": key, "runs": out}))


def _compressed(request: Request, response: Response) -> Response:
    """The response gzip-compressed when the browser accepts it (a chart's data shrinks to about a
    third: it matters on a real network, not on 127.0.0.1)."""
    if "gzip" in request.headers.get("accept-encoding", "").lower() and len(response.body) > 1024:
        response.body = gzip.compress(response.body, 5, mtime=0)
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Content-Length"] = str(len(response.body))
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _json_float(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
