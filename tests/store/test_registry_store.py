"""The registry store on SQLite, PostgreSQL and MariaDB, through the service that validates for it."""

from __future__ import annotations

import threading

import pytest

from modelyard.entities import RegistryTag
from modelyard.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, PermissionDenied
from modelyard.service.registry import RegistryService
from modelyard.store.sql import logged_model_store_for
from modelyard.store.sql.registry import SqlRegistryStore


def _service(store, **kw) -> RegistryService:
    return RegistryService(
        SqlRegistryStore(store.engine),
        get_run=store.get_run_info,
        get_logged_model=logged_model_store_for(store).get_logged_model,
        **kw,
    )


@pytest.fixture
def registry(store) -> RegistryService:
    return _service(store).for_user("ann")


@pytest.fixture
def run(tracking, unique):
    exp = tracking.create_experiment(f"reg-{unique}")
    return tracking.create_run(exp, user_id="ann", start_time=1, tags=[]).info


def test_models_versions_stages_aliases_and_tags(registry, run, unique):
    name = f"clf-{unique}"
    model = registry.create_registered_model(name, [RegistryTag("team", "search")], "first")
    assert model.name == name and model.user_id == "ann" and model.tag_dict == {"team": "search"}
    with pytest.raises(AlreadyExists):
        registry.create_registered_model(name)

    v1 = registry.create_model_version(name, f"runs:/{run.run_id}/model", run.run_id)
    v2 = registry.create_model_version(
        name, f"runs:/{run.run_id}/model", tags=[RegistryTag("k", "v")]
    )
    assert (v1.version, v2.version) == ("1", "2")
    assert v2.run_id == run.run_id and v2.tag_dict == {"k": "v"}
    assert registry.get_model_version_download_uri(name, 1) == run.artifact_uri + "/model"

    staged = registry.transition_model_version_stage(name, "1", "STAGING")
    assert staged.current_stage == "Staging"
    registry.transition_model_version_stage(name, "2", "production")
    moved = registry.transition_model_version_stage(name, "1", "Production", True)
    assert moved.current_stage == "Production"
    assert registry.get_model_version(name, 2).current_stage == "Archived"
    with pytest.raises(InvalidInput, match="Invalid Model Version stage"):
        registry.transition_model_version_stage(name, "1", "Prod")

    latest = {v.current_stage: v.version for v in registry.get_latest_versions(name)}
    assert latest == {"Production": "1", "Archived": "2"}
    assert [v.version for v in registry.get_latest_versions(name, ["archived"])] == ["2"]

    registry.set_registered_model_alias(name, "champion", 1)
    registry.set_registered_model_alias(name, "champion", "2")
    assert registry.get_model_version_by_alias(name, "champion").version == "2"
    assert registry.get_registered_model(name).alias_dict == {"champion": "2"}
    for bad in ("latest", "v3", "LATEST", "a b", "x" * 256):
        with pytest.raises(InvalidInput):
            registry.set_registered_model_alias(name, bad, 1)
    assert registry.resolve_model_version(f"models:/{name}@champion").version == "2"
    assert registry.resolve_model_version(f"models:/{name}/production").version == "1"
    assert registry.resolve_model_version(f"models:/{name}/latest").version == "2"
    assert registry.resolve_model_uri(f"models:/{name}/1") == run.artifact_uri + "/model"
    registry.delete_registered_model_alias(name, "champion")
    with pytest.raises(NotFound):
        registry.get_model_version_by_alias(name, "champion")

    registry.set_model_version_tag(name, 1, "stage-check", "passed")
    registry.delete_model_version_tag(name, 1, "stage-check")
    with pytest.raises(NotFound):
        registry.delete_model_version_tag(name, 1, "stage-check")
    registry.set_registered_model_tag(name, "owner", "ann")
    registry.delete_registered_model_tag(name, "owner")

    renamed = registry.rename_registered_model(name, name + "-new")
    assert [v.name for v in renamed.latest_versions] == [name + "-new"] * 2
    with pytest.raises(NotFound):
        registry.get_registered_model(name)
    registry.delete_model_version(name + "-new", 2)
    v3 = registry.create_model_version(name + "-new", f"runs:/{run.run_id}/model")
    assert v3.version == "3"  # numbers are never reused
    registry.delete_registered_model(name + "-new")
    with pytest.raises(NotFound):
        registry.get_model_version(name + "-new", 1)


def test_search_with_or_and_tag_not_equal(registry, run, unique):
    names = [f"s{i}-{unique}" for i in range(3)]
    for i, name in enumerate(names):
        tags = [RegistryTag("mlflow.prompt.is_prompt", "true")] if i == 2 else []
        registry.create_registered_model(name, tags)
        registry.create_model_version(name, f"runs:/{run.run_id}/m{i}", run.run_id)
    flt = f"name LIKE '%-{unique}' AND tags.`mlflow.prompt.is_prompt` != 'true'"
    found = registry.search_registered_models(flt)
    assert [m.name for m in found] == names[:2]
    found = registry.search_registered_models(
        f"(name = '{names[0]}' OR name = '{names[2]}')", order_by=["name DESC"]
    )
    assert [m.name for m in found] == [names[2], names[0]]
    page = registry.search_registered_models(f"name LIKE '%-{unique}'", max_results=2)
    assert len(page) == 2 and page.next_page_token
    rest = registry.search_registered_models(
        f"name LIKE '%-{unique}'", max_results=2, page_token=page.next_page_token
    )
    assert [m.name for m in rest] == [names[2]]

    versions = registry.search_model_versions(f"run_id = '{run.run_id}'")
    assert {v.name for v in versions} == set(names)
    versions = registry.search_model_versions(
        f"name IN ('{names[0]}', '{names[1]}') AND version_number >= 1",
        order_by=["name ASC"],
    )
    assert [v.name for v in versions] == names[:2]
    assert not registry.search_model_versions(f"source_path = 'nope' AND name = '{names[0]}'")
    with pytest.raises(InvalidInput):
        registry.search_model_versions("metrics.x > 1")


