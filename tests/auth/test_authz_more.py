"""More of the policy: the approval level is a setting, UI approvals are checked on the request's own
model, and ``modelyard server --auth`` refuses to start without a way to make the first admin."""

from __future__ import annotations

import os
import uuid

import authz_world as w
import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities.auth import Permission, ResourceType
from modelyard.server.app import create_app
from modelyard.service.auth import OPERATOR

API = "/api/2.0/mlflow"
CSRF = "t" * 43


def _request_production(world: w.AuthWorld, version: str) -> int:
    with world.client("bob") as bob:
        made = bob.post(
            f"{API}/transition-requests/create",
            json={"name": world.model, "version": version, "stage": "Production"},
        )
    assert made.status_code == 200, made.text
    return int(made.json()["request"]["id"])


def test_the_production_approval_level_is_a_setting(tmp_path):
    app = create_app(w.auth_settings(tmp_path, auth_production_approval_permission="EDIT"))
    with w.serve_in_thread(app) as url:
        world = w.AuthWorld(url=url, app=app)
        w.seed(world)
        request_id = _request_production(world, world.fresh_version())
        with world.client("carol") as carol:  # READ: still not enough
            body = {"id": request_id}
            assert carol.post(f"{API}/transition-requests/approve", json=body).status_code == 403
        with world.client("alice") as alice:  # the requester is bob; alice (EDIT or more) approves
            approved = alice.post(f"{API}/transition-requests/approve", json={"id": request_id})
        assert approved.status_code == 200, approved.text
        assert approved.json()["model_version"]["current_stage"] == "Production"
        with world.client("bob") as bob:  # EDIT now makes Production directly too
            direct = bob.post(
                f"{API}/model-versions/transition-stage",
                json={"name": world.model, "version": world.fresh_version(), "stage": "Production"},
            )
        assert direct.status_code == 200, direct.text


def test_a_ui_approval_is_checked_on_the_requests_own_model(auth_world: w.AuthWorld) -> None:
    """MANAGE on one's own model does not approve another model's request through its URL."""
    world = auth_world
    own = f"bobs-{uuid.uuid4().hex}"
    with world.client("bob") as bob:
        assert bob.post(f"{API}/registered-models/create", json={"name": own}).status_code == 200
    request_id = _request_production(world, world.fresh_version())

    def approve(user: str, model: str) -> tuple[int, str]:
        with world.client(user) as client:
            client.cookies.set("modelyard_csrf", CSRF)
            answer = client.post(
                f"/ui/models/{model}/versions/1/approve",
                data={"csrf_token": CSRF, "request_id": str(request_id)},
            )
        return answer.status_code, answer.headers.get("location", "")

    assert approve("bob", own)[0] == 403  # bob manages his own model, not the shared one
    assert approve("bob", world.model)[0] == 403
    status, location = approve("alice", world.model)
    assert status == 303 and "error=" not in location
    with world.client(w.ADMIN) as admin:
        listed = admin.get(
            f"{API}/transition-requests/list", params={"name": world.model, "status": "APPROVED"}
        )
    assert request_id in [int(r["id"]) for r in listed.json()["requests"]]


def test_a_ui_form_without_the_csrf_token_is_refused(auth_world: w.AuthWorld) -> None:
    with auth_world.client(w.ADMIN) as admin:
        answer = admin.post(f"/ui/runs/{auth_world.run}/note", data={"note": "no token"})
    assert answer.status_code == 403
    assert "security token" in answer.text


@pytest.mark.parametrize("grant", [Permission.READ, Permission.NO_PERMISSIONS])
def test_the_runs_table_of_several_experiments_needs_each(auth_world, grant) -> None:
    world = auth_world
    other = world.fresh_experiment(f"second-{uuid.uuid4().hex}")
    world.auth.set_permission(OPERATOR, ResourceType.EXPERIMENT, other, grant, username="carol")
    with world.client("carol") as carol:
        page = carol.get("/runs", params={"experiments": f"{world.experiment},{other}"})
    assert page.status_code == (200 if grant is Permission.READ else 403)


def test_server_auth_without_an_admin_password_is_one_line(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("MODELYARD_", "MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    port = w.free_port()
    argv = [
        "server", "--auth", "--backend-store-uri", f"sqlite:///{tmp_path / 'a.db'}",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "MODELYARD_AUTH_ADMIN_PASSWORD" in lines[0], result.output


@pytest.mark.parametrize("how", ["basic", "token"])
def test_modelyards_own_client_logs_with_credentials(auth_world, how, tmp_path) -> None:
    """``MODELYARD_TRACKING_USERNAME``/``PASSWORD`` or ``_TOKEN`` settings: the client sends them, and
    a refusal is the same exception class as in-process (PermissionDenied, Unauthenticated)."""
    from modelyard.client import ModelyardClient
    from modelyard.errors import PermissionDenied, Unauthenticated
    from modelyard.settings import load_settings

    world = auth_world
    creds = (
        {"tracking_username": "bob", "tracking_password": w.PASSWORDS["bob"]}
        if how == "basic"
        else {"tracking_token": world.tokens["bob"]}
    )
    settings = load_settings(
        {}, tracking_uri=world.url, async_logging=False, http_max_retries=0, **creds
    )
    client = ModelyardClient(settings=settings)
    try:
        run = client.create_run(world.experiment)
        client.log_metric(run.info.run_id, "acc", 0.9)
        (tmp_path / "f.txt").write_text("data")
        client.log_artifact(run.info.run_id, str(tmp_path / "f.txt"))
        assert client.get_run(run.info.run_id).data.metrics[0].value == 0.9
        with pytest.raises(PermissionDenied):
            client.delete_run(world.run)  # MANAGE needed, bob has EDIT
    finally:
        client.close()
    anonymous = ModelyardClient(
        settings=load_settings({}, tracking_uri=world.url, async_logging=False, http_max_retries=0)
    )
    try:
        with pytest.raises(Unauthenticated):
            anonymous.get_run(world.run)
    finally:
        anonymous.close()
