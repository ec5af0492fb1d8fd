"""Fluent-client workload, run by each side's own Python (only the standard library and the client).

    python fluent_client.py {mlflow|modelyard} TRACKING_URI EXPERIMENT_ID CALLS

Starts a run, calls ``log_metric("loss", value, step=i)`` CALLS times, ends the run, and prints one
JSON line: the run id and the seconds spent in ``start_run``, the logging loop and ``end_run``. The
import of the client is not timed here (the harness times imports on their own). For MLflow, whether
logging is synchronous or asynchronous is set by the harness through MLFLOW_ENABLE_ASYNC_LOGGING.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


def main() -> None:
    name, uri, experiment_id, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = importlib.import_module(name)
    client.set_tracking_uri(uri)
    t0 = time.perf_counter()
    run = client.start_run(experiment_id=experiment_id)
    run_id = run.info.run_id
    t1 = time.perf_counter()
    for step in range(calls):
        client.log_metric("loss", 1.0 / (step + 1), step=step)
    t2 = time.perf_counter()
    client.end_run()
    t3 = time.perf_counter()
    result = {"run_id": run_id, "start_s": t1 - t0, "log_s": t2 - t1, "end_s": t3 - t2}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
