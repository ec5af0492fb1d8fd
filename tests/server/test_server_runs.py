"""Run, logging and metric-history endpoints through the real app over a real SQLite file."""

from __future__ import annotations

import pytest


def _run(api, **body):
    return api.ok_post("runs/create", {"experiment_id": "0", **body})["run"]


def test_create_run_shape(api):
    exp_id = api.experiment("runs")
    run = _run(
        api,
        experiment_id=exp_id,
        user_id="alice",
        run_name="first",
        start_time=1234,
        tags=[{"key": "team", "value": "cv"}],
    )
    info = run["info"]
    assert len(info["run_id"]) == 32 and info["run_uuid"] == info["run_id"]
    assert info["experiment_id"] == exp_id
    assert info["run_name"] == "first"
    assert info["user_id"] == "alice"
    assert info["status"] == "RUNNING"
    assert info["start_time"] == 1234
    assert "end_time" not in info
    assert info["lifecycle_stage"] == "active"
    assert info["artifact_uri"].endswith(f"{info['run_id']}/artifacts")
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["team"] == "cv"
    assert tags["mlflow.runName"] == "first"
    assert "metrics" not in run["data"] and "params" not in run["data"]


def test_run_name_is_generated_and_user_comes_from_tag(api):
    run = _run(api, tags=[{"key": "mlflow.user", "value": "bob"}])
    assert run["info"]["run_name"]
    assert run["info"]["user_id"] == "bob"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.runName"] == run["info"]["run_name"]


