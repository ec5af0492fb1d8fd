"""Helpers of the authentication and authorization tests: a real server run with ``--auth`` (uvicorn on a free
127.0.0.1 port, in a thread) over a fresh SQLite database, an admin and four users with different
grants on one experiment and one registered model.

========  ===================================================================================
admin     the bootstrapped admin (``auth_admin_password``)
alice     created the experiment and the registered model over REST, so holds MANAGE on both
bob       EDIT on both
carol     READ on both
dave      no grant (the server's default permission is NO_PERMISSIONS)
========  ===================================================================================

The ``auth_world`` fixture (``tests/auth/conftest.py``) runs :func:`seed` once per session; tests
that change something make their own resource first. Other suites may import this module by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from live_app import free_port, serve_in_thread  # noqa: F401 - the auth suites import them from here
from modelyard.entities.auth import Permission, ResourceType
from modelyard.service.auth import OPERATOR
from modelyard.settings import load_settings

ADMIN = "admin"
ADMIN_PASSWORD = "admin-secret-pw"
PASSWORDS = {
    ADMIN: ADMIN_PASSWORD,
    "alice": "alice-secret-pw",
    "bob": "bob-secret-pw",
    "carol": "carol-secret-pw",
    "dave": "dave-secret-pw",
}
MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: x\n"


def auth_settings(root: Path, **overrides: Any) -> Any:
    """Settings of a ``--auth`` server over ``root`` (its database and artifact destination)."""
    values: dict[str, Any] = {
        "backend_store_uri": f"sqlite:///{root / 'auth.db'}",
        "artifacts_destination": str(root / "artifacts"),
        "auth": True,
        "auth_admin_username": ADMIN,
        "auth_admin_password": ADMIN_PASSWORD,
        "auth_default_permission": "NO_PERMISSIONS",
        "auth_max_failed_logins": 1000,  # the bad-password cases must not lock anyone out
        "webhook_delivery_threads": 0,
        "webhook_allow_http": True,
        "webhook_allow_private_addresses": True,
    }
    values.update(overrides)
    return load_settings({}, **values)


@dataclass
class AuthWorld:
    """The running server and what it holds."""

    url: str
    app: Any
    experiment: str = ""
    run: str = ""
    model: str = "shared-model"
    version: str = ""
    artifact: str = ""  # a proxy path under the experiment's folder
    tokens: dict[str, str] = field(default_factory=dict)
    revoked_token: str = ""

    def client(
        self, user: str | None = None, password: str | None = None, token: str | None = None
    ) -> httpx.Client:
        """An HTTP client as ``user`` (Basic, with their password unless one is given), or with a
        bearer ``token``, or anonymous."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = (user, password if password is not None else PASSWORDS[user]) if user else None
        return httpx.Client(base_url=self.url, auth=auth, headers=headers, timeout=60)

    @property
    def auth(self) -> Any:
        return self.app.state.auth

    def mirror_grants(self, resource_type: ResourceType, resource_id: str) -> None:
        """alice MANAGE, bob EDIT and carol READ on a resource the admin just made."""
        for user, level in (
            ("alice", Permission.MANAGE),
            ("bob", Permission.EDIT),
            ("carol", Permission.READ),
        ):
            self.auth.set_permission(OPERATOR, resource_type, resource_id, level, username=user)

    def fresh_experiment(self, name: str) -> str:
        with self.client(ADMIN) as admin:
            experiment_id = _ok(
                admin.post("/api/2.0/mlflow/experiments/create", json={"name": name})
            )["experiment_id"]
        self.mirror_grants(ResourceType.EXPERIMENT, experiment_id)
        return str(experiment_id)

    def fresh_run(self) -> str:
        with self.client(ADMIN) as admin:
            run = _ok(
                admin.post("/api/2.0/mlflow/runs/create", json={"experiment_id": self.experiment})
            )
        return str(run["run"]["info"]["run_id"])

    def fresh_version(self) -> str:
        """A new version of the shared model, from the shared run's model folder."""
        with self.client(ADMIN) as admin:
            source = f"mlflow-artifacts:/{self.experiment}/{self.run}/artifacts/model"
            body = {"name": self.model, "source": source, "run_id": self.run}
            created = _ok(admin.post("/api/2.0/mlflow/model-versions/create", json=body))
        return str(created["model_version"]["version"])


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def seed(world: AuthWorld) -> None:
    auth = world.auth
    for user in ("alice", "bob", "carol", "dave"):
        auth.create_user(OPERATOR, user, PASSWORDS[user])
    with world.client("alice") as alice:
        world.experiment = _ok(
            alice.post("/api/2.0/mlflow/experiments/create", json={"name": "shared"})
        )["experiment_id"]
        run = _ok(
            alice.post(
                "/api/2.0/mlflow/runs/create",
                json={"experiment_id": world.experiment, "run_name": "r1"},
            )
        )["run"]
        world.run = run["info"]["run_id"]
        _ok(
            alice.post(
                "/api/2.0/mlflow/runs/log-metric",
                json={"run_id": world.run, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0},
            )
        )
        world.artifact = f"{world.experiment}/{world.run}/artifacts/model/MLmodel"
        put = alice.put(f"/api/2.0/mlflow-artifacts/artifacts/{world.artifact}", content=MLMODEL)
        assert put.status_code == 200, put.text
        _ok(alice.post("/api/2.0/mlflow/registered-models/create", json={"name": world.model}))
        source = run["info"]["artifact_uri"] + "/model"
        world.version = _ok(
            alice.post(
                "/api/2.0/mlflow/model-versions/create",
                json={"name": world.model, "source": source, "run_id": world.run},
            )
        )["model_version"]["version"]
    for user, level in (("bob", Permission.EDIT), ("carol", Permission.READ)):
        auth.set_permission(
            OPERATOR, ResourceType.EXPERIMENT, world.experiment, level, username=user
        )
        auth.set_permission(
            OPERATOR, ResourceType.REGISTERED_MODEL, world.model, level, username=user
        )
    for user in ("alice", "bob", "carol", "dave"):
        world.tokens[user], _ = auth.create_token(OPERATOR, "tests", username=user)
    secret, record = auth.create_token(OPERATOR, "revoked", username="bob")
    auth.revoke_token(OPERATOR, record.id)
    world.revoked_token = secret
