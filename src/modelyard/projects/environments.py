"""The software environment a project command runs in.

``prepare(env_spec, manager, cache_dir)`` returns a :class:`PreparedEnv`: how to start a shell command
in that environment. Managers:

* ``local``: the interpreter running modelyard (``python`` on the command's PATH is this one);
* ``virtualenv`` / ``uv``: a virtual environment built from ``python_env.yaml`` (``python``,
  ``build_dependencies``, ``dependencies``) with uv when it is on PATH (``uv`` requires it), else
  ``python -m venv --without-pip`` with this interpreter's pip installing into it (plain
  ``python -m venv`` and its own pip when this pip is older than 22.3);
* ``conda``: an environment built from ``conda.yaml`` with conda (it must be installed);
* ``docker``: the project's ``docker_env`` image, run with docker (whose engine must be reachable).

Built environments are cached under ``cache_dir`` by a hash of their specification (Python version,
dependencies, the contents of ``-r`` requirement files), so the second run of a project reuses the
environment. A build holds a file lock on its cache entry, so concurrent runs of the same project
build it once; an entry is only used once its ``.modelyard-env.json`` marker is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidInput, InvalidState, TemporarilyUnavailable
from modelyard.projects.spec import EnvSpec

log = logging.getLogger("modelyard.projects")

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
MARKER = ".modelyard-env.json"
_BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True, slots=True)
class PreparedEnv:
    """How to run a command: ``argv(command)`` and the variables to add to its environment.

    ``tag`` is the value of ``mlflow.project.env``; ``reused`` says a cached build was found.
    """

    tag: str
    prefix: str | None = None
    path_dirs: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    docker: Mapping[str, Any] | None = None
    reused: bool = False
    spec_hash: str | None = None

    def argv(self, command: str, cwd: str, env_vars: Mapping[str, str]) -> list[str]:
        """The program and arguments that run the shell ``command``."""
        if self.docker is None:
            return [shell(), "-c", command]
        return _docker_argv(self.docker, command, cwd, env_vars)

    def environ(self, base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
        """``base`` with this environment's PATH and variables and ``extra`` on top."""
        env = dict(base)
        if self.path_dirs:
            env["PATH"] = os.pathsep.join([*self.path_dirs, env.get("PATH", os.defpath)])
        env.pop("PYTHONHOME", None)
        if self.prefix is not None:
            env.pop("PYTHONPATH", None)
        env.update(self.variables)
        env.update(extra)
        return env


def shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def resolve_manager(spec: EnvSpec, manager: str | None) -> str:
    """The manager that will build ``spec``: the one asked for, else the project's own kind."""
    if manager is not None and manager not in ENV_MANAGERS:
        raise InvalidInput(
            f"Unknown environment manager {manager!r}: use one of {', '.join(ENV_MANAGERS)}."
        )
    if manager == "local":
        return "local"
    if spec.kind == "docker":
        if manager is not None:
            raise InvalidInput(
                f"The project runs in a docker image (docker_env); --env-manager {manager} "
                "cannot build it. Leave --env-manager out, or use --env-manager local."
            )
        return "docker"
    if manager is not None:
        return manager
    return {"python": "virtualenv", "conda": "conda"}.get(spec.kind, "local")


def prepare(spec: EnvSpec, manager: str | None, cache_dir: str) -> PreparedEnv:
    """Build (or find in the cache) the environment for ``spec`` with ``manager``."""
    chosen = resolve_manager(spec, manager)
    if chosen == "local":
        return _local(cache_dir)
    if chosen == "docker":
        return _docker(spec)
    if chosen == "conda":
        return _conda(spec, cache_dir)
    return _virtualenv(spec, chosen, cache_dir)


