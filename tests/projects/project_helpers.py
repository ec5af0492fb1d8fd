"""Helpers for the project tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from modelyard.client import ModelyardClient


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) below ``root``; returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


#: A script that records what the project command received, then logs through the fluent client.
RECORDER = """
import json, os, sys
import modelyard

record = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "executable": sys.executable,
    "env": {k: v for k, v in os.environ.items() if k.startswith(("MODELYARD_", "MLFLOW_"))},
}
with open(os.environ["RECORD_TO"], "w") as out:
    json.dump(record, out)
with modelyard.start_run() as run:
    modelyard.log_metric("seen", 1.0)
    modelyard.set_tag("inner_run_id", run.run_id)
"""


def runs_of(client: ModelyardClient, experiment_id: str = "0") -> list:
    return list(client.search_runs([experiment_id], max_results=1000).items)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """A real ``modelyard server`` over a SQLite file in ``root``; (process, URL, log path)."""
    port = free_port()
    db = f"sqlite:///{root / 'served.db'}"
    log_path = root / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.cli", "server", "--backend-store-uri", db,
             "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"modelyard server exited:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            stop(proc)
            raise AssertionError("modelyard server did not answer /health within 60 s")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url, log_path
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
