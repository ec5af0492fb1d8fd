"""Experiment endpoints through the real app over a real SQLite file."""

from __future__ import annotations


def test_create_get_and_get_by_name(api):
    exp_id = api.experiment("vision", tags=[{"key": "team", "value": "cv"}])
    assert exp_id.isdigit() and exp_id != "0"

    experiment = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert experiment["experiment_id"] == exp_id
    assert experiment["name"] == "vision"
    assert experiment["lifecycle_stage"] == "active"
    assert experiment["tags"] == [{"key": "team", "value": "cv"}]
    assert isinstance(experiment["creation_time"], int)
    assert isinstance(experiment["last_update_time"], int)
    assert experiment["artifact_location"].endswith(f"/{exp_id}")

    by_name = api.ok_get("experiments/get-by-name", {"experiment_name": "vision"})["experiment"]
    assert by_name == experiment


def test_default_experiment(api):
    experiment = api.ok_get("experiments/get", {"experiment_id": "0"})["experiment"]
    assert experiment["name"] == "Default"
    assert "tags" not in experiment  # empty lists are omitted


def test_get_by_name_of_a_missing_experiment_is_404(api):
    response = api.get("experiments/get-by-name", {"experiment_name": "nope"})
    assert response.status_code == 404
    assert response.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Could not find experiment with name 'nope'",
    }


def test_duplicate_name_is_400_resource_already_exists(api):
    api.experiment("twice")
    response = api.post("experiments/create", {"name": "twice"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "twice" in body["message"]
    assert "INSERT" not in body["message"] and "UNIQUE" not in body["message"]


def test_explicit_artifact_location_and_runs_uri_rejected(api, tmp_path):
    exp_id = api.experiment("located", artifact_location=str(tmp_path / "here"))
    experiment = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert experiment["artifact_location"].endswith(str(tmp_path / "here"))
    response = api.post("experiments/create", {"name": "bad-loc", "artifact_location": "runs:/abc"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_search_get_and_post_with_filter_order_and_paging(api):
    ids = [api.experiment(f"search-{i}", tags=[{"key": "n", "value": str(i)}]) for i in range(5)]

    by_get = api.ok_get(
        "experiments/search",
        {"filter": "name LIKE 'search-%'", "order_by": ["name DESC"], "max_results": 10},
    )
    assert [e["name"] for e in by_get["experiments"]] == [f"search-{i}" for i in reversed(range(5))]
    assert "next_page_token" not in by_get

    by_post = api.ok_post(
        "experiments/search",
        {"filter": "tags.n = '3'", "max_results": 10, "view_type": "ACTIVE_ONLY"},
    )
    assert [e["experiment_id"] for e in by_post["experiments"]] == [ids[3]]

    seen: list[str] = []
    token = None
    while True:
        body = {"filter": "name LIKE 'search-%'", "max_results": 2, "order_by": ["name ASC"]}
        if token:
            body["page_token"] = token
        page = api.ok_post("experiments/search", body)
        seen += [e["name"] for e in page["experiments"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == [f"search-{i}" for i in range(5)]


def test_search_without_max_results_defaults_and_no_hits_is_empty_object(api):
    api.experiment("only")
    everything = api.ok_get("experiments/search")
    assert {e["name"] for e in everything["experiments"]} == {"Default", "only"}
    assert api.ok_get("experiments/search", {"filter": "name = 'absent'"}) == {}


def test_delete_restore_and_view_types(api):
    exp_id = api.experiment("doomed")
    assert api.ok_post("experiments/delete", {"experiment_id": exp_id}) == {}
    deleted = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert deleted["lifecycle_stage"] == "deleted"

    active = api.ok_post("experiments/search", {"view_type": "ACTIVE_ONLY"})
    assert exp_id not in [e["experiment_id"] for e in active["experiments"]]
    only_deleted = api.ok_post("experiments/search", {"view_type": "DELETED_ONLY"})
    assert [e["experiment_id"] for e in only_deleted["experiments"]] == [exp_id]
    every = api.ok_get("experiments/search", {"view_type": "ALL"})
    assert exp_id in [e["experiment_id"] for e in every["experiments"]]

    assert api.ok_post("experiments/restore", {"experiment_id": exp_id}) == {}
    restored = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert restored["lifecycle_stage"] == "active"


def test_default_experiment_cannot_be_deleted(api):
    response = api.post("experiments/delete", {"experiment_id": "0"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_update_renames(api):
    exp_id = api.experiment("old-name")
    assert (
        api.ok_post("experiments/update", {"experiment_id": exp_id, "new_name": "new-name"}) == {}
    )
    assert (
        api.ok_get("experiments/get-by-name", {"experiment_name": "new-name"})["experiment"][
            "experiment_id"
        ]
        == exp_id
    )
    assert api.get("experiments/get-by-name", {"experiment_name": "old-name"}).status_code == 404


def test_rename_of_deleted_experiment_is_invalid_state(api):
    exp_id = api.experiment("gone")
    api.ok_post("experiments/delete", {"experiment_id": exp_id})
    response = api.post("experiments/update", {"experiment_id": exp_id, "new_name": "x"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_STATE"


def test_set_and_delete_experiment_tag(api):
    exp_id = api.experiment("tagged")
    body = {"experiment_id": exp_id, "key": "stage", "value": "dev"}
    assert api.ok_post("experiments/set-experiment-tag", body) == {}
    assert api.ok_post("experiments/set-experiment-tag", {**body, "value": "prod"}) == {}
    experiment = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert experiment["tags"] == [{"key": "stage", "value": "prod"}]

    deleted = api.ok_post(
        "experiments/delete-experiment-tag", {"experiment_id": exp_id, "key": "stage"}
    )
    assert deleted == {}
    experiment = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert "tags" not in experiment


def test_empty_experiment_tag_value_is_allowed(api):
    exp_id = api.experiment("empty-tag")
    api.ok_post(
        "experiments/set-experiment-tag", {"experiment_id": exp_id, "key": "k", "value": ""}
    )
    experiment = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert experiment["tags"] == [{"key": "k", "value": ""}]


def test_search_datasets_is_ajax_only(api, ajax):
    exp_id = api.experiment("with-data")
    run_id = api.run(exp_id)
    dataset = {"name": "train", "digest": "abc123", "source_type": "local", "source": "/data"}
    api.ok_post(
        "runs/log-inputs",
        {
            "run_id": run_id,
            "datasets": [
                {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "training"}]}
            ],
        },
    )
    summaries = ajax.ok_post("experiments/search-datasets", {"experiment_ids": [exp_id]})
    assert summaries == {
        "dataset_summaries": [
            {"experiment_id": exp_id, "name": "train", "digest": "abc123", "context": "training"}
        ]
    }
    assert api.post("experiments/search-datasets", {"experiment_ids": [exp_id]}).status_code == 404
