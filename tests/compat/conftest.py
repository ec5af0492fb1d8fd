"""The official ``mlflow`` client against a real modelyard server (uvicorn in a subprocess).

The server runs once per module over a SQLite file in a temporary directory. Each test gets the
client pointed at it through ``MLFLOW_TRACKING_URI`` (set with monkeypatch) with telemetry off and
mlflow's module-level state (tracking URI, active experiment) restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import live_server
import pytest


@pytest.fixture(scope="module")
def modelyard_server(tmp_path_factory) -> Iterator[str]:
    """URL of a modelyard server (``uvicorn --factory ...create_app_from_env``, 2 workers)."""
    root = tmp_path_factory.mktemp("compat-server")
    with live_server.modelyard_server(root, default_artifact_root=str(root / "artifacts")) as url:
        yield url


@pytest.fixture
def mlflow(modelyard_server, monkeypatch, tmp_path):
    """The ``mlflow`` module, pointed at the modelyard server, with its global state restored after."""
    import mlflow as mlflow_module

    monkeypatch.setenv("MLFLOW_TRACKING_URI", modelyard_server)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)  # anything mlflow writes locally lands in the test's tmp dir
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)
    mlflow_module.set_tracking_uri(modelyard_server)
    yield mlflow_module
    while mlflow_module.active_run() is not None:
        mlflow_module.end_run()
