"""The OpenAPI document at /api/2.0/modelyard/openapi.json describes every route the server answers."""

from __future__ import annotations

import re

from security_helpers import app_client

from modelyard.schemas import fields as f
from modelyard.server.openapi import OPENAPI_PATH
from modelyard.server.routes import REGISTRY_TABLES, TRACKING_TABLES

_CONVERTER = re.compile(r"\{(\w+)(?::\w+)?\}")


def _document(tmp_path, **overrides):
    with app_client(tmp_path, **overrides) as client:
        response = client.get(OPENAPI_PATH)
        assert response.status_code == 200
        assert client.get("/ajax-api/2.0/modelyard/openapi.json").json() == response.json()
        return response.json()


def test_every_rpc_is_an_operation_with_its_typed_fields(tmp_path):
    doc = _document(tmp_path)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for table in (*TRACKING_TABLES, *REGISTRY_TABLES):
        for rpc in table:
            for url in rpc.urls():
                in_path = _CONVERTER.findall(url)
                entry = paths[_CONVERTER.sub(r"{\1}", url)]
                for method in rpc.methods:
                    op = entry[method.lower()]
                    params = {p["name"]: p for p in op["parameters"]}
                    assert {n for n, p in params.items() if p["in"] == "path"} == set(in_path)
                    fields = [fl for fl in rpc.request.fields if fl.name not in in_path]
                    if method == "GET":
                        for fl in fields:
                            if fl.kind != f.MESSAGE:
                                assert params[fl.name]["in"] == "query", (url, fl.name)
                                assert params[fl.name]["required"] == fl.required
                    else:
                        body = op["requestBody"]["content"]["application/json"]["schema"]
                        assert set(body["properties"]) == {fl.name for fl in fields}, url
                        required = {fl.name for fl in fields if fl.required}
                        assert set(body.get("required", [])) == required, url
            if rpc.ajax_only:
                assert not any(p.endswith("/mlflow/" + rpc.path) for p in paths if "/api/" in p[:5])


def test_field_types_follow_the_message_specs(tmp_path):
    doc = _document(tmp_path)
    log_metric = doc["paths"]["/api/2.0/mlflow/runs/log-metric"]["post"]
    props = log_metric["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert props["value"] == {"type": "number", "format": "double"}
    assert props["timestamp"] == {"type": "integer", "format": "int64"}
    search = doc["paths"]["/api/2.0/mlflow/experiments/search"]["get"]
    view_type = next(p for p in search["parameters"] if p["name"] == "view_type")
    assert view_type["schema"]["enum"] == ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]
    batch = doc["paths"]["/api/2.0/mlflow/runs/log-batch"]["post"]
    metrics = batch["requestBody"]["content"]["application/json"]["schema"]["properties"]["metrics"]
    ref = metrics["items"]["$ref"].rsplit("/", 1)[1]
    assert {"key", "value", "timestamp"} <= set(doc["components"]["schemas"][ref]["required"])


def test_the_proxy_downloads_and_meta_routes_are_described(tmp_path):
    paths = _document(tmp_path)["paths"]
    artifact = paths["/api/2.0/mlflow-artifacts/artifacts/{path}"]
    assert {"get", "head", "put", "delete"} <= set(artifact)
    assert "application/octet-stream" in artifact["put"]["requestBody"]["content"]
    assert "post" in paths["/api/2.0/mlflow-artifacts/mpu/create/{path}"]
    assert {p["name"] for p in paths["/get-artifact"]["get"]["parameters"]} == {"run_id", "path"}
    assert "get" in paths["/model-versions/get-artifact"]
    for meta in ("/health", "/version", "/api/3.0/mlflow/server-info", OPENAPI_PATH):
        assert "get" in paths[meta], meta
    assert not [p for p in paths if p.startswith(("/ui/", "/static/", "/experiments"))]
    ids = [op["operationId"] for entry in paths.values() for op in entry.values()]
    assert len(ids) == len(set(ids))


def test_an_artifacts_only_server_describes_what_it_serves(tmp_path):
    paths = _document(tmp_path, artifacts_only=True)["paths"]
    assert "/api/2.0/mlflow-artifacts/artifacts/{path}" in paths
    assert "/api/2.0/mlflow/runs/create" not in paths
