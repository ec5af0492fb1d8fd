"""The REST workload, run the same way against either server.

Every scenario is a function ``(port, sizes) -> Measurement``. Each loop is bounded by a count and by
a time budget; a write scenario reads back what it wrote and fails when the server stored fewer points
than it acknowledged, and a read scenario checks the rows it got against the data it generated, so a
server that silently returns fewer rows cannot look fast.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from rest import Rest, count_runs, create_experiment, create_run, history_len, now_ms

SEED = 20240611
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p1 = '3'"
SEARCH_ORDER = "metrics.m0 DESC"


@dataclass(frozen=True)
class Sizes:
    create_runs: int = 300
    batches: int = 30  # log-batch requests of 1000 metrics
    threads: int = 8
    calls_per_thread: int = 100
    keepalive_calls: int = 200
    fresh_calls: int = 300
    search_runs: int = 10_000  # a tenth match the filter; a tenth come back when ordered
    populate_threads: int = 8
    history_steps: int = 100_000
    repeats: int = 5  # searches and the history fetch: the median of this many calls
    fluent_calls: int = 10_000
    mlflow_sync_calls: int = (
        500  # MLflow's synchronous client is measured on this many, then scaled
    )
    import_repeats: int = 5
    budget_s: float = 120.0  # time budget of one timed loop
    populate_budget_s: float = 1800.0

    def scaled(self, factor: float) -> Sizes:
        def n(value: int, least: int) -> int:
            return max(least, round(value * factor))

        return replace(
            self,
            create_runs=n(self.create_runs, 5),
            batches=n(self.batches, 2),
            calls_per_thread=n(self.calls_per_thread, 3),
            keepalive_calls=n(self.keepalive_calls, 5),
            fresh_calls=n(self.fresh_calls, 5),
            search_runs=max(100, round(self.search_runs * factor / 100) * 100),
            history_steps=max(1000, round(self.history_steps * factor / 1000) * 1000),
            fluent_calls=n(self.fluent_calls, 50),
            mlflow_sync_calls=n(self.mlflow_sync_calls, 20),
        )


FULL = Sizes()
QUICK = replace(
    FULL.scaled(0.05), repeats=2, import_repeats=2, budget_s=30.0, populate_budget_s=300.0
)


@dataclass
class Measurement:
    value: float
    unit: str
    detail: dict[str, Any] = field(default_factory=dict)


class WorkloadError(RuntimeError):
    """A scenario did not finish its work or the server returned the wrong rows."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise WorkloadError(message)


def _deadline(budget_s: float) -> float:
    return time.perf_counter() + budget_s


def _metric(key: str, value: float, step: int, ts: int) -> dict[str, Any]:
    return {"key": key, "value": value, "timestamp": ts, "step": step}


# --- warm-up ------------------------------------------------------------------------------------


def warm_up(port: int, *, threads: int = 8, rounds: int = 4) -> float:
    """Touch every endpoint from many fresh connections so each worker has loaded its code.

    Both servers import lazily in their workers, so the first request a worker serves is slow;
    the timed scenarios measure steady state. Returns the seconds it took.
    """
    with Rest(port) as rest:
        exp = create_experiment(rest, "bench-warm-up")
        run_id = create_run(rest, exp, "warm-up", [{"key": "t", "value": "v"}])
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for r in range(rounds):
                with Rest(port, fresh=True) as client:
                    step = index * rounds + r
                    ts = now_ms()
                    client.get("experiments/get", experiment_id=exp)
                    client.post(
                        "runs/log-metric", {"run_id": run_id, **_metric("w", 1.0, step, ts)}
                    )
                    client.post(
                        "runs/log-batch",
                        {
                            "run_id": run_id,
                            "params": [{"key": f"p{step}", "value": "1"}],
                            "metrics": [_metric("b", 0.5, step, ts)],
                        },
                    )
                    client.post(
                        "runs/search",
                        {"experiment_ids": [exp], "filter": "metrics.w > 0", "max_results": 10},
                    )
                    client.get("metrics/get-history", run_id=run_id, metric_key="w")
                    client.get("runs/get", run_id=run_id)
        except BaseException as exc:
            errors.append(exc)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=300)
    _check(not errors, f"warm-up failed: {errors[:1]}")
    return time.perf_counter() - started


