"""The tracking service: MLflow's run semantics on top of any :class:`TrackingStore`.

Both the REST server and the in-process client call this class, so validation, defaults, limits and
lifecycle rules hold the same way for both. It never imports a framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelyard.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    ModelOutput,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.errors import InvalidInput, InvalidState
from modelyard.service import validation as v
from modelyard.service.run_names import generate_run_name
from modelyard.store.base import MetricPoint, RunRecord, TrackingStore

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
DATASET_CONTEXT_TAG = "mlflow.data.context"


def now_ms() -> int:
    return int(time.time() * 1000)


#: the column chooser's limits: keys of each kind, experiments at a time
MAX_RUN_KEYS = 2000
MAX_RUN_KEYS_EXPERIMENTS = 100


@dataclass(frozen=True, slots=True)
class GcResult:
    runs: list[str]
    experiments: list[str]


class TrackingService:
    """Experiments, runs and their data, validated. Holds a store; holds no other state."""

    def __init__(
        self,
        store: TrackingStore,
        *,
        truncate_long_values: bool = True,
        run_outputs: Callable[[Sequence[str]], dict[str, list[ModelOutput]]] | None = None,
    ) -> None:
        self.store = store
        self.truncate_long_values = truncate_long_values
        self._run_outputs = run_outputs

    def get_run_outputs(self, run_id: str) -> list[ModelOutput]:
        """The logged models the run produced (MLflow 3's ``outputs.model_outputs``), by step."""
        if self._run_outputs is None:
            return []
        return self._run_outputs([run_id]).get(run_id, [])

    # ---------------------------------------------------------------- experiments
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        v.validate_experiment_name(name)
        for tag in tags:
            self._validate_experiment_tag(tag)
        artifact_location = v.validate_artifact_location(artifact_location)
        return self.store.create_experiment(name, artifact_location, tuple(tags))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(v.validate_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str) or not name:
            raise InvalidInput("Missing value for required parameter 'experiment_name'.")
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        v.validate_max_results(max_results, v.MAX_EXPERIMENTS_SEARCH_RESULTS)
        return self.store.search_experiments(
            ViewType(view_type),
            max_results,
            filter_string or None,
            tuple(order_by),
            page_token or None,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        experiment_id = v.validate_experiment_id(experiment_id)
        if experiment_id == "0":
            raise InvalidInput(
                "Cannot delete the default experiment '0'. This is an internally reserved experiment."
            )
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(v.validate_experiment_id(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        experiment_id = v.validate_experiment_id(experiment_id)
        v.validate_experiment_name(new_name)
        experiment = self.store.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"Cannot rename a non-active experiment {experiment_id}.",
                experiment_id=experiment_id,
            )
        self.store.rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        experiment_id = v.validate_experiment_id(experiment_id)
        tag = self._validate_experiment_tag(ExperimentTag(key, value))
        experiment = self.store.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {experiment.lifecycle_stage}.",
                experiment_id=experiment_id,
            )
        self.store.set_experiment_tag(experiment_id, tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment_id = v.validate_experiment_id(experiment_id)
        v.validate_key(key, "tag")
        self.store.delete_experiment_tag(experiment_id, key)

    def _validate_experiment_tag(self, tag: ExperimentTag) -> ExperimentTag:
        v.validate_key(tag.key, "tag")
        if not isinstance(tag.value, str):
            raise InvalidInput(
                f"Invalid value for experiment tag '{tag.key}': a string is required."
            )
        if len(tag.value) > v.MAX_EXPERIMENT_TAG_VALUE_LENGTH:
            raise InvalidInput(
                f"Experiment tag '{tag.key}' has a value longer than "
                f"{v.MAX_EXPERIMENT_TAG_VALUE_LENGTH} characters."
            )
        return tag

    # ---------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str | None = None,
        user_id: str | None = None,
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
    ) -> Run:
        experiment_id = v.validate_experiment_id(
            experiment_id if experiment_id not in (None, "") else "0"
        )
        tags = [v.validate_tag(t, self.truncate_long_values) for t in tags]
        tag_map = {t.key: t.value for t in tags}
        name_tag = tag_map.get(RUN_NAME_TAG)
        if run_name and name_tag and run_name != name_tag:
            raise InvalidInput(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
            )
        run_name = run_name or name_tag or generate_run_name()
        if len(run_name) > v.MAX_RUN_NAME_LENGTH:
            raise InvalidInput(
                f"Run name exceeds the maximum length of {v.MAX_RUN_NAME_LENGTH} characters."
            )
        if name_tag is None:
            tags.append(RunTag(RUN_NAME_TAG, run_name))
        if user_id is None or user_id == "":
            user_id = tag_map.get(USER_TAG) or "unknown"
        if start_time is None:
            start_time = now_ms()
        elif isinstance(start_time, bool) or not isinstance(start_time, int) or start_time < 0:
            raise InvalidInput(f"Invalid value {start_time!r} for parameter 'start_time' supplied.")
        experiment = self.store.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {experiment.lifecycle_stage}.",
                experiment_id=experiment_id,
            )
        return self.store.create_run(experiment_id, user_id, start_time, run_name, tags)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(v.validate_run_id(run_id))

    def update_run_info(
        self,
        run_id: str,
        status: str | RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        run_id = v.validate_run_id(run_id)
        if status is not None:
            try:
                status = RunStatus(status).value
            except ValueError:
                raise InvalidInput(
                    f"Invalid value {status!r} for parameter 'status' supplied."
                ) from None
        if end_time is not None and (isinstance(end_time, bool) or not isinstance(end_time, int)):
            raise InvalidInput(f"Invalid value {end_time!r} for parameter 'end_time' supplied.")
        if run_name is not None:
            if not isinstance(run_name, str):
                raise InvalidInput(f"Invalid value {run_name!r} for parameter 'run_name' supplied.")
            if len(run_name) > v.MAX_RUN_NAME_LENGTH:
                raise InvalidInput(
                    f"Run name exceeds the maximum length of {v.MAX_RUN_NAME_LENGTH} characters."
                )
            run_name = run_name or None
        self._check_active_run(run_id)
        return self.store.update_run_info(run_id, status, end_time, run_name)

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(v.validate_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(v.validate_run_id(run_id))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> PagedList[Run]:
        ids = [v.validate_experiment_id(e) for e in experiment_ids]
        v.validate_max_results(max_results, v.MAX_RUNS_SEARCH_RESULTS)
        return self.store.search_runs(
            ids,
            filter_string or None,
            ViewType(run_view_type),
            max_results,
            tuple(order_by),
            page_token or None,
        )

    def search_run_records(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> PagedList[RunRecord]:
        """:meth:`search_runs` as plain :class:`RunRecord` s, for responses of many runs."""
        ids = [v.validate_experiment_id(e) for e in experiment_ids]
        v.validate_max_results(max_results, v.MAX_RUNS_SEARCH_RESULTS)
        return self.store.search_run_records(
            ids,
            filter_string or None,
            ViewType(run_view_type),
            max_results,
            tuple(order_by),
            page_token or None,
        )

    # ---------------------------------------------------------------- run data
    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=(metric,))

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=(param,))

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=(tag,))

    def delete_tag(self, run_id: str, key: str) -> None:
        run_id = v.validate_run_id(run_id)
        v.validate_key(key, "tag")
        self._check_active_run(run_id)
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        run_id = v.validate_run_id(run_id)
        v.validate_batch_limits(metrics, params, tags)
        metrics = [v.validate_metric(m) for m in metrics]
        params = [v.validate_param(p, self.truncate_long_values) for p in params]
        tags = [v.validate_tag(t, self.truncate_long_values) for t in tags]
        if not (metrics or params or tags):
            self._check_active_run(run_id)
            return
        # The store checks that the run exists and is active in the same transaction as the write.
        self.store.log_batch(run_id, metrics, params, tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        run_id = v.validate_run_id(run_id)
        for item in datasets:
            self._validate_dataset_input(item)
        self._check_active_run(run_id)
        if datasets:
            self.store.log_inputs(run_id, list(datasets))

    def _validate_dataset_input(self, item: DatasetInput) -> None:
        ds = item.dataset
        for field, value, limit in (
            ("name", ds.name, v.MAX_DATASET_NAME_LENGTH),
            ("digest", ds.digest, v.MAX_DATASET_DIGEST_LENGTH),
            ("source_type", ds.source_type, v.MAX_DATASET_DIGEST_LENGTH),
            ("source", ds.source, v.MAX_DATASET_SOURCE_LENGTH),
        ):
            if not isinstance(value, str) or value == "":
                raise InvalidInput(f"Missing value for required parameter 'dataset.{field}'.")
            if len(value) > limit:
                raise InvalidInput(
                    f"Dataset {field} exceeds the maximum length of {limit} characters."
                )
        if ds.schema is not None and len(ds.schema) > v.MAX_DATASET_SCHEMA_LENGTH:
            raise InvalidInput("Dataset schema exceeds the maximum size of 1 MiB.")
        if ds.profile is not None and len(ds.profile) > v.MAX_DATASET_PROFILE_LENGTH:
            raise InvalidInput("Dataset profile exceeds the maximum size of 16 MiB.")
        for tag in item.tags:
            if (
                not isinstance(tag.key, str)
                or not tag.key
                or len(tag.key) > v.MAX_INPUT_TAG_KEY_LENGTH
            ):
                raise InvalidInput(
                    f"Input tag key must be a non-empty string of at most {v.MAX_INPUT_TAG_KEY_LENGTH} characters."
                )
            if not isinstance(tag.value, str) or len(tag.value) > v.MAX_INPUT_TAG_VALUE_LENGTH:
                raise InvalidInput(
                    f"Input tag value must be a string of at most {v.MAX_INPUT_TAG_VALUE_LENGTH} characters."
                )

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        run_id = self._check_history_request(run_id, metric_key, max_results)
        return self.store.get_metric_history(run_id, metric_key, max_results, page_token or None)

    def get_metric_points(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[MetricPoint]:
        """:meth:`get_metric_history` as plain ``(value, timestamp, step)`` points, for long ones."""
        run_id = self._check_history_request(run_id, metric_key, max_results)
        return self.store.get_metric_points(run_id, metric_key, max_results, page_token or None)

    def _check_history_request(self, run_id: str, metric_key: str, max_results: int | None) -> str:
        run_id = v.validate_run_id(run_id)
        if not isinstance(metric_key, str) or not metric_key:
            raise InvalidInput("Missing value for required parameter 'metric_key'.")
        if max_results is not None:
            v.validate_max_results(max_results, 10**9)
        self.store.get_run_info(run_id)  # 404 for an unknown run
        return run_id

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        metric_key: str,
        start_step: int | None = None,
        end_step: int | None = None,
        max_results: int = v.MAX_BULK_INTERVAL_RESULTS,
    ) -> list[Metric]:
        if not run_ids:
            raise InvalidInput("Missing value for required parameter 'run_ids'.")
        if len(run_ids) > v.MAX_BULK_HISTORY_RUNS:
            raise InvalidInput(
                f"GetMetricHistoryBulkInterval request must specify at most {v.MAX_BULK_HISTORY_RUNS} run_ids."
            )
        ids = [v.validate_run_id(r) for r in run_ids]
        if not isinstance(metric_key, str) or not metric_key:
            raise InvalidInput("Missing value for required parameter 'metric_key'.")
        if (start_step is None) != (end_step is None):
            raise InvalidInput(
                "If either start step or end step are specified, both must be specified."
            )
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidInput("end_step must be greater than or equal to start_step.")
        v.validate_max_results(max_results, v.MAX_BULK_INTERVAL_RESULTS)
        return self.store.get_metric_history_bulk_interval(
            ids, metric_key, start_step, end_step, max_results
        )

    def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        return self.store.search_datasets([v.validate_experiment_id(e) for e in experiment_ids])

    def run_keys(
        self, experiment_ids: Sequence[str], max_keys: int = MAX_RUN_KEYS
    ) -> dict[str, list[str]]:
        """Every param, metric and tag key used by a run of these experiments (for the UI's column
        chooser), sorted, at most ``max_keys`` of each kind."""
        if not experiment_ids:
            raise InvalidInput("Missing value for required parameter 'experiment_ids'.")
        if len(experiment_ids) > MAX_RUN_KEYS_EXPERIMENTS:
            raise InvalidInput(
                f"At most {MAX_RUN_KEYS_EXPERIMENTS} experiments at a time, "
                f"got {len(experiment_ids)}."
            )
        if (
            isinstance(max_keys, bool)
            or not isinstance(max_keys, int)
            or not 1 <= max_keys <= MAX_RUN_KEYS
        ):
            raise InvalidInput(
                f"Invalid value {max_keys!r} for parameter 'max_keys': 1 to {MAX_RUN_KEYS}."
            )
        ids = [v.validate_experiment_id(e) for e in experiment_ids]
        for experiment_id in ids:
            self.store.get_experiment(experiment_id)  # 404 for an unknown experiment
        return self.store.run_keys(ids, max_keys)

    # ---------------------------------------------------------------- maintenance
    def gc(
        self,
        older_than_ms: int | None = None,
        run_ids: Sequence[str] = (),
        experiment_ids: Sequence[str] = (),
    ) -> GcResult:
        """Hard-delete runs and experiments already in the ``deleted`` stage.

        With ``run_ids`` or ``experiment_ids``, only those (each must be deleted); otherwise every
        deleted one, or those deleted more than ``older_than_ms`` ago.
        """
        if run_ids or experiment_ids:
            runs_to_delete = [v.validate_run_id(r) for r in run_ids]
            for run_id in runs_to_delete:
                if self.store.get_run_info(run_id).lifecycle_stage != LifecycleStage.DELETED.value:
                    raise InvalidState(
                        f"Run {run_id} is not in the deleted lifecycle stage.", run_id=run_id
                    )
            exps_to_delete = [v.validate_experiment_id(e) for e in experiment_ids]
            for exp_id in exps_to_delete:
                if (
                    self.store.get_experiment(exp_id).lifecycle_stage
                    != LifecycleStage.DELETED.value
                ):
                    raise InvalidState(
                        f"Experiment {exp_id} is not in the deleted lifecycle stage.",
                        experiment_id=exp_id,
                    )
        else:
            runs_to_delete = self.store.deleted_run_ids(older_than_ms)
            exps_to_delete = self.store.deleted_experiment_ids(older_than_ms)
        self.store.hard_delete_runs(runs_to_delete)
        self.store.hard_delete_experiments(exps_to_delete)
        return GcResult(runs=list(runs_to_delete), experiments=list(exps_to_delete))

    # ---------------------------------------------------------------- helpers
    def _check_active_run(self, run_id: str) -> RunInfo:
        info = self.store.get_run_info(run_id)
        if info.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"The run {run_id} must be in the 'active' state. Current state is {info.lifecycle_stage}.",
                run_id=run_id,
            )
        return info
