"""The fluent API: ``modelyard.start_run()``, ``modelyard.log_metric()`` and friends.

Shaped like MLflow's module API. State kept here, process-wide and guarded by a lock:

* the tracking URI set by :func:`set_tracking_uri` (else ``MODELYARD_TRACKING_URI``, then
  ``MLFLOW_TRACKING_URI``, then ``sqlite:///modelyard.db``) and one :class:`ModelyardClient` for it;
* the active experiment (:func:`set_experiment`; experiment ``"0"`` otherwise);
* the stack of active runs. It is shared by all threads, so a data-loader or callback thread logs
  to the run the main thread started. A run keeps the client it was started with, so changing the
  tracking URI mid-run does not split its data.

``log_*`` calls queue their values and return (see :mod:`modelyard.client.batching`); ``end_run``,
:func:`flush` and interpreter exit send what is queued and raise (or, at exit, log) what could not
be delivered. Runs still active at exit are ended: FINISHED, or FAILED/KILLED when the program is
dying of an uncaught exception.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from modelyard.client.backend import check_tracking_uri
from modelyard.client.context import run_context_tags
from modelyard.client.tracking import ModelyardClient, to_dataset_input
from modelyard.entities import (
    Dataset,
    Experiment,
    LifecycleStage,
    LoggedModel,
    Metric,
    ModelVersion,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    ViewType,
)
from modelyard.errors import AlreadyExists, InvalidInput, InvalidState, ModelyardError
from modelyard.settings import load_settings

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger("modelyard.client")

PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
RUN_NAME_TAG = "mlflow.runName"
DEFAULT_EXPERIMENT_ID = "0"
#: Runs fetched per request when search_runs pages through results.
_SEARCH_PAGE = 10_000
_LOGGED_MODEL_PAGE = 1000  # the most a logged-model search returns per page


class ActiveRun:
    """A run started by :func:`start_run`; use it as a context manager to end it.

    Leaving the ``with`` block ends the run FINISHED, or FAILED when an exception escapes it, or
    KILLED on ``KeyboardInterrupt``. ``info``, ``data`` and ``inputs`` are as of the start.
    """

    __slots__ = ("_client", "_run", "run_id")

    def __init__(self, run: Run, client: ModelyardClient) -> None:
        self._run = run
        self._client = client
        self.run_id = run.info.run_id

    @property
    def info(self) -> RunInfo:
        return self._run.info

    @property
    def data(self) -> RunData:
        return self._run.data

    @property
    def inputs(self) -> RunInputs:
        return self._run.inputs

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.run_id!r} name={self.info.run_name!r}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc_type is None:
            _end_through(self, RunStatus.FINISHED)
            return False
        status = RunStatus.KILLED if issubclass(exc_type, KeyboardInterrupt) else RunStatus.FAILED
        try:
            _end_through(self, status)
        except Exception as error:  # keep the user's exception; say what else went wrong
            log.error("modelyard: while ending run %s: %s", self.run_id, error)
            if exc is not None and hasattr(exc, "add_note"):
                exc.add_note(f"modelyard: while ending run {self.run_id}: {error}")
        return False


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tracking_uri: str | None = None
        self.client: ModelyardClient | None = None
        self.client_uri: str | None = None
        self.experiment_id: str | None = None
        self.runs: list[ActiveRun] = []
        self.last_run_id: str | None = None
        self.last_client: ModelyardClient | None = None
        self.last_model_id: str | None = None
        self.exit_hook = False


_state = _State()


# ---------------------------------------------------------------------------------------- tracking URI
def set_tracking_uri(uri: str) -> None:
    """Log to ``uri`` from now on: a database URI (in-process) or a server's http(s):// address."""
    uri = check_tracking_uri(uri)
    with _state.lock:
        if uri == _state.tracking_uri:
            return
        _state.tracking_uri = uri
        _state.experiment_id = None  # an experiment id belongs to one backend
        _drop_client()


