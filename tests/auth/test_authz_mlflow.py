"""The official ``mlflow`` client with basic auth (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``) and with a
token (``MLFLOW_TRACKING_TOKEN``) against ``modelyard server --auth`` started by the real command:
logging a run with an artifact, logging a model and registering it, loading it back; refused (401,
403) where it has no login or no permission.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from live_app import clean_env, free_port, server_process
from modelyard.entities.auth import Permission, ResourceType
from modelyard.service.auth import OPERATOR, AuthService
from modelyard.settings import load_settings

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "cli-admin-pw-1"
USERS = {"alice": "alice-cli-pw-1", "bob": "bob-cli-pw-1"}


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``modelyard server --auth`` (2 workers) and an ``AuthService`` over the same database."""
    root = tmp_path_factory.mktemp("cli-auth")
    uri = f"sqlite:///{root / 'auth.db'}"
    port = free_port()
    env = clean_env(
        MODELYARD_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
        MODELYARD_AUTH_DEFAULT_PERMISSION="NO_PERMISSIONS",
    )
    argv = [
        sys.executable, "-m", "modelyard.cli", "server", "--auth",
        "--backend-store-uri", uri, "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
    ]  # fmt: skip
    with server_process(argv, port, env, root, timeout_s=90) as url:
        from modelyard.store.sql import create_db_engine
        from modelyard.store.sql.auth import SqlAuthStore

        engine = create_db_engine(uri)
        settings = load_settings({}, auth=True, auth_default_permission="NO_PERMISSIONS")
        auth = AuthService.from_settings(SqlAuthStore(engine), settings)
        for user, password in USERS.items():
            auth.create_user(OPERATOR, user, password)
        yield {"url": url, "auth": auth, "root": root}
        engine.dispose()


@pytest.fixture
def mlflow(cli_server, monkeypatch, tmp_path):
    import mlflow as mlflow_module

    for name in list(os.environ):
        if name.startswith("MLFLOW_TRACKING_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cli_server["url"])
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)
    mlflow_module.set_tracking_uri(cli_server["url"])
    yield mlflow_module
    while mlflow_module.active_run() is not None:
        mlflow_module.end_run()


def _as(monkeypatch, user: str | None, password: str | None = None) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if user is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password or USERS[user])


def _refused(call, *args: Any, **kwargs: Any) -> str:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_the_mlflow_client_logs_registers_and_is_refused_without_permission(
    mlflow, cli_server, monkeypatch
):
    from mlflow import MlflowClient

    class Double(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: pd.DataFrame, params=None) -> list[float]:
            return [2 * x for x in model_input["x"]]

    _as(monkeypatch, "alice")
    experiment_id = mlflow.create_experiment("alice-experiment")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_text("hello", "notes/hello.txt")
        info = mlflow.pyfunc.log_model(
            name="doubler", python_model=Double(), registered_model_name="alice-model"
        )
    assert str(info.registered_model_version) == "1"
    client = MlflowClient()
    assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.25}
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes")
    assert (Path(local) / "hello.txt").read_text() == "hello"
    loaded = mlflow.pyfunc.load_model("models:/alice-model/1")
    assert list(loaded.predict(pd.DataFrame({"x": [1.5]}))) == [3.0]
    assert [e.name for e in mlflow.search_experiments()] == ["alice-experiment"]

    _as(monkeypatch, "bob")  # no grant: the default is NO_PERMISSIONS
    assert "PERMISSION_DENIED" in _refused(client.get_experiment, experiment_id)
    assert "PERMISSION_DENIED" in _refused(client.get_registered_model, "alice-model")
    assert mlflow.search_experiments() == []
    assert client.search_registered_models() == []

    auth = cli_server["auth"]
    auth.set_permission(
        OPERATOR, ResourceType.EXPERIMENT, experiment_id, Permission.READ, username="bob"
    )
    auth.set_permission(
        OPERATOR, ResourceType.REGISTERED_MODEL, "alice-model", Permission.READ, username="bob"
    )
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.1"}
    assert mlflow.pyfunc.load_model("models:/alice-model/1") is not None
    message = _refused(client.log_metric, run.info.run_id, "loss", 0.1)
    assert "PERMISSION_DENIED" in message and "EDIT" in message
    assert "PERMISSION_DENIED" in _refused(client.set_registered_model_tag, "alice-model", "k", "v")
    bob_experiment = mlflow.create_experiment("bob-experiment")  # any user may create one
    with mlflow.start_run(experiment_id=bob_experiment):
        mlflow.log_metric("score", 1.0)

    _as(monkeypatch, None)
    assert "UNAUTHENTICATED" in _refused(client.get_experiment, experiment_id)
    _as(monkeypatch, "alice", "wrong-password")
    assert "UNAUTHENTICATED" in _refused(client.get_experiment, experiment_id)


def test_the_mlflow_client_with_a_token(mlflow, cli_server, monkeypatch):
    from mlflow import MlflowClient

    auth = cli_server["auth"]
    secret, record = auth.create_token(OPERATOR, "ci", username="alice")
    _as(monkeypatch, None)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    experiment_id = mlflow.create_experiment("token-experiment")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("m", 1.0)
    assert MlflowClient().get_run(run.info.run_id).info.user_id == "alice"
    auth.revoke_token(OPERATOR, record.id)
    assert "UNAUTHENTICATED" in _refused(MlflowClient().get_experiment, experiment_id)
