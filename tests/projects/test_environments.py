"""Project environments: a real virtual environment from python_env.yaml, cached by the hash of its
spec and built once under concurrency; clear messages when conda, docker, uv or a Python is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from project_helpers import runs_of, write_project

from modelyard.errors import InvalidInput, InvalidState, TemporarilyUnavailable
from modelyard.projects import environments, load_project
from modelyard.projects.environments import MARKER, prepare, spec_hash

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
PROBE = """
import importlib.util, json, os, sys
with open(os.environ["PROBE_TO"], "w") as out:
    json.dump({"prefix": sys.prefix, "modelyard": importlib.util.find_spec("modelyard") is not None,
               "six": importlib.util.find_spec("six") is not None}, out)
"""


def venv_project(root: Path, dependencies: list[str] | None = None) -> Path:
    deps = "".join(f"  - {d}\n" for d in dependencies or [])
    return write_project(
        root,
        {
            "MLproject": "name: venv\npython_env: python_env.yaml\n"
            "entry_points:\n  main: {command: 'python probe.py'}\n",
            "python_env.yaml": f"python: '{PY}'\ndependencies:\n{deps}"
            if deps
            else f"python: '{PY}'\n",
            "probe.py": PROBE,
        },
    )


#: A PATH without uv, so that virtualenv falls back to ``python -m venv``.
NO_UV_PATH = "/usr/local/bin:/usr/bin:/bin"


def test_virtualenv_is_built_once_then_reused(
    modelyard, tmp_path: Path, tracking_db: str, client, project_env: dict[str, str]
) -> None:
    assert shutil.which("uv", path=NO_UV_PATH) is None
    project = venv_project(tmp_path / "venv-project")
    probe = tmp_path / "probe.json"
    cache = Path(project_env["MODELYARD_ENV_CACHE_DIR"])
    env = {"PROBE_TO": str(probe), "PATH": NO_UV_PATH}

    first = modelyard("run", str(project), "--tracking-uri", tracking_db, env=env)
    assert first.returncode == 0, first.stderr
    assert "building a virtual environment with venv" in first.stderr
    (env_dir,) = [p for p in cache.iterdir() if p.is_dir()]
    marker = json.loads((env_dir / MARKER).read_text())
    seen = json.loads(probe.read_text())
    assert Path(seen["prefix"]) == env_dir
    assert seen["modelyard"] is False, "the project environment is isolated from this one"

    second = modelyard("run", str(project), "--tracking-uri", tracking_db, env=env)
    assert second.returncode == 0, second.stderr
    assert "building" not in second.stderr
    assert json.loads((env_dir / MARKER).read_text()) == marker, "the environment was rebuilt"
    assert Path(json.loads(probe.read_text())["prefix"]) == env_dir
    assert [p for p in cache.iterdir() if p.is_dir()] == [env_dir]

    runs = runs_of(client)
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    for run in runs:
        assert run.data.tag_dict["mlflow.project.env"] == "virtualenv"
        assert env_dir.name.endswith(run.data.tag_dict["modelyard.project.envHash"])

    local = modelyard(
        "run", str(project), "--env-manager", "local", "--tracking-uri", tracking_db,
        env=env,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert json.loads(probe.read_text())["modelyard"] is True
    assert runs_of(client)[0].data.tag_dict["mlflow.project.env"] == "local"


def test_uv_builds_the_environment_when_it_is_on_path(
    modelyard, tmp_path: Path, tracking_db: str, client, project_env: dict[str, str]
) -> None:
    uv = shutil.which("uv", path=os.path.dirname(sys.executable))
    assert uv is not None, "uv is in the dev extra"
    project = venv_project(tmp_path / "uv-project")
    probe = tmp_path / "probe.json"
    env = {"PROBE_TO": str(probe), "PATH": f"{os.path.dirname(uv)}:{NO_UV_PATH}"}
    done = modelyard(
        "run", str(project), "--env-manager", "uv", "--tracking-uri", tracking_db, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "building a virtual environment with uv" in done.stderr
    seen = json.loads(probe.read_text())
    cache = Path(project_env["MODELYARD_ENV_CACHE_DIR"])
    assert Path(seen["prefix"]).parent == cache
    assert seen["modelyard"] is False
    (run,) = runs_of(client)
    assert run.info.status == "FINISHED"
    assert run.data.tag_dict["mlflow.project.env"] == "virtualenv"
    again = modelyard("run", str(project), "--tracking-uri", tracking_db, env=env)
    assert again.returncode == 0 and "building" not in again.stderr, again.stderr


def test_concurrent_runs_build_the_environment_once(tmp_path: Path) -> None:
    project = venv_project(tmp_path / "venv-project")
    cache = tmp_path / "cache"
    code = (
        "import sys; from modelyard.projects import environments, load_project; "
        f"env = environments.prepare(load_project({str(project)!r}).env, None, {str(cache)!r}); "
        "print('reused' if env.reused else 'built', env.prefix)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[0] for o in outputs) == ["built", "reused"]
    assert outputs[0][1] == outputs[1][1]


def test_spec_hash_follows_python_dependencies_and_requirement_files(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    base = {"kind": "virtualenv", "python": "3.11.9", "build": [], "deps": ["six"]}
    reqs = ["-r requirements.txt"]
    first = spec_hash(base, str(tmp_path), reqs)
    assert spec_hash(dict(base), str(tmp_path), reqs) == first
    assert spec_hash({**base, "python": "3.12.1"}, str(tmp_path), reqs) != first
    assert spec_hash({**base, "deps": ["six==1.16.0"]}, str(tmp_path), reqs) != first
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    assert spec_hash(base, str(tmp_path), reqs) != first
    with pytest.raises(InvalidInput, match=r"'missing\.txt'"):
        spec_hash(base, str(tmp_path), ["-r missing.txt"])


@pytest.mark.slow
def test_virtualenv_installs_dependencies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = venv_project(tmp_path / "six-project", ["six"])
    env = prepare(load_project(str(project)).env, None, str(tmp_path / "cache"))
    assert not env.reused
    probe = tmp_path / "probe.json"
    done = subprocess.run(
        env.argv("python probe.py", str(project), {}),
        cwd=project,
        env=env.environ(os.environ, {"PROBE_TO": str(probe)}),
        timeout=120,
    )
    assert done.returncode == 0
    assert json.loads(probe.read_text())["six"] is True
    assert prepare(load_project(str(project)).env, None, str(tmp_path / "cache")).reused


def test_bad_python_env_files(tmp_path: Path) -> None:
    project = venv_project(tmp_path / "p")
    spec = load_project(str(project)).env
    (project / "python_env.yaml").write_text("python: '2.7'\n")
    with pytest.raises(InvalidState, match=r"wants Python 2\.7, which is not installed"):
        prepare(spec, None, str(tmp_path / "cache"))
    (project / "python_env.yaml").write_text("python: '3'\npackages: [six]\n")
    with pytest.raises(InvalidInput, match="unknown key 'packages'"):
        prepare(spec, None, str(tmp_path / "cache"))
    (project / "python_env.yaml").write_text("dependencies: six\n")
    with pytest.raises(InvalidInput, match="'dependencies' must be a list"):
        prepare(spec, None, str(tmp_path / "cache"))


def _bin_with(tmp_path: Path, scripts: dict[str, str]) -> str:
    """A PATH of one folder holding only ``scripts`` (name -> shell text)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, text in scripts.items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + text)
        path.chmod(0o755)
    return str(folder)


