"""``modelyard server``'s artifact options, end to end: the real command in a subprocess on 127.0.0.1."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import httpx
import pytest

from live_app import clean_env, free_port, server_process

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@contextlib.contextmanager
def modelyard_server(tmp_path, *options: str) -> Iterator[str]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        *options,
    ]
    with server_process(argv, port, clean_env(), tmp_path, check_log=False) as url:
        yield url


@pytest.mark.slow
def test_the_proxy_writes_to_the_destination_and_experiments_get_proxied_locations(tmp_path):
    destination = tmp_path / "dest"
    with modelyard_server(tmp_path, "--artifacts-destination", str(destination)) as url:
        assert httpx.put(f"{url}{PROXY}/1/r/artifacts/a.txt", content=b"hello").status_code == 200
        created = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "e"})
        experiment_id = created.json()["experiment_id"]
        got = httpx.get(
            f"{url}/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}
        )
        location = got.json()["experiment"]["artifact_location"]
    assert (destination / "1/r/artifacts/a.txt").read_bytes() == b"hello"
    assert location == f"mlflow-artifacts:/{experiment_id}"


@pytest.mark.slow
def test_no_serve_artifacts_uses_the_default_root_and_503s_the_proxy(tmp_path):
    root = tmp_path / "root"
    options = ("--no-serve-artifacts", "--default-artifact-root", str(root))
    with modelyard_server(tmp_path, *options) as url:
        refused = httpx.put(f"{url}{PROXY}/a.txt", content=b"x")
        created = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "e"})
        experiment_id = created.json()["experiment_id"]
        got = httpx.get(
            f"{url}/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}
        )
    assert refused.status_code == 503
    assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    location = got.json()["experiment"]["artifact_location"]
    assert location == f"file://{root}/{experiment_id}"
    assert not (tmp_path / "mlartifacts").exists()


@pytest.mark.slow
def test_artifacts_only_serves_files_and_503s_tracking(tmp_path):
    destination = tmp_path / "dest"
    options = ("--artifacts-only", "--artifacts-destination", str(destination))
    with modelyard_server(tmp_path, *options) as url:
        assert httpx.put(f"{url}{PROXY}/only.txt", content=b"only").status_code == 200
        assert httpx.get(f"{url}{PROXY}/only.txt").content == b"only"
        refused = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "e"})
    assert refused.status_code == 503
    assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert (destination / "only.txt").read_bytes() == b"only"


def test_artifacts_only_without_the_proxy_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from modelyard.cli.main import cli

    result = CliRunner().invoke(
        cli,
        [
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--artifacts-only",
            "--no-serve-artifacts",
        ],
        env={"MODELYARD_ARTIFACTS_ONLY": None, "MODELYARD_SERVE_ARTIFACTS": None},
    )
    assert result.exit_code == 2
    assert "--artifacts-only needs the artifact proxy" in result.output
    assert not (tmp_path / "x.db").exists()
