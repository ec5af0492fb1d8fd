"""A 1 GiB file up through the proxy and back down, with the server's memory staying flat.

The server is a real uvicorn process on 127.0.0.1 (one worker, so the process measured is the one
serving); its peak resident memory (``VmHWM`` of ``/proc/<pid>/status``) is read after a warm-up and
again after the transfers.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MIB = 1 << 20
SIZE = 1024 * MIB
#: How much the server's peak resident memory may grow while moving the file.
MAX_GROWTH = 200 * MIB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line in /proc/<pid>/status")


def chunks(total: int, seed: int = 5) -> Iterator[bytes]:
    """``total`` bytes in 1 MiB chunks, each different, made on the fly (never all in memory)."""
    base = random.Random(seed).randbytes(MIB)
    for i in range(total // MIB):
        yield i.to_bytes(8, "big") + base[8:]


@pytest.mark.slow
def test_a_1_gib_file_goes_up_and_down_with_flat_server_memory(tmp_path):
    destination = tmp_path / "destination"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(
        MODELYARD_BACKEND_STORE_URI=f"sqlite:///{tmp_path / 'server.db'}",
        MODELYARD_ARTIFACTS_DESTINATION=str(destination),
    )
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "modelyard.server.app:create_app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/big/file.bin"
    try:
        with httpx.Client(timeout=120) as client:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").text == "OK":
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            # Warm up every code path first (imports, thread pool), then take the baseline.
            assert client.put(url, content=chunks(4 * MIB)).status_code == 200
            with client.stream("GET", url) as response:
                assert sum(len(c) for c in response.iter_bytes()) == 4 * MIB
            baseline = peak_rss(server.pid)

            sent = hashlib.sha256()

            def upload() -> Iterator[bytes]:
                for chunk in chunks(SIZE):
                    sent.update(chunk)
                    yield chunk

            started = time.monotonic()
            put = client.put(url, content=upload())
            up_s = time.monotonic() - started
            assert put.status_code == 200, put.text
            assert (destination / "big/file.bin").stat().st_size == SIZE

            got = hashlib.sha256()
            received = 0
            started = time.monotonic()
            with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-length"] == str(SIZE)
                for chunk in response.iter_bytes():
                    got.update(chunk)
                    received += len(chunk)
            down_s = time.monotonic() - started
            peak = peak_rss(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    assert received == SIZE
    assert got.hexdigest() == sent.hexdigest()
    growth = peak - baseline
    print(
        f"1 GiB up {SIZE / MIB / up_s:.0f} MiB/s, down {SIZE / MIB / down_s:.0f} MiB/s; server peak "
        f"RSS {baseline / MIB:.0f} -> {peak / MIB:.0f} MiB"
    )
    assert growth < MAX_GROWTH, f"server peak memory grew by {growth / MIB:.0f} MiB"
