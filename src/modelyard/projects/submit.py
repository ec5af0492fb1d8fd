"""``modelyard.projects.run``: fetch a project, check it, create its run, start its command.

Order matters, so that a mistake costs nothing:

1. fetch the project (folder, git clone, zip) and read its MLproject;
2. check every parameter against its type, download remote ``path`` parameters;
3. prepare the environment through the backend (build or reuse a virtual environment, check that
   conda or docker is there);
4. only then create the run (through :class:`~modelyard.client.ModelyardClient`, so any tracking
   URI works), log its params in one batch and set the tags of ``mlflow run``;
5. start the command with ``MODELYARD_RUN_ID``, ``MODELYARD_TRACKING_URI``,
   ``MODELYARD_EXPERIMENT_ID`` and the ``MLFLOW_`` names of the same, so the modelyard or MLflow
   client inside continues this run.

The command's end sets the run's status: FINISHED for exit status 0, FAILED otherwise, KILLED when it
was stopped (Ctrl-C, SIGTERM, :meth:`SubmittedRun.cancel`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from modelyard.client.context import SOURCE_NAME, SOURCE_TYPE, USER, current_user
from modelyard.client.tracking import ModelyardClient
from modelyard.entities import Param, RunStatus
from modelyard.errors import AlreadyExists, InvalidInput
from modelyard.projects.backends import Execution, LaunchRequest, open_project_backend
from modelyard.projects.sources import Source, fetch
from modelyard.projects.spec import as_text, is_remote, load_project
from modelyard.settings import Settings, load_settings

log = logging.getLogger("modelyard.projects")

ENTRY_POINT_TAG = "mlflow.project.entryPoint"
ENV_TAG = "mlflow.project.env"
BACKEND_TAG = "mlflow.project.backend"
PARENT_RUN_TAG = "mlflow.parentRunId"
_TERMINAL = {RunStatus.FINISHED.value, RunStatus.FAILED.value, RunStatus.KILLED.value}


class SubmittedRun:
    """A project run that has started. ``wait()`` blocks until its command ends (True on success)
    and records its status; ``get_status()`` and ``cancel()`` do what they say."""

    def __init__(
        self,
        run_id: str,
        experiment_id: str,
        execution: Execution,
        client: ModelyardClient,
        cleanup: list[Any],
        owns_client: bool = True,
    ) -> None:
        self.run_id = run_id
        self._owns_client = owns_client
        self.experiment_id = experiment_id
        self._execution = execution
        self._client = client
        self._cleanup = cleanup
        self._status: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SubmittedRun run_id={self.run_id!r} status={self.get_status()!r}>"

    def wait(self) -> bool:
        """Wait for the command; on Ctrl-C stop it, mark the run KILLED and re-raise."""
        if self._status is None:
            try:
                status = self._execution.wait()
            except KeyboardInterrupt:
                self.cancel()
                raise
            except BaseException:  # lost track of it (a Ray cluster gone, say): stop and fail it
                with contextlib.suppress(Exception):
                    self._execution.cancel()
                self._finish(RunStatus.FAILED)
                raise
            self._finish(status)
        return self._status == RunStatus.FINISHED.value

    def poll(self) -> str | None:
        """The final status if the command has ended (recording it), else ``None``."""
        if self._status is None:
            status = self._execution.poll()
            if status is not None:
                self._finish(status)
        return self._status

    def get_status(self) -> str:
        """RUNNING while the command runs, then FINISHED, FAILED or KILLED."""
        return self.poll() or RunStatus.RUNNING.value

    def cancel(self) -> None:
        """Stop the command and everything it started; the run ends KILLED."""
        if self._status is None:
            self._execution.cancel()
            self._finish(RunStatus.KILLED)

    def _finish(self, status: RunStatus) -> None:
        with self._lock:
            if self._status is not None:
                return
            self._status = status.value
            try:
                self._client.set_terminated(self.run_id, status)
            finally:
                if self._owns_client:
                    self._client.close()
                remove(self._cleanup)
            log.info("run %s ended %s", self.run_id, status.value)


def remove(items: list[Any]) -> None:
    """Remove temporary clones (:class:`Source`) and folders (paths)."""
    for item in items:
        if isinstance(item, Source):
            item.cleanup()
        else:
            shutil.rmtree(item, ignore_errors=True)


def absolute_tracking_uri(uri: str) -> str:
    """``sqlite:///relative.db`` made absolute, so a command in another folder logs to the same file."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///") :]
        if path and path != ":memory:" and not path.startswith("file:"):
            return "sqlite:///" + os.path.abspath(path)
    return uri


