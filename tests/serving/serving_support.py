"""Helpers of the serving tests, imported by name (``from serving_support import ...``): the
feature names, real scoring servers in a subprocess and models saved from code. The fixtures built on
them are in ``conftest.py``; a module of its own, because ``from conftest import`` finds whichever
directory's ``conftest`` was imported first when several test folders run together.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from live_app import free_port, stop_process

FEATURES = [f"f{i}" for i in range(20)]


@dataclass
class ScoringServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    ready_after_s: float

    def invoke(self, body: Any = None, *, content: bytes | None = None, **kwargs: Any) -> Any:
        """POST /invocations: a JSON ``body``, or raw ``content`` with its headers."""
        if content is None:
            return httpx.post(f"{self.url}/invocations", json=body, timeout=60, **kwargs)
        return httpx.post(f"{self.url}/invocations", content=content, timeout=60, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(extra or {})
    return env


@contextmanager
def scoring_server(
    model_uri: str | os.PathLike[str],
    *options: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 120.0,
    wait_ready: bool = True,
) -> Iterator[ScoringServer]:
    """``modelyard models serve -m model_uri *options`` on a free port, stopped on exit."""
    port = free_port()
    argv = [
        sys.executable, "-m", "modelyard.cli", "models", "serve", "-m", str(model_uri),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *options,
    ]  # fmt: skip
    log_path = cwd / f"serve-{port}.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(argv, env=server_env(env), stdout=log, stderr=log, cwd=cwd)
        server = ScoringServer(url, process, log_path, started, float("nan"))
        try:
            if wait_ready:
                wait_until_ready(server, ready_timeout_s)
            yield server
        finally:
            stop_process(process)
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text


def wait_until_ready(server: ScoringServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"the scoring server exited: {server.log()}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=5).status_code == 200:
                server.ready_after_s = time.monotonic() - server.started_at
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the scoring server was not ready within {timeout_s} s: {server.log()}")
        time.sleep(0.05)


def write_python_model(
    root: Path,
    source: str,
    *,
    name: str = "model",
    signature: Any = None,
    input_example: Any = None,
) -> Path:
    """Save the models-from-code file ``source`` (it must call ``set_model``) under ``root``."""
    from modelyard.pyfunc import save_model

    code = root / f"{name}_code.py"
    code.write_text(textwrap.dedent(source))
    path = root / name
    save_model(path, python_model=str(code), signature=signature, input_example=input_example)
    return path
