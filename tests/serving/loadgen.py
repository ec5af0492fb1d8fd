"""A small asyncio load generator for the scoring server: N clients, keep-alive, fixed body.

    python tests/serving/loadgen.py http://127.0.0.1:5001 --clients 8 --rows 1 --seconds 10

Each client sends ``POST /invocations`` with a ``dataframe_split`` body of ``--rows`` rows of
``--features`` doubles, one request after the other on its own connection. Prints requests/s,
rows/s and latency percentiles. Also imported by the batching test to send concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    rows: int
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self, label: str) -> str:
        return (
            f"{label}: {self.rps:8.1f} req/s {self.rps * self.rows:9.0f} rows/s  "
            f"p50 {self.percentile(0.5) * 1000:6.1f} ms  p99 {self.percentile(0.99) * 1000:6.1f} ms"
            f"  errors {self.errors}"
        )


def body(rows: int, features: int) -> bytes:
    columns = [f"f{i}" for i in range(features)]
    data = [[((r * 7 + c) % 13) / 6.5 - 1.0 for c in range(features)] for r in range(rows)]
    return json.dumps({"dataframe_split": {"columns": columns, "data": data}}).encode()


async def run(
    url: str, *, clients: int, payload: bytes, rows: int, seconds: float, warmup_s: float = 1.0
) -> Result:
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    headers = {"Content-Type": "application/json"}
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop = measure_from + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            async with session.post(f"{url}/invocations", data=payload, headers=headers) as r:
                await r.read()
                ok = r.status == 200
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                counts["ok" if ok else "errors"] += 1

    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return Result(counts["ok"], counts["errors"], seconds, rows, latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    payload = body(args.rows, args.features)
    for n in args.clients:
        result = asyncio.run(
            run(args.url, clients=n, payload=payload, rows=args.rows, seconds=args.seconds)
        )
        print(result.line(f"{n:3d} clients, {args.rows} rows"), flush=True)


if __name__ == "__main__":
    main()
