"""The scoring-server benchmark: ``mlflow models serve`` and ``modelyard models serve`` on one model.

    .venv/bin/python bench/serving.py --quick            # both sides, a short run, prints the table
    .venv/bin/python bench/run.py --scenarios serving    # the same inside the main harness

The model is a scikit-learn LogisticRegression on 20 numeric features, saved once with MLflow's
sklearn flavor (from ``bench/.venv-mlflow``; MLflow 3 writes it with skops, so no pickle opt-in),
so both servers load the same files. Each server is
started alone with one worker on a free 127.0.0.1 port and measured for:

* the time from start until ``GET /ping`` answers 200, and the CPU time the server's processes
  used until then (steadier than the wall time on a shared machine);
* requests/s and p50/p99 latency of 1-row ``dataframe_split`` bodies at 1, 8 and 32 concurrent
  clients, each on its own kept-alive connection;
* rows/s of 100-row bodies from one client;
* the in-process floor: the side's own ``pyfunc`` ``predict`` of a 1-row frame, so the
  per-request overhead of the server is its 1-client p50 minus that floor.

modelyard runs twice: plainly and with micro-batching (``--batch-max-size``). Before the load,
each server's answers for a 1-row and a 100-row body are checked against the model's predictions.

The load generator is a separate process (``serving.py loadgen ...``): asyncio protocols over
raw sockets (uvloop when installed), pre-encoded HTTP/1.1 requests, a minimal response parser. It
runs a fixed warm-up and then a fixed measuring window per point, and reports its own CPU use
so one can see that it is not what limits the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import (
    MAIN_VENV,
    MLFLOW_VENV,
    BenchError,
    ensure_mlflow_venv,
    free_port,
    side_env,
)
from servers import _stop as stop_process_group

FEATURES = 20
CONCURRENCY = (1, 8, 32)
BIG_ROWS = 100
BATCH_MAX_SIZE = 64
BATCH_MAX_WAIT_MS = 2.0
PING_TIMEOUT_S = 180.0
HERE = Path(__file__).resolve().parent

SAVE_SCRIPT = r"""
import json, sys
import numpy as np, pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

out, features = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(20240611)
columns = [f"f{i}" for i in range(features)]
X = pd.DataFrame(rng.normal(size=(5000, features)), columns=columns)
w = rng.normal(size=features)
y = (X.to_numpy() @ w + rng.normal(scale=0.5, size=len(X)) > 0).astype("int64")
model = LogisticRegression(max_iter=500).fit(X, y)
mlflow.sklearn.save_model(model, out + "/model", signature=infer_signature(X, model.predict(X)))
probe = pd.DataFrame(rng.normal(size=(164, features)), columns=columns)
json.dump({
    "columns": columns,
    "rows": probe.round(6).to_numpy().tolist(),
    "predictions": model.predict(probe.round(6)).tolist(),
}, open(out + "/probe.json", "w"))
"""

FLOOR_SCRIPT = r"""
import json, statistics, sys, time
import pandas as pd
side, model_dir, probe_path = sys.argv[1], sys.argv[2], sys.argv[3]
probe = json.load(open(probe_path))
if side == "mlflow":
    import mlflow.pyfunc
    model = mlflow.pyfunc.load_model(model_dir)
else:
    import modelyard.pyfunc
    model = modelyard.pyfunc.load_model(model_dir)
def timed(rows, calls):
    frame = pd.DataFrame(rows, columns=probe["columns"])
    for _ in range(min(200, calls)):
        model.predict(frame)
    samples = []
    deadline = time.perf_counter() + 10
    for _ in range(calls):
        t0 = time.perf_counter()
        model.predict(frame)
        samples.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return statistics.median(samples), len(samples)