def get_tracking_uri() -> str:
    """The tracking URI in use: set_tracking_uri, else the environment, else sqlite:///modelyard.db."""
    uri = _state.tracking_uri
    return uri if uri is not None else load_settings().tracking_uri


def _drop_client() -> None:
    old, _state.client, _state.client_uri = _state.client, None, None
    if old is not None and all(r._client is not old for r in _state.runs):
        if _state.last_client is old:
            _state.last_client = None  # the last run is then read through the new client
        old.close()


def _client() -> ModelyardClient:
    with _state.lock:
        uri = get_tracking_uri()
        client = _state.client
        if client is None or _state.client_uri != uri:
            _drop_client()
            client = _state.client = ModelyardClient(uri)
            _state.client_uri = uri
        return client


def flush() -> None:
    """Send everything logged so far; raise what could not be delivered."""
    with _state.lock:
        clients = {id(c): c for c in [_state.client, *(r._client for r in _state.runs)] if c}
    for client in clients.values():
        client.flush()


# ---------------------------------------------------------------------------------------- experiments
def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    """Create an experiment; returns its id."""
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment called ``name``, or ``None``."""
    return _client().get_experiment_by_name(name)


def search_experiments(
    view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Every experiment matching ``filter_string`` (at most ``max_results``), all pages."""
    client = _client()
    found: list[Experiment] = []
    token: str | None = None
    while True:
        want = 1000 if max_results is None else min(1000, max_results - len(found))
        page = client.search_experiments(view_type, want, filter_string, order_by, token)
        found.extend(page.items)
        token = page.next_page_token
        if not token or (max_results is not None and len(found) >= max_results):
            return found


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment the active one, creating it (by name) when it does not exist."""
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidInput("Must specify exactly one of: 'experiment_id' or 'experiment_name'.")
    client = _client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            try:
                new_id = client.create_experiment(experiment_name)
            except AlreadyExists:  # created by someone else in the meantime
                new_id = None
            found = (
                client.get_experiment(new_id)
                if new_id
                else client.get_experiment_by_name(experiment_name)
            )
            if found is None:
                raise InvalidState(
                    f"Experiment '{experiment_name}' vanished while it was being set."
                )
        experiment = found
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise InvalidState(
            f"Cannot set a deleted experiment '{experiment.name}' as the active experiment. "
            "Restore it (modelyard experiments restore) or permanently delete it to reuse the name.",
            experiment_id=experiment.experiment_id,
        )
    with _state.lock:
        _state.experiment_id = experiment.experiment_id
    return experiment


# ---------------------------------------------------------------------------------------- runs
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``, and make it the active run.

    With ``nested=True`` the new run is a child of the active one (tag ``mlflow.parentRunId``);
    without it, starting a run while another is active is an error. The new run gets the system
    tags (user, source, git) and ``description`` as ``mlflow.note.content``. With no ``run_id`` and
    no active run, the run named by ``MODELYARD_RUN_ID`` (else ``MLFLOW_RUN_ID``) is resumed, once:
    that is how code inside ``modelyard run`` continues the project's run.
    """
    with _state.lock:
        stack = _state.runs
        if stack and not nested:
            raise InvalidState(
                f"Run with UUID {stack[-1].run_id} is already active. To start a new run, first end "
                "the current run with modelyard.end_run(). To start a nested run, call start_run "
                "with nested=True."
            )
        if parent_run_id is not None and stack and stack[-1].run_id != parent_run_id:
            raise InvalidInput(
                f"Current run with UUID {stack[-1].run_id} does not match the specified "
                f"parent_run_id {parent_run_id}."
            )
        parent = parent_run_id or (stack[-1].run_id if nested and stack else None)
        if run_id is None and not stack:
            run_id = _run_id_from_env()
        client = _client()
        if run_id is not None:
            run = _resume(client, run_id, experiment_id, run_name, tags, description)
        else:
            exp_id = str(experiment_id) if experiment_id is not None else _active_experiment_id()
            all_tags: dict[str, Any] = run_context_tags()
            all_tags.update(tags or {})
            if parent is not None:
                all_tags[PARENT_RUN_TAG] = parent
            if description is not None:
                all_tags[NOTE_TAG] = description
            run = client.create_run(exp_id, tags=all_tags, run_name=run_name)
        active = ActiveRun(run, client)
        stack.append(active)
        _state.last_run_id, _state.last_client = active.run_id, client
        if not _state.exit_hook:
            atexit.register(_end_runs_at_exit)
            _state.exit_hook = True
        return active


