"""Fixtures for the REST server: the real app over a real SQLite file, in-process and over uvicorn."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import live_app
from live_app import free_port, stop_process
from modelyard.server.app import create_app
from modelyard.settings import load_settings

with warnings.catch_warnings():
    # starlette 1.x asks for the httpx2 package; the httpx it still supports is what we have.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from starlette.testclient import TestClient


@dataclass(frozen=True)
class LiveServer:
    url: str


@contextlib.contextmanager
def serve_in_thread(app: object) -> Iterator[LiveServer]:
    with live_app.serve_in_thread(app, lifespan="on") as url:
        yield LiveServer(url)


def wait_healthy(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "OK":
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no healthy server at {url} after {timeout} s")
        time.sleep(0.1)


@contextlib.contextmanager
def serve_in_subprocess(
    env: Mapping[str, str], *, workers: int = 1, log_path: str | os.PathLike[str] | None = None
) -> Iterator[LiveServer]:
    """``uvicorn --factory modelyard.server.app:create_app_from_env`` with ``workers`` processes."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "modelyard.server.app:create_app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    full_env.update(env)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(argv, env=full_env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield LiveServer(url)
    finally:
        stop_process(process)
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]


API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"


def server_settings(tmp_path, **overrides: Any):
    """Settings for a server over a SQLite file in ``tmp_path``, ignoring the caller's environment."""
    values = {
        "backend_store_uri": f"sqlite:///{tmp_path / 'server.db'}",
        "default_artifact_root": str(tmp_path / "artifacts"),
        "artifacts_destination": str(tmp_path / "mlartifacts"),
        **overrides,
    }
    return load_settings({}, **values)


class Api:
    """A thin helper over the test client: MLflow paths, JSON in, JSON out."""

    def __init__(self, client: TestClient, prefix: str = API) -> None:
        self.client = client
        self.prefix = prefix

    def post(self, path: str, body: Any = None, **kw: Any):
        return self.client.post(
            f"{self.prefix}/{path}", json=body if body is not None else {}, **kw
        )

    def get(self, path: str, params: Any = None, **kw: Any):
        return self.client.get(f"{self.prefix}/{path}", params=params, **kw)

    def ok_post(self, path: str, body: Any = None) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def ok_get(self, path: str, params: Any = None) -> dict[str, Any]:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        return response.json()

    # ---- shortcuts used by many tests
    def experiment(self, name: str, **body: Any) -> str:
        return self.ok_post("experiments/create", {"name": name, **body})["experiment_id"]

    def run(self, experiment_id: str = "0", **body: Any) -> str:
        run = self.ok_post(
            "runs/create", {"experiment_id": experiment_id, "start_time": 1000, **body}
        )
        return run["run"]["info"]["run_id"]


@pytest.fixture
def app(tmp_path):
    return create_app(server_settings(tmp_path))


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def ajax(client) -> Api:
    return Api(client, AJAX)


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    """A real uvicorn serving the app on a free 127.0.0.1 port, in a thread of this process."""
    with serve_in_thread(create_app(server_settings(tmp_path))) as server:
        yield server


@pytest.fixture
def spawn_server():
    """``spawn_server(env, workers=N, log_path=...)``: a context manager running uvicorn in a subprocess."""
    return serve_in_subprocess


@pytest.fixture(scope="module")
def module_api(tmp_path_factory) -> Iterator[Api]:
    """One app per test module, for suites whose requests must change nothing (the bad-input suite)."""
    app = create_app(server_settings(tmp_path_factory.mktemp("module-server")))
    with TestClient(app) as client:
        yield Api(client)
