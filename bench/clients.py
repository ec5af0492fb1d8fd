"""Scenarios that run in a side's own Python: the fluent client and the import time.

The fluent client runs ``fluent_client.py`` in a subprocess against that side's server, then the
harness reads the metric history back over REST and fails unless every point is stored.
"""

from __future__ import annotations

import json
import subprocess
import time

from rest import Rest, create_experiment, history_len
from servers import BENCH, Server, Side, side_env
from workload import Measurement, Sizes, WorkloadError

FLUENT_SCRIPT = BENCH / "fluent_client.py"
_IMPORT_PROBE = (
    "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
)


def _run_fluent(server: Server, calls: int, env: dict[str, str], label: str) -> dict[str, float]:
    with Rest(server.port) as rest:
        experiment_id = create_experiment(rest, f"bench-fluent-{label}")
    argv = [str(server.side.python), str(FLUENT_SCRIPT), server.side.name, server.url]
    argv += [experiment_id, str(calls)]
    timeout = 120 + calls * 0.2  # a generous bound: three times MLflow's slowest call
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=side_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise WorkloadError(f"fluent client ({label}) failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    with Rest(server.port) as rest:
        stored = history_len(rest, str(result["run_id"]), "loss")
    if stored != calls:
        raise WorkloadError(f"fluent client ({label}) logged {calls} points, server has {stored}")
    result["wall_s"] = wall
    return result


def fluent(server: Server, sizes: Sizes) -> dict[str, Measurement]:
    """End-to-end time of start_run, ``fluent_calls`` log_metric calls and end_run."""
    n = sizes.fluent_calls
    if server.side.name == "modelyard":
        r = _run_fluent(server, n, {}, "modelyard")
        total = r["start_s"] + r["log_s"] + r["end_s"]
        return {"fluent": Measurement(total, "s", {"calls": n, **r})}
    results = {}
    # Synchronous MLflow pays a round trip per call: measure fewer calls and scale the loop up.
    sync_calls = min(n, sizes.mlflow_sync_calls)
    r = _run_fluent(server, sync_calls, {"MLFLOW_ENABLE_ASYNC_LOGGING": "false"}, "mlflow-sync")
    total = r["start_s"] + r["log_s"] * (n / sync_calls) + r["end_s"]
    extrapolated = sync_calls < n
    detail = {"calls": n, "measured_calls": sync_calls, "extrapolated": extrapolated, **r}
    results["fluent_sync"] = Measurement(total, "s", detail)
    r = _run_fluent(server, n, {"MLFLOW_ENABLE_ASYNC_LOGGING": "true"}, "mlflow-async")
    total = r["start_s"] + r["log_s"] + r["end_s"]
    results["fluent_async"] = Measurement(total, "s", {"calls": n, **r})
    return results


def import_time(side: Side, sizes: Sizes) -> Measurement:
    """Best of ``import_repeats`` fresh interpreters timing ``import <client>``."""
    probe = _IMPORT_PROBE.format(module=side.name)
    times = []
    for _ in range(sizes.import_repeats):
        done = subprocess.run(
            [str(side.python), "-c", probe],
            env=side_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise WorkloadError(f"import {side.name} failed:\n{done.stderr[-2000:]}")
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return Measurement(min(times), "s", {"times_s": times})
