"""The registry from ModelyardClient, in-process and over HTTP to the real app: the same methods, the
same entities and the same errors."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidInput, NotFound, PermissionDenied


def _run(client) -> str:
    exp = client.create_experiment("registry-client")
    return client.create_run(exp).info.run_id


def test_register_versions_stages_aliases_and_search(any_client):
    c = any_client
    run_id = _run(c)
    mv = c.register_model(f"runs:/{run_id}/model", "clf", tags={"team": "search"})
    assert (mv.name, mv.version, mv.run_id) == ("clf", "1", run_id)
    assert mv.tag_dict == {"team": "search"}
    assert c.register_model(f"runs:/{run_id}/model", "clf").version == "2"
    c.update_registered_model("clf", "a classifier")
    assert c.get_registered_model("clf").description == "a classifier"

    assert c.transition_model_version_stage("clf", 1, "staging").current_stage == "Staging"
    c.transition_model_version_stage("clf", "2", "Production", archive_existing_versions=True)
    latest = {v.current_stage: v.version for v in c.get_latest_versions("clf")}
    assert latest == {"Staging": "1", "Production": "2"}
    assert [v.version for v in c.get_latest_versions("clf", ["Staging"])] == ["1"]

    c.set_registered_model_alias("clf", "champion", 2)
    assert c.get_model_version_by_alias("clf", "champion").aliases == ("champion",)
    assert c.resolve_model_version("models:/clf@champion").version == "2"
    assert c.resolve_model_version("models:/clf/Staging").version == "1"
    assert c.resolve_model_version("models:/clf/latest").version == "2"
    run_root = c.get_run(run_id).info.artifact_uri
    assert c.get_model_download_uri("models:/clf/1") == run_root + "/model"
    assert c.get_model_version_download_uri("clf", 2) == run_root + "/model"
    with pytest.raises(InvalidInput, match="reserved"):
        c.set_registered_model_alias("clf", "latest", 1)
    c.delete_registered_model_alias("clf", "champion")
    with pytest.raises(NotFound):
        c.get_model_version_by_alias("clf", "champion")

    c.set_model_version_tag("clf", 1, "validated", True)
    assert c.get_model_version("clf", 1).tag_dict == {"team": "search", "validated": "True"}
    c.delete_model_version_tag("clf", 1, "validated")
    c.set_registered_model_tag("clf", "owner", "ann")
    c.delete_registered_model_tag("clf", "owner")
    c.create_registered_model("other", description="x")
    found = c.search_registered_models("name = 'clf' OR name = 'other'", order_by=["name DESC"])
    assert [m.name for m in found] == ["other", "clf"]
    found = c.search_model_versions(f"run_id = '{run_id}'", order_by=["version_number ASC"])
    assert [v.version for v in found] == ["1", "2"]
    assert c.update_model_version("clf", 1, "first").description == "first"
    c.rename_registered_model("other", "renamed")
    c.delete_registered_model("renamed")
    c.delete_model_version("clf", 1)
    with pytest.raises(NotFound):
        c.get_model_version("clf", 1)


def test_requests_approvals_comments_and_activities(any_client):
    c = any_client
    run_id = _run(c)
    c.register_model(f"runs:/{run_id}/model", "gated")
    c.set_registered_model_tag("gated", "modelyard.require_approval_for_production", "true")
    c.registry_user = "ann"
    with pytest.raises(PermissionDenied):
        c.transition_model_version_stage("gated", 1, "Production")
    request = c.create_transition_request("gated", 1, "Production", comment="ready")
    assert request.user_id == "ann" and request.status == "PENDING"
    with pytest.raises(PermissionDenied):
        c.approve_transition_request(request_id=request.id)
    c.registry_user = "bob"
    approved = c.approve_transition_request("gated", 1, "Production", comment="ok")
    assert approved.status == "APPROVED" and approved.resolved_by == "bob"
    assert c.get_model_version("gated", 1).current_stage == "Production"

    c.register_model(f"runs:/{run_id}/model", "gated")
    second = c.create_transition_request("gated", 2, "Production")
    assert c.reject_transition_request(request_id=second.id, comment="worse").status == "REJECTED"
    third = c.create_transition_request("gated", 2, "Staging")
    assert c.cancel_transition_request(request_id=third.id).status == "CANCELLED"
    statuses = [r.status for r in c.list_transition_requests("gated", 2)]
    assert statuses == ["REJECTED", "CANCELLED"]

    comment = c.create_comment("gated", 2, "needs more data")
    assert c.update_comment(comment.id, "needs fresher data").comment == "needs fresher data"
    assert [x.comment for x in c.list_comments("gated", 2)] == ["needs fresher data"]
    c.delete_comment(comment.id)
    log = c.get_registry_activities("gated", 1)
    assert [(a.activity_type, a.user_id) for a in log][-3:] == [
        ("REQUESTED_TRANSITION", "ann"),
        ("APPROVED_REQUEST", "bob"),
        ("APPLIED_TRANSITION", "bob"),
    ]
    whole = c.get_registry_activities("gated")
    assert whole[0].activity_type == "REGISTERED_MODEL_CREATED"


def test_fluent_register_model(fluent):
    with fluent.start_run() as run:
        pass
    mv = fluent.register_model(f"runs:/{run.info.run_id}/model", "fluent-model")
    assert mv.version == "1" and mv.run_id == run.info.run_id
    assert fluent.register_model(f"runs:/{run.info.run_id}/model", "fluent-model").version == "2"
