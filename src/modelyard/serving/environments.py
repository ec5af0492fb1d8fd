"""A model's own Python environment, rebuilt from its files, and commands re-run inside it.

``modelyard models serve|predict --env-manager virtualenv|uv`` call :func:`reexec_in_model_env`: the
model is resolved to a local directory, its environment is built (or found in the cache) and the
same command is started again with that environment's Python (``os.execv``), now with
``--env-manager local`` and the local model path, so nothing is downloaded twice.

What the environment holds (:func:`read_model_env`):

* the Python version of ``python_env.yaml`` (major.minor: a patch release is compatible, and only
  the interpreters installed here can be used), its ``build_dependencies`` and ``dependencies``, with
  ``-r requirements.txt`` read from the model directory; without ``python_env.yaml``, the model's
  ``requirements.txt``; without either, the pip section and ``python=`` of ``conda.yaml`` (conda
  packages cannot be installed by pip and are left out, with a warning);
* the requirements of modelyard's ``serving`` extra, and then modelyard itself, from a wheel of the
  running modelyard (:func:`modelyard_wheel`), because modelyard is not on a package index: the
  model's own ``modelyard==...`` line is replaced by it. The wheel is built from this checkout's
  source, or repacked from the installed files when modelyard was installed from a wheel.

The build itself is :func:`modelyard.projects.environments.prepare` (venv or uv, cached by a hash of
the specification, a file lock against concurrent builds). modelyard's requirements count in that
hash, its code does not: when the wheel changed (a new source hash), only modelyard is reinstalled,
``--no-deps``, into the environment it already has.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import InvalidInput, InvalidState

if TYPE_CHECKING:
    from modelyard.projects.environments import PreparedEnv

log = logging.getLogger("modelyard.serving")

MODEL_ENV_MANAGERS = ("local", "virtualenv", "uv")
#: Set in the re-run command: the environment it runs in (so it never re-runs itself again).
INSIDE_ENV_VAR = "MODELYARD_MODEL_ENV"
_MODELYARD_LINE = re.compile(r"^\s*modelyard\s*(\[[^\]]*\])?\s*(@|[<>=!~;]|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ModelEnv:
    """What a model's environment installs (modelyard itself excepted): Python and requirements."""

    python: str
    build_dependencies: tuple[str, ...]
    dependencies: tuple[str, ...]
    source: str  # the file it was read from: python_env.yaml, requirements.txt, conda.yaml or none


def reexec_in_model_env(model_uri: str, env_manager: str, argv: list[str]) -> None:
    """Re-run ``modelyard <argv>`` in the model's own environment; return at once for ``local``.

    ``argv`` are the command's arguments without the program name (``["models", "serve", "-m",
    uri, ...]``). The re-run gets the local model directory in place of ``model_uri`` and
    ``--env-manager local``. Does not return on success (the process becomes the new command).
    """
    if env_manager == "local":
        return
    if env_manager not in MODEL_ENV_MANAGERS:
        raise InvalidInput(
            f"Unknown environment manager {env_manager!r} for a model: use one of "
            f"{', '.join(MODEL_ENV_MANAGERS)}."
        )
    if os.environ.get(INSIDE_ENV_VAR):
        return  # already running inside the model's environment
    from modelyard.pyfunc import resolve_model_uri
    from modelyard.settings import load_settings

    model_dir = resolve_model_uri(model_uri)
    started = time.monotonic()
    _say(f"preparing the model's environment ({env_manager}); the first build takes a while")
    prepared = prepare_model_env(model_dir, env_manager, load_settings().env_cache_dir)
    how = "reused" if prepared.reused else f"built in {time.monotonic() - started:.0f} s"
    _say(f"model environment {how}: {prepared.prefix}")
    assert prepared.prefix is not None
    python = os.path.join(prepared.prefix, "bin", "python")
    args = [python, "-m", "modelyard.cli", *_rewrite_argv(argv, model_uri, model_dir)]
    environ = prepared.environ(os.environ, {INSIDE_ENV_VAR: prepared.prefix})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, args, environ)


