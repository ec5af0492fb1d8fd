"""``ModelyardClient``: every tracking operation, explicitly, with run and experiment ids.

The shape follows MLflow's ``MlflowClient`` (``create_run``, ``log_metric(run_id, ...)``,
``log_batch``, ``set_terminated``, ``search_runs`` returning a :class:`PagedList`), so code moves over
by changing the import. Differences that matter:

* ``log_metric``, ``log_param`` and ``set_tag`` validate cheaply, queue the value and return; a
  background thread sends batches (:mod:`modelyard.client.batching`). ``flush()`` and
  ``set_terminated`` wait for the queue and raise what could not be delivered. Pass
  ``synchronous=True`` for one call, or set ``MODELYARD_ASYNC_LOGGING=false`` for all of them.
* Reads of a run (``get_run``, ``search_runs``, ``get_metric_history``) and other writes to it wait
  for the values already queued by this client, so a client always reads its own writes in order.
* The same :mod:`modelyard.errors` classes are raised in-process and over HTTP.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.client.backend import TrackingBackend, open_backend
from modelyard.client.batching import BatchLogger, split_batch
from modelyard.client.context import USER, current_user
from modelyard.client.logged_models import LoggedModelsMixin
from modelyard.client.registry import RegistryMixin
from modelyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.errors import InvalidInput
from modelyard.service import validation as v
from modelyard.settings import Settings, load_settings

if TYPE_CHECKING:
    from types import TracebackType

    from modelyard.client.artifacts import RunArtifacts
    from modelyard.store.artifacts import FileInfo

log = logging.getLogger("modelyard.client")

_MAX_CACHED_KEYS = 10_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def now_ms() -> int:
    return int(time.time() * 1000)


def _tag_list(tags: Mapping[str, Any] | Iterable[RunTag] | None) -> list[RunTag]:
    if not tags:
        return []
    if isinstance(tags, Mapping):
        return [RunTag(str(k), "" if val is None else str(val)) for k, val in tags.items()]
    return list(tags)


def _int64(value: object, what: str, key: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(
            f"Got invalid {what} {value!r} for metric '{key}': an integer is required."
        )
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidInput(
            f"Got invalid {what} {value!r} for metric '{key}': an integer is required."
        ) from None
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise InvalidInput(
            f"Got invalid {what} {value!r} for metric '{key}': out of the int64 range."
        )
    return number


def metric_value(key: str, value: object) -> float:
    """``value`` as a float: ints, floats and numeric scalars (numpy, torch) are accepted."""
    if type(value) is float:
        return value
    if isinstance(value, (bool, str, bytes)) or not hasattr(type(value), "__float__"):
        raise InvalidInput(
            f"Got invalid value {value!r} for metric '{key}'. Please specify value as a valid "
            "double (64-bit floating point)"
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(
            f"Got invalid value {value!r} for metric '{key}'. Please specify value as a valid "
            "double (64-bit floating point)"
        ) from None


def to_dataset_input(
    dataset: Dataset | Mapping[str, Any],
    context: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> DatasetInput:
    """A :class:`DatasetInput` from a :class:`Dataset` (or a dict of its fields), a context and tags."""
    if isinstance(dataset, Mapping):
        unknown = set(dataset) - {"name", "digest", "source_type", "source", "schema", "profile"}
        if unknown:
            raise InvalidInput(f"Unknown dataset field(s): {', '.join(sorted(unknown))}.")
        try:
            dataset = Dataset(**dataset)
        except TypeError:
            raise InvalidInput(
                "A dataset needs 'name', 'digest', 'source_type' and 'source' (and may have "
                "'schema' and 'profile')."
            ) from None
    if not isinstance(dataset, Dataset):
        raise InvalidInput(
            f"Expected a modelyard Dataset or a dict of its fields, got {type(dataset).__name__}."
        )
    input_tags = [InputTag(str(k), str(val)) for k, val in (tags or {}).items()]
    if context is not None:
        input_tags = [t for t in input_tags if t.key != "mlflow.data.context"]
        input_tags.append(InputTag("mlflow.data.context", str(context)))
    return DatasetInput(dataset, tuple(input_tags))


class ModelyardClient(RegistryMixin, LoggedModelsMixin):
    """A client of one tracking backend (a database in-process, or a server over HTTP).

    ``tracking_uri`` defaults to ``MODELYARD_TRACKING_URI``, then ``MLFLOW_TRACKING_URI``, then
    ``sqlite:///modelyard.db``. ``transport`` (an httpx transport) is for tests and proxies.
    Use it as a context manager, or call :meth:`close`, to send what is queued and release the
    connection pool.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        settings: Settings | None = None,
        transport: Any = None,
        backend: TrackingBackend | None = None,
    ) -> None:
        self._settings = settings if settings is not None else load_settings()
        if backend is None:
            uri = tracking_uri if tracking_uri is not None else self._settings.tracking_uri
            backend = open_backend(uri, self._settings, transport=transport)
        self._backend = backend
        self._truncate = bool(self._settings.truncate_long_values)
        self._logger: BatchLogger | None = None
        if self._settings.async_logging:
            self._logger = self._new_logger()
        self._keys: set[str] = set()
        self._last_run_id: str | None = None
        self._run_artifacts: RunArtifacts | None = None

    def _new_logger(self) -> BatchLogger:
        return BatchLogger(
            self._backend.log_batch,
            flush_interval_s=self._settings.flush_interval_s,
            name=f"modelyard-logger[{self._backend.uri}]",
        )

    @property
    def tracking_uri(self) -> str:
        return self._backend.uri

    @property
    def backend(self) -> TrackingBackend:
        return self._backend

    def __repr__(self) -> str:
        return f"ModelyardClient({self.tracking_uri!r})"

    def __enter__(self) -> ModelyardClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # keep the exception in flight; report the delivery error with it
            try:
                self.close()
            except Exception as error:
                log.error("modelyard: logged data was not delivered: %s", error)
                if exc is not None and hasattr(exc, "add_note"):
                    exc.add_note(f"modelyard: logged data was not delivered: {error}")

    # ---------------------------------------------------------------- queue
    def flush(self) -> None:
        """Wait until everything logged so far is written; raise what could not be delivered."""
        if self._logger is not None:
            self._logger.flush()

    def _wait(self) -> None:
        if self._logger is not None:
            self._logger.wait()

    def close(self) -> None:
        """Flush (raising what could not be delivered), then release the backend."""
        try:
            if self._logger is not None:
                self._logger.close()
        finally:
            if self._run_artifacts is not None:
                self._run_artifacts.close()
            self._backend.close()

    # ---------------------------------------------------------------- experiments
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        exp_tags = [ExperimentTag(str(k), str(val)) for k, val in (tags or {}).items()]
        return self._backend.create_experiment(name, artifact_location, exp_tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._backend.get_experiment(v.validate_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment called ``name``, or ``None``."""
        if not isinstance(name, str) or not name:
            raise InvalidInput("Missing value for required parameter 'experiment_name'.")
        return self._backend.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self._backend.search_experiments(
            _view_type(view_type, "view_type"),
            max_results,
            filter_string,
            order_by or (),
            page_token,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._backend.delete_experiment(v.validate_experiment_id(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._backend.restore_experiment(v.validate_experiment_id(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._backend.rename_experiment(v.validate_experiment_id(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self._backend.set_experiment_tag(v.validate_experiment_id(experiment_id), key, str(value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._backend.delete_experiment_tag(v.validate_experiment_id(experiment_id), key)

    # ---------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str = "0",
        start_time: int | None = None,
        tags: Mapping[str, Any] | Iterable[RunTag] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Start a run (status RUNNING). Its ``user_id`` is the ``mlflow.user`` tag, else the login."""
        run_tags = _tag_list(tags)
        user = next((t.value for t in run_tags if t.key == USER), None) or current_user()
        return self._backend.create_run(
            v.validate_experiment_id(experiment_id), user, start_time, run_tags, run_name
        )

    def get_run(self, run_id: str) -> Run:
        self._wait()
        return self._backend.get_run(v.validate_run_id(run_id))

    def update_run(
        self, run_id: str, status: RunStatus | str | None = None, name: str | None = None
    ) -> RunInfo:
        self._wait()
        return self._backend.update_run_info(
            v.validate_run_id(run_id), _status(status) if status is not None else None, None, name
        )

    def set_terminated(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, end_time: int | None = None
    ) -> RunInfo:
        """End a run: send what is queued, set its status and end time, then raise what failed."""
        run_id = v.validate_run_id(run_id)
        status = _status(status)
        self._wait()
        info = self._backend.update_run_info(run_id, status, end_time or now_ms(), None)
        if self._logger is not None:
            self._logger.raise_errors()
        return info

    def delete_run(self, run_id: str) -> None:
        self._wait()
        self._backend.delete_run(v.validate_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        self._backend.restore_run(v.validate_run_id(run_id))

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs of ``experiment_ids`` matching ``filter_string``."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [str(experiment_ids)]
        ids = [v.validate_experiment_id(e) for e in experiment_ids]
        self._wait()
        return self._backend.search_runs(
            ids,
            filter_string or None,
            _view_type(run_view_type, "run_view_type"),
            max_results,
            order_by or (),
            page_token,
        )

    # ---------------------------------------------------------------- run data
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        *,
        synchronous: bool | None = None,
    ) -> None:
        """Log one metric point; queued unless ``synchronous``. ``timestamp`` defaults to now (ms)."""
        if run_id is not self._last_run_id:
            self._check_run_id(run_id)
        if type(key) is not str or key not in self._keys:
            self._check_key(key, "metric")
        if type(value) is not float:
            value = metric_value(key, value)
        timestamp = now_ms() if timestamp is None else _int64(timestamp, "timestamp", key)
        if timestamp < 0:
            raise InvalidInput(
                f"Got invalid timestamp {timestamp} for metric '{key}' (value={value}). "
                "Timestamp must be a non-negative long (64-bit integer)"
            )
        step = 0 if step is None else _int64(step, "step", key)
        logger = self._logger_for(synchronous)
        if logger is not None:
            logger.put_metric(run_id, key, value, timestamp, step)
        else:
            self._send_now(run_id, [Metric(key, value, timestamp, step)], (), ())

    def log_param(
        self, run_id: str, key: str, value: Any, *, synchronous: bool | None = None
    ) -> Any:
        """Log a param (a value, kept as a string, that cannot change); returns ``value``."""
        if run_id is not self._last_run_id:
            self._check_run_id(run_id)
        if type(key) is not str or key not in self._keys:
            self._check_key(key, "param")
        text = value if type(value) is str else str(value)
        if len(text) > v.MAX_PARAM_VALUE_LENGTH:
            text = v.validate_param(Param(key, text), self._truncate).value
        logger = self._logger_for(synchronous)
        if logger is not None:
            logger.put_param(run_id, key, text)
        else:
            self._send_now(run_id, (), [Param(key, text)], ())
        return value

    def set_tag(
        self, run_id: str, key: str, value: Any, *, synchronous: bool | None = None
    ) -> None:
        """Set a run tag (last value wins)."""
        if run_id is not self._last_run_id:
            self._check_run_id(run_id)
        if type(key) is not str or key not in self._keys:
            self._check_key(key, "tag")
        text = value if type(value) is str else ("" if value is None else str(value))
        if len(text) > v.MAX_TAG_VALUE_LENGTH:
            text = v.validate_tag(RunTag(key, text), self._truncate).value
        logger = self._logger_for(synchronous)
        if logger is not None:
            logger.put_tag(run_id, key, text)
        else:
            self._send_now(run_id, (), (), [RunTag(key, text)])

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        *,
        synchronous: bool | None = None,
    ) -> None:
        """Log many values at once; any size (split into requests within the server's limits)."""
        run_id = v.validate_run_id(run_id)
        metrics = [self._checked_metric(m) for m in metrics]
        params = [v.validate_param(p, self._truncate) for p in params]
        tags = [v.validate_tag(t, self._truncate) for t in tags]
        logger = self._logger_for(synchronous)
        if logger is not None:
            logger.put_entities(run_id, metrics, params, tags)
        else:
            self._send_now(run_id, metrics, params, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._wait()
        self._backend.delete_tag(v.validate_run_id(run_id), key)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record the datasets a run used (each with input tags such as ``mlflow.data.context``)."""
        self._wait()
        self._backend.log_inputs(v.validate_run_id(run_id), list(datasets))

    def log_input(
        self,
        run_id: str,
        dataset: Dataset | Mapping[str, Any],
        context: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.log_inputs(run_id, [to_dataset_input(dataset, context, tags)])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of metric ``key`` of a run, in step order."""
        run_id = v.validate_run_id(run_id)
        self._wait()
        points: list[Metric] = []
        token: str | None = None
        while True:
            page = self._backend.get_metric_history(run_id, key, None, token)
            points.extend(page.items)
            token = page.next_page_token
            if not token:
                return points

    # ---------------------------------------------------------------- artifacts
    @property
    def artifacts(self) -> RunArtifacts:
        """Where this client's runs keep their files (see :mod:`modelyard.client.artifacts`)."""
        if self._run_artifacts is None:
            from modelyard.client.artifacts import RunArtifacts

            self._run_artifacts = RunArtifacts(self)
        return self._run_artifacts

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Upload a local file to the run, as ``artifact_path``/<file name>."""
        self.artifacts.log_artifact(v.validate_run_id(run_id), local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Upload every file below ``local_dir`` to the run, below ``artifact_path``, in parallel."""
        self.artifacts.log_artifacts(v.validate_run_id(run_id), local_dir, artifact_path)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Store ``dictionary`` as JSON, or YAML when ``artifact_file`` ends in .yaml or .yml."""
        from modelyard.client.artifact_formats import dict_bytes

        data = dict_bytes(dictionary, artifact_file)
        self.artifacts.log_bytes(v.validate_run_id(run_id), data, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Store ``text`` (UTF-8) as ``artifact_file``."""
        if not isinstance(text, str):
            raise InvalidInput(f"log_text: text must be a string, not {type(text).__name__}.")
        self.artifacts.log_bytes(v.validate_run_id(run_id), text.encode("utf-8"), artifact_file)

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a matplotlib figure (any format it saves) or a plotly figure (.html, or an image)."""
        from modelyard.client.artifact_formats import figure_bytes

        run_id = v.validate_run_id(run_id)
        data = figure_bytes(figure, artifact_file, save_kwargs)
        self.artifacts.log_bytes(run_id, data, artifact_file)

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        *,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Store a numpy array or PIL image as ``artifact_file``, or as a point of the image series
        ``key`` at ``step`` (the files MLflow's UI shows as a series)."""
        from modelyard.client import artifact_formats as a

        run_id = v.validate_run_id(run_id)
        if artifact_file is not None and (key, step, timestamp) != (None, None, None):
            raise InvalidInput(
                "log_image: pass either artifact_file, or key (with step and timestamp), not both."
            )
        if artifact_file is None and key is None:
            raise InvalidInput("log_image: pass artifact_file, or key for an image series.")
        if artifact_file is not None:
            self.artifacts.log_bytes(run_id, a.image_bytes(image, artifact_file), artifact_file)
            return
        assert key is not None
        for path, data in a.image_series_files(image, key, step, timestamp):
            self.artifacts.log_bytes(run_id, data, path)
        self.set_tag(run_id, a.LOGGED_IMAGES_TAG, "true", synchronous=True)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Store a pandas DataFrame or a dict of columns as a table (JSON in pandas' split layout,
        or Parquet). Rows are appended when the run already has that table."""
        self.artifacts.log_table(v.validate_run_id(run_id), data, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly inside ``path`` (the run's root by default)."""
        return self.artifacts.list_artifacts(v.validate_run_id(run_id), path)

    def download_artifacts(
        self,
        run_id: str | None = None,
        artifact_path: str | None = None,
        dst_path: str | None = None,
        *,
        artifact_uri: str | None = None,
    ) -> str:
        """Download a run's file or folder (``artifact_path``, the whole run by default), or what
        ``artifact_uri`` names, to ``dst_path`` (a new temporary folder by default). Returns the
        local path, which keeps the artifact path below ``dst_path``."""
        if (run_id is None) == (artifact_uri is None):
            raise InvalidInput("download_artifacts: pass exactly one of run_id or artifact_uri.")
        if artifact_uri is not None:
            if artifact_path:
                raise InvalidInput(
                    "download_artifacts: artifact_path goes with run_id, not with artifact_uri."
                )
            return self.artifacts.download_uri(artifact_uri, dst_path)
        assert run_id is not None
        return self.artifacts.download_run(v.validate_run_id(run_id), artifact_path, dst_path)

    def load_text(self, artifact_uri: str) -> str:
        """The text of the artifact file at ``artifact_uri`` (``runs:/<run_id>/<path>`` or a store URI)."""
        return self.artifacts.load_text(artifact_uri)

    def load_dict(self, artifact_uri: str) -> Any:
        """The JSON (or, for .yaml/.yml, YAML) value of the artifact file at ``artifact_uri``."""
        return self.artifacts.load_dict(artifact_uri)

    def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: Sequence[str] | None = None,
        extra_columns: Sequence[str] | None = None,
    ) -> Any:
        """The table ``artifact_file`` of every run of the experiment that logged it (or of
        ``run_ids``), concatenated as one DataFrame. ``extra_columns`` adds run fields
        (``run_id``, ``run_name``, ``status``, ..., or ``tags.<key>``, ``params.<key>``)."""
        return self.artifacts.load_table(
            v.validate_experiment_id(experiment_id), artifact_file, run_ids, extra_columns
        )

    # ---------------------------------------------------------------- helpers
    def _logger_for(self, synchronous: bool | None) -> BatchLogger | None:
        if synchronous:
            return None
        if synchronous is None:
            return self._logger
        if self._logger is None:  # synchronous=False with async logging switched off
            self._logger = self._new_logger()
        return self._logger

    def _send_now(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        self._wait()  # keep the order of writes to the run
        for m, p, t in split_batch(run_id, metrics, params, tags):
            self._backend.log_batch(run_id, m, p, t)

    def _check_run_id(self, run_id: str) -> None:
        v.validate_run_id(run_id)
        self._last_run_id = run_id

    def _check_key(self, key: str, what: str) -> None:
        v.validate_key(key, what)
        if len(self._keys) < _MAX_CACHED_KEYS:
            self._keys.add(key)

    def _checked_metric(self, metric: Metric) -> Metric:
        value = metric_value(metric.key, metric.value)
        if value is not metric.value or type(metric.value) is not float:
            metric = Metric(
                metric.key,
                value,
                metric.timestamp,
                metric.step,
                metric.run_id,
                metric.dataset_name,
                metric.dataset_digest,
                metric.model_id,
            )
        return v.validate_metric(metric)


def _status(status: RunStatus | str) -> str:
    try:
        return RunStatus(status.upper() if isinstance(status, str) else status).value
    except ValueError:
        names = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"Invalid run status {status!r}: expected one of {names}.") from None


def _view_type(view: ViewType | str, what: str) -> ViewType:
    try:
        return ViewType(view.upper() if isinstance(view, str) else view)
    except ValueError:
        names = ", ".join(t.value for t in ViewType)
        raise InvalidInput(
            f"Invalid value {view!r} for parameter '{what}': expected one of {names}."
        ) from None


__all__ = ["ModelyardClient", "metric_value", "now_ms", "to_dataset_input"]
