"""A real modelyard server for the compatibility tests: uvicorn with 2 workers in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def modelyard_server(root: Path, **settings: str) -> Iterator[str]:
    """URL of a server over ``root/compat.db`` run from ``root``; ``settings`` are ``MODELYARD_*``
    variables by setting name (``artifacts_destination=...``). Its log must hold no traceback."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MODELYARD_BACKEND_STORE_URI"] = f"sqlite:///{root / 'compat.db'}"
    env.update({f"MODELYARD_{name.upper()}": value for name, value in settings.items()})
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
