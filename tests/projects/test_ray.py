"""The Ray backend against a real Ray head on 127.0.0.1 (started by ``ray.init`` in a subprocess that
this module owns and stops), with a modelyard server the jobs log to."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from project_helpers import free_port, runs_of, write_project

from modelyard.client import ModelyardClient

#: Keep every Ray address on the loopback interface, no token, no usage report.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}
HEAD = """
import signal, sys, time
import ray

ray.init(_node_ip_address="127.0.0.1", include_dashboard=True, dashboard_host="127.0.0.1",
         dashboard_port=int(sys.argv[1]), num_cpus=2, _temp_dir=sys.argv[2],
         object_store_memory=200 * 1024 * 1024, configure_logging=False)
print("READY", flush=True)

def stop(*_):
    ray.shutdown()
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(1)
"""
TRAIN = """
import sys
import modelyard
lr = float(sys.argv[1])
print("training with lr", lr, flush=True)
if lr < 0:
    sys.exit("negative learning rate")
modelyard.log_metric("loss", abs(lr - 0.1))
modelyard.set_tag("where", "ray")
"""


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """The dashboard URL of a Ray head; started again (up to 3 times) when it does not come up,
    since Ray gives its raylet a fixed 30 s to register, which a busy machine can miss."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(RAY_ENV)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    failures = []
    for _ in range(3):
        port = free_port()
        temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
        log_path = Path(temp) / "head.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", HEAD, str(port), temp], env=env, stdout=log, stderr=log
            )
        url = f"http://127.0.0.1:{port}"
        try:
            if _head_ready(proc, log_path, url):
                yield url
                return
            failures.append(log_path.read_text(errors="replace")[-2000:])
        finally:
            _stop_head(proc, temp)
    pytest.fail("the Ray head did not start:\n" + "\n---\n".join(failures))


def _head_ready(proc: subprocess.Popen[bytes], log_path: Path, url: str) -> bool:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if b"READY" in log_path.read_bytes():
            try:
                with urllib.request.urlopen(f"{url}/api/version", timeout=5):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        time.sleep(0.5)
    return False


def _stop_head(proc: subprocess.Popen[bytes], temp: str) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _stop_leftovers(temp)
    shutil.rmtree(temp, ignore_errors=True)


def _stop_leftovers(temp: str) -> None:
    """Kill, by pid, any process of this head (its command line names its temp dir)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if temp in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), 9)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "ray-project",
        {
            "MLproject": "name: on-ray\nentry_points:\n  main:\n"
            "    parameters: {lr: float}\n    command: 'python train.py {lr}'\n",
            "train.py": TRAIN,
        },
    )


@pytest.mark.slow
def test_run_and_sweep_on_ray(modelyard, project: Path, ray_address: str, server_url: str) -> None:
    """One test, so that one xdist worker starts one Ray head (xdist_group is not honoured)."""
    config = f'{{"address": "{ray_address}", "poll_interval": 0.5}}'
    done = modelyard(
        "run", str(project), "-P", "lr=0.3", "--backend", "ray", "--backend-config", config,
        "--experiment-name", "ray-runs", "--tracking-uri", server_url, env=RAY_ENV, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "training with lr 0.3" in done.stdout, "the job's logs were not followed"
    with ModelyardClient(server_url) as client:
        experiment = client.get_experiment_by_name("ray-runs")
        assert experiment is not None
        (run,) = runs_of(client, experiment.experiment_id)
        assert run.info.status == "FINISHED"
        tags = run.data.tag_dict
        assert tags["mlflow.project.backend"] == "ray"
        assert tags["mlflow.project.env"] == "local"
        assert tags["where"] == "ray"
        assert run.data.param_dict == {"lr": "0.3"}
        assert [m.value for m in run.data.metrics] == [pytest.approx(0.2)]

    failed = modelyard(
        "run", str(project), "-P", "lr=-1", "-b", "ray", "-c", config,
        "--experiment-name", "ray-runs", "--tracking-uri", server_url, env=RAY_ENV, timeout=300,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "negative learning rate" in failed.stdout
    with ModelyardClient(server_url) as client:
        statuses = sorted(r.info.status for r in runs_of(client, experiment.experiment_id))
        assert statuses == ["FAILED", "FINISHED"]

    # a sweep: three trials as Ray jobs at once
    done = modelyard(
        "sweep", str(project), "--grid", "lr=0.05,0.1,0.5", "--parallel", "3", "--metric", "loss",
        "-b", "ray", "-c", f'{{"address": "{ray_address}", "poll_interval": 0.5}}',
        "--experiment-name", "ray-sweep", "--tracking-uri", server_url, env=RAY_ENV, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with ModelyardClient(server_url) as client:
        experiment = client.get_experiment_by_name("ray-sweep")
        assert experiment is not None
        runs = runs_of(client, experiment.experiment_id)
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tag_dict)
        children = [r for r in runs if r is not parent]
        assert len(children) == 3
        assert all(r.data.tag_dict["mlflow.project.backend"] == "ray" for r in children)
        best = next(r for r in children if r.data.param_dict["lr"] == "0.1")
        assert parent.data.tag_dict["best_run_id"] == best.info.run_id
        assert parent.data.param_dict["best_lr"] == "0.1"


@pytest.mark.slow
def test_unreachable_ray_cluster_creates_no_run(
    modelyard, project: Path, tracking_db: str, client
) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    done = modelyard(
        "run", str(project), "-P", "lr=1", "-b", "ray", "-c", f'{{"address": "{address}"}}',
        "--tracking-uri", tracking_db, env=RAY_ENV,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: Could not reach the Ray cluster at {address}")
    assert runs_of(client) == []
    done = modelyard(
        "run", str(project), "-P", "lr=1", "-b", "ray", "-c", '{"adress": "x"}',
        "--tracking-uri", tracking_db, env=RAY_ENV,
    )  # fmt: skip
    assert done.returncode == 1 and "Unknown Ray backend option(s) adress" in done.stderr