one, n1 = timed(probe["rows"][:1], int(sys.argv[4]))
hundred, n100 = timed(probe["rows"][:100], max(50, int(sys.argv[4]) // 10))
print(json.dumps({"one_s": one, "hundred_s": hundred, "calls": n1}))
"""


# ----------------------------------------------------------------------------- load generator


def _request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Load:
    """Shared state of one load point: the requests, the clock, the samples."""

    def __init__(self, requests: list[bytes], warmup_s: float, duration_s: float) -> None:
        self.requests = requests
        now = time.perf_counter()
        self.measure_from = now + warmup_s
        self.measure_to = self.measure_from + duration_s
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[int, int] = {}
        self.bad_bodies = 0
        self.sent = 0


class _Client(asyncio.Protocol):
    """One kept-alive connection that sends the next request when the answer is complete."""

    def __init__(self, load: _Load, index: int, done: asyncio.Future[None]) -> None:
        self.load = load
        self.index = index
        self.done = done
        self.buf = bytearray()
        self.started = 0.0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send()

    def _send(self) -> None:
        load = self.load
        request = load.requests[(self.index + load.sent) % len(load.requests)]
        load.sent += 1
        self.started = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            parsed = _parse_response(self.buf)
            if parsed is None:
                return
            status, body, used = parsed
            del self.buf[:used]
            self._finished(status, body)
            if self.done.done():
                return

    def _finished(self, status: int, body: bytes) -> None:
        now = time.perf_counter()
        load = self.load
        if load.measure_from <= now <= load.measure_to:  # completed inside the window
            load.latencies.append(now - self.started)
            load.statuses[status] = load.statuses.get(status, 0) + 1
            if status != 200:
                load.errors += 1
            elif b"predictions" not in body[:64]:
                load.bad_bodies += 1
        if now >= load.measure_to:
            assert self.transport is not None
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.load.errors += 1
            self.done.set_exception(ConnectionError(f"the server closed the connection: {exc}"))


def _parse_response(buf: bytearray) -> tuple[int, bytes, int] | None:
    """``(status, body, bytes used)`` of the first complete response in ``buf``, or ``None``."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    start = end + 4
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop > 0 else len(head)])
        if len(buf) < start + length:
            return None
        return status, bytes(buf[start : start + length]), start + length
    if b"transfer-encoding: chunked" not in head:
        raise ValueError("a response with neither Content-Length nor chunked encoding")
    body = bytearray()
    pos = start
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        chunk_start = line_end + 2
        if len(buf) < chunk_start + size + 2:
            return None
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", line_end)
            if trailer_end < 0:
                return None
            return status, bytes(body), trailer_end + 4
        body += buf[chunk_start : chunk_start + size]
        pos = chunk_start + size + 2


async def _drive(
    port: int, requests: list[bytes], clients: int, warmup_s: float, duration_s: float
) -> _Load:
    loop = asyncio.get_running_loop()
    load = _Load(requests, warmup_s, duration_s)
    futures: list[asyncio.Future[None]] = []
    for i in range(clients):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda i=i, d=done: _Client(load, i, d), "127.0.0.1", port)
        futures.append(done)
    await asyncio.wait_for(asyncio.gather(*futures), timeout=warmup_s + duration_s + 120)
    return load


