"""The Ray backend: the project command runs as a Ray job on a Ray cluster.

The project folder is the job's ``working_dir`` (Ray uploads it), the run id and tracking URI are in
the job's ``env_vars``, and the environment maps onto Ray's runtime environment: ``python_env.yaml``
dependencies become ``pip`` packages, ``conda.yaml`` becomes ``conda``; ``--env-manager local`` (or a
project without an environment) uses the cluster's Python as it is. ``docker_env`` projects are
refused. The job's status and logs are followed until it ends: SUCCEEDED -> FINISHED, FAILED ->
FAILED, STOPPED -> KILLED.

``--backend-config`` keys: ``address`` (the dashboard, ``http://host:8265``; default the
``ray_address`` setting, then Ray's own default), ``entrypoint_num_cpus``, ``entrypoint_num_gpus``,
``entrypoint_memory``, ``entrypoint_resources``, ``runtime_env`` (merged into the one built here),
``poll_interval`` (seconds) and ``follow_logs`` (default true).

Needs the ``ray`` extra: ``pip install 'modelyard[ray]'``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from modelyard.entities import RunStatus
from modelyard.errors import InvalidInput, InvalidState, TemporarilyUnavailable
from modelyard.projects.backends import LaunchRequest
from modelyard.projects.environments import read_python_env, resolve_manager

log = logging.getLogger("modelyard.projects")

CONFIG_KEYS = (
    "address",
    "entrypoint_num_cpus",
    "entrypoint_num_gpus",
    "entrypoint_memory",
    "entrypoint_resources",
    "runtime_env",
    "poll_interval",
    "follow_logs",
)
#: How long a submission the cluster asks to retry later is retried.
SUBMIT_RETRY_S = 60.0
_STATUS = {"SUCCEEDED": RunStatus.FINISHED, "FAILED": RunStatus.FAILED, "STOPPED": RunStatus.KILLED}


def _job_submission() -> Any:
    try:
        from ray import job_submission
    except ImportError:
        raise InvalidState("The Ray backend needs Ray: pip install 'modelyard[ray]'.") from None
    return job_submission


class RayBackend:
    """Submits the project to a Ray cluster as a job."""

    def prepare(self, request: LaunchRequest) -> RayLaunch:
        config = dict(request.config)
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise InvalidInput(
                f"Unknown Ray backend option(s) {', '.join(unknown)}; known: {', '.join(CONFIG_KEYS)}."
            )
        runtime_env, env_tag = _runtime_env(request)
        extra = config.get("runtime_env") or {}
        if not isinstance(extra, dict):
            raise InvalidInput("The Ray backend option 'runtime_env' must be a JSON object.")
        runtime_env.update(extra)
        address = config.get("address") or request.settings.ray_address
        job_submission = _job_submission()
        try:
            client = job_submission.JobSubmissionClient(address)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise TemporarilyUnavailable(
                f"Could not reach the Ray cluster at {address or 'its default address'}: {exc}"
            ) from None
        return RayLaunch(request, client, runtime_env, env_tag, config)


def _runtime_env(request: LaunchRequest) -> tuple[dict[str, Any], str]:
    env: dict[str, Any] = {"working_dir": request.directory}
    manager = resolve_manager(request.env, request.env_manager)
    if manager == "docker":
        raise InvalidInput(
            "A docker_env project cannot run on the Ray backend; run it with --env-manager local "
            "(the cluster's Python), or give the project a python_env.yaml."
        )
    if manager in ("virtualenv", "uv"):
        if request.env.kind == "conda":
            raise InvalidInput(
                f"The project declares a conda environment (conda.yaml); --env-manager {manager} "
                "builds from python_env.yaml."
            )
        spec = read_python_env(request.env.path)
        packages = [*spec.build_dependencies, *spec.dependencies]
        if packages:
            env["pip"] = {"packages": packages}
        return env, "virtualenv"
    if manager == "conda":
        if request.env.kind != "conda" or request.env.path is None:
            raise InvalidInput("--env-manager conda needs a conda.yaml in the project.")
        import yaml

        with open(request.env.path, encoding="utf-8") as handle:
            env["conda"] = yaml.safe_load(handle)
        return env, "conda"
    return env, "local"


class RayLaunch:
    def __init__(
        self,
        request: LaunchRequest,
        client: Any,
        runtime_env: dict[str, Any],
        env_tag: str,
        config: Mapping[str, Any],
    ) -> None:
        self.request = request
        self.client = client
        self.runtime_env = runtime_env
        self.env_tag = env_tag
        self.config = config
        self.tags: dict[str, str] = {}

    def start(self, env_vars: Mapping[str, str]) -> RayExecution:
        runtime_env = dict(self.runtime_env)
        runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **env_vars}
        options = {
            k: self.config[k]
            for k in (
                "entrypoint_num_cpus",
                "entrypoint_num_gpus",
                "entrypoint_memory",
                "entrypoint_resources",
            )
            if k in self.config
        }
        run_id = env_vars.get("MODELYARD_RUN_ID", "")
        deadline = time.monotonic() + SUBMIT_RETRY_S
        attempt = 0
        while True:
            attempt += 1
            try:
                job_id = self.client.submit_job(
                    entrypoint=self.request.command,
                    runtime_env=runtime_env,
                    submission_id=f"modelyard-{run_id}-{attempt}",
                    metadata={"modelyard_run_id": run_id},
                    **options,
                )
                break
            except Exception as exc:
                # A cluster that has just started answers "No available agent ... try again later".
                if "try again" in str(exc).lower() and time.monotonic() < deadline:
                    time.sleep(1.0)
                    continue
                raise InvalidState(f"The Ray cluster refused the job: {exc}") from None
        log.info("submitted Ray job %s", job_id)
        return RayExecution(
            self.client,
            job_id,
            poll_interval=float(self.config.get("poll_interval", 1.0)),
            follow_logs=bool(self.config.get("follow_logs", True)),
        )


class RayExecution:
    """A Ray job, followed by polling its status and logs."""

    def __init__(
        self, client: Any, job_id: str, *, poll_interval: float = 1.0, follow_logs: bool = True
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.poll_interval = poll_interval
        self.follow_logs = follow_logs
        self._printed = 0
        self._lock = threading.Lock()
        self._cancelled = False

    def _print_new_logs(self) -> None:
        if not self.follow_logs:
            return
        try:
            logs = self.client.get_job_logs(self.job_id) or ""
        except Exception:  # logs are a convenience; the status decides
            return
        with self._lock:
            if len(logs) > self._printed:
                sys.stdout.write(logs[self._printed :])
                sys.stdout.flush()
                self._printed = len(logs)

    def poll(self) -> RunStatus | None:
        try:
            status = str(self.client.get_job_status(self.job_id))
        except Exception as exc:
            raise TemporarilyUnavailable(
                f"Lost the Ray cluster while following job {self.job_id}: {exc}"
            ) from None
        self._print_new_logs()
        status = status.rsplit(".", 1)[-1].upper()
        if status in _STATUS:
            return RunStatus.KILLED if self._cancelled else _STATUS[status]
        return None

    def wait(self) -> RunStatus:
        while True:
            status = self.poll()
            if status is not None:
                return status
            time.sleep(self.poll_interval)

    def cancel(self) -> None:
        self._cancelled = True
        try:
            self.client.stop_job(self.job_id)
        except Exception as exc:
            log.info("could not stop Ray job %s: %s", self.job_id, exc)
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.poll() is not None:
                return
            time.sleep(min(self.poll_interval, 0.5))