def _say(line: str) -> None:
    """A progress line on stderr (stdout may carry predictions)."""
    sys.stderr.write(f"modelyard: {line}\n")
    sys.stderr.flush()


def _rewrite_argv(argv: list[str], model_uri: str, model_dir: str) -> list[str]:
    """``argv`` with the model's local directory and ``--env-manager local``."""
    out: list[str] = []
    replace_next: str | None = None
    for arg in argv:
        if replace_next is not None:
            out.append(replace_next if replace_next == "local" or arg == model_uri else arg)
            replace_next = None
            continue
        if arg in ("-m", "--model-uri"):
            replace_next = model_dir
        elif arg == "--env-manager":
            replace_next = "local"
        elif arg.startswith("--env-manager="):
            arg = "--env-manager=local"
        elif arg == f"--model-uri={model_uri}":
            arg = f"--model-uri={model_dir}"
        out.append(arg)
    if "--env-manager" not in out and not any(a.startswith("--env-manager=") for a in out):
        out += ["--env-manager", "local"]
    return out


def prepare_model_env(model_dir: str, env_manager: str, cache_dir: str) -> PreparedEnv:
    """Build (or reuse) the environment of the model at ``model_dir``; a ``PreparedEnv``."""
    from modelyard.projects import environments
    from modelyard.projects.spec import EnvSpec

    env = read_model_env(model_dir)
    try:
        environments.find_python(env.python)
    except InvalidState:
        raise InvalidState(
            f"The model wants Python {env.python} ({env.source}), which is not installed here "
            f"(this is Python {_minor(_current())}). Install python{env.python}, or serve it with "
            "--env-manager local in an environment that has its packages."
        ) from None
    wheel = modelyard_wheel(os.path.join(os.path.expanduser(cache_dir), "wheels"))
    # modelyard's own requirements are part of the environment's hash, modelyard itself is not:
    # a changed modelyard source is reinstalled into the same environment (see _install_wheel).
    spec = {
        "python": env.python,
        "build_dependencies": list(env.build_dependencies),
        "dependencies": [*env.dependencies, *wheel_requirements(wheel, "serving")],
    }
    text = json.dumps(spec, sort_keys=True)
    staged = Path(os.path.expanduser(cache_dir), "model-specs", _digest(text.encode()))
    staged.mkdir(parents=True, exist_ok=True)
    target = staged / "python_env.yaml"
    if not target.exists():
        import yaml

        tmp = staged / f"python_env.yaml.{os.getpid()}"
        tmp.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        os.replace(tmp, target)
    if env_manager == "uv" and shutil.which("uv") is None:
        beside = os.path.join(os.path.dirname(sys.executable), "uv")
        if os.access(beside, os.X_OK):  # uv installed next to this Python but not on PATH
            os.environ["PATH"] = os.path.dirname(beside) + os.pathsep + os.environ.get("PATH", "")
    log.info("model environment from %s (Python %s)", env.source, env.python)
    prepared = environments.prepare(EnvSpec("python", str(target)), env_manager, cache_dir)
    assert prepared.prefix is not None
    _install_wheel(prepared.prefix, wheel)
    return prepared