def run_env_vars(run_id: str, experiment_id: str, tracking_uri: str) -> dict[str, str]:
    """The variables a project command gets, in modelyard's and MLflow's names."""
    return {
        "MODELYARD_RUN_ID": run_id,
        "MODELYARD_TRACKING_URI": tracking_uri,
        "MODELYARD_EXPERIMENT_ID": experiment_id,
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
    }


class PreparedProject:
    """A fetched, checked project with its environment ready; :meth:`launch` creates the run."""

    def __init__(
        self,
        *,
        uri: str,
        source: Source,
        entry_point: str,
        command: str,
        logged_params: dict[str, str],
        launch: Any,
        backend: str,
        settings: Settings,
        cleanup: list[Any],
    ) -> None:
        self.uri = uri
        self.source = source
        self.entry_point = entry_point
        self.command = command
        self.logged_params = logged_params
        self.launch_ = launch
        self.backend = backend
        self.settings = settings
        self.cleanup = cleanup

    def tags(self) -> dict[str, str]:
        return {
            USER: current_user(),
            SOURCE_NAME: self.source.name,
            SOURCE_TYPE: "PROJECT",
            ENTRY_POINT_TAG: self.entry_point,
            ENV_TAG: self.launch_.env_tag,
            BACKEND_TAG: self.backend,
            **self.source.tags,
            **self.launch_.tags,
        }

    def launch(
        self,
        client: ModelyardClient,
        experiment_id: str,
        *,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
        own_cleanup: bool = True,
        owns_client: bool = True,
    ) -> SubmittedRun:
        """Create the run, log params and tags, start the command."""
        tags = self.tags()
        if parent_run_id:
            tags[PARENT_RUN_TAG] = parent_run_id
        tags.update(extra_tags or {})
        run = client.create_run(experiment_id, tags=tags, run_name=run_name)
        run_id = run.info.run_id
        try:
            if self.logged_params:
                client.log_batch(
                    run_id,
                    params=[Param(k, v) for k, v in self.logged_params.items()],
                    synchronous=True,
                )
            tracking_uri = absolute_tracking_uri(client.tracking_uri)
            log.info("run %s in experiment %s: %s", run_id, experiment_id, self.command)
            execution = self.launch_.start(run_env_vars(run_id, experiment_id, tracking_uri))
        except BaseException:
            client.set_terminated(run_id, RunStatus.FAILED)
            raise
        return SubmittedRun(
            run_id,
            experiment_id,
            execution,
            client,
            self.cleanup if own_cleanup else [],
            owns_client=owns_client,
        )


def prepare_project(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    env_manager: str | None = None,
    backend: str = "local",
    backend_config: Mapping[str, Any] | None = None,
    storage_dir: str | None = None,
    settings: Settings | None = None,
    client: ModelyardClient | None = None,
    source: Source | None = None,
) -> PreparedProject:
    """Steps 1 to 3 of the module docstring; nothing is created and nothing runs yet."""
    settings = settings if settings is not None else load_settings()
    backend_impl = open_project_backend(backend)  # an unknown backend fails before any fetch
    source = source if source is not None else fetch(uri, version)
    cleanup: list[Any] = [source]
    try:
        project = load_project(source.directory)
        point = project.entry_point(entry_point)
        values = dict(parameters or {})
        declared, undeclared = point.resolve(values, project.directory)
        logged = {
            name: values.get(name, param.default or "") for name, param in point.parameters.items()
        }
        logged = {k: as_text(v) for k, v in {**logged, **undeclared}.items()}
        remote = [
            n for n, p in point.parameters.items() if p.type == "path" and is_remote(declared[n])
        ]
        if remote:
            if storage_dir is None:
                storage_dir = tempfile.mkdtemp(prefix="modelyard-storage-")
                cleanup.append(storage_dir)
            for name in remote:
                declared[name] = _download_path(declared[name], name, storage_dir, client, settings)
        command = point.command_line(declared, undeclared)
        tracking_uri = absolute_tracking_uri(
            client.tracking_uri if client else settings.tracking_uri
        )
        request = LaunchRequest(
            directory=project.directory,
            command=command,
            entry_point=point.name,
            env=project.env,
            env_manager=env_manager,
            tracking_uri=tracking_uri,
            settings=settings,
            config=dict(backend_config or {}),
        )
        launch = backend_impl.prepare(request)
    except BaseException:
        remove(cleanup)
        raise
    return PreparedProject(
        uri=uri,
        source=source,
        entry_point=point.name,
        command=command,
        logged_params=logged,
        launch=launch,
        backend=backend,
        settings=settings,
        cleanup=cleanup,
    )


