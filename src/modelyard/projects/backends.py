"""Where a project command runs: backends behind one small protocol, chosen by name.

``open_project_backend("ray")`` looks the name up in one table: the built-ins of
:data:`DEFAULT_BACKENDS` plus every entry point of the group ``modelyard.project_backends`` (name = the
backend's name, value = a class or factory called with no arguments). Built-ins are registered
exactly like entry points, only listed here instead of in package metadata; an installed entry point
with the name of a built-in replaces it.

A backend turns a :class:`LaunchRequest` into a :class:`Launch` in ``prepare`` (build or check the
environment; nothing runs yet and no run exists yet, so a failure there leaves nothing behind), and
a launch starts an :class:`Execution` once the run exists.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.errors import InvalidInput, ModelyardError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from modelyard.entities import RunStatus
    from modelyard.projects.spec import EnvSpec
    from modelyard.settings import Settings

#: The entry point group through which packages add project backends.
ENTRY_POINT_GROUP = "modelyard.project_backends"

#: Built-in backends, as ``name -> "module:attribute"``, registered exactly like entry points.
DEFAULT_BACKENDS: dict[str, str] = {
    "local": "modelyard.projects.local:LocalBackend",
    "ray": "modelyard.projects.ray_backend:RayBackend",
}


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """What a backend needs to prepare one project command."""

    directory: str
    command: str
    entry_point: str
    env: EnvSpec
    env_manager: str | None
    tracking_uri: str
    settings: Settings
    config: Mapping[str, Any] = field(default_factory=dict)


class Execution(Protocol):
    """A started command."""

    def poll(self) -> RunStatus | None:
        """The final status once it has ended, else ``None``."""

    def wait(self) -> RunStatus:
        """Block until it ends; FINISHED, FAILED or KILLED."""

    def cancel(self) -> None:
        """Stop it (and everything it started); :meth:`wait` then answers KILLED."""


class Launch(Protocol):
    """A prepared command: ``env_tag`` is the ``mlflow.project.env`` value, ``tags`` extra run tags."""

    env_tag: str
    tags: Mapping[str, str]

    def start(self, env_vars: Mapping[str, str]) -> Execution:
        """Start the command with ``env_vars`` (the run id, tracking URI ...) in its environment."""


class ProjectBackend(Protocol):
    def prepare(self, request: LaunchRequest) -> Launch: ...


@functools.cache
def _registry() -> dict[str, EntryPoint]:
    from importlib.metadata import EntryPoint, entry_points

    table = {
        name: EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
        for name, value in DEFAULT_BACKENDS.items()
    }
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        table[entry.name.lower()] = entry
    return table


def available_backends() -> list[str]:
    """The names :func:`open_project_backend` accepts, sorted."""
    return sorted(_registry())


def open_project_backend(name: str) -> ProjectBackend:
    """The backend registered as ``name``; :class:`InvalidInput` for an unknown one."""
    entry = _registry().get(str(name).lower())
    if entry is None:
        raise InvalidInput(
            f"Unknown project backend {name!r} (registered: {', '.join(available_backends())}). "
            f"A package can add one under the entry point group '{ENTRY_POINT_GROUP}'."
        )
    try:
        factory: Any = entry.load()
    except ModelyardError:
        raise
    except Exception as e:
        raise ModelyardError(
            f"The project backend '{name}' ({entry.value}) could not be loaded: "
            f"{type(e).__name__}: {e}"
        ) from e
    backend: ProjectBackend = factory()
    return backend
