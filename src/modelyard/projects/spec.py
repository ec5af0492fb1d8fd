"""The ``MLproject`` file: a project's name, environment and entry points with typed parameters.

``load_project(directory)`` reads the file (its name matched case-insensitively) and checks every key,
so a malformed file is an :class:`~modelyard.errors.InvalidInput` naming the key, before anything
runs. A directory without an MLproject file is a project too: its environment is ``python_env.yaml``
if present, else ``conda.yaml``, else the local one, and its entry points are its ``.py`` and ``.sh``
files.

Parameters are typed ``float``, ``int``, ``string`` (the default), ``path`` or ``uri``. Unlike MLflow,
every value is checked against its type: ints and floats must parse, a ``path`` must exist (or be a
remote URI, downloaded into the storage directory), a ``uri`` must have a scheme. Values are
shell-quoted into the command template; parameters the entry point does not declare are appended as
``--key value``.
"""

from __future__ import annotations

import math
import os
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from modelyard.errors import InvalidInput

PARAMETER_TYPES = ("float", "int", "string", "path", "uri")
#: Environment kinds of a project; ``local`` means the interpreter that runs ``modelyard run``.
ENV_KINDS = ("python", "conda", "docker", "local")
_TOP_KEYS = {
    "name",
    "python_env",
    "conda_env",
    "docker_env",
    "entry_points",
    "databricks_spark_job",
}
_ENTRY_KEYS = {"parameters", "command"}
_PARAM_KEYS = {"type", "default"}
_FORBIDDEN_IN_NAMES = set("{}[].!:")