def wheel_requirements(wheel: Path, extra: str | None = None) -> tuple[str, ...]:
    """The requirements of the wheel's ``Requires-Dist`` with ``extra`` (its own extras resolved)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8")
    entries = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement, _, marker = line.split(":", 1)[1].partition(";")
            found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            entries.append((requirement.strip(), found.group(1) if found else None))
    wanted = {extra} if extra else set()
    grew = True
    while grew:
        grew = False
        for requirement, needs in entries:
            own = re.match(r"^modelyard\s*\[([^\]]*)\]", requirement)
            if own and needs in wanted:
                extras = {e.strip() for e in own.group(1).split(",")} - wanted
                grew = grew or bool(extras)
                wanted |= extras
    out: list[str] = []
    for requirement, needs in entries:
        keep = (needs is None or needs in wanted) and not _is_modelyard(requirement)
        if keep and requirement not in out:
            out.append(requirement)
    return tuple(out)


def _install_wheel(prefix: str, wheel: Path) -> None:
    """Install modelyard from ``wheel`` into the environment (without dependencies: they are
    there), unless that very wheel is installed already."""
    import fcntl

    marker = os.path.join(prefix, ".modelyard-wheel")
    stamp = str(wheel.resolve())
    with open(f"{prefix}.modelyard.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            with contextlib.suppress(OSError):
                if Path(marker).read_text() == stamp:
                    return
            python = os.path.join(prefix, "bin", "python")
            uv = shutil.which("uv")
            if uv:
                argv = [uv, "pip", "install", "--quiet", "--python", python]
            else:
                argv = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                        "--disable-pip-version-check"]  # fmt: skip
            done = subprocess.run(
                [*argv, "--no-deps", "--reinstall" if uv else "--force-reinstall", str(wheel)],
                capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if done.returncode != 0:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
                raise InvalidState(
                    f"Installing modelyard into the model environment failed:\n{tail}"
                )
            Path(marker).write_text(stamp)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


# ---------------------------------------------------------------------------------------- reading
def read_model_env(model_dir: str | os.PathLike[str]) -> ModelEnv:
    """The environment the model's files ask for, without modelyard itself (see module doc)."""
    from modelyard.projects.environments import read_python_env

    directory = Path(model_dir)
    python_env = directory / "python_env.yaml"
    requirements = directory / "requirements.txt"
    conda = directory / "conda.yaml"
    if python_env.is_file():
        spec = read_python_env(str(python_env))
        deps = _expand(spec.dependencies, directory)
        build = tuple(d for d in spec.build_dependencies if not _is_modelyard(d))
        return ModelEnv(_minor(spec.python), build, deps, "python_env.yaml")
    if requirements.is_file():
        return ModelEnv(_minor(_current()), (), _expand(["-r requirements.txt"], directory),
                        "requirements.txt")  # fmt: skip
    if conda.is_file():
        return _from_conda(conda)
    return ModelEnv(_minor(_current()), (), (), "none")


def _current() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def _minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def _is_modelyard(line: str) -> bool:
    return bool(_MODELYARD_LINE.match(line))


def _expand(lines: tuple[str, ...] | list[str], directory: Path) -> tuple[str, ...]:
    """Requirement lines with ``-r FILE`` read from ``directory``, comments and modelyard removed."""
    out: list[str] = []
    for raw in lines:
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(-r|--requirement)\s*(\S+)$", line)
        if match:
            path = (directory / match.group(2)).resolve()
            if directory.resolve() not in path.parents:
                raise InvalidInput(
                    f"The model's requirement file {match.group(2)!r} is outside it."
                )
            try:
                nested = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                raise InvalidInput(
                    f"The model names the requirements file {match.group(2)!r}, which it does "
                    "not contain."
                ) from None
            out.extend(_expand(nested, path.parent))
        elif not _is_modelyard(line):
            out.append(line)
    return tuple(out)


def _from_conda(path: Path) -> ModelEnv:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"The model's conda.yaml cannot be read: {exc}") from None
    python, pip, skipped = _current(), [], []
    for item in data.get("dependencies") or []:
        if isinstance(item, dict):
            pip.extend(str(v) for v in item.get("pip") or [])
        elif isinstance(item, str):
            name = re.split(r"[=<>! ]", item, maxsplit=1)[0]
            if name == "python":
                version = re.sub(r"^python\s*=*", "", item).strip()
                python = version or python
            elif name != "pip":
                skipped.append(item)
    if skipped:
        log.warning("conda packages left out of the virtualenv (pip cannot install them): %s",
                    ", ".join(skipped))  # fmt: skip
    return ModelEnv(_minor(python), (), _expand(pip, path.parent), "conda.yaml")