# --- writes -------------------------------------------------------------------------------------


def create_runs(port: int, sizes: Sizes) -> Measurement:
    """runs/create (3 tags) + runs/log-batch (10 params, 5 metrics) per run, one kept-alive client."""
    with Rest(port) as rest:
        exp = create_experiment(rest, "bench-create-runs")
        rest.connect()
        done, deadline = 0, _deadline(sizes.budget_s)
        started = time.perf_counter()
        while done < sizes.create_runs and time.perf_counter() < deadline:
            tags = [{"key": f"t{j}", "value": f"tag-{done}-{j}"} for j in range(3)]
            run_id = create_run(rest, exp, f"run-{done}", tags)
            ts = now_ms()
            body = {
                "run_id": run_id,
                "params": [{"key": f"p{j}", "value": str(done * j)} for j in range(10)],
                "metrics": [_metric(f"m{j}", done / (j + 1), 0, ts) for j in range(5)],
            }
            rest.post("runs/log-batch", body)
            done += 1
        elapsed = time.perf_counter() - started
        stored = count_runs(rest, exp)
    _check(stored == done, f"created {done} runs but the server lists {stored}")
    return Measurement(done / elapsed, "runs/s", {"runs": done, "elapsed_s": elapsed})


def log_batch(port: int, sizes: Sizes) -> Measurement:
    """log-batch requests of 1000 metrics each (10 keys x 100 steps) into one run."""
    with Rest(port) as rest:
        exp = create_experiment(rest, "bench-log-batch")
        run_id = create_run(rest, exp, "ingest", [])
        rest.connect()
        done, deadline = 0, _deadline(sizes.budget_s)
        started = time.perf_counter()
        while done < sizes.batches and time.perf_counter() < deadline:
            ts = now_ms()
            metrics = [
                _metric(f"k{k}", math.sin(done * 100 + s), done * 100 + s, ts)
                for k in range(10)
                for s in range(100)
            ]
            rest.post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
            done += 1
        elapsed = time.perf_counter() - started
        stored = [history_len(rest, run_id, f"k{k}") for k in (0, 9)]
    _check(stored == [done * 100] * 2, f"sent {done * 100} points per key, stored {stored}")
    points = done * 1000
    return Measurement(points / elapsed, "points/s", {"points": points, "elapsed_s": elapsed})


def concurrent_log_metric(port: int, sizes: Sizes) -> Measurement:
    """``threads`` clients, each on its own kept-alive connection and run, calling log-metric."""
    with Rest(port) as rest:
        exp = create_experiment(rest, "bench-concurrent")
        run_ids = [create_run(rest, exp, f"writer-{i}", []) for i in range(sizes.threads)]
    counts = [0] * sizes.threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(sizes.threads + 1)
    deadline_box: list[float] = []

    def writer(index: int) -> None:
        with Rest(port) as client:
            client.connect()
            barrier.wait()
            try:
                for step in range(sizes.calls_per_thread):
                    if time.perf_counter() > deadline_box[0]:
                        break
                    body = {"run_id": run_ids[index], "key": "c", "value": step * 0.5}
                    client.post("runs/log-metric", {**body, "timestamp": now_ms(), "step": step})
                    counts[index] += 1
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(i,), daemon=True) for i in range(sizes.threads)
    ]
    for thread in threads:
        thread.start()
    deadline_box.append(_deadline(sizes.budget_s))
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=sizes.budget_s + 120)
    elapsed = time.perf_counter() - started
    _check(not errors, f"writer failed: {errors[:1]}")
    _check(not any(t.is_alive() for t in threads), "a writer thread did not finish")
    with Rest(port) as rest:
        stored = [history_len(rest, run_id, "c") for run_id in run_ids]
    _check(stored == counts, f"writers got {counts} acknowledged, server stored {stored}")
    points = sum(counts)
    detail = {"points": points, "threads": sizes.threads, "elapsed_s": elapsed}
    return Measurement(points / elapsed, "points/s", detail)


