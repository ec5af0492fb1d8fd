"""Fixtures for the project tests: projects written into tmp dirs, a SQLite tracking database, the
``modelyard`` command as a real subprocess, and a real ``modelyard server`` for clients over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from project_helpers import start_server, stop

from modelyard.client import ModelyardClient

#: Variables that would point a command at another database, cache or run.
OUTSIDE_ENV = (
    "MODELYARD_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "MODELYARD_BACKEND_STORE_URI",
    "MODELYARD_RUN_ID",
    "MLFLOW_RUN_ID",
    "MODELYARD_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MODELYARD_ENV_CACHE_DIR",
    "RAY_ADDRESS",
    "MODELYARD_RAY_ADDRESS",
)


@pytest.fixture
def project_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean environment (also applied to this process) with the env cache in the tmp dir."""
    for name in OUTSIDE_ENV:
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "env-cache"
    monkeypatch.setenv("MODELYARD_ENV_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    return {k: v for k, v in os.environ.items() if k not in OUTSIDE_ENV} | {
        "MODELYARD_ENV_CACHE_DIR": str(cache)
    }


@pytest.fixture
def tracking_db(tmp_path: Path, project_env: dict[str, str]) -> str:
    return f"sqlite:///{tmp_path / 'tracking.db'}"


@pytest.fixture
def client(tracking_db: str) -> Iterator[ModelyardClient]:
    with ModelyardClient(tracking_db) as c:
        yield c


Modelyard = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def invoke(project_env: dict[str, str]) -> Callable[..., Any]:
    """``invoke(*args, env=...)``: the command in-process (click's runner), for the paths that stop
    before any project command starts; returns the click ``Result``."""
    from click.testing import CliRunner

    from modelyard.cli.main import cli

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run


@pytest.fixture
def modelyard(project_env: dict[str, str], tmp_path: Path) -> Modelyard:
    """``modelyard(*args, env=..., timeout=...)``: the real command in a subprocess, output captured."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelyard.cli", *args],
            cwd=tmp_path,
            env={**project_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A modelyard server for the module, reachable from project commands."""
    root = tmp_path_factory.mktemp("projects-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    proc, url, log_path = start_server(root, env)
    try:
        yield url
    finally:
        stop(proc)
    assert "Traceback" not in log_path.read_text()
