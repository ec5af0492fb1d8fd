"""The artifact proxy scenario: one large file and many small ones through each side's proxy.

Both sides are driven by the same clients against MLflow's wire routes, so only the servers differ:
httpx for the large file (a streamed upload from a generator), and for the small files the standard
library's ``http.client``, one kept-alive connection per thread, as in the REST workload: httpx's own
0.65-0.76 ms of CPU per request, on the same two cores as the server, was the ceiling of the
small-file rounds (an ASGI app that does nothing answered it at about 1,300 files/s).

* ``artifact_upload`` / ``artifact_download``: one file of ``big_mib`` MiB (1 GiB at full size),
  streamed up with ``PUT /api/2.0/mlflow-artifacts/artifacts/<path>`` from a generator and down with a
  streamed ``GET``, its sha256 checked; MiB/s.
* ``small_upload`` / ``small_download``: ``small_files`` files of 4 KiB each (1,000 at full size), sent
  and fetched from 8 threads; files/s. The detail has the CPU milliseconds per file (user, system) of
  the server's process group and of the client process, measured around the same loop.
* ``artifact_peak_rss``: the largest peak resident memory (``VmHWM``) of any process of the server's
  process group after the transfers, in MB; the sum over the group is in the detail.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from servers import Server
from workload import FULL, Measurement, Sizes, WorkloadError

MIB = 1 << 20
SMALL_BYTES = 4096
THREADS = 8
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def scaled(sizes: Sizes) -> tuple[int, int]:
    """(large file MiB, number of small files) for these sizes: 1024 and 1000 at full size."""
    factor = sizes.search_runs / FULL.search_runs
    return max(16, int(1024 * factor)), max(50, int(1000 * factor))


def _chunks(total_mib: int, digest: hashlib._Hash) -> Iterator[bytes]:
    base = random.Random(7).randbytes(MIB)
    for i in range(total_mib):
        chunk = i.to_bytes(8, "big") + base[8:]
        digest.update(chunk)
        yield chunk


def group_stats(leader: int) -> Iterator[tuple[Path, list[str]]]:
    """``(/proc/<pid>, fields of its stat after the name)`` of every live process in the process
    group led by ``leader``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == leader:
                yield entry, fields
        except (OSError, ValueError, IndexError):
            continue


def _group_peaks(leader: int) -> list[int]:
    """VmHWM (bytes) of every live process in the process group led by ``leader``."""
    peaks = []
    for entry, _ in group_stats(leader):
        try:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) * 1024)
        except (OSError, ValueError, IndexError):
            continue
    return peaks


def group_cpu(leader: int) -> tuple[float, float]:
    """(user, system) CPU seconds so far of every live process in the process group of ``leader``."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for _, fields in group_stats(leader):
        user += int(fields[11]) / tick
        system += int(fields[12]) / tick
    return user, system


class SmallFileClient:
    """The small-file rounds' client: ``http.client``, one kept-alive connection per thread (made on
    the thread's first request), as in the REST workload."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=300
            )
            self._opened.append(conn)
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        for conn in self._opened:
            conn.close()


def measure(server: Server, sizes: Sizes) -> dict[str, Measurement]:
    big_mib, small_files = scaled(sizes)
    url = server.url + PROXY
    out: dict[str, Measurement] = {}
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)
    with httpx.Client(timeout=300, limits=limits) as client:
        sent = hashlib.sha256()
        started = time.perf_counter()
        answer = client.put(f"{url}/bench/big.bin", content=_chunks(big_mib, sent))
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise WorkloadError(f"large upload answered {answer.status_code}: {answer.text[:300]}")
        out["artifact_upload"] = Measurement(big_mib / elapsed, "MiB/s", {"mib": big_mib})

        got = hashlib.sha256()
        received = 0
        started = time.perf_counter()
        with client.stream("GET", f"{url}/bench/big.bin") as response:
            if response.status_code != 200:
                raise WorkloadError(f"large download answered {response.status_code}")
            for chunk in response.iter_bytes(MIB):
                got.update(chunk)
                received += len(chunk)
        elapsed = time.perf_counter() - started
        if received != big_mib * MIB or got.hexdigest() != sent.hexdigest():
            raise WorkloadError("the large file came back different")
        out["artifact_download"] = Measurement(big_mib / elapsed, "MiB/s", {"mib": big_mib})

        payloads = [os.urandom(SMALL_BYTES) for _ in range(small_files)]

        small = SmallFileClient(server.port)

        def call(method: str, i: int, body: bytes | None) -> tuple[int, bytes]:
            return small.request(method, f"{PROXY}/bench/small/f{i:05d}.bin", body)

        def put(i: int) -> None:
            status, text = call("PUT", i, payloads[i])
            if status != 200:
                raise WorkloadError(f"small upload answered {status}: {text[:300]!r}")

        def get(i: int) -> None:
            status, data = call("GET", i, None)
            if status != 200 or data != payloads[i]:
                raise WorkloadError(f"small download {i} answered {status} or other bytes")

        for key, action in (("small_upload", put), ("small_download", get)):
            server_cpu, client_cpu = group_cpu(server.process.pid), os.times()
            started = time.perf_counter()
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(action, range(small_files)))
            elapsed = time.perf_counter() - started
            server_after, client_after = group_cpu(server.process.pid), os.times()
            per_file = 1e3 / small_files  # CPU ms per file, both ends (user, system)
            detail = {
                "files": small_files,
                "bytes": SMALL_BYTES,
                "server_cpu_ms": [
                    round((server_after[i] - server_cpu[i]) * per_file, 3) for i in (0, 1)
                ],
                "client_cpu_ms": [
                    round((client_after.user - client_cpu.user) * per_file, 3),
                    round((client_after.system - client_cpu.system) * per_file, 3),
                ],
            }
            out[key] = Measurement(small_files / elapsed, "files/s", detail)
        small.close()
    peaks = _group_peaks(server.process.pid)
    if not peaks:
        raise WorkloadError("could not read the server's memory from /proc")
    out["artifact_peak_rss"] = Measurement(
        max(peaks) / 1e6,
        "MB",
        {"processes": len(peaks), "sum_mb": round(sum(peaks) / 1e6, 1)},
    )
    return out
