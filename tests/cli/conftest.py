"""Fixtures for the CLI tests: click's CliRunner over a real SQLite file, seeded through the service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modelyard.cli.main import cli

#: Environment variables that would point a command somewhere other than the test's database.
_OUTSIDE_ENV = ("MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI", "MODELYARD_BACKEND_STORE_URI")

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Invoke:
    """Run ``modelyard ARGS`` in-process; unexpected exceptions propagate and fail the test."""
    for name in _OUTSIDE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run


@pytest.fixture
def service(sqlite_uri: str, tmp_path: Path) -> Iterator[object]:
    """A TrackingService over the same SQLite file the commands use, to seed and check data."""
    from modelyard.service.tracking import TrackingService
    from modelyard.store.sql import open_tracking_store

    store = open_tracking_store(sqlite_uri, default_artifact_root=str(tmp_path / "artifacts"))
    yield TrackingService(store)
    store.close()


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def one_line_error() -> Callable[..., None]:
    """``check(result, *fragments)``: exit status 1 and one ``Error: ...`` line naming the fragments."""
    return _assert_one_line_error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(
    db_uri: str, tmp_path: Path, *, workers: int = 2, timeout_s: float = 60
) -> tuple[subprocess.Popen[bytes], str]:
    """``modelyard server`` as a real subprocess on a free port; returns it once /health answers."""
    port = _free_port()
    log_path = tmp_path / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelyard.cli",
                "server",
                "--backend-store-uri",
                db_uri,
                "--default-artifact-root",
                str(tmp_path / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if k not in _OUTSIDE_ENV},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log_path.read_text(errors="replace")
            raise AssertionError(f"modelyard server exited with {proc.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    _stop_server(proc)
    raise AssertionError(f"modelyard server did not answer /health within {timeout_s} s")


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start(db_uri, workers=2) -> base URL``: a real ``modelyard server`` subprocess, stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(db_uri: str, *, workers: int = 2) -> str:
        proc, url = _start_server(db_uri, tmp_path, workers=workers)
        started.append(proc)
        return url

    yield start
    for proc in started:
        _stop_server(proc)