@dataclass(frozen=True, slots=True)
class Parameter:
    """A declared parameter of an entry point."""

    name: str
    type: str = "string"
    default: str | None = None

    def check(self, raw: Any, *, given: bool, project_dir: str) -> str:
        """The value as a string, checked against the type; :class:`InvalidInput` naming it."""
        value = as_text(raw)
        if self.type == "int":
            try:
                int(value.strip(), 10)
            except ValueError:
                raise self._bad(value, "an integer (int)") from None
        elif self.type == "float":
            try:
                number = float(value.strip())
            except ValueError:
                raise self._bad(value, "a number (float)") from None
            if math.isnan(number):
                raise self._bad(value, "a number (float)")
        elif self.type == "uri":
            if not looks_like_uri(value):
                raise self._bad(value, "a URI with a scheme, such as s3://bucket/key (uri)")
        elif self.type == "path":
            if not value:
                raise self._bad(value, "an existing file or directory (path)")
            if not is_remote(value):
                base = os.getcwd() if given else project_dir
                local = _local_path(value)
                full = local if os.path.isabs(local) else os.path.join(base, local)
                if not os.path.exists(full):
                    raise self._bad(value, "an existing file or directory, or a remote URI (path)")
                value = os.path.abspath(full)
        return value

    def _bad(self, value: str, expected: str) -> InvalidInput:
        return InvalidInput(
            f"Parameter '{self.name}' must be {expected}; got {value!r}.", parameter=self.name
        )


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """A named command with its declared parameters."""

    name: str
    command: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)

    def resolve(
        self, values: Mapping[str, Any], project_dir: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(declared, undeclared) parameter values, checked; raises before anything starts.

        ``declared`` has every declared parameter (given or default), values as checked strings
        (a local ``path`` made absolute); ``undeclared`` has the rest, as given.
        """
        missing = [
            p.name for p in self.parameters.values() if p.name not in values and p.default is None
        ]
        if missing:
            names = ", ".join(f"'{n}' ({self.parameters[n].type})" for n in missing)
            raise InvalidInput(
                f"Entry point '{self.name}' needs a value for the parameter(s) {names}: pass "
                f"-P name=value.",
                parameters=missing,
            )
        declared: dict[str, str] = {}
        for name, param in self.parameters.items():
            given = name in values
            declared[name] = param.check(
                values[name] if given else param.default, given=given, project_dir=project_dir
            )
        undeclared = {k: as_text(v) for k, v in values.items() if k not in self.parameters}
        for key in undeclared:
            _check_name(key, f"parameter '{key}'")
        return declared, undeclared

    def command_line(self, declared: Mapping[str, str], undeclared: Mapping[str, str]) -> str:
        """The shell command: the template with quoted values, then ``--key value`` for the rest."""
        quoted = {k: shlex.quote(v) for k, v in declared.items()}
        command = self.command.format_map(quoted)
        extra = " ".join(f"--{k} {shlex.quote(v)}" for k, v in undeclared.items())
        return f"{command} {extra}" if extra else command


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """The environment a project asks for: ``kind`` is one of :data:`ENV_KINDS`.

    ``path`` is the absolute path of ``python_env.yaml`` or ``conda.yaml``; ``image``, ``volumes``
    and ``environment`` describe a ``docker_env``.
    """

    kind: str
    path: str | None = None
    image: str | None = None
    volumes: tuple[str, ...] = ()
    environment: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded project: its directory, name, environment and declared entry points."""

    directory: str
    name: str
    env: EnvSpec
    entry_points: Mapping[str, EntryPoint]
    has_mlproject: bool = True

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point ``name``, or a ``.py``/``.sh`` file of the project run directly."""
        if name in self.entry_points:
            return self.entry_points[name]
        if name.endswith((".py", ".sh")):
            path = os.path.normpath(os.path.join(self.directory, name))
            inside = os.path.commonpath([path, self.directory]) == self.directory
            if not inside or not os.path.isfile(path):
                raise InvalidInput(
                    f"The entry point file '{name}' does not exist in the project {self.directory}.",
                    entry_point=name,
                )
            runner = "python" if name.endswith(".py") else os.environ.get("SHELL") or "bash"
            return EntryPoint(name, f"{runner} {shlex.quote(name)}")
        known = ", ".join(sorted(self.entry_points)) or "none"
        raise InvalidInput(
            f"The project has no entry point '{name}' (declared: {known}); an undeclared entry "
            "point must be a .py or .sh file of the project.",
            entry_point=name,
        )


def find_mlproject(directory: str) -> str | None:
    """The path of the ``MLproject`` file in ``directory`` (any letter case), or ``None``."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    for name in names:
        if name.lower() == "mlproject" and os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    return None


def load_project(directory: str) -> Project:
    """Read and check the project in ``directory``; :class:`InvalidInput` names a malformed key."""
    import yaml

    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise InvalidInput(f"The project directory {directory} does not exist.")
    path = find_mlproject(directory)
    if path is None:
        return Project(
            directory, os.path.basename(directory), _default_env(directory), {}, has_mlproject=False
        )
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"MLproject is not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"MLproject cannot be read: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("MLproject must be a mapping of keys (name, entry_points, ...).")
    unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if unknown:
        raise InvalidInput(
            f"MLproject has unknown key(s) {', '.join(unknown)}; expected "
            f"{', '.join(sorted(_TOP_KEYS))}.",
            key=unknown[0],
        )
    name = data.get("name", os.path.basename(directory))
    if not isinstance(name, str) or not name.strip():
        raise _malformed("name", "a non-empty string")
    if "databricks_spark_job" in data:
        raise InvalidInput(
            "MLproject key 'databricks_spark_job': Databricks jobs are not supported by modelyard.",
            key="databricks_spark_job",
        )
    return Project(directory, name, _env(data, directory), _entry_points(data))


def _env(data: Mapping[str, Any], directory: str) -> EnvSpec:
    given = [k for k in ("python_env", "conda_env", "docker_env") if k in data]
    if len(given) > 1:
        raise InvalidInput(
            f"MLproject names more than one environment ({', '.join(given)}); keep one.",
            key=given[1],
        )
    if not given:
        return _default_env(directory)
    key = given[0]
    value = data[key]
    if key == "docker_env":
        return _docker_env(value)
    if not isinstance(value, str) or not value.strip():
        raise _malformed(key, "the path of a file in the project")
    path = os.path.normpath(os.path.join(directory, value))
    if not os.path.isfile(path):
        raise InvalidInput(
            f"MLproject key '{key}': the file {value!r} does not exist in the project.", key=key
        )
    return EnvSpec("python" if key == "python_env" else "conda", path)


def _default_env(directory: str) -> EnvSpec:
    for name, kind in (("python_env.yaml", "python"), ("conda.yaml", "conda")):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return EnvSpec(kind, path)
    return EnvSpec("local")


def _docker_env(value: Any) -> EnvSpec:
    if not isinstance(value, dict):
        raise _malformed("docker_env", "a mapping with 'image'")
    unknown = sorted(str(k) for k in value if k not in ("image", "volumes", "environment"))
    if unknown:
        raise _malformed(f"docker_env.{unknown[0]}", "one of image, volumes, environment")
    image = value.get("image")
    if not isinstance(image, str) or not image.strip():
        raise _malformed("docker_env.image", "a non-empty image name")
    volumes = value.get("volumes") or []
    if not isinstance(volumes, list) or not all(isinstance(v, str) for v in volumes):
        raise _malformed("docker_env.volumes", "a list of strings (host:container)")
    env_items: list[tuple[str, str | None]] = []
    raw_env = value.get("environment") or []
    if not isinstance(raw_env, list):
        raise _malformed("docker_env.environment", "a list of names or [name, value] pairs")
    for item in raw_env:
        if isinstance(item, str):
            env_items.append((item, None))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            env_items.append((item[0], item[1]))
        else:
            raise _malformed("docker_env.environment", "a list of names or [name, value] pairs")
    return EnvSpec("docker", image=image, volumes=tuple(volumes), environment=tuple(env_items))


def _entry_points(data: Mapping[str, Any]) -> dict[str, EntryPoint]:
    raw = data.get("entry_points")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _malformed("entry_points", "a mapping of entry point names to {command, parameters}")
    found: dict[str, EntryPoint] = {}
    for name, body in raw.items():
        where = f"entry_points.{name}"
        if not isinstance(name, str) or not name:
            raise _malformed("entry_points", "entry point names that are strings")
        if not isinstance(body, dict):
            raise _malformed(where, "a mapping with 'command'")
        unknown = sorted(str(k) for k in body if k not in _ENTRY_KEYS)
        if unknown:
            raise _malformed(f"{where}.{unknown[0]}", "one of command, parameters")
        command = body.get("command")
        if not isinstance(command, str) or not command.strip():
            raise _malformed(f"{where}.command", "a non-empty command string")
        params = _parameters(body.get("parameters"), where)
        _check_template(command, params, f"{where}.command")
        found[name] = EntryPoint(name, command, params)
    return found


def _parameters(raw: Any, where: str) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _malformed(f"{where}.parameters", "a mapping of parameter names to types")
    params: dict[str, Parameter] = {}
    for name, decl in raw.items():
        key = f"{where}.parameters.{name}"
        if not isinstance(name, str):
            raise _malformed(f"{where}.parameters", "parameter names that are strings")
        _check_name(name, f"MLproject key '{key}'")
        default: Any = None
        if isinstance(decl, str):
            kind = decl
        elif isinstance(decl, dict):
            unknown = sorted(str(k) for k in decl if k not in _PARAM_KEYS)
            if unknown:
                raise _malformed(f"{key}.{unknown[0]}", "one of type, default")
            kind = decl.get("type", "string")
            default = decl.get("default")
        else:
            raise _malformed(key, "a type name or a mapping {type, default}")
        if kind not in PARAMETER_TYPES:
            raise _malformed(f"{key}.type" if isinstance(decl, dict) else key, _types_text())
        if default is not None and not isinstance(default, (str, int, float)):
            raise _malformed(f"{key}.default", "a string or a number")
        params[name] = Parameter(name, kind, None if default is None else as_text(default))
    return params


def _check_template(command: str, params: Mapping[str, Parameter], key: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(command) if f is not None]
    except ValueError as exc:
        raise _malformed(
            key, f"a command template ({exc}; write {{{{ and }}}} for braces)"
        ) from None
    for name in fields:
        if name not in params:
            raise InvalidInput(
                f"MLproject key '{key}' uses {{{name}}}, which is not a declared parameter.",
                key=key,
            )


def _check_name(name: str, what: str) -> None:
    if not name or _FORBIDDEN_IN_NAMES & set(name) or name != name.strip():
        raise InvalidInput(
            f"Invalid name for {what}: {name!r} (no spaces around it and none of {{ }} [ ] . ! :)."
        )


def _types_text() -> str:
    return "one of the parameter types " + ", ".join(PARAMETER_TYPES)


def _malformed(key: str, expected: str) -> InvalidInput:
    return InvalidInput(f"MLproject key '{key}' must be {expected}.", key=key)


def as_text(value: Any) -> str:
    """A parameter value as the text the command and the run get (booleans as true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def looks_like_uri(value: str) -> bool:
    """True for ``scheme:...`` with a scheme of two or more letters (so not ``C:\\path``)."""
    parsed = urlparse(value)
    return len(parsed.scheme) > 1 and bool(parsed.netloc or parsed.path)


def is_remote(value: str) -> bool:
    """True when ``value`` names a file somewhere other than this machine's disk."""
    return looks_like_uri(value) and urlparse(value).scheme.lower() != "file"


def _local_path(value: str) -> str:
    if value.lower().startswith("file:"):
        return urlparse(value).path
    return os.path.expanduser(value)