def _single_log_metric(port: int, calls: int, budget_s: float, *, fresh: bool) -> Measurement:
    with Rest(port) as rest:
        exp = create_experiment(rest, f"bench-single-{'fresh' if fresh else 'keepalive'}")
        run_id = create_run(rest, exp, "single", [])
    latencies: list[float] = []
    with Rest(port, fresh=fresh) as rest:
        if not fresh:
            rest.connect()
        deadline = _deadline(budget_s)
        started = time.perf_counter()
        for step in range(calls):
            if time.perf_counter() > deadline:
                break
            before = time.perf_counter()
            body = {"run_id": run_id, "key": "k", "value": 1.0 / (step + 1), "step": step}
            rest.post("runs/log-metric", {**body, "timestamp": now_ms()})
            latencies.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - started
    with Rest(port) as rest:
        stored = history_len(rest, run_id, "k")
    _check(stored == len(latencies), f"sent {len(latencies)} points, server stored {stored}")
    latencies.sort()
    detail = {
        "calls": len(latencies),
        "elapsed_s": elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }
    return Measurement(len(latencies) / elapsed, "calls/s", detail)


def log_metric_keepalive(port: int, sizes: Sizes) -> Measurement:
    return _single_log_metric(port, sizes.keepalive_calls, sizes.budget_s, fresh=False)


def log_metric_fresh(port: int, sizes: Sizes) -> Measurement:
    return _single_log_metric(port, sizes.fresh_calls, sizes.budget_s, fresh=True)


# --- search over many runs ----------------------------------------------------------------------


