"""``models generate-dockerfile`` and ``build-docker``, checked without Docker.

The generated Dockerfile is parsed; its install steps run in a fresh virtual environment from the
context's own files (the same ``python -m pip install`` lines, in the directory ``WORKDIR`` maps to),
its ``CMD`` starts with the context's model path and a free port, and ``/invocations`` answers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from batch_helpers import save_where_am_i
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.serving.environments import read_model_env


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    steps, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        instruction, _, rest = text.partition(" ")
        steps.append((instruction.upper(), rest.strip()))
    return steps


def _generate(tmp_path: Path, model: Path, *args: str):
    env = {"MODELYARD_ENV_CACHE_DIR": str(tmp_path / "cache")}
    return CliRunner().invoke(cli, ["models", *args, "-m", str(model)], env=env)


def test_generate_dockerfile_lays_out_the_context(tmp_path: Path) -> None:
    model = save_where_am_i(tmp_path)
    done = _generate(tmp_path, model, "generate-dockerfile", "-d", str(tmp_path / "ctx"))
    assert done.exit_code == 0, done.output
    ctx = tmp_path / "ctx"
    steps = parse_dockerfile(ctx / "Dockerfile")
    python = (model / "python_env.yaml").read_text().split("python: ")[1].split()[0]
    assert steps[0] == ("FROM", f"python:{python}-slim")
    assert ("EXPOSE", "8080") in steps
    assert ("COPY", "model/ /opt/ml/model/") in steps
    cmd = json.loads(dict(steps)["CMD"])
    assert cmd[:2] == ["sh", "-c"]
    assert cmd[2] == (
        "exec modelyard models serve -m /opt/ml/model --host 0.0.0.0 --port 8080 "
        "--workers ${MODELYARD_MODELS_WORKERS:-$(nproc)}"
    )
    assert sorted(p.name for p in (ctx / "model").iterdir()) == sorted(
        p.name for p in model.iterdir()
    )
    wheels = list((ctx / "modelyard").glob("modelyard-*-py3-none-any.whl"))
    assert len(wheels) == 1
    requirements = (ctx / "modelyard" / "requirements.txt").read_text().splitlines()
    assert requirements == list(read_model_env(model).dependencies)
    assert not any(r.lower().startswith("modelyard") for r in requirements)  # not on PyPI

    again = _generate(tmp_path, model, "generate-dockerfile", "-d", str(ctx))
    assert again.exit_code == 1 and "already holds Dockerfile" in again.stderr


def test_build_docker_without_an_engine_says_so_in_one_line(tmp_path: Path) -> None:
    model = save_where_am_i(tmp_path)
    done = _generate(tmp_path, model, "build-docker", "-n", "where-am-i")
    assert done.exit_code == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "generate-dockerfile" in lines[0]
    if shutil.which("docker") is not None:
        assert "No Docker engine can be reached" in lines[0]
    found = re.search(r"the build context is in (\S+?)[.:]? ", lines[0])
    assert found, lines[0]
    context = Path(found.group(1))
    try:
        assert (context / "Dockerfile").is_file() and (context / "model" / "MLmodel").is_file()
    finally:
        shutil.rmtree(context, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
def test_the_context_installs_and_serves_without_docker(tmp_path: Path) -> None:
    model = save_where_am_i(tmp_path)
    ctx = tmp_path / "ctx"
    assert _generate(tmp_path, model, "generate-dockerfile", "-d", str(ctx)).exit_code == 0
    steps = parse_dockerfile(ctx / "Dockerfile")

    venv = tmp_path / "image"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.pop("PYTHONPATH", None)
    env.update({"PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": str(venv)})
    copies: dict[str, Path] = {}  # image path -> context path
    workdir = "/"
    installs = 0
    command: list[str] = []

    def local(image_path: str) -> Path:
        for dest, source in sorted(copies.items(), key=lambda kv: -len(kv[0])):
            if image_path.rstrip("/") == dest.rstrip("/") or image_path.startswith(
                dest.rstrip("/") + "/"
            ):
                return source / image_path[len(dest.rstrip("/")) :].lstrip("/")
        raise AssertionError(f"{image_path} is not copied from the context")

    for instruction, args in steps:
        if instruction == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
        elif instruction == "WORKDIR":
            workdir = args
        elif instruction == "COPY":
            source, dest = args.split()
            copies[dest] = ctx / source
        elif instruction == "RUN":
            env.pop("PIP_NO_CACHE_DIR", None)  # the image keeps no cache; the test may reuse one
            if args.startswith("useradd "):
                continue  # the image's unprivileged user; not an install step
            assert args.startswith("python -m pip install "), args
            done = subprocess.run(
                ["sh", "-c", args], cwd=local(workdir), env=env, capture_output=True, text=True,
                timeout=1200,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            installs += 1
        elif instruction == "CMD":
            command = json.loads(args)
    assert installs == 2 and command

    port = _free_port()
    script = command[2].replace("/opt/ml/model", str(local("/opt/ml/model")))
    script = script.replace("--host 0.0.0.0", "--host 127.0.0.1")
    script = script.replace("--port 8080", f"--port {port}")
    assert str(port) in script and "/opt/ml" not in script
    env["MODELYARD_MODELS_WORKERS"] = "1"
    server = subprocess.Popen(
        [command[0], command[1], script], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            try:
                if _get(f"http://127.0.0.1:{port}/ping")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.5)
        body = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[1.0], [4.0]]}})
        status, answer = _get(f"http://127.0.0.1:{port}/invocations", body.encode())
        assert status == 200, answer
        predictions = json.loads(answer)["predictions"]
        assert [p["x"] for p in predictions] == [2.0, 8.0]
        assert predictions[0]["prefix"] == str(venv)  # served from the image's environment
        import six

        assert predictions[0]["six"] == six.__version__
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