def test_conda_project_without_conda_says_so_and_creates_no_run(
    modelyard, tmp_path: Path, tracking_db: str, client
) -> None:
    project = write_project(
        tmp_path / "conda-project",
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main: {command: 'true'}\n",
            "conda.yaml": "name: x\ndependencies: [python=3.11]\n",
        },
    )
    done = modelyard(
        "run", str(project), "--tracking-uri", tracking_db,
        env={"PATH": _bin_with(tmp_path, {}), "CONDA_EXE": ""},
    )  # fmt: skip
    assert done.returncode == 1
    message = done.stderr.strip()
    assert message.startswith("Error: The project declares a conda environment (conda.yaml), ")
    assert "conda is not installed" in message and "--env-manager local" in message
    assert runs_of(client) == []
    spec = load_project(str(project)).env
    with pytest.raises(InvalidInput, match=r"builds from python_env\.yaml"):
        prepare(spec, "virtualenv", str(tmp_path / "cache"))


def test_docker_project_without_docker_or_its_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(
        tmp_path / "docker-project",
        {
            "MLproject": "docker_env: {image: 'python:3.11-slim'}\nentry_points:\n  main: {command: 'true'}\n"
        },
    )
    spec = load_project(str(project)).env
    monkeypatch.setenv("PATH", _bin_with(tmp_path, {}))
    with pytest.raises(InvalidState, match="docker is not installed"):
        prepare(spec, None, str(tmp_path / "cache"))
    _bin_with(
        tmp_path,
        {
            "docker": "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?' >&2\nexit 1\n"
        },
    )
    with pytest.raises(TemporarilyUnavailable) as caught:
        prepare(spec, None, str(tmp_path / "cache"))
    assert "engine cannot be reached (Cannot connect to the Docker daemon" in caught.value.message
    with pytest.raises(InvalidInput, match="cannot build it"):
        prepare(spec, "virtualenv", str(tmp_path / "cache"))
    assert prepare(spec, "local", str(tmp_path / "cache")).tag == "local"


def test_uv_manager_without_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = venv_project(tmp_path / "p")
    monkeypatch.setenv("PATH", _bin_with(tmp_path, {}))
    with pytest.raises(InvalidState, match="needs the 'uv' program"):
        prepare(load_project(str(project)).env, "uv", str(tmp_path / "cache"))
    with pytest.raises(InvalidInput, match="Unknown environment manager 'pipenv'"):
        environments.resolve_manager(load_project(str(project)).env, "pipenv")
