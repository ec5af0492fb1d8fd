"""A model's own environment: read from its files, modelyard installed from a wheel of this checkout,
and ``models predict --env-manager virtualenv|uv`` scoring inside a real environment built for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from batch_helpers import save_where_am_i

from modelyard.errors import InvalidInput
from modelyard.serving.environments import (
    INSIDE_ENV_VAR,
    _rewrite_argv,
    modelyard_wheel,
    read_model_env,
    reexec_in_model_env,
    source_checkout,
)

#: A PATH without uv (so virtualenv falls back to python -m venv and pip).
NO_UV_PATH = "/usr/local/bin:/usr/bin:/bin"


def test_model_env_is_read_from_python_env_without_modelyard(tmp_path: Path) -> None:
    model = save_where_am_i(tmp_path)
    assert "modelyard==" in (model / "requirements.txt").read_text()
    env = read_model_env(model)
    assert env.source == "python_env.yaml"
    assert env.python == ".".join(map(str, sys.version_info[:2]))
    assert any(d.startswith("six==") for d in env.dependencies)
    assert not any(d.lower().startswith("modelyard") for d in env.dependencies)
    assert any(d.startswith("pip") for d in env.build_dependencies)


def test_requirements_txt_then_conda_yaml_are_the_fallbacks(tmp_path: Path) -> None:
    only_reqs = tmp_path / "reqs"
    only_reqs.mkdir()
    (only_reqs / "requirements.txt").write_text("# pinned\nsix==1.17.0\nmodelyard[serving]>=0.1\n")
    env = read_model_env(only_reqs)
    assert (env.source, env.dependencies) == ("requirements.txt", ("six==1.17.0",))

    only_conda = tmp_path / "conda"
    only_conda.mkdir()
    (only_conda / "conda.yaml").write_text(
        "channels: [conda-forge]\ndependencies:\n- python=3.10.4\n- pip<=24\n- libgomp\n"
        "- pip:\n  - six==1.17.0\n  - modelyard==0.1.0\nname: mlflow-env\n"
    )
    env = read_model_env(only_conda)
    assert (env.source, env.python, env.dependencies) == ("conda.yaml", "3.10", ("six==1.17.0",))

    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "python_env.yaml").write_text("python: '3.11'\ndependencies: ['-r extra.txt']\n")
    with pytest.raises(InvalidInput, match=r"extra\.txt"):
        read_model_env(missing)


def test_the_rerun_gets_the_local_model_and_env_manager_local() -> None:
    argv = ["models", "serve", "-m", "models:/fraud@prod", "--env-manager", "uv", "-p", "9000"]
    assert _rewrite_argv(argv, "models:/fraud@prod", "/tmp/m") == [
        "models", "serve", "-m", "/tmp/m", "--env-manager", "local", "-p", "9000",
    ]  # fmt: skip
    argv = ["models", "predict", "--model-uri=runs:/r/m", "-i", "-", "--env-manager=virtualenv"]
    assert _rewrite_argv(argv, "runs:/r/m", "/tmp/m") == [
        "models", "predict", "--model-uri=/tmp/m", "-i", "-", "--env-manager=local",
    ]  # fmt: skip
    assert _rewrite_argv(["models", "serve", "-m", "x"], "x", "/tmp/x")[-2:] == [
        "--env-manager",
        "local",
    ]


def test_local_and_inside_an_env_return_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing is resolved: a URI that does not exist would fail if it were
    reexec_in_model_env("models:/does-not-exist/1", "local", ["models", "serve"])
    monkeypatch.setenv(INSIDE_ENV_VAR, "/some/env")
    reexec_in_model_env("models:/does-not-exist/1", "uv", ["models", "serve"])
    monkeypatch.delenv(INSIDE_ENV_VAR)
    with pytest.raises(InvalidInput, match="Unknown environment manager 'conda'"):
        reexec_in_model_env("models:/does-not-exist/1", "conda", ["models", "serve"])


@pytest.mark.slow
def test_modelyard_wheel_from_source_then_repacked_from_an_installed_wheel(tmp_path: Path) -> None:
    checkout = source_checkout()
    assert checkout is not None, "the tests run from a source checkout"
    # a snapshot of the checkout, so that edits made meanwhile do not change the source hash
    root = tmp_path / "snapshot"
    shutil.copytree(
        checkout / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(checkout / name, root / name)
    wheel = modelyard_wheel(tmp_path / "wheels", source=root)
    assert modelyard_wheel(tmp_path / "wheels", source=root) == wheel  # once per source hash
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"modelyard/serving/environments.py", "modelyard/cli/main.py"} <= names
    assert not any("__pycache__" in n for n in names)
    assert not (root / "build").exists()  # built from a copy: no leftovers in the source tree
    assert not list((root / "src").glob("*.egg-info"))

    # modelyard installed from that wheel (no source around) repacks its own files
    venv = tmp_path / "venv"
    uv = shutil.which("uv", path=os.path.dirname(sys.executable))
    assert uv is not None, "uv is in the dev extra"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--no-deps", "--python", str(venv / "bin/python"),
                    str(wheel)], check=True)  # fmt: skip
    script = (
        "from modelyard.serving.environments import modelyard_wheel, source_checkout\n"
        f"assert source_checkout() is None\nprint(modelyard_wheel({str(tmp_path / 'again')!r}))\n"
    )
    done = subprocess.run(
        [str(venv / "bin/python"), "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    repacked = Path(done.stdout.strip())
    with zipfile.ZipFile(repacked) as archive:
        assert set(archive.namelist()) == names
        assert archive.testzip() is None
    # and pip accepts it
    target = tmp_path / "target"
    subprocess.run([uv, "pip", "install", "-q", "--no-deps", "--target", str(target),
                    "--python", str(venv / "bin/python"), str(repacked)], check=True)  # fmt: skip
    assert (target / "modelyard" / "serving" / "batch.py").is_file()


def _predict_in_env(model: Path, tmp_path: Path, manager: str, path: str) -> tuple[str, bytes]:
    data = pd.DataFrame({"x": [1.0, 2.5, -3.0]})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update({"PATH": path, "MODELYARD_ENV_CACHE_DIR": str(tmp_path / "cache")})
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "models", "predict", "-m", str(model), "-i", "-",
         "-t", "csv", "-o", "-", "--output-format", "csv", "--env-manager", manager],
        input=data.to_csv(index=False).encode(), capture_output=True, timeout=900, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    out = pd.read_csv(BytesIO(done.stdout))
    assert out["x"].tolist() == [2.0, 5.0, -6.0]
    prefix = out["prefix"].iloc[0]
    assert prefix.startswith(str(tmp_path / "cache" / "venv-")), prefix
    assert out["six"].iloc[0] == metadata.version("six")  # the pinned requirement, installed
    assert (Path(prefix) / "lib").is_dir() and prefix != sys.prefix
    return done.stderr.decode(), done.stdout


@pytest.mark.slow
def test_predict_with_virtualenv_builds_the_model_env_with_venv_and_pip(tmp_path: Path) -> None:
    assert shutil.which("uv", path=NO_UV_PATH) is None
    model = save_where_am_i(tmp_path)
    stderr, _ = _predict_in_env(model, tmp_path, "virtualenv", NO_UV_PATH)
    assert "model environment built" in stderr
    envs = list((tmp_path / "cache").glob("venv-*/"))
    assert len(envs) == 1
    assert list(envs[0].glob("lib/python*/site-packages/six.py"))
    assert list(envs[0].glob("lib/python*/site-packages/modelyard/serving/batch.py"))


@pytest.mark.slow
def test_predict_with_uv_builds_once_and_reuses(tmp_path: Path) -> None:
    uv = shutil.which("uv", path=os.path.dirname(sys.executable))
    assert uv is not None, "uv is in the dev extra"
    model = save_where_am_i(tmp_path)
    path = f"{os.path.dirname(uv)}:{NO_UV_PATH}"
    first, out_first = _predict_in_env(model, tmp_path, "uv", path)
    assert "model environment built" in first
    second, out_second = _predict_in_env(model, tmp_path, "uv", path)
    assert "model environment reused" in second
    assert out_second == out_first


@pytest.mark.slow
def test_serve_with_uv_runs_the_scoring_server_in_the_model_env(tmp_path: Path) -> None:
    import json
    import socket
    import time
    import urllib.error
    import urllib.request

    uv = shutil.which("uv", path=os.path.dirname(sys.executable))
    assert uv is not None, "uv is in the dev extra"
    model = save_where_am_i(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(
        {
            "PATH": f"{os.path.dirname(uv)}:{NO_UV_PATH}",
            "MODELYARD_ENV_CACHE_DIR": str(tmp_path / "c"),
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", "models", "serve", "-m", str(model),
         "--env-manager", "uv", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.5)
        body = json.dumps({"dataframe_records": [{"x": 1.5}]}).encode()
        request = urllib.request.Request(
            f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            predictions = json.loads(answer.read())["predictions"]
        assert predictions[0]["x"] == 3.0
        assert predictions[0]["prefix"].startswith(str(tmp_path / "c" / "venv-"))
    finally:
        server.terminate()  # the same process, now the environment's Python (execv)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_python_that_is_not_installed_is_one_error_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import cli

    model = save_where_am_i(tmp_path)
    text = (model / "python_env.yaml").read_text()
    (model / "python_env.yaml").write_text(
        "\n".join(
            "python: 3.7.1" if line.startswith("python:") else line for line in text.split("\n")
        )
    )
    (tmp_path / "in.csv").write_text("x\n1\n")
    done = CliRunner().invoke(
        cli,
        [
            "models",
            "predict",
            "-m",
            str(model),
            "-i",
            str(tmp_path / "in.csv"),
            "--env-manager",
            "uv",
        ],
        env={"MODELYARD_ENV_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.exit_code == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: The model wants Python 3.7 (python_env.yaml), which is not installed here (this is "
        f"Python {sys.version_info[0]}.{sys.version_info[1]}). Install python3.7, or serve it with "
        "--env-manager local in an environment that has its packages."
    )
    assert not list((tmp_path / "cache").glob("venv-*"))  # nothing was built
