"""Helpers for the tests that need a real server on 127.0.0.1: an ASGI app behind uvicorn in a
thread (:func:`serve_in_thread`), or a server command in its own process (:func:`server_process`).

Every suite imports it by name (``from live_app import serve_in_thread``): ``tests/`` is on the path
through its ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
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
    argv: list[str],
    port: int,
    env: dict[str, str],
    cwd: Path,
    *,
    timeout_s: float = 60,
    ready_path: str = "/health",
    log_name: str = "server.log",
    own_session: bool = False,
    check_log: bool = True,
) -> Iterator[str]:
    """A server command run from ``cwd`` and listening on ``port`` (its output in
    ``cwd/log_name``); yields its URL once ``ready_path`` answers 200 (``/health``: with ``OK``),
    then stops it. The server must not exit early, nor log a traceback when ``check_log``.

    ``own_session`` starts it in a process group of its own and stops the whole group (for a server
    that starts worker processes of its own, such as MLflow's)."""
    log_path = cwd / log_name
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=log, cwd=cwd, start_new_session=own_session
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the server exited: {log_path.read_text()[-3000:]}")
                try:
                    answer = httpx.get(url + ready_path, timeout=2)
                    if answer.status_code == 200 and (
                        ready_path != "/health" or answer.text == "OK"
                    ):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the server did not start within {timeout_s:.0f} s: "
                        f"{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.1)
            yield url
        finally:
            stop_process(process, group=own_session)
    text = log_path.read_text()
    assert not check_log or "Traceback" not in text, text


def stop_process(process: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 30 s; to the whole process group with ``group``."""

    def signal_it(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig) if group else process.send_signal(sig)

    signal_it(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        process.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``MODELYARD_*`` and ``MLFLOW_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(extra)
    return env
