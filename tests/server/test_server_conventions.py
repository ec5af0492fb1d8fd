"""MLflow's JSON conventions on the wire (reference §1.1) and the routes outside the protos."""

from __future__ import annotations

import json

import orjson
import pytest

import modelyard

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"


def test_health_version_and_server_info(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.text == "OK"
    assert client.get("/version").text == modelyard.__version__
    for prefix in ("/api", "/ajax-api"):
        info = client.get(f"{prefix}/3.0/mlflow/server-info").json()
        assert info["store_type"] == "SqlStore"
        assert info["workspaces_enabled"] is False


def test_every_endpoint_answers_under_api_and_ajax_api(client, api):
    exp_id = api.experiment("both")
    for prefix in (API, AJAX):
        response = client.get(f"{prefix}/experiments/get", params={"experiment_id": exp_id})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["experiment"]["name"] == "both"


def test_camel_case_names_and_unknown_fields_are_accepted(client, api):
    exp_id = api.experiment("camel")
    run = api.ok_post(
        "runs/create",
        {"experimentId": exp_id, "startTime": 77, "runName": "c", "futureField": {"x": 1}},
    )["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["start_time"] == 77 and run["info"]["run_name"] == "c"
    api.ok_post(
        "runs/log-metric", {"runId": run_id, "key": "m", "value": 1, "timestamp": 5, "step": 3}
    )
    history = client.get(
        f"{API}/metrics/get-history", params={"runId": run_id, "metricKey": "m"}
    ).json()
    assert history == {
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 5, "step": 3, "run_id": run_id}]
    }