# ---------------------------------------------------------------------------------------- modelyard
def source_checkout() -> Path | None:
    """The source tree (with ``pyproject.toml``) the running modelyard comes from, if any."""
    import modelyard

    here = Path(modelyard.__file__).resolve().parent  # .../src/modelyard
    root = here.parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and (root / "src" / "modelyard").resolve() == here:
        with contextlib.suppress(OSError):
            if re.search(r'^name\s*=\s*"modelyard"', pyproject.read_text(), re.MULTILINE):
                return root
    return None


def _source_files(root: Path) -> list[Path]:
    files = [root / "pyproject.toml"] + [p for p in [root / "README.md"] if p.is_file()]
    for path in sorted((root / "src" / "modelyard").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append(path)
    return files


def modelyard_wheel(
    wheel_dir: str | os.PathLike[str], source: str | os.PathLike[str] | None = None
) -> Path:
    """A wheel of the running modelyard under ``wheel_dir``, built once per source hash.

    From a source checkout it is built with this interpreter's pip (from a copy of the tree, so the
    checkout gets no build leftovers); from an installed wheel it is repacked from the installed
    files. The folder name carries the version and the hash of what went in. ``source`` names
    another source tree (``pyproject.toml``, ``src/modelyard``) to build from.
    """
    version = metadata.version("modelyard")
    root = Path(source) if source is not None else source_checkout()
    digest = hashlib.sha256()
    if root is not None:
        for path in _source_files(root):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    else:
        record = metadata.distribution("modelyard").read_text("RECORD") or ""
        digest.update(record.encode())
    folder = Path(wheel_dir, f"modelyard-{version}-{digest.hexdigest()[:16]}")
    found = sorted(folder.glob("modelyard-*.whl")) if folder.is_dir() else []
    if found:
        return found[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        out = work / "dist"
        out.mkdir()
        if root is not None:
            _build_from_source(root, work / "src-copy", out)
        else:
            _repack_installed(out)
        try:
            os.replace(out, folder)
        except OSError:
            if not any(folder.glob("modelyard-*.whl")):  # another process won the race: use it
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sorted(folder.glob("modelyard-*.whl"))[0]


def _build_from_source(root: Path, copy: Path, out: Path) -> None:
    for path in _source_files(root):
        target = copy / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
            "-w", str(out)]  # fmt: skip
    try:
        import setuptools  # noqa: F401  (present: build with it, no index needed)

        argv.append("--no-build-isolation")
    except ImportError:
        pass
    done = subprocess.run(
        [*argv, str(copy)], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0 or not any(out.glob("*.whl")):
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise InvalidState(f"Building a wheel of modelyard from {root} failed:\n{tail}")


def _repack_installed(out: Path) -> None:
    """A wheel made of the installed modelyard's files (those its RECORD lists inside
    site-packages), for a modelyard that was itself installed from a wheel."""
    dist = metadata.distribution("modelyard")
    files = [f for f in dist.files or [] if not str(f).startswith("..")]
    info = next(
        (str(f).split("/")[0] for f in files if str(f).endswith(".dist-info/METADATA")), None
    )
    if info is None or not any(str(f).startswith("modelyard/") for f in files):
        raise InvalidState(
            "modelyard is installed without its files (an editable install whose source is gone?): "
            "reinstall it, or use --env-manager local."
        )
    # of the dist-info, only what a wheel carries (not RECORD, INSTALLER, the installer's caches)
    kept = ("METADATA", "WHEEL", "entry_points.txt", "top_level.txt", "licenses/", "LICENSE")
    wheel = out / f"modelyard-{dist.version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted(files, key=str):
            name = str(item)
            if "__pycache__" in name or name.endswith(".pyc"):
                continue
            if name.startswith(f"{info}/") and not name[len(info) + 1 :].startswith(kept):
                continue
            data = Path(str(item.locate())).read_bytes()
            archive.writestr(name, data)
            sha = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={sha},{len(data)}")
        records.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(records) + "\n")


__all__ = [
    "INSIDE_ENV_VAR",
    "MODEL_ENV_MANAGERS",
    "ModelEnv",
    "modelyard_wheel",
    "prepare_model_env",
    "read_model_env",
    "reexec_in_model_env",
    "source_checkout",
    "wheel_requirements",
]
