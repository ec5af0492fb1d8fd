"""The two sides of the benchmark: their Python environments and their tracking servers.

A :class:`Side` knows how to make its Python environment ready (MLflow's lives in
``bench/.venv-mlflow`` and is created on first use), the command that starts its server, and the
Python that runs its fluent client. :func:`serve` starts a server in its own process group on a free
127.0.0.1 port over a fresh SQLite file, measures the time until ``/health`` answers 200, and always
ends the whole process group (also on Ctrl-C or an exception).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
MLFLOW_VERSION = "3.17.2"
MLFLOW_VENV = BENCH / ".venv-mlflow"
MAIN_VENV = ROOT / ".venv"
WORKERS = 4
HEALTH_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
VENV_INSTALL_TIMEOUT_S = 900.0


class BenchError(RuntimeError):
    """A side cannot be set up or a server does not behave; the message says what to do."""


@dataclass(frozen=True)
class Side:
    name: str  # "mlflow" or "modelyard"
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def server_command(self, db_uri: str, port: int) -> tuple[list[str], dict[str, str]]:
        """The argv and the extra environment that start this side's server."""
        common = ["--backend-store-uri", db_uri, "--host", "127.0.0.1", "--port", str(port)]
        if self.name == "mlflow":
            argv = [str(self.venv / "bin" / "mlflow"), "server", *common, "--workers", str(WORKERS)]
            return argv, {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        if modelyard_cli_has_server():
            argv = [str(self.venv / "bin" / "modelyard"), "server", *common]
            return [*argv, "--workers", str(WORKERS)], {}
        # Until the CLI lands: the app factory under uvicorn, configured by the environment.
        argv = [str(self.python), "-m", "uvicorn", "modelyard.server.app:create_app_from_env"]
        argv += ["--factory", "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(port)]
        return argv, {"MODELYARD_BACKEND_STORE_URI": db_uri}

    def ensure_ready(self) -> None:
        if self.name == "mlflow":
            ensure_mlflow_venv()
        elif not (ROOT / "src" / "modelyard" / "server" / "app.py").exists():
            raise BenchError("modelyard has no server yet (src/modelyard/server/app.py is missing)")


MLFLOW = Side("mlflow", MLFLOW_VENV)
MODELYARD = Side("modelyard", MAIN_VENV)
SIDES = {"mlflow": MLFLOW, "modelyard": MODELYARD}


def modelyard_cli_has_server() -> bool:
    """Whether ``modelyard server`` exists yet (it is being written alongside this harness)."""
    exe = MAIN_VENV / "bin" / "modelyard"
    if not exe.exists():
        return False
    probe = subprocess.run(
        [str(exe), "server", "--help"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


def ensure_mlflow_venv() -> None:
    """Create ``bench/.venv-mlflow`` with mlflow==3.17.2 unless it is already there."""
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == MLFLOW_VERSION:
            return
    print(f"[setup] installing mlflow=={MLFLOW_VERSION} into {MLFLOW_VENV} (a minute or two)")
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(MLFLOW_VENV)], check=True, timeout=300)
    pip = [str(python), "-m", "pip", "install", "--quiet", f"mlflow=={MLFLOW_VERSION}"]
    done = subprocess.run(
        pip, capture_output=True, text=True, timeout=VENV_INSTALL_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"pip install mlflow=={MLFLOW_VERSION} failed:\n{done.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def side_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The harness environment without any MLflow or modelyard setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELYARD_"))}
    env.pop("VIRTUAL_ENV", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Server:
    side: Side
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_s: float = 0.0

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _health_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group (it was started as its own session)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    # Workers may outlive the master by a moment; the group is ours alone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def serve(side: Side, workdir: Path) -> Iterator[Server]:
    """Start ``side``'s server over a fresh SQLite file in ``workdir`` and stop it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_uri = f"sqlite:///{workdir / 'tracking.db'}"
    port = free_port()
    argv, extra_env = side.server_command(db_uri, port)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            env=side_env(extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(side, port, process, log_path)
    try:
        deadline = started + HEALTH_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchError(
                    f"{side.name} server exited with {process.returncode}:\n{server.log_tail()}"
                )
            if _health_ok(port):
                server.startup_s = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"{side.name} server not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(0.02)
        yield server
    finally:
        _stop(process)