def _download_path(
    value: str, name: str, storage_dir: str, client: ModelyardClient | None, settings: Settings
) -> str:
    destination = os.path.join(storage_dir, name)
    os.makedirs(destination, exist_ok=True)
    scheme = urlparse(value).scheme.lower()
    try:
        if scheme in ("http", "https"):
            import urllib.request

            target = os.path.join(destination, os.path.basename(urlparse(value).path) or name)
            with urllib.request.urlopen(value, timeout=120) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            return target
        owner = client if client is not None else ModelyardClient(settings=settings)
        try:
            return owner.download_artifacts(artifact_uri=value, dst_path=destination)
        finally:
            if client is None:
                owner.close()
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"Parameter '{name}' must be an existing file or directory, or a remote URI that can "
            f"be downloaded (path); downloading {value!r} failed: {exc}",
            parameter=name,
        ) from None


def resolve_experiment(
    client: ModelyardClient, experiment_name: str | None, experiment_id: str | None
) -> str:
    """The experiment to run in: by id, by name (created when missing), else ``"0"``."""
    if experiment_name is not None and experiment_id is not None:
        raise InvalidInput("Give --experiment-name or --experiment-id, not both.")
    if experiment_id is not None:
        return client.get_experiment(str(experiment_id)).experiment_id
    if experiment_name is not None:
        found = client.get_experiment_by_name(experiment_name)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(experiment_name)
        except AlreadyExists:
            again = client.get_experiment_by_name(experiment_name)
            if again is None:
                raise
            return again.experiment_id
    return "0"


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    backend: str = "local",
    backend_config: Mapping[str, Any] | None = None,
    storage_dir: str | None = None,
    tracking_uri: str | None = None,
    synchronous: bool = True,
    parent_run_id: str | None = None,
) -> SubmittedRun:
    """Run the entry point of the project at ``uri`` as a tracked run; see the module docstring.

    With ``synchronous=True`` (the default) it waits for the command; either way it returns the
    :class:`SubmittedRun` (``run_id``, ``wait()``, ``get_status()``, ``cancel()``). A failed command
    is not an exception: check ``get_status()`` or the result of ``wait()``.
    """
    settings = load_settings(tracking_uri=tracking_uri, async_logging=False)
    client = ModelyardClient(settings=settings)
    try:
        if experiment_name is not None and experiment_id is not None:
            raise InvalidInput("Give --experiment-name or --experiment-id, not both.")
        if experiment_id is not None:
            client.get_experiment(str(experiment_id))  # a wrong id fails before anything is built
        prepared = prepare_project(
            uri,
            entry_point,
            version,
            parameters,
            env_manager=env_manager,
            backend=backend,
            backend_config=backend_config,
            storage_dir=storage_dir,
            settings=settings,
            client=client,
        )
        try:
            exp_id = resolve_experiment(client, experiment_name, experiment_id)
        except BaseException:
            remove(prepared.cleanup)
            raise
        submitted = prepared.launch(client, exp_id, run_name=run_name, parent_run_id=parent_run_id)
    except BaseException:
        client.close()
        raise
    if synchronous:
        submitted.wait()
    return submitted
