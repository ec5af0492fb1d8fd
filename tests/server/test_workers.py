"""The pre-fork supervisor: ``modelyard server`` as a real process tree, and the Supervisor itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

API = "/api/2.0/mlflow"
WAIT_S = 60.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_workers(self, count: int) -> None:
        """Until ``count`` worker processes exist and that many have started their app."""
        _until(
            lambda: (
                len(self.workers()) == count
                and self.log().count("Application startup complete.") >= count
            ),
            f"{count} workers serving",
        )

    def workers(self) -> set[int]:
        """The parent's child processes, as the kernel lists them."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in path.read_text().split()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "OK":
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no healthy server at {url} after {timeout} s")
        time.sleep(0.1)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}


def _argv(tmp_path: Path, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modelyard.cli",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'served.db'}",
        "--default-artifact-root",
        str(tmp_path / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@pytest.fixture
def start(tmp_path) -> Iterator:
    started: list[subprocess.Popen[bytes]] = []

    def run(workers: int) -> Served:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                _argv(tmp_path, port, workers),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_env(),
                cwd=tmp_path,
            )
        started.append(process)
        served = Served(process, f"http://127.0.0.1:{port}", log_path)
        wait_healthy(served.url, process, timeout=WAIT_S)
        return served

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _stop(served: Served) -> int:
    served.process.send_signal(signal.SIGTERM)
    return served.process.wait(timeout=WAIT_S)


def test_workers_serve_requests_from_one_socket(start):
    served = start(workers=3)
    served.wait_workers(3)

    def create(i: int) -> str:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            response = client.post(f"{API}/experiments/create", json={"name": f"e{i}"})
            assert response.status_code == 200, response.text
            return response.json()["experiment_id"]

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(create, range(24)))
    assert len(set(ids)) == 24
    assert _stop(served) == 0
    assert "Traceback" not in served.log()


def test_a_killed_worker_is_replaced(start):
    served = start(workers=2)
    served.wait_workers(2)
    before = served.workers()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    _until(
        lambda: len(served.workers()) == 2 and victim not in served.workers(),
        "a new worker in place of the killed one",
    )
    assert served.workers() - before, "no new worker process"
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for _ in range(20):  # whichever worker answers, it answers
            assert client.get("/health").text == "OK"
    assert _stop(served) == 0
    assert f"[{victim}] was killed by SIGKILL" in served.log()


def test_sigterm_stops_every_worker_and_exits_zero(start):
    served = start(workers=2)
    served.wait_workers(2)
    workers = served.workers()
    with httpx.Client(base_url=served.url, timeout=30) as client:  # a kept-alive connection
        assert client.get("/health").text == "OK"
        assert _stop(served) == 0
    _until(lambda: all(_gone(pid) for pid in workers), "every worker gone")
    log = served.log()
    assert log.count("Finished server process") == 2, log
    assert "Traceback" not in log


def test_one_worker_runs_in_process_and_stops_with_zero(start):
    served = start(workers=1)
    assert served.workers() == set()
    with httpx.Client(base_url=served.url, timeout=30) as client:
        response = client.post(f"{API}/experiments/create", json={"name": "solo"})
        assert response.status_code == 200, response.text
    assert _stop(served) == 0
    assert "Traceback" not in served.log()


def test_a_taken_port_is_one_line_and_starts_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _argv(tmp_path, port, workers=2),
            capture_output=True,
            text=True,
            env=_env(),
            cwd=tmp_path,
            timeout=WAIT_S,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert not (tmp_path / "served.db").exists()  # refused before migrating anything


def test_a_failed_migration_is_one_line_and_starts_no_worker(tmp_path):
    """The schema is migrated in a forked child beside the imports; its error comes back as one line."""
    argv = _argv(tmp_path, free_port(), workers=2)
    argv[argv.index("--backend-store-uri") + 1] = "postgresql://postgres:pw@127.0.0.1:1/nowhere"
    done = subprocess.run(
        argv, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=WAIT_S
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: postgresql://postgres:***@127.0.0.1:1/nowhere: "
        "The database cannot be reached or refused the operation."
    ]
    assert "Started worker" not in done.stdout + done.stderr


# --------------------------------------------------------------------------- the Supervisor itself
_SUPERVISED = textwrap.dedent(
    """
    import logging, os, sys, time
    from modelyard.server.workers import Supervisor, WorkerStartError

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    mode = sys.argv[1]

    def target(ready):
        if mode == "cannot-start":
            raise WorkerStartError("no database for this worker")
        ready()
        if mode == "crash-after-start":
            os._exit(7)
        while True:
            time.sleep(1)

    print("exit", Supervisor(target, 2, stop_timeout_s=10).run(), flush=True)
    """
)


def _supervise(mode: str, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", _SUPERVISED, mode],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(),
        )


def test_workers_that_cannot_start_make_the_supervisor_exit_non_zero(tmp_path):
    log_path = tmp_path / "supervised.log"
    proc = _supervise("cannot-start", log_path)
    assert proc.wait(timeout=WAIT_S) == 0  # the script prints the status instead of exiting with it
    out = log_path.read_text()
    assert out.strip().splitlines()[-1] == "exit 1", out
    assert "could not start: no database for this worker" in out
    assert "stopping the server" in out
    assert "Traceback" not in out


def test_a_crash_loop_backs_off_instead_of_spinning(tmp_path):
    log_path = tmp_path / "supervised.log"
    proc = _supervise("crash-after-start", log_path)
    try:
        _until(lambda: "Started worker" in log_path.read_text(), "the supervisor running")
        time.sleep(3)  # without a back-off, hundreds of workers would come and go by now
    finally:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=WAIT_S)
    out = log_path.read_text()
    assert out.strip().splitlines()[-1] == "exit 0", out
    assert "exited with status 7; starting a new one in 0.5 s" in out
    assert "starting a new one in 1.0 s" in out
    started = out.count("Started worker")
    assert 2 < started < 20, out


_FROZEN_AFTER_STARTUP = textwrap.dedent(
    """
    import asyncio, gc, socket
    from modelyard.server import workers

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    sock = workers.bind_socket("127.0.0.1", 0)
    before = gc.get_freeze_count()
    server = workers._WorkerServer(workers._uvicorn_config(app, "warning"), None, None)

    async def main():
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        print(before, gc.get_freeze_count(), server.started)
        server.should_exit = True
        await serving

    asyncio.run(main())
    """
)


def test_a_started_worker_hides_its_long_lived_heap_from_the_collector(tmp_path):
    """Everything alive once the app has started (the app, routes, engine, imported modules) is
    frozen, so the collections a big answer triggers do not traverse it."""
    out = subprocess.run(
        [sys.executable, "-c", _FROZEN_AFTER_STARTUP],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    before, after, started = out.stdout.split()
    assert (int(before), started) == (0, "True")
    assert int(after) > 10_000  # the interpreter, uvicorn and modelyard's modules at least
