"""Registry endpoints through the real app over SQLite: MLflow's JSON, the approval flow between two
users named by the request, the activity log, and bad input on every registry endpoint."""

from __future__ import annotations

import base64

import pytest

from modelyard.schemas import fields as F
from modelyard.server.routes import REGISTRY_TABLES

API = "/api/2.0/mlflow"


def _as(user: str) -> dict[str, str]:
    return {"X-Modelyard-User": user}


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}


@pytest.fixture
def model(api):
    exp = api.experiment("reg")
    run_id = api.run(exp)
    api.ok_post("registered-models/create", {"name": "clf", "description": "d"})
    for _ in range(2):
        api.ok_post("model-versions/create", {"name": "clf", "source": f"runs:/{run_id}/model"})
    return run_id


def test_json_shapes_follow_mlflow(api, model):
    rm = api.ok_get("registered-models/get", {"name": "clf"})["registered_model"]
    assert set(rm) >= {"name", "creation_timestamp", "last_updated_timestamp", "latest_versions"}
    assert rm["description"] == "d"
    assert isinstance(rm["creation_timestamp"], int)
    mv = api.ok_get("model-versions/get", {"name": "clf", "version": "2"})["model_version"]
    assert mv["version"] == "2" and mv["current_stage"] == "None" and mv["status"] == "READY"
    assert mv["run_id"] == model and "tags" not in mv and "aliases" not in mv
    camel = api.ok_get("model-versions/get", {"name": "clf", "version": 1})["model_version"]
    assert camel["version"] == "1"
    out = api.client.patch(
        f"{API}/model-versions/update", json={"name": "clf", "version": "1", "description": "x"}
    )
    assert out.json()["model_version"]["description"] == "x"
    staged = api.ok_post(
        "model-versions/transition-stage",
        {"name": "clf", "version": "1", "stage": "staging", "archiveExistingVersions": True},
    )
    assert staged["model_version"]["current_stage"] == "Staging"
    latest = api.ok_post("registered-models/get-latest-versions", {"name": "clf"})
    assert {v["current_stage"] for v in latest["model_versions"]} == {"Staging", "None"}
    latest = api.ok_get("registered-models/get-latest-versions", {"name": "clf", "stages": "None"})
    assert [v["version"] for v in latest["model_versions"]] == ["2"]
    assert api.ok_get("registered-models/search", {"filter": "name = 'nope'"}) == {}
    missing = api.get("registered-models/get", {"name": "nope"})
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    dup = api.post("registered-models/create", {"name": "clf"})
    assert dup.status_code == 400 and dup.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    deleted = api.client.request(
        "DELETE", f"{API}/model-versions/delete", json={"name": "clf", "version": "2"}
    )
    assert deleted.json() == {}
    assert api.get("model-versions/get", {"name": "clf", "version": "2"}).status_code == 404


def test_who_is_the_basic_username_else_the_header_else_unknown(api, model):
    api.client.post(
        f"{API}/model-versions/set-tag",
        json={"name": "clf", "version": "1", "key": "k", "value": "v"},
        headers=_basic("carol"),
    )
    api.client.post(
        f"{API}/registered-models/alias",
        json={"name": "clf", "alias": "champion", "version": "1"},
        headers=_as("dave"),
    )
    log = api.ok_get("model-versions/activities", {"name": "clf", "version": "1"})["activities"]
    users = [(a["activity_type"], a["user_id"]) for a in log]
    assert users == [
        ("MODEL_VERSION_CREATED", "unknown"),
        ("MODEL_VERSION_TAG_SET", "carol"),
        ("ALIAS_SET", "dave"),
    ]
    assert all(isinstance(a["creation_timestamp"], int) for a in log)
    model_log = api.ok_get("registered-models/activities", {"name": "clf"})["activities"]
    assert model_log[0]["activity_type"] == "REGISTERED_MODEL_CREATED"
    assert len(model_log) == 5


