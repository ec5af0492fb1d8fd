"""The identity endpoints over HTTP on a real ``--auth`` server (uvicorn on 127.0.0.1, in a thread):
tokens, groups, legacy per-resource grants, MLflow 3.13 listings, the audit log and the lockout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelyard.server.app import create_app
from modelyard.service.auth import OPERATOR
from modelyard.settings import load_settings

ADMIN, ADMIN_PASSWORD = "admin", "endpoint-admin-pw"
API, API3 = "/api/2.0/mlflow", "/api/3.0/mlflow"


class Server:
    def __init__(self, url: str, app: Any) -> None:
        self.url, self.app = url, app

    def client(
        self, user: str | None = None, password: str | None = None, token: str = ""
    ) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (user, password or "") if user else None
        return httpx.Client(base_url=self.url, auth=auth, headers=headers, timeout=60)

    def admin(self) -> httpx.Client:
        return self.client(ADMIN, ADMIN_PASSWORD)

    def user(self, name: str, password: str = "user-password-1") -> httpx.Client:
        self.app.state.auth.create_user(OPERATOR, name, password)
        return self.client(name, password)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    import authz_world

    root = tmp_path_factory.mktemp("identity-endpoints")
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{root / 'auth.db'}",
        artifacts_destination=str(root / "artifacts"),
        auth=True,
        auth_admin_password=ADMIN_PASSWORD,
        auth_max_failed_logins=3,
        auth_lockout_s=5.0,
        webhook_delivery_threads=0,
    )
    app = create_app(settings)
    with authz_world.serve_in_thread(app) as url:
        yield Server(url, app)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return body


def audit(server: Server, **params: Any) -> list[dict[str, Any]]:
    with server.admin() as admin:
        return ok(admin.get(f"{API}/audit-events/list", params={"max_results": 1000, **params}))[
            "events"
        ]


def test_without_auth_the_identity_endpoints_do_not_exist(tmp_path):
    import authz_world

    app = create_app(
        load_settings(
            {},
            backend_store_uri=f"sqlite:///{tmp_path / 'open.db'}",
            artifacts_destination=str(tmp_path / "a"),
            webhook_delivery_threads=0,
        )
    )
    with authz_world.serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        body = {"username": "planted", "password": "planted-pass", "is_admin": True}
        refused(client.post(f"{API}/users/create", json=body), 404, "ENDPOINT_NOT_FOUND")
        refused(client.get(f"{API3}/roles/list"), 404, "ENDPOINT_NOT_FOUND")


def test_tokens_over_rest(server):
    with server.user("tina") as tina:
        created = ok(tina.post(f"{API}/access-tokens/create", json={"name": "laptop"}))
        secret = created["token"]
        assert secret.startswith("myd_") and created["access_token"]["username"] == "tina"
        listed = ok(tina.get(f"{API}/access-tokens/list"))["access_tokens"]
        assert [t["id"] for t in listed] == [created["access_token"]["id"]]
        assert secret not in str(listed)
    with server.client(token=secret) as bearer:
        me = ok(bearer.get(f"{API}/users/current"))
        assert me["user"]["username"] == "tina" and me["is_basic_auth"] is False
    with server.user("trudy") as trudy:  # another user can neither list nor revoke it
        refused(
            trudy.get(f"{API}/access-tokens/list", params={"username": "tina"}),
            403,
            "PERMISSION_DENIED",
        )
        token_id = created["access_token"]["id"]
        refused(
            trudy.post(f"{API}/access-tokens/revoke", json={"token_id": token_id}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )
    with server.client("tina", "user-password-1") as tina:
        ok(tina.post(f"{API}/access-tokens/revoke", json={"token_id": token_id}))
    with server.client(token=secret) as bearer:
        assert bearer.get(f"{API}/users/current").status_code == 401
    events = [(e["event"], e.get("subject")) for e in audit(server, actor="tina")]
    assert ("token_created", "tina") in events and ("token_revoked", "tina") in events


def test_groups_and_their_grants(server):
    with server.admin() as admin:
        server.app.state.auth.create_user(OPERATOR, "gina", "user-password-1")
        group = ok(
            admin.post(f"{API}/groups/create", json={"name": "analysts", "description": "d"})
        )
        assert group["group"]["name"] == "analysts"
        ok(admin.post(f"{API}/groups/members/add", json={"name": "analysts", "username": "gina"}))
        experiment_id = ok(admin.post(f"{API}/experiments/create", json={"name": "group-exp"}))[
            "experiment_id"
        ]
        granted = ok(
            admin.post(
                f"{API}/groups/permissions/grant",
                json={
                    "name": "analysts",
                    "resource_type": "experiment",
                    "resource_id": experiment_id,
                    "permission": "EDIT",
                },
            )
        )
        assert granted["permission"]["group"] == "analysts"
        got = ok(admin.get(f"{API}/groups/get", params={"name": "analysts"}))["group"]
        assert got["members"] == ["gina"] and got["permissions"][0]["permission"] == "EDIT"
        listed = ok(
            admin.get(
                f"{API}/resource-permissions/list",
                params={"resource_type": "experiment", "resource_id": experiment_id},
            )
        )["permissions"]
        assert {(p.get("username"), p.get("group"), p["permission"]) for p in listed} >= {
            (None, "analysts", "EDIT")
        }
    with server.client("gina", "user-password-1") as gina:
        rows = ok(gina.get(f"{API3}/users/current/permissions"))
        assert rows["is_admin"] is False
        assert {
            "role_name": "analysts",
            "resource_pattern": experiment_id,
            "permission": "EDIT",
        }.items() <= next(r for r in rows["permissions"] if r["role_name"] == "analysts").items()
        ok(gina.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))  # EDIT via group
        refused(gina.post(f"{API}/groups/create", json={"name": "mine"}), 403, "PERMISSION_DENIED")
        assert [g["name"] for g in ok(gina.get(f"{API}/groups/list"))["groups"]] == ["analysts"]
    with server.admin() as admin:
        ok(
            admin.request(
                "DELETE",
                f"{API}/groups/members/remove",
                json={"name": "analysts", "username": "gina"},
            )
        )
        ok(admin.request("DELETE", f"{API}/groups/delete", json={"name": "analysts"}))
        refused(
            admin.get(f"{API}/groups/get", params={"name": "analysts"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )


def test_legacy_experiment_and_model_permission_endpoints(server):
    with server.admin() as admin:
        server.app.state.auth.create_user(OPERATOR, "leo", "user-password-1")
        exp = ok(admin.post(f"{API}/experiments/create", json={"name": "legacy-exp"}))[
            "experiment_id"
        ]
        body = {"experiment_id": exp, "username": "leo", "permission": "READ"}
        created = ok(admin.post(f"{API}/experiments/permissions/create", json=body))
        leo_id = ok(admin.get(f"{API}/users/get", params={"username": "leo"}))["user"]["id"]
        assert created == {
            "experiment_permission": {"experiment_id": exp, "user_id": leo_id, "permission": "READ"}
        }
        refused(
            admin.post(f"{API}/experiments/permissions/create", json=body),
            400,
            "RESOURCE_ALREADY_EXISTS",
        )
        assert (
            ok(
                admin.patch(
                    f"{API}/experiments/permissions/update", json={**body, "permission": "EDIT"}
                )
            )
            == {}
        )
        got = ok(
            admin.get(
                f"{API}/experiments/permissions/get",
                params={"experiment_id": exp, "username": "leo"},
            )
        )
        assert got["experiment_permission"]["permission"] == "EDIT"
        user = ok(admin.get(f"{API}/users/get", params={"username": "leo"}))["user"]
        assert user["experiment_permissions"] == [got["experiment_permission"]]
        ok(
            admin.request(
                "DELETE",
                f"{API}/experiments/permissions/delete",
                json={"experiment_id": exp, "username": "leo"},
            )
        )
        refused(
            admin.get(
                f"{API}/experiments/permissions/get",
                params={"experiment_id": exp, "username": "leo"},
            ),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )
        # registered models: the same four verbs, keyed by name
        ok(admin.post(f"{API}/registered-models/create", json={"name": "legacy-model"}))
        body = {"name": "legacy-model", "username": "leo", "permission": "MANAGE"}
        created = ok(admin.post(f"{API}/registered-models/permissions/create", json=body))
        assert created["registered_model_permission"] == {
            "name": "legacy-model",
            "user_id": leo_id,
            "permission": "MANAGE",
        }
        refused(
            admin.post(
                f"{API}/registered-models/permissions/create", json={**body, "permission": "ALL"}
            ),
            400,
            "RESOURCE_ALREADY_EXISTS",
        )
        ok(
            admin.patch(
                f"{API}/registered-models/permissions/update", json={**body, "permission": "READ"}
            )
        )
        got = ok(
            admin.get(
                f"{API}/registered-models/permissions/get",
                params={"name": "legacy-model", "username": "leo"},
            )
        )
        assert got["registered_model_permission"]["permission"] == "READ"
        bad = admin.patch(
            f"{API}/registered-models/permissions/update", json={**body, "permission": "DENY"}
        )
        refused(bad, 400, "INVALID_PARAMETER_VALUE")
        ok(
            admin.request(
                "DELETE",
                f"{API}/registered-models/permissions/delete",
                json={"name": "legacy-model", "username": "leo"},
            )
        )
    events = [
        (e["event"], e.get("subject"))
        for e in audit(server, event=["permission_granted", "permission_revoked"])
    ]
    assert events.count(("permission_revoked", "leo")) == 2


def test_users_list_shows_others_only_to_admins(server):
    with server.user("ursula") as ursula:
        assert [u["username"] for u in ok(ursula.get(f"{API}/users/list"))["users"]] == ["ursula"]
        refused(
            ursula.get(f"{API}/users/get", params={"username": ADMIN}), 403, "PERMISSION_DENIED"
        )
        refused(ursula.get(f"{API}/audit-events/list"), 403, "PERMISSION_DENIED")
    with server.admin() as admin:
        names = [u["username"] for u in ok(admin.get(f"{API}/users/list"))["users"]]
        assert {ADMIN, "ursula"} <= set(names)


def test_failed_logins_lock_and_unlock_over_rest(server):
    server.app.state.auth.create_user(OPERATOR, "lockme", "right-password-1")
    with server.client("lockme", "wrong-password") as wrong:
        for _ in range(3):
            assert wrong.get(f"{API}/users/current").status_code == 401
    with server.client("lockme", "right-password-1") as right:
        refused(right.get(f"{API}/users/current"), 429, "REQUEST_LIMIT_EXCEEDED")
        time.sleep(5.2)
        assert ok(right.get(f"{API}/users/current"))["user"]["username"] == "lockme"
    events = [e["event"] for e in audit(server, actor="") if e.get("subject") == "lockme"]
    assert events.count("login_failed") == 3 and "login_locked" in events
    assert any(
        e["event"] == "login" and e.get("subject") == "lockme"
        for e in audit(server, actor="lockme")
    )


def test_bad_identity_input_is_a_400_without_leaks(server):
    with server.admin() as admin:
        for body in (
            {"username": "a:b", "password": "long-enough-1"},
            {"username": "short-pw", "password": "1234"},
            {"username": " padded", "password": "long-enough-1"},
            {"username": "x" * 300, "password": "long-enough-1"},
        ):
            body_out = refused(
                admin.post(f"{API}/users/create", json=body), 400, "INVALID_PARAMETER_VALUE"
            )
            assert "long-enough-1" not in body_out["message"]
        grant = {
            "username": ADMIN,
            "resource_type": "prompt",
            "resource_id": "p",
            "permission": "READ",
        }
        refused(
            admin.post(f"{API3}/users/permissions/grant", json=grant),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        refused(
            admin.get(f"{API3}/roles/get", params={"role_id": "987654"}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )
        refused(
            admin.post(f"{API3}/roles/create", json={"workspace": "other", "name": "w"}),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        refused(
            admin.get(f"{API}/audit-events/list", params={"page_token": "garbage"}),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        refused(
            admin.patch(f"{API}/users/update-admin", json={"username": ADMIN, "is_admin": False}),
            400,
            "INVALID_STATE",
        )
