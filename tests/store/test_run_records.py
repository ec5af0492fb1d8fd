"""The plain-record read paths (``search_run_records``, ``get_metric_points``) on every backend.

They feed the server's fast responses, so they must hold exactly what the entity reads hold: the same
runs in the same order, the same page tokens, NaN and ±inf restored, and the same wire dicts.
"""

from __future__ import annotations

import math

from modelyard.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from modelyard.schemas.tracking import (
    metric_points_to_dicts,
    metric_to_dict,
    run_record_to_dict,
    run_to_dict,
)
from modelyard.service.tracking import TrackingService


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _populate(tracking: TrackingService, unique: str) -> tuple[str, list[str]]:
    exp_id = tracking.create_experiment(f"records-{unique}")
    full = tracking.create_run(exp_id, start_time=3000, run_name="full").info.run_id
    tracking.log_batch(
        full,
        metrics=[
            Metric("nan", math.nan, 5, 0),
            Metric("pinf", math.inf, 5, 0),
            Metric("ninf", -math.inf, 5, 0),
            Metric("loss", 9.0, 1, 0),
            Metric("loss", 0.25, 2, 3),  # the latest step wins
            Metric("loss", 0.5, 3, 1),
        ],
        params=[Param("z", "last"), Param("a", "first"), Param("m", "middle")],
        tags=[RunTag("team", "vision")],
    )
    dataset = Dataset("train", "d1", "local", "/data/train", '{"cols": 3}', None)
    tracking.log_inputs(full, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    bare = tracking.create_run(exp_id, start_time=2000, run_name="bare").info.run_id
    tracking.update_run_info(bare, status="FINISHED", end_time=2500)
    gone = tracking.create_run(exp_id, start_time=1000, run_name="gone").info.run_id
    tracking.log_batch(gone, params=[Param("p", "1")])
    tracking.delete_run(gone)
    return exp_id, [full, bare, gone]


def test_search_run_records_hold_what_the_entities_hold(tracking, unique):
    exp_id, run_ids = _populate(tracking, unique)
    for view, order_by, expected in [
        (ViewType.ALL, [], run_ids),
        (ViewType.ALL, ["params.a DESC"], run_ids),
        (ViewType.ACTIVE_ONLY, ["attributes.start_time ASC"], run_ids[1::-1]),
        (ViewType.DELETED_ONLY, [], run_ids[2:]),
    ]:
        token, seen = None, []
        while True:  # one run per page: the page tokens must agree too
            runs = tracking.search_runs([exp_id], None, view, 1, order_by, token)
            records = tracking.search_run_records([exp_id], None, view, 1, order_by, token)
            assert runs.next_page_token == records.next_page_token
            assert [r.info for r in runs] == [r.info for r in records]
            for run, record in zip(runs, records, strict=True):
                assert run_record_to_dict(*record) == run_to_dict(run)
                assert run_record_to_dict(*record) == run_to_dict(tracking.get_run(run.info.run_id))
            seen += [r.info.run_id for r in records]
            token = records.next_page_token
            if token is None:
                break
        assert seen == expected


def test_run_record_contents(tracking, unique):
    exp_id, (full, bare, _) = _populate(tracking, unique)
    records = {r.info.run_id: r for r in tracking.search_run_records([exp_id])}
    record = records[full]
    metrics = {key: (value, ts, step) for run_id, key, value, ts, step in record.metrics}
    assert {run_id for run_id, *_ in record.metrics} == {full}
    assert math.isnan(metrics["nan"][0])
    assert metrics["pinf"][0] == math.inf and metrics["ninf"][0] == -math.inf
    assert metrics["loss"] == (0.25, 2, 3)
    assert [k for _, k, _ in record.params] == ["a", "m", "z"]
    assert (full, "team", "vision") in record.tags
    assert [i.dataset.name for i in record.inputs] == ["train"]
    wire = run_record_to_dict(*record)
    assert {m["key"]: m["value"] for m in wire["data"]["metrics"]} == {
        "nan": "NaN",
        "pinf": "Infinity",
        "ninf": "-Infinity",
        "loss": 0.25,
    }
    assert wire["inputs"]["dataset_inputs"][0]["tags"] == [
        {"key": "mlflow.data.context", "value": "train"}
    ]
    empty = run_record_to_dict(*records[bare])
    assert "metrics" not in empty["data"] and "params" not in empty["data"]
    assert empty["inputs"] == {}
    assert empty["info"]["end_time"] == 2500 and empty["info"]["status"] == "FINISHED"


def test_metric_points_hold_what_the_history_holds(tracking, unique):
    exp_id = tracking.create_experiment(f"points-{unique}")
    run_id = tracking.create_run(exp_id).info.run_id
    values = [0.5, math.nan, math.inf, -math.inf, -2.0, 1e-300, 3.0]
    tracking.log_batch(
        run_id,
        metrics=[Metric("m", v, 100 + i, i // 2) for i, v in enumerate(values)],
    )
    history = tracking.get_metric_history(run_id, "m")
    points = tracking.get_metric_points(run_id, "m")
    assert points.next_page_token is None
    assert [(m.timestamp, m.step) for m in history] == [(ts, s) for _, ts, s in points]
    assert all(_same_float(m.value, v) for m, (v, _, _) in zip(history, points, strict=True))
    assert sorted((s, ts) for _, ts, s in points) == [(i // 2, 100 + i) for i in range(7)]
    assert metric_points_to_dicts("m", run_id, points.items) == [metric_to_dict(m) for m in history]
    encoded = [d["value"] for d in metric_points_to_dicts("m", None, points.items)]
    assert {"NaN", "Infinity", "-Infinity"} <= set(encoded)

    token, paged = None, []
    while True:
        page = tracking.get_metric_points(run_id, "m", 3, token)
        same = tracking.get_metric_history(run_id, "m", 3, token)
        assert page.next_page_token == same.next_page_token
        assert [(ts, s) for _, ts, s in page] == [(m.timestamp, m.step) for m in same]
        paged += page.items
        token = page.next_page_token
        if token is None:
            break
    assert [(ts, s) for _, ts, s in paged] == [(ts, s) for _, ts, s in points]
    assert tracking.get_metric_points(run_id, "other").items == []
