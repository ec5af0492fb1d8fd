"""Logged-model endpoints (reference §1.8) through the real app over SQLite."""

from __future__ import annotations

import pytest

API = "/api/2.0/mlflow"


def _create(api, experiment_id: str = "0", **body):
    return api.ok_post("logged-models", {"experiment_id": experiment_id, **body})["model"]


def test_create_get_finalize_and_delete(api):
    exp = api.experiment("lm")
    run_id = api.run(exp)
    model = _create(
        api,
        exp,
        name="clf",
        model_type="sklearn",
        source_run_id=run_id,
        params=[{"key": "alpha", "value": "0.5"}],
        tags=[{"key": "team", "value": "search"}],
    )
    info = model["info"]
    model_id = info["model_id"]
    assert model_id.startswith("m-") and len(model_id) == 34
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["experiment_id"] == exp and info["name"] == "clf"
    assert info["source_run_id"] == run_id and info["model_type"] == "sklearn"
    assert info["artifact_uri"].endswith(f"/{exp}/models/{model_id}/artifacts")
    assert info["tags"] == [{"key": "team", "value": "search"}]
    assert model["data"]["params"] == [{"key": "alpha", "value": "0.5"}]

    got = api.ok_get(f"logged-models/{model_id}")["model"]
    assert got == model

    done = api.client.patch(f"{API}/logged-models/{model_id}", json={"status": 2}).json()
    assert done["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    again = api.client.patch(
        f"{API}/logged-models/{model_id}", json={"status": "LOGGED_MODEL_UPLOAD_FAILED"}
    )
    assert again.json()["model"]["info"]["status"] == "LOGGED_MODEL_UPLOAD_FAILED"

    assert api.client.request("DELETE", f"{API}/logged-models/{model_id}", json={}).json() == {}
    gone = api.get(f"logged-models/{model_id}")
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    kept = api.ok_get(f"logged-models/{model_id}", {"allow_deleted": "true"})["model"]
    assert kept["info"]["model_id"] == model_id


def test_a_model_without_a_name_gets_one(api):
    assert _create(api)["info"]["name"]


def test_tags_and_params(api):
    model_id = _create(api)["info"]["model_id"]
    tagged = api.client.patch(
        f"{API}/logged-models/{model_id}/tags",
        json={"tags": [{"key": "a/b", "value": "1"}, {"key": "c", "value": "2"}]},
    )
    assert tagged.status_code == 200, tagged.text
    assert {t["key"] for t in tagged.json()["model"]["info"]["tags"]} == {"a/b", "c"}
    deleted = api.client.delete(f"{API}/logged-models/{model_id}/tags/a/b")
    assert deleted.status_code == 200, deleted.text
    missing = api.client.delete(f"{API}/logged-models/{model_id}/tags/nope")
    assert missing.status_code == 404
    api.ok_post(f"logged-models/{model_id}/params", {"params": [{"key": "lr", "value": "0.1"}]})
    model = api.ok_get(f"logged-models/{model_id}")["model"]
    assert model["info"]["tags"] == [{"key": "c", "value": "2"}]
    assert model["data"]["params"] == [{"key": "lr", "value": "0.1"}]


