"""Projects: run a folder, git repository or zip with an ``MLproject`` file as a tracked run.

::

    import modelyard.projects

    submitted = modelyard.projects.run(".", entry_point="main", parameters={"alpha": 0.5})
    print(submitted.run_id, submitted.get_status())

Modules: ``spec`` (the MLproject file and its typed parameters), ``sources`` (folder, git, zip),
``environments`` (local, virtualenv/uv, conda, docker; cached by spec hash), ``backends`` (the
backend protocol and the entry point registry), ``local`` and ``ray_backend`` (the built-in
backends), ``submit`` (:func:`run`) and ``sweep`` (grid and random searches as child runs).
"""

from __future__ import annotations

from modelyard.projects.backends import (
    DEFAULT_BACKENDS,
    ENTRY_POINT_GROUP,
    available_backends,
    open_project_backend,
)
from modelyard.projects.spec import EntryPoint, EnvSpec, Parameter, Project, load_project
from modelyard.projects.submit import SubmittedRun, run

__all__ = [
    "DEFAULT_BACKENDS",
    "ENTRY_POINT_GROUP",
    "EntryPoint",
    "EnvSpec",
    "Parameter",
    "Project",
    "SubmittedRun",
    "available_backends",
    "load_project",
    "open_project_backend",
    "run",
]