def test_requests_approvals_comments_and_activity_log(store, run, unique):
    service = _service(store, require_approval_for_production=True)
    ann, bob = service.for_user("ann"), service.for_user("bob")
    name = f"gated-{unique}"
    ann.create_registered_model(name)
    ann.create_model_version(name, f"runs:/{run.run_id}/model", run.run_id)
    ann.transition_model_version_stage(name, 1, "Staging")
    with pytest.raises(PermissionDenied, match="approved transition request"):
        ann.transition_model_version_stage(name, 1, "Production")

    request = ann.create_transition_request(name, 1, "production", "ready to ship")
    assert (request.to_stage, request.user_id, request.status) == ("Production", "ann", "PENDING")
    with pytest.raises(AlreadyExists):
        ann.create_transition_request(name, 1, "Production")
    with pytest.raises(PermissionDenied, match="cannot approve"):
        ann.approve_transition_request(name, 1, "Production")
    with pytest.raises(PermissionDenied, match="Only the requester"):
        bob.cancel_transition_request(request_id=request.id)
    approved, moved = bob.approve_transition_request(name, "1", "Production", comment="lgtm")
    assert approved.status == "APPROVED" and approved.resolved_by == "bob"
    assert moved.current_stage == "Production"
    with pytest.raises(InvalidState):
        bob.reject_transition_request(request_id=request.id)

    ann.create_model_version(name, f"runs:/{run.run_id}/model", run.run_id)
    second = ann.create_transition_request(name, 2, "Production")
    rejected = bob.reject_transition_request(request_id=second.id, comment="auc 0.70 < 0.75")
    assert rejected.status == "REJECTED" and rejected.resolution_comment == "auc 0.70 < 0.75"
    third = ann.create_transition_request(name, 2, "Staging")
    assert ann.cancel_transition_request(name, 2, "staging").status == "CANCELLED"
    assert [r.status for r in ann.list_transition_requests(name, 2)] == ["REJECTED", "CANCELLED"]
    assert third.id != second.id

    comment = bob.create_comment(name, 2, "needs more data")
    with pytest.raises(PermissionDenied):
        ann.update_comment(comment.id, "hijacked")
    assert bob.update_comment(comment.id, "needs more recent data").comment.endswith("data")
    bob.delete_comment(comment.id)
    assert ann.list_comments(name, 2) == []

    log = ann.list_activities(name, 1)
    kinds = [(a.activity_type, a.user_id, a.to_stage) for a in log]
    assert kinds == [
        ("MODEL_VERSION_CREATED", "ann", "None"),
        ("APPLIED_TRANSITION", "ann", "Staging"),
        ("REQUESTED_TRANSITION", "ann", "Production"),
        ("APPROVED_REQUEST", "bob", "Production"),
        ("APPLIED_TRANSITION", "bob", "Production"),
    ]
    assert log[2].comment == "ready to ship" and log[3].comment == "lgtm"
    second_log = [a.activity_type for a in ann.list_activities(name, 2)]
    assert second_log == [
        "MODEL_VERSION_CREATED",
        "REQUESTED_TRANSITION",
        "REJECTED_REQUEST",
        "REQUESTED_TRANSITION",
        "CANCELLED_REQUEST",
        "NEW_COMMENT",
        "COMMENT_UPDATED",
        "COMMENT_DELETED",
    ]
    whole = ann.list_activities(name)
    assert whole[0].activity_type == "REGISTERED_MODEL_CREATED" and len(whole) == 14
    ids = [int(a.id) for a in whole]
    assert ids == sorted(ids)


def test_per_model_tag_turns_on_the_approval_policy(registry, run, unique):
    name = f"tagged-{unique}"
    registry.create_registered_model(
        name, [RegistryTag("modelyard.require_approval_for_production", "true")]
    )
    registry.create_model_version(name, f"runs:/{run.run_id}/model", run.run_id)
    registry.transition_model_version_stage(name, 1, "Staging")  # other stages stay direct
    with pytest.raises(PermissionDenied):
        registry.transition_model_version_stage(name, 1, "Production")
    other = f"free-{unique}"
    registry.create_registered_model(other)
    registry.create_model_version(other, f"runs:/{run.run_id}/model", run.run_id)
    assert registry.transition_model_version_stage(other, 1, "Production").current_stage == (
        "Production"
    )


def test_concurrent_creation_gives_distinct_consecutive_versions(store, run, unique):
    service = _service(store)
    name = f"busy-{unique}"
    service.create_registered_model(name)
    threads, per_thread = 6, 5
    numbers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(i: int) -> None:
        mine = service.for_user(f"user{i}")
        try:
            start.wait()
            for _ in range(per_thread):
                mv = mine.create_model_version(name, f"runs:/{run.run_id}/model", run.run_id)
                with lock:
                    numbers.append(int(mv.version))
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, threads * per_thread + 1))
    stored = service.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in stored) == sorted(numbers)
