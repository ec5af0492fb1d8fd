"""Each role against each class of route of a ``--auth`` server: allowed, or refused with the right
status (401 without valid credentials, 403 without the permission; UI pages redirect to /login).

Roles (``authz_world``): admin; alice MANAGE, bob EDIT, carol READ on the shared experiment and model;
dave nothing (the default is NO_PERMISSIONS); anonymous; a wrong password; a revoked token.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from authz_world import ADMIN, AuthWorld

from modelyard.entities.auth import Permission, ResourceType
from modelyard.service.auth import OPERATOR

LEVEL = {"admin": 5, "alice": 4, "bob": 3, "carol": 1, "dave": 0}
READ, EDIT, MANAGE, ADMIN_ONLY = 1, 3, 4, 5
UNAUTHENTICATED = ("anonymous", "bad-password", "revoked-token")
ROLES = (*LEVEL, *UNAUTHENTICATED)
CSRF = "c" * 43
API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def client_for(world: AuthWorld, role: str) -> httpx.Client:
    if role == "anonymous":
        return world.client()
    if role == "bad-password":
        return world.client("dave", password="not-dave's-password")
    if role == "revoked-token":
        return world.client(token=world.revoked_token)
    return world.client(role)


@dataclass(frozen=True)
class Action:
    name: str
    need: int
    call: Callable[[AuthWorld, httpx.Client, str], httpx.Response]
    page: bool = False  # a UI page or form: unauthenticated means a redirect to /login
    ok: int = 200


def _approve(world: AuthWorld, c: httpx.Client, role: str) -> httpx.Response:
    version = world.fresh_version()
    with world.client("bob") as bob:  # the requester (EDIT); the approver must be someone else
        made = bob.post(
            f"{API}/transition-requests/create",
            json={"name": world.model, "version": version, "stage": "Production"},
        )
        assert made.status_code == 200, made.text
    return c.post(
        f"{API}/transition-requests/approve",
        json={"id": made.json()["request"]["id"], "comment": f"ok by {role}"},
    )


def _note(world: AuthWorld, c: httpx.Client, role: str) -> httpx.Response:
    c.cookies.set("modelyard_csrf", CSRF)
    return c.post(
        f"/ui/runs/{world.run}/note",
        data={"csrf_token": CSRF, "note": f"note by {role}"},
    )


ACTIONS = [
    Action(
        "read experiment",
        READ,
        lambda w, c, r: c.get(f"{API}/experiments/get", params={"experiment_id": w.experiment}),
    ),
    Action(
        "write experiment",
        EDIT,
        lambda w, c, r: c.post(
            f"{API}/experiments/set-experiment-tag",
            json={"experiment_id": w.experiment, "key": "by", "value": r},
        ),
    ),
    Action(
        "delete experiment",
        MANAGE,
        lambda w, c, r: c.post(
            f"{API}/experiments/delete",
            json={"experiment_id": w.fresh_experiment(f"to-delete-{uuid.uuid4().hex}")},
        ),
    ),
    Action("read run", READ, lambda w, c, r: c.get(f"{API}/runs/get", params={"run_id": w.run})),
    Action(
        "write run",
        EDIT,
        lambda w, c, r: c.post(
            f"{API}/runs/log-metric",
            json={"run_id": w.run, "key": f"m_{r}", "value": 1.0, "timestamp": 1, "step": 0},
        ),
    ),
    Action(
        "create run",
        EDIT,
        lambda w, c, r: c.post(f"{API}/runs/create", json={"experiment_id": w.experiment}),
    ),
    Action(
        "delete run",
        MANAGE,
        lambda w, c, r: c.post(f"{API}/runs/delete", json={"run_id": w.fresh_run()}),
    ),
    Action("download through the proxy", READ, lambda w, c, r: c.get(f"{PROXY}/{w.artifact}")),
    Action(
        "upload through the proxy",
        EDIT,
        lambda w, c, r: c.put(f"{PROXY}/{w.experiment}/{w.run}/artifacts/up-{r}.txt", content=b"x"),
    ),
    Action(
        "list run artifacts",
        READ,
        lambda w, c, r: c.get(f"{API}/artifacts/list", params={"run_id": w.run}),
    ),
    Action(
        "UI download",
        READ,
        lambda w, c, r: c.get("/get-artifact", params={"run_id": w.run, "path": "model/MLmodel"}),
    ),
    Action(
        "read registered model",
        READ,
        lambda w, c, r: c.get(f"{API}/registered-models/get", params={"name": w.model}),
    ),
    Action(
        "write registered model",
        EDIT,
        lambda w, c, r: c.post(
            f"{API}/registered-models/set-tag", json={"name": w.model, "key": "by", "value": r}
        ),
    ),
    Action(
        "create model version",
        EDIT,
        lambda w, c, r: c.post(
            f"{API}/model-versions/create",
            json={"name": w.model, "source": f"runs:/{w.run}/model", "run_id": w.run},
        ),
    ),
    Action(
        "transition to Staging",
        EDIT,
        lambda w, c, r: c.post(
            f"{API}/model-versions/transition-stage",
            json={"name": w.model, "version": w.fresh_version(), "stage": "Staging"},
        ),
    ),
    Action(
        "transition to Production",
        MANAGE,
        lambda w, c, r: c.post(
            f"{API}/model-versions/transition-stage",
            json={"name": w.model, "version": w.fresh_version(), "stage": "Production"},
        ),
    ),
    Action("approve a request to Production", MANAGE, _approve),
    Action(
        "model version download",
        READ,
        lambda w, c, r: c.get(
            "/model-versions/get-artifact",
            params={"name": w.model, "version": w.version, "path": "MLmodel"},
        ),
    ),
    Action("list webhooks", ADMIN_ONLY, lambda w, c, r: c.get(f"{API}/webhooks")),
    Action("UI run page", READ, lambda w, c, r: c.get(f"/experiments/{w.experiment}"), page=True),
    Action("UI model page", READ, lambda w, c, r: c.get(f"/models/{w.model}"), page=True),
    Action("UI form post", EDIT, _note, page=True, ok=303),
    Action("UI webhooks page", ADMIN_ONLY, lambda w, c, r: c.get("/webhooks"), page=True),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
@pytest.mark.parametrize("role", ROLES)
def test_role_against_route(auth_world: AuthWorld, role: str, action: Action) -> None:
    with client_for(auth_world, role) as client:
        response = action.call(auth_world, client, role)
    if role in UNAUTHENTICATED:
        if action.page:
            assert response.status_code == 303, response.text
            assert response.headers["location"].startswith("/login?next=")
        else:
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == 'Basic realm="modelyard"'
            assert response.json()["error_code"] == "UNAUTHENTICATED"
    elif LEVEL[role] >= action.need:
        assert response.status_code == action.ok, response.text
        if action.ok == 303:
            assert "error=" not in response.headers["location"]
    else:
        assert response.status_code == 403, response.text
        if action.page:
            assert "text/html" in response.headers["content-type"]
        else:
            assert response.json()["error_code"] == "PERMISSION_DENIED"


def _names(response: httpx.Response, key: str, field: str = "name") -> set[str]:
    assert response.status_code == 200, response.text
    return {item[field] for item in response.json().get(key, [])}


@pytest.mark.parametrize(("role", "sees"), [("carol", True), ("dave", False), (ADMIN, True)])
def test_searches_return_only_what_the_caller_may_read(
    auth_world: AuthWorld, role: str, sees: bool
) -> None:
    w = auth_world
    with w.client(role) as c:
        experiments = _names(c.get(f"{API}/experiments/search"), "experiments")
        posted = _names(c.post(f"{API}/experiments/search", json={}), "experiments")
        runs = c.post(f"{API}/runs/search", json={"experiment_ids": [w.experiment]})
        models = _names(c.get(f"{API}/registered-models/search"), "registered_models")
        versions = _names(c.get(f"{API}/model-versions/search"), "model_versions")
        logged = c.post(f"{API}/logged-models/search", json={"experiment_ids": [w.experiment]})
        ui_experiments = c.get("/experiments")
        ui_models = c.get("/models")
    assert ("shared" in experiments) is sees
    assert ("shared" in posted) is sees
    run_ids = {r["info"]["run_id"] for r in runs.json().get("runs", [])}
    assert (w.run in run_ids) is sees
    assert logged.status_code == 200
    assert (w.model in models) is sees
    assert (w.model in versions) is sees
    assert ui_experiments.status_code == 200 and ui_models.status_code == 200
    assert (">shared<" in ui_experiments.text) is sees
    assert (w.model in ui_models.text) is sees


def test_a_creator_manages_what_they_create(auth_world: AuthWorld) -> None:
    with auth_world.client("dave") as dave, auth_world.client("bob") as bob:
        made = dave.post(f"{API}/experiments/create", json={"name": f"dave-{uuid.uuid4().hex}"})
        experiment_id = made.json()["experiment_id"]
        model = f"dave-model-{uuid.uuid4().hex}"
        assert dave.post(f"{API}/registered-models/create", json={"name": model}).status_code == 200
        get = {"experiment_id": experiment_id}
        assert bob.get(f"{API}/experiments/get", params=get).status_code == 403
        assert bob.get(f"{API}/registered-models/get", params={"name": model}).status_code == 403
        assert dave.post(f"{API}/experiments/delete", json=get).status_code == 200
        deleted = dave.request("DELETE", f"{API}/registered-models/delete", json={"name": model})
        assert deleted.status_code == 200, deleted.text


def test_the_registry_and_runs_record_the_principal_not_a_header(auth_world: AuthWorld) -> None:
    w = auth_world
    version = w.fresh_version()
    with w.client("bob") as bob:
        bob.headers["X-Modelyard-User"] = "mallory"
        made = bob.post(
            f"{API}/transition-requests/create",
            json={"name": w.model, "version": version, "stage": "Staging"},
        )
        run = bob.post(
            f"{API}/runs/create", json={"experiment_id": w.experiment, "user_id": "mallory"}
        )
    assert made.status_code == 200, made.text
    assert made.json()["request"]["user_id"] == "bob"
    assert run.json()["run"]["info"]["user_id"] == "bob"


def test_a_bearer_token_works_and_a_revoked_one_does_not(auth_world: AuthWorld) -> None:
    w = auth_world
    with w.client(token=w.tokens["carol"]) as carol:
        assert carol.get(f"{API}/runs/get", params={"run_id": w.run}).status_code == 200
        tagged = carol.post(f"{API}/runs/set-tag", json={"run_id": w.run, "key": "k", "value": "v"})
        assert tagged.status_code == 403  # the token acts as carol: READ only
    with w.client(token=w.revoked_token) as revoked:
        answer = revoked.get(f"{API}/runs/get", params={"run_id": w.run})
    assert answer.status_code == 401
    assert "revoked" in answer.json()["message"]


def test_public_routes_need_no_login(auth_world: AuthWorld) -> None:
    with auth_world.client() as anonymous:
        assert anonymous.get("/health").text == "OK"
        assert anonymous.get("/version").status_code == 200
        assert anonymous.get("/login").status_code == 200
        assert anonymous.get("/static/ui/app.css").status_code == 200
        assert anonymous.get(f"{API}/experiments/search").status_code == 401


def test_proxy_paths_outside_an_experiment_are_the_admins(auth_world: AuthWorld) -> None:
    with auth_world.client("alice") as alice, auth_world.client(ADMIN) as admin:
        assert alice.get("/api/2.0/mlflow-artifacts/artifacts").status_code == 403
        assert alice.put(f"{PROXY}/elsewhere/file.txt", content=b"x").status_code == 403
        assert alice.get(f"{PROXY}/999999/x/artifacts/f").status_code == 403
        assert admin.get("/api/2.0/mlflow-artifacts/artifacts").status_code == 200


def test_a_version_cannot_point_at_files_the_caller_cannot_read(auth_world: AuthWorld) -> None:
    """EDIT on a model is not a way to read another experiment's artifacts through the registry."""
    w = auth_world
    private = w.fresh_experiment(f"private-{uuid.uuid4().hex}")
    w.auth.set_permission(
        OPERATOR, ResourceType.EXPERIMENT, private, Permission.NO_PERMISSIONS, username="bob"
    )
    with w.client("bob") as bob:
        for source in (f"mlflow-artifacts:/{private}/r/artifacts/model", "/etc", "s3://b/k"):
            answer = bob.post(
                f"{API}/model-versions/create", json={"name": w.model, "source": source}
            )
            assert answer.status_code == 403, (source, answer.text)
