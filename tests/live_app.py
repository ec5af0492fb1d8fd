"""Helpers for the tests that need a real server on 127.0.0.1: an ASGI app behind uvicorn in a
thread (:func:`serve_in_thread`), or a server command in its own process (:func:`server_process`).

Every suite imports it by name (``from live_app import serve_in_thread``): ``tests/`` is on the path
through its ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, port: int | None = None, lifespan: str = "auto", name: str = "uvicorn-test"
) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a free port unless given); yields its URL and stops the
    server (and its lifespan) on exit."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port if port is not None else free_port(),
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def server_process(
    argv: list[str], port: int, env: dict[str, str], cwd: Path, *, timeout_s: float = 60
) -> Iterator[str]:
    """A server command run from ``cwd`` and listening on ``port`` (its output in
    ``cwd/server.log``); yields its URL once ``/health`` says OK, then stops it. The server must not
    exit early or log a traceback (either fails the test)."""
    log_path = cwd / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=cwd)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the server exited: {log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).text == "OK":
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not start within {timeout_s:.0f} s")
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


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``MODELYARD_*`` and ``MLFLOW_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(extra)
    return env
