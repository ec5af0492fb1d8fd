"""Fixtures for the serving tests: saved models and real scoring servers.

* ``lr_frame`` / ``lr_model_dir``: a 20-feature frame and a scikit-learn LogisticRegression fitted
  on it, saved by modelyard with its signature (session-wide: saving and loading take a while);
* ``write_python_model(tmp_path, source, ...)``: a custom pyfunc model saved from code (nothing
  pickled), for models that sleep, record their batches or echo their params;
* ``start_scoring_server(model_uri, *options)``: ``modelyard models serve`` in a subprocess on a
  free 127.0.0.1 port, as a context manager giving a :class:`ScoringServer`; its log must hold no
  traceback;
* ``lr_server``: one server of ``lr_model_dir`` shared by a test module.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

FEATURES = [f"f{i}" for i in range(20)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
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


@pytest.fixture
def start_scoring_server(tmp_path: Path) -> Callable[..., Any]:
    """``with start_scoring_server(uri, "--workers", "2") as server: ...``"""

    def start(model_uri: str | os.PathLike[str], *options: str, **kwargs: Any) -> Any:
        kwargs.setdefault("cwd", tmp_path)
        return scoring_server(model_uri, *options, **kwargs)

    return start


# ---------------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def lr_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(200, len(FEATURES))), columns=FEATURES)


@pytest.fixture(scope="session")
def lr_model_dir(tmp_path_factory: pytest.TempPathFactory, lr_frame: pd.DataFrame) -> Path:
    """A LogisticRegression on 20 double features, saved by modelyard with a signature."""
    from sklearn.linear_model import LogisticRegression

    import modelyard.sklearn
    from modelyard.models.signature import infer_signature

    labels = (lr_frame["f0"] + 0.5 * lr_frame["f1"] > 0).astype(np.int64)
    model = LogisticRegression().fit(lr_frame, labels)
    path = tmp_path_factory.mktemp("lr") / "model"
    signature = infer_signature(lr_frame, model.predict(lr_frame))
    modelyard.sklearn.save_model(model, path, signature=signature)
    return path


@pytest.fixture(scope="module")
def lr_server(
    tmp_path_factory: pytest.TempPathFactory, lr_model_dir: Path
) -> Iterator[ScoringServer]:
    with scoring_server(lr_model_dir, cwd=tmp_path_factory.mktemp("lr-server")) as server:
        yield server


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
