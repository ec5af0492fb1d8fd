"""MLflow's own basic-auth client (``mlflow.server.get_app_client("basic-auth", ...)``) against a real
modelyard server run with ``--auth`` on 127.0.0.1: users, admin flags, per-user grants on experiments
and registered models, roles (modelyard groups), and the MLflow tracking client as those users.

``mlflow.server.auth`` imports Flask-WTF (MLflow's ``auth`` extra), a dev dependency of modelyard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.server.app import create_app
from modelyard.settings import load_settings

ADMIN, ADMIN_PASSWORD = "admin", "compat-admin-pw"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    import authz_world

    root = tmp_path_factory.mktemp("compat-auth")
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{root / 'auth.db'}",
        artifacts_destination=str(root / "artifacts"),
        auth=True,
        auth_admin_password=ADMIN_PASSWORD,
        webhook_delivery_threads=0,
    )
    with authz_world.serve_in_thread(create_app(settings)) as url:
        yield url


class AsUser:
    """MLflow's auth client acting as one user: MLflow reads the credentials from the environment
    at each request, so every call first puts this user's there (as a user's own shell would)."""

    def __init__(self, client: Any, monkeypatch: pytest.MonkeyPatch, username: str, password: str):
        self._client, self._monkeypatch = client, monkeypatch
        self._credentials = (username, password)

    def use(self) -> None:
        self._monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", self._credentials[0])
        self._monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", self._credentials[1])

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.use()
            return method(*args, **kwargs)

        return call


@pytest.fixture
def as_user(server, monkeypatch):
    """``as_user(name, password)``: MLflow's auth client (and, after ``.use()``, MLflow's tracking
    client) acting as that user."""
    import mlflow.server

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    client = mlflow.server.get_app_client("basic-auth", tracking_uri=server)

    def make(username: str, password: str) -> AsUser:
        return AsUser(client, monkeypatch, username, password)

    return make


def test_admin_manages_users(as_user):
    from mlflow.exceptions import RestException

    admin = as_user(ADMIN, ADMIN_PASSWORD)
    created = admin.create_user("compat-alice", "alice-pass-1")
    assert created.username == "compat-alice" and not created.is_admin and created.id > 0
    assert admin.get_user("compat-alice").id == created.id
    with pytest.raises(RestException) as taken:
        admin.create_user("compat-alice", "alice-pass-2")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    admin.update_user_admin("compat-alice", True)
    assert admin.get_user("compat-alice").is_admin
    admin.update_user_admin("compat-alice", False)
    admin.update_user_password("compat-alice", "alice-pass-3")
    # the new password works, the old one does not
    alice = as_user("compat-alice", "alice-pass-3")
    assert alice.get_user("compat-alice").username == "compat-alice"
    with pytest.raises(RestException) as refused:
        as_user("compat-alice", "alice-pass-1").get_user("compat-alice")
    assert refused.value.error_code == "UNAUTHENTICATED"
    # a plain user may not create users or read others
    with pytest.raises(RestException) as denied:
        alice.create_user("compat-mallory", "mallory-pass")
    assert denied.value.error_code == "PERMISSION_DENIED"
    # a user changes their own password with the current one (the 3.17 client's self-service path)
    alice.update_user_password("compat-alice", "alice-pass-4", current_password="alice-pass-3")
    assert as_user("compat-alice", "alice-pass-4").get_user("compat-alice").id == created.id
    admin.delete_user("compat-alice")
    with pytest.raises(RestException) as gone:
        admin.get_user("compat-alice")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_grants_on_experiments_and_registered_models(as_user, server, monkeypatch):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException, RestException

    admin = as_user(ADMIN, ADMIN_PASSWORD)
    admin.create_user("compat-owner", "owner-pass-1")
    admin.create_user("compat-reader", "reader-pass-1")
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    mlflow.set_tracking_uri(server)

    # the owner creates an experiment and a model with MLflow's tracking client: they manage both
    owner = as_user("compat-owner", "owner-pass-1")
    owner.use()
    tracking = MlflowClient(server)
    experiment_id = tracking.create_experiment("compat-grants")
    tracking.create_registered_model("compat-model")
    assert owner.get_user_permission("compat-owner", "experiment", experiment_id).permission == (
        "MANAGE"
    )

    # the reader sees nothing yet beyond the default (READ): may read, may not log
    reader = as_user("compat-reader", "reader-pass-1")
    reader.use()
    reader_tracking = MlflowClient(server)
    assert reader_tracking.get_experiment(experiment_id).name == "compat-grants"
    with pytest.raises(MlflowException) as denied:
        reader_tracking.create_run(experiment_id)
    assert denied.value.error_code == "PERMISSION_DENIED"

    # the owner grants EDIT on the experiment and the model; the reader reads the grants back
    owner.grant_user_permission("compat-reader", "experiment", experiment_id, "EDIT")
    owner.grant_user_permission("compat-reader", "registered_model", "compat-model", "EDIT")
    got = reader.get_user_permission("compat-reader", "experiment", experiment_id)
    assert (got.permission, got.allowed) == ("EDIT", True)
    got = reader.get_user_permission("compat-reader", "registered_model", "compat-model")
    assert got.permission == "EDIT"
    reader.use()
    run = MlflowClient(server).create_run(experiment_id)  # EDIT is enough to log now
    assert run.info.experiment_id == experiment_id
    MlflowClient(server).update_registered_model("compat-model", description="edited")

    # an EDIT holder may not grant; revoking returns the reader to the default
    with pytest.raises(RestException) as cannot:
        reader.grant_user_permission("compat-reader", "experiment", experiment_id, "MANAGE")
    assert cannot.value.error_code == "PERMISSION_DENIED"
    owner.revoke_user_permission("compat-reader", "experiment", experiment_id)
    assert owner.get_user_permission("compat-reader", "experiment", experiment_id).permission == (
        "READ"
    )


def test_roles_are_groups(as_user):
    admin = as_user(ADMIN, ADMIN_PASSWORD)
    admin.create_user("compat-member", "member-pass-1")
    role = admin.create_role("default", "compat-team", description="the team")
    assert (role.name, role.workspace, role.description) == ("compat-team", "default", "the team")
    assert admin.get_role(role.id).name == "compat-team"
    permission = admin.add_role_permission(role.id, "experiment", "0", "EDIT")
    assert (permission.role_id, permission.resource_pattern, permission.permission) == (
        role.id,
        "0",
        "EDIT",
    )
    assert [p.id for p in admin.list_role_permissions(role.id)] == [permission.id]
    updated = admin.update_role_permission(permission.id, "MANAGE")
    assert updated.permission == "MANAGE"
    assignment = admin.assign_role("compat-member", role.id)
    assert assignment.role_id == role.id
    assert [r.name for r in admin.list_user_roles("compat-member")] == ["compat-team"]
    assert [a.user_id for a in admin.list_role_users(role.id)] == [assignment.user_id]
    member = as_user("compat-member", "member-pass-1")
    got = member.get_user_permission("compat-member", "experiment", "0")
    assert got.permission == "MANAGE"  # through the role
    assert "compat-team" in [r.name for r in admin.list_roles("default")]
    assert admin.update_role(role.id, description="renamed team").description == "renamed team"
    admin.unassign_role("compat-member", role.id)
    assert member.get_user_permission("compat-member", "experiment", "0").permission == "READ"
    admin.remove_role_permission(permission.id)
    admin.delete_role(role.id)
    assert "compat-team" not in [r.name for r in admin.list_all_roles()]