def search_data(n: int) -> list[tuple[dict[str, str], dict[str, float]]]:
    """Params and metrics of run i. Exactly a tenth of the runs match SEARCH_FILTER."""
    rng = random.Random(SEED)
    rows = []
    for i in range(n):
        params = {f"p{j}": str((i * 7 + j) % 11) for j in range(10)}
        params["p1"] = str(i % 5)
        high = (i // 5) % 2 == 1
        metrics = {f"m{j}": rng.random() for j in range(5)}
        metrics["m0"] = 0.5001 + 0.4998 * rng.random() if high else 0.4999 * rng.random()
        rows.append((params, metrics))
    return rows


@dataclass
class SearchFixture:
    experiment_id: str
    rows: list[tuple[dict[str, str], dict[str, float]]]
    populate: Measurement


def populate(port: int, sizes: Sizes) -> SearchFixture:
    """Create ``search_runs`` runs (10 params, 5 metrics) from ``populate_threads`` clients."""
    rows = search_data(sizes.search_runs)
    with Rest(port) as rest:
        exp = create_experiment(rest, "bench-search")
    next_index = iter(range(len(rows)))
    lock = threading.Lock()
    errors: list[BaseException] = []
    deadline = _deadline(sizes.populate_budget_s)

    def worker() -> None:
        with Rest(port) as client:
            while not errors and time.perf_counter() < deadline:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                params, metrics = rows[i]
                try:
                    run_id = create_run(client, exp, f"s{i}", [])
                    ts = now_ms()
                    body = {
                        "run_id": run_id,
                        "params": [{"key": k, "value": v} for k, v in params.items()],
                        "metrics": [_metric(k, v, 0, ts) for k, v in metrics.items()],
                    }
                    client.post("runs/log-batch", body)
                except BaseException as exc:
                    errors.append(exc)
                    return

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sizes.populate_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=sizes.populate_budget_s + 120)
    elapsed = time.perf_counter() - started
    _check(not errors, f"populate failed: {errors[:1]}")
    _check(not any(t.is_alive() for t in threads), "a populate thread did not finish")
    with Rest(port) as rest:
        stored = count_runs(rest, exp, max_pages=sizes.search_runs // 1000 + 2)
    _check(stored == len(rows), f"populated {len(rows)} runs, the server lists {stored}")
    detail = {"runs": len(rows), "threads": sizes.populate_threads, "elapsed_s": elapsed}
    return SearchFixture(exp, rows, Measurement(len(rows) / elapsed, "runs/s", detail))


def _timed_repeats(sizes: Sizes, action: Callable[[], Any]) -> tuple[list[float], Any]:
    times, result = [], None
    deadline = _deadline(sizes.budget_s * sizes.repeats)
    for _ in range(sizes.repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    return times, result


def _m0_values(runs: list[dict[str, Any]]) -> list[float]:
    values = []
    for run in runs:
        metrics = {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}
        values.append(round(float(metrics["m0"]), 9))
    return values


def search_filter(port: int, fixture: SearchFixture, sizes: Sizes) -> Measurement:
    expected = sum(
        1 for params, metrics in fixture.rows if metrics["m0"] > 0.5 and params["p1"] == "3"
    )
    body = {
        "experiment_ids": [fixture.experiment_id],
        "filter": SEARCH_FILTER,
        "max_results": 2 * expected,  # room to see a server that matches too many
    }
    with Rest(port) as rest:
        times, page = _timed_repeats(sizes, lambda: rest.post("runs/search", body))
    runs = page.get("runs", [])
    _check(len(runs) == expected, f"filter matched {len(runs)} runs, expected {expected}")
    _check(all(v > 0.5 for v in _m0_values(runs)), "filter returned a run with m0 <= 0.5")
    detail = {"runs": len(runs), "of": len(fixture.rows), "times_s": times}
    return Measurement(statistics.median(times), "s", detail)


def search_order(port: int, fixture: SearchFixture, sizes: Sizes) -> Measurement:
    limit = len(fixture.rows) // 10
    body = {
        "experiment_ids": [fixture.experiment_id],
        "order_by": [SEARCH_ORDER],
        "max_results": limit,
    }
    with Rest(port) as rest:
        times, page = _timed_repeats(sizes, lambda: rest.post("runs/search", body))
    runs = page.get("runs", [])
    expected = sorted((round(m["m0"], 9) for _, m in fixture.rows), reverse=True)[:limit]
    _check(len(runs) == limit, f"ordered search returned {len(runs)} runs, expected {limit}")
    _check(_m0_values(runs) == expected, "ordered search returned the wrong runs or order")
    detail = {"runs": len(runs), "of": len(fixture.rows), "times_s": times}
    return Measurement(statistics.median(times), "s", detail)


# --- metric history -----------------------------------------------------------------------------


def metric_history(port: int, sizes: Sizes) -> dict[str, Measurement]:
    """Log ``history_steps`` steps of one key in 1000-point batches, then fetch the whole history."""
    steps = sizes.history_steps
    with Rest(port) as rest:
        exp = create_experiment(rest, "bench-history")
        run_id = create_run(rest, exp, "history", [])
        rest.connect()
        started = time.perf_counter()
        for start in range(0, steps, 1000):
            ts = now_ms()
            metrics = [
                _metric("loss", 1.0 / (s + 1), s, ts)
                for s in range(start, min(steps, start + 1000))
            ]
            rest.post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
        ingest_s = time.perf_counter() - started

        def fetch() -> Any:
            return rest.get("metrics/get-history", run_id=run_id, metric_key="loss")

        times, page = _timed_repeats(sizes, fetch)
    points = page.get("metrics", [])
    _check(len(points) == steps, f"history has {len(points)} points, expected {steps}")
    _check(len({p["step"] for p in points}) == steps, "history repeats steps and misses others")
    return {
        "history": Measurement(
            statistics.median(times), "s", {"points": len(points), "times_s": times}
        ),
        "history_ingest": Measurement(
            steps / ingest_s, "points/s", {"points": steps, "elapsed_s": ingest_s}
        ),
    }