def _run_id_from_env() -> str | None:
    """The run that ``modelyard run`` (or ``mlflow run``) started for this process, taken once.

    ``MODELYARD_RUN_ID``, else ``MLFLOW_RUN_ID``; both are removed from the environment so that the
    next ``start_run`` after this run ends starts a new run, as MLflow's client does.
    """
    found = os.environ.get("MODELYARD_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")
    if found:
        os.environ.pop("MODELYARD_RUN_ID", None)
        os.environ.pop("MLFLOW_RUN_ID", None)
    return found or None


def _active_experiment_id() -> str:
    return _state.experiment_id or DEFAULT_EXPERIMENT_ID


def _resume(
    client: ModelyardClient,
    run_id: str,
    experiment_id: str | None,
    run_name: str | None,
    tags: Mapping[str, Any] | None,
    description: str | None,
) -> Run:
    run = client.get_run(run_id)
    if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
        raise InvalidInput(
            f"The run {run_id} belongs to experiment {run.info.experiment_id}, not to the "
            f"experiment {experiment_id} passed to start_run."
        )
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise InvalidState(f"Cannot start run with ID {run_id} because it is in the deleted state.")
    client.update_run(run_id, status=RunStatus.RUNNING, name=run_name)
    extra = dict(tags or {})
    if description is not None:
        extra[NOTE_TAG] = description
    for key, value in extra.items():
        client.set_tag(run_id, key, value, synchronous=True)
    return client.get_run(run_id)


def active_run() -> ActiveRun | None:
    """The innermost active run, or ``None``."""
    stack = _state.runs
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the run most recently ended in this process, as stored now."""
    run_id: str | None
    client: ModelyardClient | None
    with _state.lock:
        if _state.runs:
            run_id, client = _state.runs[-1].run_id, _state.runs[-1]._client
        else:
            run_id, client = _state.last_run_id, _state.last_client
    if run_id is None:
        return None
    return (client or _client()).get_run(run_id)


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run: send its queued data, set ``status``, raise what could not be delivered."""
    with _state.lock:
        if not _state.runs:
            return
        run = _state.runs.pop()
        _state.last_run_id, _state.last_client = run.run_id, run._client
    run._client.set_terminated(run.run_id, status)


def _end_through(run: ActiveRun, status: RunStatus) -> None:
    """End ``run`` and any runs started inside it that are still active."""
    with _state.lock:
        if run not in _state.runs:
            return
        index = _state.runs.index(run)
        ending = _state.runs[index:]
        del _state.runs[index:]
        _state.last_run_id, _state.last_client = run.run_id, run._client
    first_error: Exception | None = None
    for active in reversed(ending):
        try:
            active._client.set_terminated(active.run_id, status)
        except Exception as error:
            first_error = first_error or error
    if first_error is not None:
        raise first_error


def _exit_status() -> RunStatus:
    if hasattr(sys, "ps1"):  # interactive: sys.last_value belongs to an earlier prompt
        return RunStatus.FINISHED
    error = getattr(sys, "last_value", None) or getattr(sys, "last_exc", None)
    if error is None:
        return RunStatus.FINISHED
    return RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED


def _end_runs_at_exit() -> None:
    status = _exit_status()
    while _state.runs:
        run = _state.runs[-1]
        try:
            end_run(status)
        except ModelyardError as error:
            log.error("modelyard: while ending run %s at exit: %s", run.run_id, error.message)
        except Exception:
            log.exception("modelyard: ending run %s at exit failed", run.run_id)