def test_same_field_in_both_spellings_is_rejected(api):
    run_id = api.run()
    response = api.post(
        "runs/set-tag", {"run_id": run_id, "runId": run_id, "key": "k", "value": "v"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "run_id" in response.json()["message"]


def test_run_uuid_is_an_alias_of_run_id(api):
    run_id = api.run()
    api.ok_post("runs/set-tag", {"run_uuid": run_id, "key": "via", "value": "uuid"})
    run = api.ok_get("runs/get", {"run_uuid": run_id})["run"]
    assert {"key": "via", "value": "uuid"} in run["data"]["tags"]
    assert run["info"]["run_uuid"] == run["info"]["run_id"] == run_id


def test_int64_values_are_json_numbers(client, api):
    run_id = api.run(start_time=2**53 + 1)
    raw = client.get(f"{API}/runs/get", params={"run_id": run_id}).content
    assert f'"start_time":{2**53 + 1}'.encode() in raw
    # int64 fields also accept numeric strings, as proto JSON does
    api.ok_post(
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": "2.5", "timestamp": "9", "step": "4"},
    )
    history = api.ok_get("metrics/get-history", {"run_id": run_id, "metric_key": "m"})["metrics"]
    assert history == [{"key": "m", "value": 2.5, "timestamp": 9, "step": 4, "run_id": run_id}]


def test_enums_accept_names_and_numbers(api):
    run_id = api.run()
    assert (
        api.ok_post("runs/update", {"run_id": run_id, "status": 3})["run_info"]["status"]
        == "FINISHED"
    )
    assert (
        api.ok_post("runs/update", {"run_id": run_id, "status": "KILLED"})["run_info"]["status"]
        == "KILLED"
    )


def test_nan_and_infinity_travel_as_strings_both_ways(client, api):
    run_id = api.run()
    for step, value in enumerate(["NaN", "Infinity", "-Infinity"]):
        api.ok_post(
            "runs/log-metric",
            {"run_id": run_id, "key": "odd", "value": value, "timestamp": 1, "step": step},
        )
    raw = client.get(
        f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "odd"}
    ).content
    values = [m["value"] for m in orjson.loads(raw)["metrics"]]
    assert values == ["NaN", "Infinity", "-Infinity"]
    assert b"null" not in raw


def test_bare_nan_from_stdlib_json_is_read(client, api):
    run_id = api.run()
    body = json.dumps({"run_id": run_id, "key": "m", "value": float("nan"), "timestamp": 1})
    assert "NaN" in body  # the standard library writes a bare NaN token
    response = client.post(
        f"{API}/runs/log-metric", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]["metrics"][0]["value"] == "NaN"


def test_double_encoded_json_body_is_decoded_twice(client, api):
    run_id = api.run()
    inner = json.dumps({"run_id": run_id, "key": "double", "value": "encoded"})
    response = client.post(
        f"{API}/runs/set-tag",
        content=json.dumps(inner),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    tags = api.ok_get("runs/get", {"run_id": run_id})["run"]["data"]["tags"]
    assert {"key": "double", "value": "encoded"} in tags


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_post_without_json_content_type_is_400(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(f"{API}/experiments/create", content=b'{"name": "x"}', headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Content-Type must be one of ['application/json']",
    }


def test_content_type_with_charset_is_accepted(client):
    response = client.post(
        f"{API}/experiments/create",
        content=b'{"name": "charset"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_get_with_repeated_query_keys(client, api):
    runs = [api.run() for _ in range(3)]
    for run_id in runs:
        api.ok_post("runs/log-metric", {"run_id": run_id, "key": "k", "value": 1, "timestamp": 1})
    query = "&".join(f"run_ids={r}" for r in runs) + "&metric_key=k"
    body = client.get(f"{API}/metrics/get-history-bulk-interval?{query}").json()
    assert {m["run_id"] for m in body["metrics"]} == set(runs)


def test_empty_responses_are_empty_objects(client, api):
    run_id = api.run()
    response = client.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"})
    assert response.content == b"{}"


def test_json_null_counts_as_absent(api):
    run = api.ok_post("runs/create", {"experiment_id": "0", "run_name": None, "tags": None})["run"]
    assert run["info"]["run_name"]  # generated


def test_unknown_api_route_is_json_404(client):
    for path in (
        f"{API}/no/such/thing",
        f"{AJAX}/no/such/thing",
        f"{API}/runs/log-model",
        f"{API}/traces/not-served",
        f"{API}/logged-models/not-a-route/at/all",
        "/api/9.9/anything",
    ):
        response = client.post(path, json={})
        assert response.status_code == 404, path
        assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND", path


def test_wrong_method_is_json_405(client):
    response = client.get(f"{API}/runs/create")
    assert response.status_code == 405
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert "POST" in response.headers["allow"]


def test_delete_method_takes_a_json_body(app, api):
    """No tracking endpoint uses DELETE, but the request path reads bodies on DELETE like on POST."""
    from modelyard.schemas.fields import Field, Message
    from modelyard.server.rpc import RpcTable, add_rpc_routes

    table = RpcTable()

    @table("test/echo", "DELETE", "PATCH", request=Message("Echo", [Field("name", required=True)]))
    def echo(svc, req):
        return {"name": req["name"]}

    add_rpc_routes(app, table)
    response = api.client.request("DELETE", f"{API}/test/echo", json={"name": "gone"})
    assert response.status_code == 200 and response.json() == {"name": "gone"}
    response = api.client.request("DELETE", f"{API}/test/echo", content=b"")
    assert response.status_code == 400
    assert response.json()["message"] == "Missing value for required parameter 'name'."
    response = api.client.patch(f"{API}/test/echo", json={"name": "patched"})
    assert response.json() == {"name": "patched"}


def test_unexpected_error_is_a_generic_500(app, client):
    from modelyard.schemas.fields import Message
    from modelyard.server.rpc import RpcTable, add_rpc_routes

    table = RpcTable()

    @table("test/boom", "POST", request=Message("Boom", []))
    def boom(svc, req):
        raise RuntimeError("SELECT secret FROM runs -- /home/app/server.py")

    add_rpc_routes(app, table)
    response = client.post(f"{API}/test/boom", json={})
    assert response.status_code == 500
    body = response.json()
    assert body["error_code"] == "INTERNAL_ERROR"
    assert "SELECT" not in body["message"] and "server.py" not in body["message"]
    assert "Traceback" not in response.text


def test_tracking_service_comes_from_the_dependency(app, client, tmp_path):
    """Routes get the service by injection, so a test can swap in another real store."""
    from modelyard.server.deps import get_tracking
    from modelyard.service.tracking import TrackingService
    from modelyard.store.sql import open_tracking_store

    other = open_tracking_store(
        f"sqlite:///{tmp_path / 'other.db'}", default_artifact_root=str(tmp_path / "a")
    )
    try:
        other_service = TrackingService(other)
        other_service.create_experiment("only-in-other")
        app.dependency_overrides[get_tracking] = lambda: other_service
        response = client.get(
            f"{API}/experiments/get-by-name", params={"experiment_name": "only-in-other"}
        )
        assert response.status_code == 200
        app.dependency_overrides.clear()
        response = client.get(
            f"{API}/experiments/get-by-name", params={"experiment_name": "only-in-other"}
        )
        assert response.status_code == 404
    finally:
        other.close()


def test_create_app_with_a_store_leaves_it_open(tmp_path):
    from starlette.testclient import TestClient

    from modelyard.server.app import create_app
    from modelyard.settings import load_settings
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(
        f"sqlite:///{tmp_path / 's.db'}", default_artifact_root=str(tmp_path / "a")
    )
    try:
        app = create_app(load_settings({}), store=store)
        with TestClient(app) as client:
            assert (
                client.get(f"{API}/experiments/get", params={"experiment_id": "0"}).status_code
                == 200
            )
        assert store.get_experiment("0").name == "Default"  # still usable after the app shut down
    finally:
        store.close()


def test_oversized_body_is_refused_without_reading_it_all(client):
    from modelyard.server.rpc import MAX_REQUEST_BYTES

    body = b'{"name": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    response = client.post(
        f"{API}/experiments/create", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "error_code": "BAD_REQUEST",
        "message": "The request body is larger than the limit of 64 MiB.",
    }


def test_the_app_closes_the_store_it_opened_on_shutdown(tmp_path):
    from starlette.testclient import TestClient

    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp_path / 'own.db'}",
        default_artifact_root=str(tmp_path),
    )
    app = create_app(settings)
    pool = app.state.tracking.store.engine.pool
    with TestClient(app) as client:
        assert (
            client.get(f"{API}/experiments/get", params={"experiment_id": "0"}).status_code == 200
        )
        assert pool.checkedin() >= 1
    # disposed: the old pool holds no connection and the engine got a fresh one
    assert pool.checkedin() == 0
    assert app.state.tracking.store.engine.pool is not pool
