"""The server over every database backend (SQLite, PostgreSQL, MariaDB): one full pass of the API."""

from __future__ import annotations

import pytest

from modelyard.server.app import create_app
from modelyard.settings import load_settings

API = "/api/2.0/mlflow"


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


def test_full_pass_on_each_backend(backend_client, unique):
    c = backend_client
    name = f"backend-{unique}"
    exp_id = _ok(c.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"]
    duplicate = c.post(f"{API}/experiments/create", json={"name": name})
    assert duplicate.status_code == 400
    assert duplicate.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "INSERT" not in duplicate.text and "duplicate key" not in duplicate.text.lower()

    run_id = _ok(c.post(f"{API}/runs/create", json={"experiment_id": exp_id, "run_name": "r"}))[
        "run"
    ]["info"]["run_id"]
    metrics = [
        {"key": "m", "value": v, "timestamp": 1, "step": i}
        for i, v in enumerate(["NaN", "Infinity", "-Infinity", 0.5])
    ]
    _ok(
        c.post(
            f"{API}/runs/log-batch",
            json={"run_id": run_id, "metrics": metrics, "params": [{"key": "p", "value": "1"}]},
        )
    )
    history = _ok(c.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}))
    assert [m["value"] for m in history["metrics"]] == ["NaN", "Infinity", "-Infinity", 0.5]

    changed = c.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "2"})
    assert changed.status_code == 400
    assert changed.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    found = _ok(
        c.post(
            f"{API}/runs/search",
            json={"experiment_ids": [exp_id], "filter": "params.p = '1' AND metrics.m = 0.5"},
        )
    )
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    evil = c.post(
        f"{API}/runs/search",
        json={"experiment_ids": [exp_id], "filter": "params.p = '1\\'; DROP TABLE runs; --'"},
    )
    assert evil.status_code == 200 and evil.json() == {}
    assert _ok(c.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["data"]["params"] == [
        {"key": "p", "value": "1"}
    ]