def test_search_filters_orders_and_pages(api):
    exp = api.experiment("search-lm")
    other = api.experiment("other-lm")
    ids = []
    for i in range(5):
        model = _create(
            api,
            exp,
            name=f"m{i}",
            params=[{"key": "depth", "value": str(i % 2)}],
            tags=[{"key": "rank", "value": f"{4 - i}"}],
        )
        ids.append(model["info"]["model_id"])
    _create(api, other, name="elsewhere")

    everything = api.ok_post("logged-models/search", {"experiment_ids": [exp]})["models"]
    assert [m["info"]["model_id"] for m in everything] == ids[::-1]  # newest first by default

    found = api.ok_post(
        "logged-models/search",
        {"experiment_ids": [exp], "filter": "params.depth = '1' OR name = 'm0'"},
    )["models"]
    assert {m["info"]["name"] for m in found} == {"m0", "m1", "m3"}

    by_tag = api.ok_post(
        "logged-models/search",
        {"experiment_ids": [exp], "order_by": [{"field_name": "tags.rank", "ascending": True}]},
    )["models"]
    assert [m["info"]["name"] for m in by_tag] == ["m4", "m3", "m2", "m1", "m0"]

    seen, token = [], None
    while True:
        body = {"experiment_ids": [exp], "max_results": 2, "order_by": [{"field_name": "name"}]}
        if token:
            body["page_token"] = token
        page = api.ok_post("logged-models/search", body)
        seen += [m["info"]["name"] for m in page["models"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == ["m0", "m1", "m2", "m3", "m4"]


def test_run_outputs_link_a_run_to_its_models(app, api):
    run_id = api.run()
    model_id = _create(api, source_run_id=run_id)["info"]["model_id"]
    api.ok_post("runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]})
    outputs = app.state.logged_models.get_run_outputs([run_id])
    assert [(o.model_id, o.step) for o in outputs[run_id]] == [(model_id, 3)]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "status"),
    [
        ("POST", "logged-models", {}, "INVALID_PARAMETER_VALUE", 400),
        ("POST", "logged-models", {"experiment_id": "12345"}, "RESOURCE_DOES_NOT_EXIST", 404),
        ("POST", "logged-models", {"experiment_id": "0", "source_run_id": "f" * 32}, None, 404),
        ("POST", "logged-models", {"experiment_id": "0", "name": "  "}, None, 400),
        ("POST", "logged-models", {"experiment_id": "0", "tags": [{"key": "../x"}]}, None, 400),
        ("POST", "logged-models", {"experiment_id": "0", "params": "nope"}, None, 400),
        ("GET", "logged-models/m-" + "0" * 32, None, "RESOURCE_DOES_NOT_EXIST", 404),
        ("GET", "logged-models/not-a-model-id", None, "INVALID_PARAMETER_VALUE", 400),
        ("GET", "logged-models/m-x'%20OR%201=1--", None, "INVALID_PARAMETER_VALUE", 400),
        ("PATCH", "logged-models/m-" + "0" * 32, {"status": "LOGGED_MODEL_READY"}, None, 404),
        ("PATCH", "logged-models/m-" + "0" * 32, {"status": "BOGUS"}, None, 400),
        ("PATCH", "logged-models/m-" + "0" * 32, {}, None, 400),
        ("POST", "logged-models/search", {}, "INVALID_PARAMETER_VALUE", 400),
        ("POST", "logged-models/search", {"experiment_ids": ["0"], "filter": "name =="}, None, 400),
        (
            "POST",
            "logged-models/search",
            {"experiment_ids": ["0"], "filter": "metrics.a > 1"},
            None,
            400,
        ),
        ("POST", "logged-models/search", {"experiment_ids": ["0"], "max_results": 0}, None, 400),
        (
            "POST",
            "logged-models/search",
            {"experiment_ids": ["0"], "page_token": "junk"},
            None,
            400,
        ),
        (
            "POST",
            "logged-models/search",
            {"experiment_ids": ["0"], "order_by": [{"field_name": "bogus"}]},
            None,
            400,
        ),
        (
            "POST",
            "runs/outputs",
            {"run_id": "f" * 32, "models": [{"model_id": "m-1", "step": 0}]},
            None,
            404,
        ),
        ("POST", "runs/outputs", {"run_id": "f" * 32}, None, 400),
    ],
)
def test_bad_input_is_a_clear_4xx(module_api, method, path, body, code, status):
    response = module_api.client.request(method, f"{API}/{path}", json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    if code:
        assert payload["error_code"] == code
    assert payload["error_code"] and payload["message"]
    assert "Traceback" not in payload["message"] and "SELECT" not in payload["message"]


def test_the_ajax_prefix_serves_the_same_routes(ajax):
    model_id = _create(ajax)["info"]["model_id"]
    assert ajax.ok_get(f"logged-models/{model_id}")["model"]["info"]["model_id"] == model_id
