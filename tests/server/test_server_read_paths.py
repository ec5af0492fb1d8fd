"""The fast read responses (runs/search, metrics/get-history and get-history-bulk) on every backend.

``runs/search`` is written from plain records and ``runs/get`` from entities: the same run must come
out the same from both. Histories are written from plain points: NaN and ±inf as MLflow's strings,
pages that add up to the whole history.
"""

from __future__ import annotations

import pytest

from modelyard.server.app import create_app
from modelyard.settings import load_settings

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"


@pytest.fixture
def backend_client(db_uri, tmp_path):
    from starlette.testclient import TestClient

    settings = load_settings(
        {}, backend_store_uri=db_uri, default_artifact_root=str(tmp_path / "a")
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def _metric(key, value, step, ts=7):
    return {"key": key, "value": value, "timestamp": ts, "step": step}


def test_search_answers_each_run_as_runs_get_does(backend_client, unique):
    c = backend_client
    exp_id = _ok(c.post(f"{API}/experiments/create", json={"name": f"read-{unique}"}))[
        "experiment_id"
    ]
    run_ids = []
    for i in range(5):
        body = {"experiment_id": exp_id, "start_time": 1000 + i, "run_name": f"r{i}"}
        run_ids.append(_ok(c.post(f"{API}/runs/create", json=body))["run"]["info"]["run_id"])
    full, ended, deleted = run_ids[0], run_ids[1], run_ids[2]
    batch = {
        "run_id": full,
        "metrics": [
            _metric("acc", "NaN", 0),
            _metric("up", "Infinity", 0),
            _metric("down", "-Infinity", 0),
            _metric("loss", 2.5, 0),
            _metric("loss", 0.125, 4),
        ],
        "params": [{"key": k, "value": f"v-{k}"} for k in ("zeta", "alpha", "mid")],
        "tags": [{"key": "team", "value": "vision"}],
    }
    _ok(c.post(f"{API}/runs/log-batch", json=batch))
    dataset = {"name": "train", "digest": "abc", "source_type": "local", "source": "/d"}
    inputs = {"run_id": full, "datasets": [{"dataset": dataset, "tags": []}]}
    _ok(c.post(f"{API}/runs/log-inputs", json=inputs))
    _ok(c.post(f"{API}/runs/update", json={"run_id": ended, "status": "KILLED", "end_time": 9}))
    _ok(c.post(f"{API}/runs/delete", json={"run_id": deleted}))

    for body, expected in [
        ({}, [r for r in reversed(run_ids) if r != deleted]),
        ({"run_view_type": "ALL", "order_by": ["metrics.loss ASC"]}, None),
        ({"filter": "metrics.loss < 1 AND params.alpha = 'v-alpha'"}, [full]),
    ]:
        found = []
        token = None
        while True:  # two runs per page
            page_body = {"experiment_ids": [exp_id], "max_results": 2, **body}
            if token:
                page_body["page_token"] = token
            page = _ok(c.post(f"{API}/runs/search", json=page_body))
            for run in page.get("runs", []):
                got = _ok(c.get(f"{API}/runs/get", params={"run_id": run["info"]["run_id"]}))
                assert run == got["run"]
                found.append(run["info"]["run_id"])
            token = page.get("next_page_token")
            if not token:
                break
        if expected is not None:
            assert found == expected
        else:
            assert found[0] == full and sorted(found) == sorted(run_ids)

    run = _ok(c.get(f"{API}/runs/get", params={"run_id": full}))["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {
        "acc": "NaN",
        "up": "Infinity",
        "down": "-Infinity",
        "loss": 0.125,
    }
    assert [p["key"] for p in run["data"]["params"]] == ["alpha", "mid", "zeta"]
    assert run["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "train"
    bare = _ok(c.get(f"{API}/runs/get", params={"run_id": run_ids[3]}))["run"]
    assert "metrics" not in bare["data"] and "params" not in bare["data"]
    assert bare["inputs"] == {} and "end_time" not in bare["info"]


def test_history_pages_and_bulk(backend_client, unique):
    c = backend_client
    exp_id = _ok(c.post(f"{API}/experiments/create", json={"name": f"hist-{unique}"}))[
        "experiment_id"
    ]
    run_ids = [
        _ok(c.post(f"{API}/runs/create", json={"experiment_id": exp_id}))["run"]["info"]["run_id"]
        for _ in range(2)
    ]
    values = ["NaN", 1.5, "Infinity", -0.25, "-Infinity", 1e-300, 3.0]
    points = [_metric("m", v, step, ts=100 - step) for step, v in enumerate(values)]
    for run_id in run_ids:
        _ok(c.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": points}))
    expected = [{**p, "run_id": run_ids[0]} for p in points]

    whole = _ok(
        c.get(f"{API}/metrics/get-history", params={"run_id": run_ids[0], "metric_key": "m"})
    )
    assert whole == {"metrics": expected}

    paged, token = [], None
    while True:
        params = {"run_id": run_ids[0], "metric_key": "m", "max_results": 3}
        if token:
            params["page_token"] = token
        page = _ok(c.get(f"{API}/metrics/get-history", params=params))
        assert len(page["metrics"]) <= 3
        paged += page["metrics"]
        token = page.get("next_page_token")
        if not token:
            break
    assert paged == expected

    missing = {"run_id": run_ids[0], "metric_key": "nope"}
    assert _ok(c.get(f"{API}/metrics/get-history", params=missing)) == {}

    bulk = _ok(
        c.get(
            f"{AJAX}/metrics/get-history-bulk",
            params={"run_id": run_ids, "metric_key": "m", "max_results": 10},
        )
    )
    assert bulk["metrics"] == expected + [{**p, "run_id": run_ids[1]} for p in points[:3]]