def loadgen(args: argparse.Namespace) -> dict[str, Any]:
    """Run one load point and return its figures (what ``serving.py loadgen`` prints)."""
    bodies = json.loads(Path(args.bodies).read_text())
    requests = [_request(args.port, body.encode()) for body in bodies]
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    load = runner(_drive(args.port, requests, args.clients, args.warmup, args.duration))
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    lat = sorted(load.latencies)
    if not lat:
        raise BenchError("no request completed in the measuring window")
    return {
        "requests": len(lat),
        "rps": len(lat) / args.duration,
        "p50_s": lat[len(lat) // 2],
        "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "mean_s": statistics.fmean(lat),
        "errors": load.errors,
        "bad_bodies": load.bad_bodies,
        "statuses": {str(k): v for k, v in load.statuses.items()},
        "client_cpu_share": cpu / wall,
    }


# ----------------------------------------------------------------------------- the harness


@dataclass(frozen=True)
class Timing:
    warmup_s: float
    duration_s: float
    floor_calls: int


FULL_TIMING = Timing(2.0, 10.0, 3000)
QUICK_TIMING = Timing(1.0, 3.0, 500)


@dataclass(frozen=True)
class Variant:
    """One scoring server to measure: whose it is and the options that start it."""

    key: str  # prefix of its result keys
    side: str  # "mlflow" or "modelyard"
    batching: bool = False

    def command(self, model_dir: Path, port: int) -> list[str]:
        if self.side == "mlflow":
            exe = str(MLFLOW_VENV / "bin" / "mlflow")
            common = ["-m", str(model_dir), "--env-manager", "local", "-w", "1"]
            return [exe, "models", "serve", *common, "-h", "127.0.0.1", "-p", str(port)]
        exe = str(MAIN_VENV / "bin" / "modelyard")
        argv = [exe, "models", "serve", "-m", str(model_dir), "-w", "1"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        if self.batching:
            argv += ["--batch-max-size", str(BATCH_MAX_SIZE)]
            argv += ["--batch-max-wait-ms", str(BATCH_MAX_WAIT_MS)]
        return argv

    def env(self) -> dict[str, str]:
        venv = MLFLOW_VENV if self.side == "mlflow" else MAIN_VENV
        return side_env({"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"})


VARIANTS = {
    "mlflow": (Variant("serving", "mlflow"),),
    "modelyard": (Variant("serving", "modelyard"), Variant("serving_batched", "modelyard", True)),
}


def prepare_model(workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Fit and save the model once (with MLflow's sklearn flavor); reuse it when it is there."""
    probe_path = workdir / "probe.json"
    if not probe_path.exists():
        ensure_mlflow_venv()
        workdir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [str(MLFLOW_VENV / "bin" / "python"), "-c", SAVE_SCRIPT, str(workdir), str(FEATURES)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=side_env(),
        )
        if done.returncode != 0:
            raise BenchError(f"saving the serving model failed:\n{done.stderr[-3000:]}")
    return workdir / "model", json.loads(probe_path.read_text())


def _bodies(probe: dict[str, Any], rows: int, count: int) -> list[str]:
    columns = probe["columns"]
    data = probe["rows"]
    out = []
    for i in range(count):
        chunk = [data[(i + j) % len(data)] for j in range(rows)]
        out.append(json.dumps({"dataframe_split": {"columns": columns, "data": chunk}}))
    return out


def _post(port: int, body: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def _ping(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def _serving(variant: Variant, model_dir: Path, workdir: Path) -> Any:
    port = free_port()
    log_path = workdir / f"{variant.key}-{variant.side}.log"
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            variant.command(model_dir, port),
            cwd=workdir,
            env=variant.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while not _ping(port):
            if process.poll() is not None or time.perf_counter() - started > PING_TIMEOUT_S:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise BenchError(f"{variant.side} scoring server never answered /ping:\n{tail}")
            time.sleep(0.01)
        ready_s = time.perf_counter() - started
        yield port, ready_s, _session_cpu_s(process.pid)
    finally:
        stop_process_group(process)


def _session_cpu_s(session: int) -> float | None:
    """User + system CPU seconds of the live processes of a session (the server and its workers)."""
    total, found = 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # after the name: state, ppid, pgrp, session, ...
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else None


def _check_answers(port: int, probe: dict[str, Any], side: str) -> None:
    for rows in (1, BIG_ROWS):
        body = json.dumps(
            {"dataframe_split": {"columns": probe["columns"], "data": probe["rows"][:rows]}}
        )
        status, answer = _post(port, body)
        got = answer.get("predictions") if isinstance(answer, dict) else None
        if status != 200 or got != probe["predictions"][:rows]:
            raise BenchError(
                f"{side} answered {status} with predictions that differ from the model's for "
                f"{rows} row(s): {str(answer)[:300]}"
            )


def _load_point(port: int, bodies_path: Path, clients: int, timing: Timing) -> dict[str, Any]:
    argv = [str(MAIN_VENV / "bin" / "python"), str(HERE / "serving.py"), "loadgen"]
    argv += ["--port", str(port), "--bodies", str(bodies_path), "--clients", str(clients)]
    argv += ["--warmup", str(timing.warmup_s), "--duration", str(timing.duration_s)]
    budget = timing.warmup_s + timing.duration_s + 180
    done = subprocess.run(argv, capture_output=True, text=True, timeout=budget, check=False)
    if done.returncode != 0:
        raise BenchError(f"the load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["errors"] or result["bad_bodies"]:
        raise BenchError(f"{result['errors']} errors, {result['bad_bodies']} bad bodies: {result}")
    return result


def _floor(side: str, model_dir: Path, probe_path: Path, timing: Timing) -> dict[str, Any]:
    python = MLFLOW_VENV / "bin" / "python" if side == "mlflow" else MAIN_VENV / "bin" / "python"
    argv = [str(python), "-c", FLOOR_SCRIPT, side, str(model_dir), str(probe_path)]
    done = subprocess.run(
        [*argv, str(timing.floor_calls)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=side_env(),
    )
    if done.returncode != 0:
        raise BenchError(f"the {side} predict floor failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def keys(side: str) -> list[str]:
    """The result keys :func:`measure` fills for ``side``."""
    out = ["serving_floor"]
    for v in VARIANTS[side]:
        out += [f"{v.key}_ready", f"{v.key}_overhead", f"{v.key}_rows100"]
        out += [f"{v.key}_{kind}c{n}" for n in CONCURRENCY for kind in ("", "p99_")]
    return out


def measure(side: str, workroot: Path, quick: bool) -> dict[str, dict[str, Any]]:
    """All serving figures of ``side`` as ``{key: {"value", "unit", "detail"}}``."""
    timing = QUICK_TIMING if quick else FULL_TIMING
    model_dir, probe = prepare_model(workroot / "serving-model")
    work = workroot / f"serving-{side}"
    work.mkdir(parents=True, exist_ok=True)
    small = work / "bodies-1.json"
    small.write_text(json.dumps(_bodies(probe, 1, 64)))
    big = work / f"bodies-{BIG_ROWS}.json"
    big.write_text(json.dumps(_bodies(probe, BIG_ROWS, 16)))
    out: dict[str, dict[str, Any]] = {}

    def put(key: str, value: float, unit: str, detail: dict[str, Any]) -> None:
        out[key] = {"value": value, "unit": unit, "detail": detail}
        shown = f"{value * 1000:.2f} ms" if unit == "s" else f"{value:,.0f} {unit}"
        extra = ""
        if "p50_s" in detail and unit != "s":
            extra = f"  p50 {detail['p50_s'] * 1000:.2f} ms  p99 {detail['p99_s'] * 1000:.2f} ms"
            extra += f"  (client CPU {detail['client_cpu_share']:.0%})"
        print(f"    {key:<26} {shown:>14}{extra}", flush=True)

    floor = _floor(side, model_dir, workroot / "serving-model" / "probe.json", timing)
    put("serving_floor", floor["one_s"], "s", floor)
    for variant in VARIANTS[side]:
        print(f"  {variant.key}: {' '.join(variant.command(model_dir, 0)[1:])}", flush=True)
        with _serving(variant, model_dir, work) as (port, ready_s, cpu_s):
            put(f"{variant.key}_ready", ready_s, "s", {"port": port, "cpu_s": cpu_s})
            if cpu_s is not None:
                print(f"    {'  server CPU until ready':<26} {cpu_s * 1000:>11.0f} ms", flush=True)
            _check_answers(port, probe, side)
            for clients in CONCURRENCY:
                point = _load_point(port, small, clients, timing)
                put(f"{variant.key}_c{clients}", point["rps"], "req/s", point)
                if clients == 1:
                    overhead = point["p50_s"] - floor["one_s"]
                    put(f"{variant.key}_overhead", overhead, "s", {"floor_s": floor["one_s"]})
                put(f"{variant.key}_p99_c{clients}", point["p99_s"], "s", point)
            point = _load_point(port, big, 1, timing)
            put(f"{variant.key}_rows100", point["rps"] * BIG_ROWS, "rows/s", point)
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["loadgen"]:
        parser = argparse.ArgumentParser(prog="serving.py loadgen")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--bodies", required=True)
        parser.add_argument("--clients", type=int, default=1)
        parser.add_argument("--warmup", type=float, default=2.0)
        parser.add_argument("--duration", type=float, default=10.0)
        print(json.dumps(loadgen(parser.parse_args(argv[1:]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up and 3 s per point")
    parser.add_argument("--side", choices=("both", "mlflow", "modelyard"), default="both")
    parser.add_argument("--workdir", default=None, help="where the model and logs go")
    args = parser.parse_args(argv)
    import tempfile

    import report

    workroot = Path(args.workdir or tempfile.mkdtemp(prefix="modelyard-bench-serving-"))
    sides: dict[str, dict[str, Any]] = {}
    for side in ("mlflow", "modelyard"):
        if args.side in ("both", side):
            print(f"\n== {side} (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
            sides[side] = measure(side, workroot, args.quick)
    import workload

    sizes = workload.QUICK if args.quick else workload.FULL
    rows = [r for r in report.evaluate(sides, sizes) if r["key"].startswith("serving")]
    print("\n" + report.markdown_table(rows))
    print(f"\nload average after: {os.getloadavg()[0]:.1f}; files in {workroot}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