def test_create_run_in_missing_experiment_is_404(api):
    response = api.post("runs/create", {"experiment_id": "999"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_get_update_delete_restore(api):
    run_id = api.run()
    got = api.ok_get("runs/get", {"run_id": run_id})["run"]
    assert got["info"]["run_id"] == run_id

    info = api.ok_post(
        "runs/update",
        {"run_id": run_id, "status": "FINISHED", "end_time": 5000, "run_name": "renamed"},
    )["run_info"]
    assert info["status"] == "FINISHED"
    assert info["end_time"] == 5000
    assert info["run_name"] == "renamed"
    tags = {
        t["key"]: t["value"]
        for t in api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]["tags"]
    }
    assert tags["mlflow.runName"] == "renamed"

    assert api.ok_post("runs/delete", {"run_id": run_id}) == {}
    assert api.ok_get("runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "deleted"
    logging_to_deleted = api.post("runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    assert logging_to_deleted.status_code == 400
    assert logging_to_deleted.json()["error_code"] == "INVALID_STATE"

    assert api.ok_post("runs/restore", {"run_id": run_id}) == {}
    assert api.ok_get("runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "active"


def test_get_unknown_run_is_404(api):
    response = api.get("runs/get", {"run_id": "0" * 32})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_log_metric_param_tag_and_read_back(api):
    run_id = api.run()
    api.ok_post(
        "runs/log-metric",
        {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 10, "step": 1},
    )
    api.ok_post(
        "runs/log-metric",
        {"run_id": run_id, "key": "loss", "value": 0.25, "timestamp": 11, "step": 2},
    )
    api.ok_post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.01"})
    api.ok_post("runs/set-tag", {"run_id": run_id, "key": "note", "value": "hello"})

    data = api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]
    assert data["metrics"] == [{"key": "loss", "value": 0.25, "timestamp": 11, "step": 2}]
    assert data["params"] == [{"key": "lr", "value": "0.01"}]
    assert {"key": "note", "value": "hello"} in data["tags"]

    history = api.ok_get("metrics/get-history", {"run_id": run_id, "metric_key": "loss"})
    assert [(m["step"], m["value"]) for m in history["metrics"]] == [(1, 0.5), (2, 0.25)]


def test_params_are_immutable(api):
    run_id = api.run()
    api.ok_post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.01"})
    api.ok_post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.01"})
    response = api.post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.02"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_delete_tag(api):
    run_id = api.run()
    api.ok_post("runs/set-tag", {"run_id": run_id, "key": "temp", "value": "x"})
    assert api.ok_post("runs/delete-tag", {"run_id": run_id, "key": "temp"}) == {}
    tags = api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]["tags"]
    assert "temp" not in {t["key"] for t in tags}
    missing = api.post("runs/delete-tag", {"run_id": run_id, "key": "temp"})
    assert missing.status_code == 404


def test_log_batch_and_special_doubles(api):
    run_id = api.run()
    metrics = [
        {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "pinf", "value": "Infinity", "timestamp": 1, "step": 0},
        {"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0},
        {"key": "plain", "value": 1.5, "timestamp": 1},
    ]
    body = {
        "run_id": run_id,
        "metrics": metrics,
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "tags": [{"key": "t", "value": "v"}],
    }
    assert api.ok_post("runs/log-batch", body) == {}
    data = api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]
    values = {m["key"]: m["value"] for m in data["metrics"]}
    assert values == {"nan": "NaN", "pinf": "Infinity", "ninf": "-Infinity", "plain": 1.5}
    assert len(data["params"]) == 100
    assert {m["key"]: m["step"] for m in data["metrics"]}["plain"] == 0


def test_log_batch_of_1000_metrics(api):
    run_id = api.run()
    metrics = [{"key": "m", "value": float(i), "timestamp": i, "step": i} for i in range(1000)]
    api.ok_post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    history = api.ok_get("metrics/get-history", {"run_id": run_id, "metric_key": "m"})["metrics"]
    assert [m["step"] for m in history] == list(range(1000))


def test_metric_history_paging(api):
    run_id = api.run()
    metrics = [{"key": "m", "value": float(i), "timestamp": i, "step": i} for i in range(25)]
    api.ok_post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    steps: list[int] = []
    token = None
    while True:
        params = {"run_id": run_id, "metric_key": "m", "max_results": 10}
        if token:
            params["page_token"] = token
        page = api.ok_get("metrics/get-history", params)
        steps += [m["step"] for m in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert steps == list(range(25))


def test_metric_history_of_unknown_key_is_empty(api):
    run_id = api.run()
    assert api.ok_get("metrics/get-history", {"run_id": run_id, "metric_key": "none"}) == {}


def test_get_history_bulk_interval(api):
    runs = [api.run() for _ in range(2)]
    for run_id in runs:
        metrics = [{"key": "acc", "value": i / 10, "timestamp": i, "step": i} for i in range(10)]
        api.ok_post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    body = api.ok_get(
        "metrics/get-history-bulk-interval",
        [("run_ids", runs[0]), ("run_ids", runs[1]), ("metric_key", "acc"), ("max_results", "100")],
    )
    by_run: dict[str, list[int]] = {}
    for m in body["metrics"]:
        by_run.setdefault(m["run_id"], []).append(m["step"])
    assert set(by_run) == set(runs)
    assert all(steps == list(range(10)) for steps in by_run.values())

    window = api.ok_get(
        "metrics/get-history-bulk-interval",
        {"run_ids": runs[0], "metric_key": "acc", "start_step": 2, "end_step": 4},
    )
    assert sorted(m["step"] for m in window["metrics"]) == [2, 3, 4]


def test_get_history_bulk_is_ajax_only(api, ajax):
    runs = [api.run() for _ in range(2)]
    for n, run_id in enumerate(runs):
        api.ok_post(
            "runs/log-metric", {"run_id": run_id, "key": "x", "value": n, "timestamp": 1, "step": 0}
        )
    body = ajax.ok_get(
        "metrics/get-history-bulk", [("run_id", runs[0]), ("run_id", runs[1]), ("metric_key", "x")]
    )
    assert [(m["run_id"], m["value"]) for m in body["metrics"]] == [(runs[0], 0.0), (runs[1], 1.0)]
    capped = ajax.ok_get(
        "metrics/get-history-bulk",
        [("run_id", runs[0]), ("run_id", runs[1]), ("metric_key", "x"), ("max_results", "1")],
    )
    assert len(capped["metrics"]) == 1
    assert (
        api.get("metrics/get-history-bulk", {"run_id": runs[0], "metric_key": "x"}).status_code
        == 404
    )


def test_search_runs_filters_order_and_paging(api):
    exp_id = api.experiment("searching")
    run_ids = []
    for i in range(6):
        run_id = api.run(exp_id, run_name=f"r{i}", start_time=1000 + i)
        api.ok_post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "acc", "value": i / 10, "timestamp": 1, "step": 0}],
                "params": [{"key": "depth", "value": str(i % 2)}],
                "tags": [{"key": "parity", "value": "even" if i % 2 == 0 else "odd"}],
            },
        )
        run_ids.append(run_id)

    found = api.ok_post(
        "runs/search",
        {
            "experiment_ids": [exp_id],
            "filter": "metrics.acc > 0.25 and params.depth = '1'",
            "order_by": ["metrics.acc DESC"],
        },
    )
    assert [r["info"]["run_name"] for r in found["runs"]] == ["r5", "r3"]

    by_tag = api.ok_post(
        "runs/search", {"experiment_ids": [exp_id], "filter": "tags.parity = 'even'"}
    )
    assert {r["info"]["run_name"] for r in by_tag["runs"]} == {"r0", "r2", "r4"}

    by_attr = api.ok_post(
        "runs/search", {"experiment_ids": [exp_id], "filter": "attributes.run_name = 'r1'"}
    )
    assert [r["info"]["run_id"] for r in by_attr["runs"]] == [run_ids[1]]

    default_order = api.ok_post("runs/search", {"experiment_ids": [exp_id]})
    assert [r["info"]["run_name"] for r in default_order["runs"]] == [
        f"r{i}" for i in reversed(range(6))
    ]

    names: list[str] = []
    token = None
    while True:
        body = {
            "experiment_ids": [exp_id],
            "max_results": 4,
            "order_by": ["attributes.run_name ASC"],
        }
        if token:
            body["page_token"] = token
        page = api.ok_post("runs/search", body)
        names += [r["info"]["run_name"] for r in page["runs"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert names == [f"r{i}" for i in range(6)]


def test_search_runs_view_types_and_no_hits(api):
    exp_id = api.experiment("views")
    keep, drop = api.run(exp_id), api.run(exp_id)
    api.ok_post("runs/delete", {"run_id": drop})
    active = api.ok_post("runs/search", {"experiment_ids": [exp_id]})
    assert [r["info"]["run_id"] for r in active["runs"]] == [keep]
    deleted = api.ok_post(
        "runs/search", {"experiment_ids": [exp_id], "run_view_type": "DELETED_ONLY"}
    )
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [drop]
    both = api.ok_post("runs/search", {"experiment_ids": [exp_id], "run_view_type": "ALL"})
    assert len(both["runs"]) == 2
    assert (
        api.ok_post("runs/search", {"experiment_ids": [exp_id], "filter": "tags.none = 'x'"}) == {}
    )


def test_log_inputs_and_read_back(api):
    run_id = api.run()
    dataset = {
        "name": "iris",
        "digest": "d1g3st",
        "source_type": "local",
        "source": '{"uri": "/data/iris.csv"}',
        "schema": '{"mlflow_colspec": []}',
        "profile": '{"num_rows": 150}',
    }
    item = {"tags": [{"key": "mlflow.data.context", "value": "train"}], "dataset": dataset}
    assert api.ok_post("runs/log-inputs", {"run_id": run_id, "datasets": [item]}) == {}
    inputs = api.ok_get("runs/get", {"run_id": run_id})["run"]["inputs"]
    assert inputs == {"dataset_inputs": [item]}


def test_search_runs_with_or_parentheses_and_not(api):
    """modelyard's superset of MLflow's grammar: OR, NOT and parentheses."""
    exp_id = api.experiment("superset")
    for i in range(4):
        run_id = api.run(exp_id, run_name=f"s{i}")
        api.ok_post("runs/log-metric", {"run_id": run_id, "key": "acc", "value": i, "timestamp": 1})
    body = {
        "experiment_ids": [exp_id],
        "filter": "(metrics.acc = 0 OR metrics.acc = 3) AND NOT attributes.run_name = 's3'",
    }
    assert [r["info"]["run_name"] for r in api.ok_post("runs/search", body)["runs"]] == ["s0"]
    either = api.ok_post(
        "runs/search",
        {
            "experiment_ids": [exp_id],
            "filter": "metrics.acc < 1 or metrics.acc > 2",
            "order_by": ["metrics.acc"],
        },
    )
    assert [r["info"]["run_name"] for r in either["runs"]] == ["s0", "s3"]
    exps = api.ok_get("experiments/search", {"filter": "name = 'superset' OR name = 'Default'"})
    assert {e["name"] for e in exps["experiments"]} == {"superset", "Default"}


def test_too_long_param_and_tag_values_are_truncated(api):
    run_id = api.run()
    with pytest.warns(UserWarning, match="truncated"):
        api.ok_post("runs/log-parameter", {"run_id": run_id, "key": "long", "value": "p" * 7000})
    with pytest.warns(UserWarning, match="truncated"):
        api.ok_post("runs/set-tag", {"run_id": run_id, "key": "long", "value": "t" * 9000})
    data = api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]
    assert {"key": "long", "value": "p" * 6000} in data["params"]
    assert {"key": "long", "value": "t" * 8000} in data["tags"]


def test_too_long_values_are_refused_when_truncation_is_off(tmp_path):
    from starlette.testclient import TestClient

    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp_path / 'strict.db'}",
        default_artifact_root=str(tmp_path / "a"),
        truncate_long_values=False,
    )
    with TestClient(create_app(settings)) as client:
        run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]
        response = client.post(
            "/api/2.0/mlflow/runs/log-parameter",
            json={"run_id": run["info"]["run_id"], "key": "long", "value": "p" * 7000},
        )
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
