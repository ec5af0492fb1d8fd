"""The official ``mlflow`` client logs and downloads artifacts through a modelyard server's proxy.

This module runs its own server (``modelyard_server`` below replaces the one of conftest.py): it
serves the artifact proxy over a destination folder and leaves ``default_artifact_root`` at its
default, so new experiments get ``mlflow-artifacts:/<id>`` locations and every file goes through
``/api/2.0/mlflow-artifacts/artifacts/...``. Files logged by modelyard's client are read by mlflow's,
and the reverse, byte for byte.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import live_server
import pytest

from live_app import server_process
from modelyard.client.tracking import ModelyardClient
from modelyard.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compat-artifacts-server")


@pytest.fixture(scope="module")
def modelyard_server(server_root) -> Iterator[str]:
    """A modelyard server (uvicorn, 2 workers) that proxies artifacts into ``server_root/destination``."""
    with live_server.modelyard_server(
        server_root, artifacts_destination=str(server_root / "destination"), serve_artifacts="true"
    ) as url:
        yield url


@pytest.fixture
def yard(modelyard_server) -> Iterator[ModelyardClient]:
    """modelyard's own client of the same server."""
    settings = load_settings({}, http_max_retries=0, flush_interval_s=0.05)
    with ModelyardClient(modelyard_server, settings=settings) as client:
        yield client


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_mlflow_logs_and_downloads_artifacts_through_the_proxy(mlflow, server_root, tmp_path):
    from mlflow import MlflowClient

    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(2 * (1 << 20) + 3))
    tree = tmp_path / "tree"
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": os.urandom(50_000),
        "sub/deeper/c.json": b'{"c": 3}',
        "with space.txt": b"spaced",
    }
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    config = {"lr": 0.1, "layers": [32, 16], "name": "caf\u00e9"}

    mlflow.set_experiment("compat-artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(weights))
        mlflow.log_artifact(str(weights), artifact_path="checkpoints")
        mlflow.log_artifacts(str(tree), artifact_path="tree")
        mlflow.log_dict(config, "config.json")
        mlflow.log_dict(config, "config.yaml")
        mlflow.log_text("z\u00fcrich \u2603\n", "notes/readme.txt")
    run_id = run.info.run_id
    experiment_id = run.info.experiment_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"

    listed = MlflowClient().list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in listed] == [
        ("checkpoints", True),
        ("config.json", False),
        ("config.yaml", False),
        ("notes", True),
        ("tree", True),
        ("weights.bin", False),
    ]
    assert next(f for f in listed if f.path == "weights.bin").file_size == weights.stat().st_size
    assert [f.path for f in MlflowClient().list_artifacts(run_id, "tree/sub")] == [
        "tree/sub/b.bin",
        "tree/sub/deeper",
    ]

    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "all")))
    got = _tree(out)
    assert got["weights.bin"] == weights.read_bytes()
    assert got["checkpoints/weights.bin"] == weights.read_bytes()
    assert {k[len("tree/") :]: v for k, v in got.items() if k.startswith("tree/")} == files
    assert json.loads(got["config.json"]) == config
    assert got["notes/readme.txt"] == "z\u00fcrich \u2603\n".encode()
    one = mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{run_id}/tree/sub/b.bin", dst_path=str(tmp_path / "one")
    )
    assert Path(one).read_bytes() == files["sub/b.bin"]
    assert mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/config.json") == config
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "z\u00fcrich \u2603\n"

    on_disk = server_root / "destination" / experiment_id / run_id / "artifacts"
    assert (on_disk / "weights.bin").read_bytes() == weights.read_bytes()
    assert _tree(on_disk / "tree") == files


