"""What a tracking store does, as a small ``typing.Protocol``.

The store persists already-validated entities; validation, defaults and limits live in
:mod:`modelyard.service.tracking`. The SQL implementation is :class:`modelyard.store.sql.SqlTrackingStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from modelyard.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    ExperimentTag,
    LoggedModel,
    LoggedModelParam,
    LoggedModelTag,
    Metric,
    ModelOutput,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)

#: A metric point of a history as plain data: ``(value, timestamp, step)``, NaN and ±inf as floats.
MetricPoint = tuple[float, int, int]


class RunRecord(NamedTuple):
    """A run as plain data, for the read paths that put many runs in one response.

    It holds what a :class:`~modelyard.entities.Run` holds, without an object per param, tag and
    metric: ``metrics`` are ``(run_id, key, value, timestamp, step)`` tuples of the latest values (NaN
    and ±inf as floats), ``params`` and ``tags`` are ``(run_id, key, value)`` tuples, each in key order.
    """

    info: RunInfo
    metrics: Sequence[tuple[str, str, float, int, int]]
    params: Sequence[tuple[str, str, str]]
    tags: Sequence[tuple[str, str, str]]
    inputs: Sequence[DatasetInput]


if TYPE_CHECKING:
    from modelyard.search import OrderKey


class TrackingStore(Protocol):
    # experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[ExperimentTag]
    ) -> str: ...
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Experiment]: ...
    def delete_experiment(self, experiment_id: str) -> None: ...
    def restore_experiment(self, experiment_id: str) -> None: ...
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None: ...
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str,
        tags: Sequence[RunTag],
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def get_run_info(self, run_id: str) -> RunInfo: ...
    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo: ...
    def delete_run(self, run_id: str) -> None: ...
    def restore_run(self, run_id: str) -> None: ...
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[Run]: ...
    def search_run_records(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> PagedList[RunRecord]:
        """:meth:`search_runs` as plain records: the same runs, order and page token."""
        ...

    # run data
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...
    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[Metric]: ...
    def get_metric_points(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> PagedList[MetricPoint]:
        """:meth:`get_metric_history` as plain ``(value, timestamp, step)`` points."""
        ...

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        key: str,
        start_step: int | None,
        end_step: int | None,
        max_results: int,
    ) -> list[Metric]: ...
    def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]: ...
    def run_keys(self, experiment_ids: Sequence[str], max_keys: int) -> dict[str, list[str]]:
        """Distinct ``params``, ``metrics`` and ``tags`` keys of the experiments' runs, sorted."""
        ...

    # maintenance
    def deleted_run_ids(self, older_than_ms: int | None) -> list[str]: ...
    def deleted_experiment_ids(self, older_than_ms: int | None) -> list[str]: ...
    def hard_delete_runs(self, run_ids: Sequence[str]) -> int: ...
    def hard_delete_experiments(self, experiment_ids: Sequence[str]) -> int: ...
    def close(self) -> None: ...


class LoggedModelStore(Protocol):
    """Logged models (MLflow 3). The SQL implementation is
    :class:`modelyard.store.sql.logged_models.SqlLoggedModelStore`."""

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        model_type: str | None,
        source_run_id: str | None,
        params: Sequence[LoggedModelParam],
        tags: Sequence[LoggedModelTag],
    ) -> LoggedModel: ...
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel: ...
    def finalize_logged_model(
        self, model_id: str, status: str, status_message: str | None = None
    ) -> LoggedModel: ...
    def delete_logged_model(self, model_id: str) -> None: ...
    def set_logged_model_tags(
        self, model_id: str, tags: Sequence[LoggedModelTag]
    ) -> LoggedModel: ...
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...
    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParam]
    ) -> None: ...
    def log_outputs(self, run_id: str, outputs: Sequence[ModelOutput]) -> None: ...
    def get_run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[ModelOutput]]: ...
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> PagedList[LoggedModel]: ...
