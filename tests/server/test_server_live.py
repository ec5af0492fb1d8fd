"""End to end through a real uvicorn on 127.0.0.1: concurrency and multi-process serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.slow

API = "/api/2.0/mlflow"


def _post(client: httpx.Client, path: str, body: dict) -> dict:
    response = client.post(f"{API}/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _get(client: httpx.Client, path: str, params: dict) -> dict:
    response = client.get(f"{API}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _log_concurrently(url: str, run_id: str, threads: int, per_thread: int) -> None:
    """Half the threads log single metrics, the other half small batches; all at once."""
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait()
            if n % 2 == 0:
                for step in range(per_thread):
                    _post(
                        client,
                        "runs/log-metric",
                        {
                            "run_id": run_id,
                            "key": f"t{n}",
                            "value": step * 0.5,
                            "timestamp": step,
                            "step": step,
                        },
                    )
            else:
                for first in range(0, per_thread, 25):
                    metrics = [
                        {"key": f"t{n}", "value": step * 0.5, "timestamp": step, "step": step}
                        for step in range(first, min(first + 25, per_thread))
                    ]
                    _post(client, "runs/log-batch", {"run_id": run_id, "metrics": metrics})

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(worker, n) for n in range(threads)]:
            future.result()


def _assert_all_logged(client: httpx.Client, run_id: str, threads: int, per_thread: int) -> None:
    for n in range(threads):
        history = _get(client, "metrics/get-history", {"run_id": run_id, "metric_key": f"t{n}"})[
            "metrics"
        ]
        assert sorted(m["step"] for m in history) == list(range(per_thread)), (
            f"thread {n} lost points"
        )
        assert all(m["value"] == m["step"] * 0.5 for m in history)
    latest = {
        m["key"]: m for m in _get(client, "runs/get", {"run_id": run_id})["run"]["data"]["metrics"]
    }
    assert set(latest) == {f"t{n}" for n in range(threads)}
    assert all(m["step"] == per_thread - 1 for m in latest.values())


def test_eight_threads_logging_to_one_run_lose_nothing(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        run_id = _post(client, "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        _log_concurrently(live_server.url, run_id, threads=8, per_thread=1000)
        _assert_all_logged(client, run_id, threads=8, per_thread=1000)


def test_full_flow_over_http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        assert client.get("/health").text == "OK"
        exp_id = _post(client, "experiments/create", {"name": "live"})["experiment_id"]
        run = _post(client, "runs/create", {"experiment_id": exp_id, "run_name": "r"})["run"]
        run_id = run["info"]["run_id"]
        _post(client, "runs/log-batch", {"run_id": run_id, "params": [{"key": "p", "value": "1"}]})
        _post(client, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 99})
        found = _post(
            client, "runs/search", {"experiment_ids": [exp_id], "filter": "params.p = '1'"}
        )
        assert [r["info"]["status"] for r in found["runs"]] == ["FINISHED"]
        missing = client.get(f"{API}/runs/get", params={"run_id": "a" * 32})
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        unknown = client.post(f"{API}/no-such-resource/search", json={})
        assert unknown.status_code == 404
        assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_two_worker_processes_over_one_sqlite_file(tmp_path, spawn_server):
    env = {
        "MODELYARD_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'shared.db'}",
        "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    with (
        spawn_server(env, workers=2, log_path=tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        # experiments created concurrently through both workers all land, with distinct ids
        def create(i: int) -> str:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                return _post(own, "experiments/create", {"name": f"w{i}"})["experiment_id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(16)))
        assert len(set(ids)) == 16
        run_id = _post(client, "runs/create", {"experiment_id": ids[0]})["run"]["info"]["run_id"]
        _log_concurrently(server.url, run_id, threads=8, per_thread=200)
        _assert_all_logged(client, run_id, threads=8, per_thread=200)
        listed = _get(
            client, "experiments/search", {"filter": "name LIKE 'w%'", "max_results": 100}
        )
        assert len(listed["experiments"]) == 16
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_health(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "OK":
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer /health"
        time.sleep(0.1)


def test_pre_forked_workers_over_one_sqlite_file_lose_nothing(tmp_path):
    """``modelyard server --workers 4``: forked workers queue their writes on one lock file."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'forked.db'}",
        "--default-artifact-root",
        str(tmp_path / "artifacts"),
        "--port",
        str(port),
        "--workers",
        "4",
        "--log-level",
        "warning",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_health(url, process)
        with httpx.Client(base_url=url, timeout=60) as client:
            run_id = _post(client, "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
            _log_concurrently(url, run_id, threads=8, per_thread=200)
            _assert_all_logged(client, run_id, threads=8, per_thread=200)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert (tmp_path / "forked.db-lock").is_file()
    assert "Traceback" not in log_path.read_text()