def test_files_logged_by_modelyard_are_read_by_mlflow(mlflow, yard, tmp_path):
    from mlflow import MlflowClient

    experiment_id = yard.create_experiment("from-modelyard")
    run_id = yard.create_run(experiment_id).info.run_id
    blob = os.urandom(300_000)
    (tmp_path / "blob.bin").write_bytes(blob)
    yard.log_artifact(run_id, tmp_path / "blob.bin", "data")
    yard.log_dict(run_id, {"k": [1, 2, {"x": None}]}, "meta/k.json")
    yard.log_text(run_id, "plain\ntext\n", "readme.md")
    yard.log_table(run_id, {"q": ["a", "b"], "score": [0.5, 1.0]}, "eval.json")

    client = MlflowClient()
    assert [f.path for f in client.list_artifacts(run_id)] == [
        "data",
        "eval.json",
        "meta",
        "readme.md",
    ]
    path = client.download_artifacts(run_id, "data/blob.bin", str(tmp_path / "dl"))
    assert Path(path).read_bytes() == blob
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/meta/k.json") == {"k": [1, 2, {"x": None}]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/readme.md") == "plain\ntext\n"
    table = client.load_table(experiment_id, "eval.json", extra_columns=["run_id"])
    assert table.to_dict(orient="list") == {
        "q": ["a", "b"],
        "score": [0.5, 1.0],
        "run_id": [run_id, run_id],
    }


def test_files_logged_by_mlflow_are_read_by_modelyard(mlflow, yard, tmp_path):
    import numpy as np
    import pandas as pd

    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    with mlflow.start_run() as run:
        mlflow.log_dict({"nested": {"ok": True}}, "conf/settings.yaml")
        mlflow.log_text("from mlflow", "note.txt")
        mlflow.log_table(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "tables/t.json")
        mlflow.log_image(image, "img/small.png")
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "x.bin").write_bytes(b"\x00\x01\x02")
        mlflow.log_artifacts(str(tmp_path / "d"), "folder")
    run_id = run.info.run_id

    assert [f.path for f in yard.list_artifacts(run_id)] == [
        "conf",
        "folder",
        "img",
        "note.txt",
        "tables",
    ]
    assert yard.load_dict(f"runs:/{run_id}/conf/settings.yaml") == {"nested": {"ok": True}}
    assert yard.load_text(f"runs:/{run_id}/note.txt") == "from mlflow"
    table = yard.load_table(run.info.experiment_id, "tables/t.json", extra_columns=["run_id"])
    assert table.to_dict(orient="list") == {"a": [1, 2], "b": ["x", "y"], "run_id": [run_id] * 2}
    out = Path(yard.download_artifacts(run_id, dst_path=tmp_path / "back"))
    assert (out / "folder" / "x.bin").read_bytes() == b"\x00\x01\x02"
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(out / "img" / "small.png")), image)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """A real MLflow 3.17.2 tracking server proxying artifacts, in its own process group."""

    root = tmp_path_factory.mktemp("mlflow-server")
    port = live_server.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner and its consumer processes
    argv = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "destination"), "--workers", "1",
    ]  # fmt: skip
    # the server and the workers it starts are stopped as a group; its log is MLflow's business
    with server_process(
        argv, port, env, root, timeout_s=120, own_session=True, check_log=False
    ) as url:
        yield url


def test_modelyards_client_logs_through_an_mlflow_servers_proxy(
    mlflow_server, tmp_path, monkeypatch
):
    """The reverse direction: modelyard's client against MLflow's own server and proxy."""
    import mlflow as mlflow_module
    from mlflow import MlflowClient

    settings = load_settings({}, http_max_retries=0, flush_interval_s=0.05)
    blob = os.urandom(3 * (1 << 20) + 5)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "blob.bin").write_bytes(blob)
    (tmp_path / "src" / "nested").mkdir()
    (tmp_path / "src" / "nested" / "n.txt").write_bytes(b"nested")
    with ModelyardClient(mlflow_server, settings=settings) as yard:
        run = yard.create_run("0")
        run_id = run.info.run_id
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        yard.log_artifacts(run_id, tmp_path / "src", "files")
        yard.log_dict(run_id, {"from": "modelyard"}, "d.json")
        assert [f.path for f in yard.list_artifacts(run_id)] == ["d.json", "files"]
        back = Path(yard.download_artifacts(run_id, "files", tmp_path / "back"))
        assert _tree(back) == {"blob.bin": blob, "nested/n.txt": b"nested"}

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    mlflow_module.set_tracking_uri(mlflow_server)
    path = MlflowClient().download_artifacts(run_id, "files/blob.bin", str(tmp_path / "ml"))
    assert Path(path).read_bytes() == blob
    assert mlflow_module.artifacts.load_dict(f"runs:/{run_id}/d.json") == {"from": "modelyard"}
