"""Metric histories for charts: validated, bucketed reads that keep spikes (min and max per bucket).

The UI's charts call this instead of reading whole histories: a run with 100,000 steps comes back as
at most ``buckets`` rows (the SQL store computes them in ``modelyard.store.sql.history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from modelyard.entities import HistoryBucket
from modelyard.errors import InvalidInput
from modelyard.service import validation as v

MAX_CHART_BUCKETS = 5000
MAX_CHART_RUNS = 100


class HistoryStore(Protocol):
    def get_metric_history_buckets(
        self, run_id: str, key: str, buckets: int
    ) -> tuple[int, list[HistoryBucket]]: ...


class RunLookup(Protocol):
    def get_run_info(self, run_id: str) -> object: ...


class ChartService:
    """Bucketed metric histories of one or several runs."""

    def __init__(self, history: HistoryStore, runs: RunLookup) -> None:
        self.history = history
        self.runs = runs

    def metric_buckets(
        self, run_ids: Sequence[str], key: str, buckets: int = 1000
    ) -> dict[str, tuple[int, list[HistoryBucket]]]:
        """For each run: the number of points and the buckets (raw points when few enough)."""
        if not run_ids:
            raise InvalidInput("Missing value for required parameter 'run_id'.")
        if len(run_ids) > MAX_CHART_RUNS:
            raise InvalidInput(f"A chart may show at most {MAX_CHART_RUNS} runs.")
        if not isinstance(key, str) or not key:
            raise InvalidInput("Missing value for required parameter 'metric_key'.")
        if (
            isinstance(buckets, bool)
            or not isinstance(buckets, int)
            or not 1 <= buckets <= MAX_CHART_BUCKETS
        ):
            raise InvalidInput(
                f"Invalid value {buckets!r} for parameter 'buckets': an integer between 1 and "
                f"{MAX_CHART_BUCKETS} is required."
            )
        out: dict[str, tuple[int, list[HistoryBucket]]] = {}
        for run_id in dict.fromkeys(run_ids):
            run_id = v.validate_run_id(run_id)
            self.runs.get_run_info(run_id)  # 404 for an unknown run
            out[run_id] = self.history.get_metric_history_buckets(run_id, key, buckets)
        return out