def test_approval_flow_between_two_users(tmp_path, api):
    from starlette.testclient import TestClient

    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp_path / 'gated.db'}",
        default_artifact_root=str(tmp_path / "gated-artifacts"),
        registry_require_approval_for_production=True,
    )
    with TestClient(create_app(settings)) as client:
        api = type(api)(client)
        run_id = api.run(api.experiment("gated"))
        api.ok_post("registered-models/create", {"name": "gated"})
        api.ok_post("model-versions/create", {"name": "gated", "source": f"runs:/{run_id}/m"})
        direct = api.post(
            "model-versions/transition-stage",
            {"name": "gated", "version": "1", "stage": "Production"},
        )
        assert direct.status_code == 403, direct.text
        assert direct.json()["error_code"] == "PERMISSION_DENIED"
        assert "approved transition request" in direct.json()["message"]

        created = client.post(
            f"{API}/transition-requests/create",
            json={"name": "gated", "version": "1", "stage": "Production", "comment": "ship it"},
            headers=_as("ann"),
        ).json()["request"]
        assert created["user_id"] == "ann" and created["to_stage"] == "Production"
        listed = api.ok_get("transition-requests/list", {"name": "gated", "version": "1"})
        assert [r["id"] for r in listed["requests"]] == [created["id"]]
        own = client.post(
            f"{API}/transition-requests/approve",
            json={"name": "gated", "version": "1", "stage": "Production"},
            headers=_as("ann"),
        )
        assert own.status_code == 403
        approved = client.post(
            f"{API}/transition-requests/approve",
            json={"id": created["id"], "comment": "lgtm", "archive_existing_versions": True},
            headers=_basic("bob"),
        ).json()
        assert approved["activity"]["activity_type"] == "APPROVED_REQUEST"
        assert approved["activity"]["user_id"] == "bob"
        assert approved["model_version"]["current_stage"] == "Production"
        assert approved["request"]["status"] == "APPROVED"
        assert approved["request"]["archive_existing_versions"] is True

        comment = client.post(
            f"{API}/comments/create",
            json={"name": "gated", "version": "1", "comment": "watch latency"},
            headers=_as("bob"),
        ).json()["comment"]
        edited = client.patch(
            f"{API}/comments/update",
            json={"id": comment["id"], "comment": "watch p99 latency"},
            headers=_as("bob"),
        )
        assert edited.json()["comment"]["comment"] == "watch p99 latency"
        foreign = client.request(
            "DELETE", f"{API}/comments/delete", json={"id": comment["id"]}, headers=_as("eve")
        )
        assert foreign.status_code == 403
        listed = api.ok_get("comments/list", {"name": "gated", "version": "1"})["comments"]
        assert [c["user_id"] for c in listed] == ["bob"]

        api.ok_post("model-versions/create", {"name": "gated", "source": f"runs:/{run_id}/m"})
        second = api.ok_post(
            "transition-requests/create", {"name": "gated", "version": "2", "stage": "Production"}
        )["request"]
        rejected = client.post(
            f"{API}/transition-requests/reject",
            json={"name": "gated", "version": "2", "stage": "production", "comment": "worse"},
            headers=_as("bob"),
        ).json()
        assert rejected["request"]["status"] == "REJECTED"
        assert rejected["activity"]["comment"] == "worse"
        again = api.post("transition-requests/reject", {"id": second["id"]})
        assert again.status_code == 400 and again.json()["error_code"] == "INVALID_STATE"

        third = api.ok_post(
            "transition-requests/create", {"name": "gated", "version": "2", "stage": "Staging"}
        )["request"]
        cancelled = client.request(
            "DELETE", f"{API}/transition-requests/delete", json={"id": third["id"]}
        ).json()
        assert cancelled["request"]["status"] == "CANCELLED"
        kinds = [
            a["activity_type"]
            for a in api.ok_get("model-versions/activities", {"name": "gated", "version": "2"})[
                "activities"
            ]
        ]
        assert kinds == [
            "MODEL_VERSION_CREATED",
            "REQUESTED_TRANSITION",
            "REJECTED_REQUEST",
            "REQUESTED_TRANSITION",
            "CANCELLED_REQUEST",
        ]


# ------------------------------------------------------------------------------ bad input
RPCS = [(rpc, method) for table in REGISTRY_TABLES for rpc in table for method in rpc.methods]
WRONG = {F.STRING: 31, F.ID: {"id": 1}, F.INT64: "abc", F.BOOL: "yes"}
LEAKS = ("Traceback", "sqlalchemy", "SELECT", "INSERT", 'File "', ".py")


def _send(client, method: str, path: str, body: dict):
    url = f"{API}/{path}"
    if method == "GET":
        return client.get(url, params={k: v for k, v in body.items() if not isinstance(v, dict)})
    return client.request(method, url, json=body)


def _refused(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"]
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text)


@pytest.mark.parametrize(("rpc", "method"), RPCS, ids=[f"{m} {r.path}" for r, m in RPCS])
def test_missing_and_mistyped_fields_are_4xx(module_api, rpc, method):
    path = rpc.path.replace("{webhook_id}", "0123456789abcdef0123456789abcdef")
    required = [f for f in rpc.request.fields if f.required and f.name != "webhook_id"]
    _refused(_send(module_api.client, method, path, {}) if required else _none(module_api))
    if method == "GET":
        return
    for field in rpc.request.fields:
        if field.name == "webhook_id" or field.kind not in WRONG:
            continue
        value = [WRONG[field.kind]] if field.repeated else WRONG[field.kind]
        _refused(_send(module_api.client, method, path, {field.name: value}))


def _none(api):
    """Endpoints with no required field: a missing resource still answers 4xx."""
    return api.client.get(f"{API}/webhooks/does-not-exist")


def test_bad_values_are_refused_with_clear_messages(api, model):
    cases = [
        ("registered-models/create", {"name": "a/b"}, "must not contain"),
        ("registered-models/create", {"name": "x" * 300}, "maximum length"),
        ("model-versions/transition-stage", {"name": "clf", "version": "1", "stage": "Live"},
         "Invalid Model Version stage"),
        ("model-versions/transition-stage", {"name": "clf", "version": "zero", "stage": "None"},
         "version"),
        ("registered-models/alias", {"name": "clf", "alias": "v12", "version": "1"}, "reserved"),
        ("registered-models/alias", {"name": "clf", "alias": "bad alias", "version": "1"},
         "Invalid alias"),
        ("registered-models/alias", {"name": "clf", "alias": "a", "version": "9"}, "not found"),
        ("registered-models/set-tag", {"name": "clf", "key": "../x", "value": "v"}, "tag"),
        ("transition-requests/approve", {"name": "clf"}, "transition request"),
    ]  # fmt: skip
    for path, body, text in cases:
        response = api.post(path, body)
        _refused(response)
        assert text in response.json()["message"], (path, response.json())
    search = api.get("registered-models/search", {"filter": "name = "})
    _refused(search)
    search = api.get("model-versions/search", {"order_by": "params.x"})
    _refused(search)
