"""The local backend: the command runs as a child process group on this machine.

The child starts in a session of its own, so a Ctrl-C at the terminal reaches ``modelyard run``, which
then stops the whole group (SIGTERM, then SIGKILL after a grace period) and marks the run KILLED.
Its output goes straight to this process's stdout and stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping

from modelyard.entities import RunStatus
from modelyard.errors import InvalidState
from modelyard.projects import environments
from modelyard.projects.backends import LaunchRequest
from modelyard.projects.environments import PreparedEnv

#: Seconds between SIGTERM and SIGKILL when a command is stopped.
KILL_GRACE_S = 10.0


class LocalBackend:
    """Builds the environment here and runs the command in a child process group."""

    def prepare(self, request: LaunchRequest) -> LocalLaunch:
        env = environments.prepare(request.env, request.env_manager, request.settings.env_cache_dir)
        return LocalLaunch(request, env)


class LocalLaunch:
    def __init__(self, request: LaunchRequest, env: PreparedEnv) -> None:
        self.request = request
        self.env = env
        self.env_tag = env.tag
        tags: dict[str, str] = {}
        if env.spec_hash:
            tags["modelyard.project.envHash"] = env.spec_hash
        if env.docker is not None:
            tags["mlflow.docker.image.uri"] = str(env.docker["image"])
        self.tags = tags

    def start(self, env_vars: Mapping[str, str]) -> LocalExecution:
        return LocalExecution.start(
            self.env.argv(self.request.command, self.request.directory, env_vars),
            self.request.directory,
            self.env.environ(os.environ, env_vars),
        )


class LocalExecution:
    """A child process group; see the module docstring."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._cancelled = False
        self._lock = threading.Lock()

    @classmethod
    def start(cls, argv: list[str], cwd: str, env: Mapping[str, str]) -> LocalExecution:
        try:
            process = subprocess.Popen(argv, cwd=cwd, env=dict(env), start_new_session=True)
        except OSError as exc:
            raise InvalidState(f"Could not start the project command {argv[0]}: {exc}") from None
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _status(self, code: int) -> RunStatus:
        if self._cancelled:
            return RunStatus.KILLED
        if code == 0:
            return RunStatus.FINISHED
        if -code in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
            return RunStatus.KILLED
        return RunStatus.FAILED

    def poll(self) -> RunStatus | None:
        code = self.process.poll()
        return None if code is None else self._status(code)

    def wait(self) -> RunStatus:
        return self._status(self.process.wait())

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self.process.poll() is not None:
                self._signal(signal.SIGTERM)  # the leader is gone; stop what it left behind
                return
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=KILL_GRACE_S)
            self._signal(signal.SIGKILL)
            self.process.wait()

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)
