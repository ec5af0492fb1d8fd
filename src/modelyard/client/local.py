"""The in-process backend: a :class:`TrackingService` over the SQL store, no server in between.

Used when the tracking URI is a database URI. The store is opened on first use (SQLAlchemy is
imported then, not when the client is built), and creates its schema on an empty database. Writes
that meet a busy database (:class:`~modelyard.errors.TemporarilyUnavailable`) or a race
(:class:`~modelyard.errors.Conflict`) are retried with exponential backoff; the writes retried are
idempotent (a metric point is stored once, a param may be logged again with the same value, a tag
is overwritten).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from modelyard.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from modelyard.errors import Conflict, TemporarilyUnavailable

if TYPE_CHECKING:
    from modelyard.service.tracking import TrackingService
    from modelyard.settings import Settings

T = TypeVar("T")

_RETRYABLE = (TemporarilyUnavailable, Conflict)


class LocalBackend:
    """:class:`~modelyard.client.backend.TrackingBackend` over a database URI, in this process."""

    def __init__(
        self, uri: str, settings: Settings, *, service: TrackingService | None = None
    ) -> None:
        self.uri = uri
        self._settings = settings
        self._service = service
        self._owns_service = service is None
        self._lock = threading.Lock()
        self._max_retries = max(0, int(settings.http_max_retries))
        self._backoff_s = max(0.0, float(settings.http_backoff_s))

    @property
    def service(self) -> TrackingService:
        """The tracking service, opening the store on first use."""
        service = self._service
        if service is None:
            with self._lock:
                if self._service is None:
                    self._service = self._open()
                service = self._service
        return service

    def _open(self) -> TrackingService:
        from modelyard.service.tracking import TrackingService
        from modelyard.store.sql import open_tracking_store

        s = self._settings
        store = open_tracking_store(
            self.uri,
            pool_size=s.db_pool_size,
            sqlite_busy_timeout_ms=s.sqlite_busy_timeout_ms,
            default_artifact_root=s.default_artifact_root,
        )
        return TrackingService(store, truncate_long_values=s.truncate_long_values)

    def _retry(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except _RETRYABLE:
                if attempt >= self._max_retries:
                    raise
            time.sleep(self._backoff_s * (2**attempt))
            attempt += 1

    # ---------------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[ExperimentTag]
    ) -> str:
        return self.service.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.service.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.service.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Experiment]:
        return self.service.search_experiments(
            view_type, max_results, filter_string, order_by, page_token
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._retry(lambda: self.service.delete_experiment(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._retry(lambda: self.service.restore_experiment(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._retry(lambda: self.service.rename_experiment(experiment_id, new_name))

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._retry(lambda: self.service.set_experiment_tag(experiment_id, key, value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._retry(lambda: self.service.delete_experiment_tag(experiment_id, key))

    # ---------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str | None,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        return self.service.create_run(experiment_id, user_id, start_time, tags, run_name)

    def get_run(self, run_id: str) -> Run:
        return self.service.get_run(run_id)

    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        return self._retry(lambda: self.service.update_run_info(run_id, status, end_time, run_name))

    def delete_run(self, run_id: str) -> None:
        self._retry(lambda: self.service.delete_run(run_id))

    def restore_run(self, run_id: str) -> None:
        self._retry(lambda: self.service.restore_run(run_id))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Run]:
        return self.service.search_runs(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    # ---------------------------------------------------------------- run data
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        self._retry(lambda: self.service.log_batch(run_id, metrics, params, tags))

    def delete_tag(self, run_id: str, key: str) -> None:
        self._retry(lambda: self.service.delete_tag(run_id, key))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._retry(lambda: self.service.log_inputs(run_id, datasets))

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[Metric]:
        return self.service.get_metric_history(run_id, key, max_results, page_token)

    def close(self) -> None:
        """Close the store if this backend opened it (an injected service stays open)."""
        if not self._owns_service:
            return
        with self._lock:
            service, self._service = self._service, None
        if service is not None:
            service.store.close()
