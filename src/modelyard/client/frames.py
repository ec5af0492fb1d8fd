"""Runs as a pandas DataFrame, with MLflow's column names. pandas is imported on first use.

Columns: ``run_id, experiment_id, status, artifact_uri, start_time, end_time`` (times as UTC
timestamps), then ``metrics.<key>`` (float, NaN where a run lacks it), ``params.<key>`` and
``tags.<key>`` (str, None where a run lacks it), each group sorted by key.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from modelyard.entities import Run

BASE_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def import_pandas() -> Any:
    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            "search_runs(output_format='pandas') needs pandas, which is not installed. Install it "
            "with: pip install 'modelyard[pandas]' (or pass output_format='list')."
        ) from None
    return pandas


def runs_to_frame(runs: Sequence[Run]) -> Any:
    """A DataFrame with one row per run."""
    pd = import_pandas()
    n = len(runs)
    nan = float("nan")
    metrics: dict[str, list[float]] = {}
    params: dict[str, list[str | None]] = {}
    tags: dict[str, list[str | None]] = {}
    for i, run in enumerate(runs):
        for m in run.data.metrics:
            column = metrics.get(m.key)
            if column is None:
                column = metrics[m.key] = [nan] * n
            column[i] = m.value
        for p in run.data.params:
            pcol = params.get(p.key)
            if pcol is None:
                pcol = params[p.key] = [None] * n
            pcol[i] = p.value
        for t in run.data.tags:
            tcol = tags.get(t.key)
            if tcol is None:
                tcol = tags[t.key] = [None] * n
            tcol[i] = t.value
    infos = [run.info for run in runs]
    data: dict[str, Any] = {
        "run_id": [i.run_id for i in infos],
        "experiment_id": [i.experiment_id for i in infos],
        "status": [i.status for i in infos],
        "artifact_uri": [i.artifact_uri for i in infos],
        "start_time": pd.to_datetime([i.start_time for i in infos], unit="ms", utc=True),
        "end_time": pd.to_datetime([i.end_time for i in infos], unit="ms", utc=True),
    }
    for key in sorted(metrics):
        data["metrics." + key] = pd.Series(metrics[key], dtype="float64")
    for key in sorted(params):
        data["params." + key] = pd.Series(params[key], dtype="object")
    for key in sorted(tags):
        data["tags." + key] = pd.Series(tags[key], dtype="object")
    return pd.DataFrame(data, columns=list(data))