# ---------------------------------------------------------------------------------------- local
def _local(cache_dir: str) -> PreparedEnv:
    """The running interpreter, first on PATH as ``python`` (through a shim folder when needed)."""
    here = os.path.dirname(sys.executable)
    if _has_python(here):
        return PreparedEnv("local", path_dirs=(here,))
    digest = hashlib.sha256(sys.executable.encode()).hexdigest()[:12]
    shim = os.path.join(os.path.expanduser(cache_dir), f"local-{digest}")
    os.makedirs(shim, exist_ok=True)
    for name in ("python", "python3"):
        link = os.path.join(shim, name)
        if not os.path.lexists(link):
            with contextlib.suppress(FileExistsError):
                os.symlink(sys.executable, link)
    return PreparedEnv("local", path_dirs=(shim,))


def _has_python(directory: str) -> bool:
    candidate = os.path.join(directory, "python")
    return os.path.exists(candidate) and os.path.samefile(candidate, sys.executable)


# ---------------------------------------------------------------------------------------- python_env
@dataclass(frozen=True, slots=True)
class PythonEnv:
    """The contents of ``python_env.yaml``."""

    python: str
    build_dependencies: tuple[str, ...]
    dependencies: tuple[str, ...]


def read_python_env(path: str | None) -> PythonEnv:
    """Read ``python_env.yaml``; with no file, the running Python version and no dependencies."""
    current = ".".join(map(str, sys.version_info[:3]))
    if path is None:
        return PythonEnv(current, (), ())
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{os.path.basename(path)} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{os.path.basename(path)} must be a mapping (python, dependencies).")
    unknown = sorted(
        str(k) for k in data if k not in ("python", "build_dependencies", "dependencies")
    )
    if unknown:
        raise InvalidInput(
            f"{os.path.basename(path)} has an unknown key '{unknown[0]}'; expected python, "
            "build_dependencies, dependencies.",
            key=unknown[0],
        )
    python = data.get("python", current)
    if not isinstance(python, (str, int, float)) or not re.fullmatch(
        r"\d+(\.\d+){0,2}", str(python)
    ):
        raise InvalidInput(
            f"{os.path.basename(path)} key 'python' must be a version such as \"3.11\"; got "
            f"{python!r}.",
            key="python",
        )
    lists = []
    for key in ("build_dependencies", "dependencies"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise InvalidInput(
                f"{os.path.basename(path)} key '{key}' must be a list of requirement strings.",
                key=key,
            )
        lists.append(tuple(value))
    return PythonEnv(str(python), lists[0], lists[1])


def spec_hash(payload: Mapping[str, Any], project_dir: str, requirements: Sequence[str]) -> str:
    """A hash of an environment spec, including the contents of its ``-r`` requirement files."""
    files = {}
    for line in requirements:
        match = re.match(r"^\s*(-r|--requirement)\s*(\S+)", line)
        if match:
            path = os.path.join(project_dir, match.group(2))
            try:
                with open(path, "rb") as handle:
                    files[match.group(2)] = hashlib.sha256(handle.read()).hexdigest()
            except OSError:
                raise InvalidInput(
                    f"The requirements file {match.group(2)!r} named in the environment does "
                    "not exist in the project."
                ) from None
    text = json.dumps({**payload, "files": files}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def find_python(version: str) -> str:
    """An interpreter matching ``version`` (``3``, ``3.11`` or ``3.11.4``)."""
    current = ".".join(map(str, sys.version_info[:3]))
    if _matches(current, version):
        return sys.executable
    parts = version.split(".")
    names = [f"python{parts[0]}.{parts[1]}"] if len(parts) >= 2 else [f"python{parts[0]}"]
    for name in names:
        found = shutil.which(name)
        if found:
            out = subprocess.run(
                [found, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if out.returncode == 0 and _matches(out.stdout.strip(), version):
                return found
    raise InvalidState(
        f"The project wants Python {version}, which is not installed here (this is Python "
        f"{current}). Install python{'.'.join(parts[:2])}, change 'python' in python_env.yaml, or "
        "run with --env-manager local."
    )


def _matches(actual: str, wanted: str) -> bool:
    return actual.split(".")[: len(wanted.split("."))] == wanted.split(".")


def _virtualenv(spec: EnvSpec, manager: str, cache_dir: str) -> PreparedEnv:
    if spec.kind == "conda":
        raise InvalidInput(
            f"The project declares a conda environment (conda.yaml); --env-manager {manager} "
            "builds from python_env.yaml. Add a python_env.yaml, or use --env-manager conda."
        )
    uv = shutil.which("uv")
    if manager == "uv" and uv is None:
        raise InvalidState(
            "--env-manager uv needs the 'uv' program, which is not on PATH (pip install uv); "
            "or use --env-manager virtualenv."
        )
    env = read_python_env(spec.path)
    interpreter = find_python(env.python)
    if interpreter == sys.executable:
        actual = sys.version.split()[0]
    else:
        actual = subprocess.run(
            [interpreter, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    project_dir = os.path.dirname(spec.path) if spec.path else os.getcwd()
    digest = spec_hash(
        {
            "kind": "virtualenv",
            "python": actual,
            "build": list(env.build_dependencies),
            "deps": list(env.dependencies),
        },
        project_dir,
        [*env.build_dependencies, *env.dependencies],
    )
    target = os.path.join(os.path.expanduser(cache_dir), f"venv-{digest}")

    def build(path: str) -> None:
        tool = "uv" if uv else "venv"
        log.info("building a virtual environment with %s in %s", tool, path)
        if uv:
            _check([uv, "venv", "--quiet", "--python", interpreter, path], "uv venv")
            installer = [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                os.path.join(path, "bin", "python"),
            ]
        elif _host_pip_targets_others():
            # No ensurepip (slow): this interpreter's pip installs into the new environment.
            _check([interpreter, "-m", "venv", "--without-pip", path], "python -m venv")
            installer = [sys.executable, "-m", "pip", "--python", os.path.join(path, "bin", "python"),
                         "install", "--quiet", "--disable-pip-version-check"]  # fmt: skip
        else:
            _check([interpreter, "-m", "venv", path], "python -m venv")
            installer = [os.path.join(path, "bin", "python"), "-m", "pip", "install", "--quiet",
                         "--disable-pip-version-check"]  # fmt: skip
        for group in (env.build_dependencies, env.dependencies):
            if group:
                _check(
                    [*installer, *_requirement_args(group)],
                    "installing dependencies",
                    cwd=project_dir,
                )

    reused = _cached_build(
        target, build, {"python": actual, "dependencies": list(env.dependencies)}
    )
    bin_dir = os.path.join(target, "bin")
    return PreparedEnv(
        "virtualenv",
        prefix=target,
        path_dirs=(bin_dir,),
        variables={"VIRTUAL_ENV": target},
        reused=reused,
        spec_hash=digest,
    )


def _host_pip_targets_others() -> bool:
    """True when the running interpreter has a pip (22.3 or newer) that can install elsewhere."""
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("pip").split(".")[:2])
    except Exception:
        return False
    return (major, minor) >= (22, 3)


def _requirement_args(requirements: Sequence[str]) -> list[str]:
    args: list[str] = []
    for line in requirements:
        match = re.match(r"^\s*(-r|--requirement)\s*(\S+)", line)
        args.extend(["-r", match.group(2)] if match else [line])
    return args


def _check(argv: list[str], what: str, cwd: str | None = None) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise InvalidState(f"Building the project environment timed out ({what}).") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise InvalidState(f"Building the project environment failed ({what}):\n{tail}")


def _cached_build(target: str, build: Any, describe: Mapping[str, Any]) -> bool:
    """Make sure ``target`` holds a finished build; True when one was already there."""
    import fcntl

    marker = os.path.join(target, MARKER)
    if os.path.isfile(marker):
        return True
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(f"{target}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if os.path.isfile(marker):
                return True  # built by another run while this one waited for the lock
            if os.path.exists(target):
                shutil.rmtree(target)  # a build that was interrupted
            started = time.monotonic()
            try:
                build(target)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
            info = {
                **describe,
                "built_at": time.time(),
                "build_seconds": time.monotonic() - started,
            }
            with open(marker + ".tmp", "w", encoding="utf-8") as out:
                json.dump(info, out)
            os.replace(marker + ".tmp", marker)
            log.info("environment ready in %.1f s", info["build_seconds"])
            return False
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------- conda
def _conda(spec: EnvSpec, cache_dir: str) -> PreparedEnv:
    conda = os.environ.get("CONDA_EXE") or shutil.which("conda") or shutil.which("mamba")
    if not conda or not os.path.exists(conda):
        raise InvalidState(
            "The project declares a conda environment (conda.yaml), but conda is not installed "
            "(no 'conda' on PATH and CONDA_EXE is unset). Install conda (Miniforge, say), or run "
            "it with --env-manager virtualenv (from a python_env.yaml) or --env-manager local."
        )
    if spec.kind != "conda" or spec.path is None:
        raise InvalidInput(
            "--env-manager conda needs a conda.yaml in the project (conda_env in MLproject)."
        )
    with open(spec.path, "rb") as handle:
        content = handle.read()
    digest = spec_hash(
        {"kind": "conda", "spec": hashlib.sha256(content).hexdigest()},
        os.path.dirname(spec.path),
        [],
    )
    target = os.path.join(os.path.expanduser(cache_dir), f"conda-{digest}")

    def build(path: str) -> None:
        log.info("building a conda environment in %s", path)
        _check(
            [conda, "env", "create", "--quiet", "--prefix", path, "--file", spec.path],
            "conda env create",
        )

    reused = _cached_build(target, build, {"conda_yaml": content.decode("utf-8", "replace")})
    return PreparedEnv(
        "conda",
        prefix=target,
        path_dirs=(os.path.join(target, "bin"),),
        variables={"CONDA_PREFIX": target, "CONDA_DEFAULT_ENV": target},
        reused=reused,
        spec_hash=digest,
    )


# ---------------------------------------------------------------------------------------- docker
def _docker(spec: EnvSpec) -> PreparedEnv:
    docker = shutil.which("docker")
    if docker is None:
        raise InvalidState(
            f"The project runs in the docker image {spec.image!r} (docker_env), but docker is not "
            "installed (no 'docker' on PATH). Install docker, or run with --env-manager local."
        )
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        info = None
    if info is None or info.returncode != 0 or not info.stdout.strip():
        detail = _first_error_line(info.stderr if info is not None else "it did not answer")
        raise TemporarilyUnavailable(
            f"The project runs in the docker image {spec.image!r} (docker_env); the docker client "
            f"is installed but its engine cannot be reached ({detail}). Start the docker daemon, "
            "or run with --env-manager local."
        )
    return PreparedEnv(
        "docker",
        docker={
            "docker": docker,
            "image": spec.image,
            "volumes": list(spec.volumes),
            "environment": [list(item) for item in spec.environment],
        },
        variables={},
    )


def _first_error_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("ERROR: ").removeprefix("Error: ")
    return "no answer"


_WORKDIR = "/mlflow/projects/code"


def _docker_argv(
    docker: Mapping[str, Any], command: str, cwd: str, env_vars: Mapping[str, str]
) -> list[str]:
    argv = [docker["docker"], "run", "--rm", "--network", "host", "-v", f"{cwd}:{_WORKDIR}",
            "-w", _WORKDIR]  # fmt: skip
    for volume in docker["volumes"]:
        argv += ["-v", volume]
    for key, value in env_vars.items():
        argv += ["-e", f"{key}={value}"]
    for item in docker["environment"]:
        name, value = item[0], item[1]
        argv += ["-e", name if value is None else f"{name}={value}"]
    return [*argv, docker["image"], "sh", "-c", command]