def _current() -> tuple[ModelyardClient, str]:
    stack = _state.runs
    active = stack[-1] if stack else start_run()
    return active._client, active.run_id


# ---------------------------------------------------------------------------------------- run data
def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    *,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Log a metric point to the active run (one is started if none is active)."""
    if run_id is None:
        client, run_id = _current()
    else:
        client = _client()
    client.log_metric(run_id, key, value, timestamp, step, synchronous=synchronous)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    *,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Log several metrics at the same step and time."""
    if run_id is None:
        client, run_id = _current()
    else:
        client = _client()
    if timestamp is None:
        from modelyard.client.tracking import now_ms

        timestamp = now_ms()
    for key, value in metrics.items():
        client.log_metric(run_id, key, value, timestamp, step, synchronous=synchronous)


def log_param(key: str, value: Any, *, synchronous: bool | None = None) -> Any:
    """Log a param of the active run; returns ``value``."""
    client, run_id = _current()
    return client.log_param(run_id, key, value, synchronous=synchronous)


def log_params(params: Mapping[str, Any], *, synchronous: bool | None = None) -> None:
    client, run_id = _current()
    for key, value in params.items():
        client.log_param(run_id, key, value, synchronous=synchronous)


def set_tag(key: str, value: Any, *, synchronous: bool | None = None) -> None:
    """Set a tag of the active run."""
    client, run_id = _current()
    client.set_tag(run_id, key, value, synchronous=synchronous)


def set_tags(tags: Mapping[str, Any], *, synchronous: bool | None = None) -> None:
    client, run_id = _current()
    for key, value in tags.items():
        client.set_tag(run_id, key, value, synchronous=synchronous)


def delete_tag(key: str) -> None:
    """Delete a tag of the active run."""
    client, run_id = _current()
    client.delete_tag(run_id, key)


