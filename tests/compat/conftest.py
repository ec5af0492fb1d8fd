"""The official ``mlflow`` client against a real modelyard server (uvicorn in a subprocess).

The server runs once per module over a SQLite file in a temporary directory. Each test gets the
client pointed at it through ``MLFLOW_TRACKING_URI`` (set with monkeypatch) with telemetry off and
mlflow's module-level state (tracking URI, active experiment) restored afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def modelyard_server(tmp_path_factory) -> Iterator[str]:
    """URL of a modelyard server (``uvicorn --factory ...create_app_from_env``, 2 workers)."""
    root = tmp_path_factory.mktemp("compat-server")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MODELYARD_BACKEND_STORE_URI"] = f"sqlite:///{root / 'compat.db'}"
    env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(root / "artifacts")
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", "modelyard.server.app:create_app_from_env",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
    ]  # fmt: skip
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=root)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(f"modelyard server exited: {log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).text == "OK":
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("modelyard server did not start within 60 s")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    text = log_path.read_text()
    assert "Traceback" not in text, text


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