def log_input(
    dataset: Dataset | Mapping[str, Any],
    context: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Record that the active run used ``dataset`` (``context``: "training", "eval", ...)."""
    client, run_id = _current()
    client.log_inputs(run_id, [to_dataset_input(dataset, context, tags)])


def log_inputs(
    datasets: Sequence[Dataset | Mapping[str, Any]],
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[Mapping[str, str] | None] | None = None,
) -> None:
    """Several :func:`log_input` calls in one request; ``contexts`` and ``tags_list`` align with it."""
    n = len(datasets)
    contexts = list(contexts) if contexts is not None else [None] * n
    tags_list = list(tags_list) if tags_list is not None else [None] * n
    if len(contexts) != n or len(tags_list) != n:
        raise InvalidInput("log_inputs: 'contexts' and 'tags_list' must be as long as 'datasets'.")
    client, run_id = _current()
    client.log_inputs(
        run_id,
        [to_dataset_input(d, c, t) for d, c, t in zip(datasets, contexts, tags_list, strict=True)],
    )


# ---------------------------------------------------------------------------------------- artifacts
def _run_client(run_id: str | None) -> tuple[ModelyardClient, str]:
    """The client and id of ``run_id``, or of the active run (one is started if none is active)."""
    if run_id is None:
        return _current()
    return _client_for_run(run_id), run_id


def log_artifact(
    local_path: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload a local file to the active run (or ``run_id``), as ``artifact_path``/<file name>."""
    client, run_id = _run_client(run_id)
    client.log_artifact(run_id, local_path, artifact_path)


def log_artifacts(
    local_dir: str, artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload every file below ``local_dir`` to the active run, below ``artifact_path``."""
    client, run_id = _run_client(run_id)
    client.log_artifacts(run_id, local_dir, artifact_path)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store ``dictionary`` as JSON (YAML for a .yaml or .yml name) in the active run."""
    client, run_id = _run_client(run_id)
    client.log_dict(run_id, dictionary, artifact_file)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Store ``text`` as the UTF-8 file ``artifact_file`` of the active run."""
    client, run_id = _run_client(run_id)
    client.log_text(run_id, text, artifact_file)


def log_figure(
    figure: Any,
    artifact_file: str,
    *,
    save_kwargs: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> None:
    """Store a matplotlib or plotly figure in the active run."""
    client, run_id = _run_client(run_id)
    client.log_figure(run_id, figure, artifact_file, save_kwargs=save_kwargs)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    *,
    run_id: str | None = None,
) -> None:
    """Store a numpy array or PIL image in the active run: as ``artifact_file``, or as the point
    ``step`` of the image series ``key``."""
    client, run_id = _run_client(run_id)
    client.log_image(run_id, image, artifact_file, key=key, step=step, timestamp=timestamp)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store a DataFrame or dict of columns as a table of the active run (appending to it)."""
    client, run_id = _run_client(run_id)
    client.log_table(run_id, data, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The URI of the active run's artifact root, or of ``artifact_path`` inside it."""
    from modelyard.store.artifacts import safe_relative_path

    client, run_id = _current()
    root = client.get_run(run_id).info.artifact_uri
    path = safe_relative_path(artifact_path, what="artifact_path")
    return f"{root.rstrip('/')}/{path}" if path else root


def _artifact_client(run_id: str | None) -> tuple[ModelyardClient, str | None]:
    if run_id is not None:
        return _client_for_run(run_id), run_id
    stack = _state.runs
    if stack:
        return stack[-1]._client, stack[-1].run_id
    return _client(), None


def list_artifacts(
    artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None
) -> list[Any]:
    """The files and folders directly inside a run's ``artifact_path`` (``run_id``, else the active
    run), or inside the folder ``artifact_uri`` names (``runs:/<run_id>/<path>`` or a store URI)."""
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidInput("list_artifacts: pass artifact_uri, or run_id and artifact_path.")
        client = _client()
        store, path = client.artifacts.locate(artifact_uri)
        return store.list(path)
    client, found = _artifact_client(run_id)
    if found is None:
        raise InvalidInput("list_artifacts: no run is active; pass run_id or artifact_uri.")
    return client.list_artifacts(found, artifact_path)


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
) -> str:
    """Download a file or folder to ``dst_path`` (a new temporary folder by default); returns the
    local path. Name it by ``artifact_uri`` (``runs:/<run_id>/<path>`` or a store URI), or by
    ``run_id`` and ``artifact_path``."""
    if (artifact_uri is None) == (run_id is None):
        raise InvalidInput("download_artifacts: pass exactly one of artifact_uri or run_id.")
    if artifact_uri is not None:
        if artifact_path is not None:
            raise InvalidInput(
                "download_artifacts: artifact_path goes with run_id, not artifact_uri."
            )
        return _client().download_artifacts(artifact_uri=artifact_uri, dst_path=dst_path)
    assert run_id is not None
    return _client_for_run(run_id).download_artifacts(run_id, artifact_path, dst_path)


def load_text(artifact_uri: str) -> str:
    """The text of the artifact file at ``artifact_uri``."""
    return _client().load_text(artifact_uri)


def load_dict(artifact_uri: str) -> Any:
    """The JSON (or YAML) value of the artifact file at ``artifact_uri``."""
    return _client().load_dict(artifact_uri)


def load_table(
    artifact_file: str,
    run_ids: Sequence[str] | None = None,
    extra_columns: Sequence[str] | None = None,
) -> Any:
    """The table ``artifact_file`` of the active experiment's runs that logged it (or of
    ``run_ids``), as one DataFrame."""
    return _client().load_table(_active_experiment_id(), artifact_file, run_ids, extra_columns)


# ---------------------------------------------------------------------------------------- reading
def get_run(run_id: str) -> Run:
    return _client_for_run(run_id).get_run(run_id)


def delete_run(run_id: str) -> None:
    """Mark a run deleted (it can be restored until garbage-collected)."""
    _client_for_run(run_id).delete_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of metric ``key`` of a run, in step order."""
    return _client_for_run(run_id).get_metric_history(run_id, key)


def _client_for_run(run_id: str) -> ModelyardClient:
    for active in _state.runs:
        if active.run_id == run_id:
            return active._client
    return _client()


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching ``filter_string``, as a pandas DataFrame (default) or a list of :class:`Run`.

    Without ``experiment_ids`` or ``experiment_names``, the active experiment is searched (every
    experiment with ``search_all_experiments=True``).
    """
    if output_format not in ("pandas", "list"):
        raise InvalidInput(f"Unsupported output format {output_format!r}: use 'pandas' or 'list'.")
    if output_format == "pandas":
        from modelyard.client.frames import import_pandas

        import_pandas()  # fail before searching when pandas is missing
    client = _client()
    ids = _search_ids(client, experiment_ids, experiment_names, search_all_experiments)
    runs: list[Run] = []
    token: str | None = None
    while ids and len(runs) < max_results:
        page = client.search_runs(
            ids,
            filter_string,
            run_view_type,
            min(_SEARCH_PAGE, max_results - len(runs)),
            order_by,
            token,
        )
        runs.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    if output_format == "list":
        return runs
    from modelyard.client.frames import runs_to_frame

    return runs_to_frame(runs)


def _search_ids(
    client: ModelyardClient,
    experiment_ids: Sequence[str] | None,
    experiment_names: Sequence[str] | None,
    search_all: bool,
) -> list[str]:
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [str(experiment_ids)]
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    if experiment_ids and experiment_names:
        raise InvalidInput("Only experiment_ids or experiment_names can be used, but not both.")
    if experiment_ids:
        return [str(e) for e in experiment_ids]
    if experiment_names:
        found = [client.get_experiment_by_name(n) for n in experiment_names]
        return [e.experiment_id for e in found if e is not None]
    if search_all:
        return [e.experiment_id for e in search_experiments(view_type=ViewType.ALL)]
    return [_active_experiment_id()]


def register_model(
    model_uri: str, name: str, tags: Mapping[str, Any] | None = None
) -> ModelVersion:
    """Register ``model_uri`` (``runs:/<run_id>/path`` or ``models:/m-<id>``) as a new version of
    the registered model ``name``, creating the model first if needed (MLflow's ``register_model``)."""
    return _client().register_model(model_uri, name, tags)


def get_logged_model(model_id: str) -> LoggedModel:
    """The logged model ``model_id`` (``m-...``), as ``log_model`` made it."""
    return _client().get_logged_model(model_id)


def search_logged_models(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    order_by: Sequence[Any] | None = None,
    max_results: int | None = None,
    output_format: str = "list",
) -> list[LoggedModel]:
    """Logged models of ``experiment_ids`` (default: the active experiment) matching
    ``filter_string``, every page, as a list (``output_format="list"``, the one format here)."""
    if output_format != "list":
        raise InvalidInput(f"Unsupported output format {output_format!r}: use 'list'.")
    client = _client()
    ids = _search_ids(client, experiment_ids, None, False)
    models: list[LoggedModel] = []
    token: str | None = None
    while max_results is None or len(models) < max_results:
        want = None if max_results is None else min(_LOGGED_MODEL_PAGE, max_results - len(models))
        page = client.search_logged_models(
            ids, filter_string, order_by, want or _LOGGED_MODEL_PAGE, token
        )
        models.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    return models


def last_logged_model() -> LoggedModel | None:
    """The logged model that ``log_model`` made last in this process, or ``None``."""
    model_id = _state.last_model_id
    return None if model_id is None else _client().get_logged_model(model_id)


def _set_last_logged_model(model_id: str) -> None:
    _state.last_model_id = model_id


__all__ = [
    "ActiveRun",
    "active_run",
    "create_experiment",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "end_run",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "last_logged_model",
    "list_artifacts",
    "load_dict",
    "load_table",
    "load_text",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "register_model",
    "search_experiments",
    "search_logged_models",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
