"""Logging models into runs and loading them back by ``runs:/`` and ``models:/`` URIs.

In-process over a SQLite file and local artifacts, and end to end through a real ``modelyard
server`` (its artifact proxy), where the official MLflow client loads what modelyard logged and
modelyard loads what MLflow logged.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import uvicorn
import yaml

import modelyard
import modelyard.pyfunc
import modelyard.pytorch
import modelyard.sklearn
from modelyard.errors import InvalidInput, NotFound


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    modelyard.set_tracking_uri(uri)
    yield uri
    while modelyard.active_run() is not None:
        modelyard.end_run()


def test_sklearn_log_model_into_the_active_run_and_load_by_runs_uri(
    tracking, tmp_path, frame, estimator
) -> None:
    modelyard.set_experiment("houses")
    with modelyard.start_run() as run:
        info = modelyard.sklearn.log_model(estimator, name="model", input_example=frame.head(2))
    # MLflow 3: the model is a logged model of the run's experiment, linked to the run
    assert info.model_uri == f"models:/{info.model_id}" and info.model_id.startswith("m-")
    assert info.signature.inputs.names() == ["size", "rooms"]

    estimator_back = modelyard.sklearn.load_model(info.model_uri, dst_path=str(tmp_path / "dl"))
    np.testing.assert_array_equal(estimator_back.predict(frame), estimator.predict(frame))
    model = modelyard.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    assert model.metadata.run_id == run.run_id and model.metadata.artifact_path == "model"
    assert model.metadata.model_id == info.model_id
    by_run = modelyard.pyfunc.load_model(f"runs:/{run.run_id}/model")
    np.testing.assert_array_equal(by_run.predict(frame), estimator.predict(frame))
    logged = modelyard.get_logged_model(info.model_id)
    assert logged.status == "LOGGED_MODEL_READY" and logged.source_run_id == run.run_id

    # MLflow 2.x's record of logged models on the run
    history = json.loads(modelyard.get_run(run.run_id).data.tag_dict["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in history] == ["model"]
    assert history[0]["model_uuid"] == info.model_uuid and "sklearn" in history[0]["flavors"]
    stored = {p.name for p in Path(logged.artifact_uri.removeprefix("file://")).iterdir()}
    assert {"MLmodel", "model.skops", "requirements.txt"} <= stored
    assert modelyard.list_artifacts(run_id=run.run_id) == []  # nothing in the run's own artifacts


def test_log_model_starts_a_run_when_none_is_active_and_keeps_history(
    tracking, frame, estimator, net_and_batch
) -> None:
    net, batch = net_and_batch
    first = modelyard.sklearn.log_model(estimator, artifact_path="clf")
    run = modelyard.active_run()
    assert run is not None and first.run_id == run.run_id
    second = modelyard.pytorch.log_model(net, name="nets/torch", input_example=batch)
    assert second.model_uri == f"models:/{second.model_id}" != first.model_uri
    history = json.loads(modelyard.get_run(run.run_id).data.tag_dict["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in history] == ["clf", "nets/torch"]
    module = modelyard.pytorch.load_model(f"runs:/{run.run_id}/nets/torch")
    with torch.no_grad():
        np.testing.assert_allclose(
            module(torch.from_numpy(batch)).numpy(), net(torch.from_numpy(batch)).numpy(), rtol=1e-6
        )


def test_python_model_from_code_logged_and_registered(tracking, tmp_path) -> None:
    code = tmp_path / "model.py"
    code.write_text(
        textwrap.dedent(
            """
            import modelyard.pyfunc

            class Greeter(modelyard.pyfunc.PythonModel):
                def load_context(self, context):
                    with open(context.artifacts["greeting"]) as f:
                        self.greeting = f.read()

                def predict(self, model_input, params=None):
                    return [f"{self.greeting}, {n}" for n in model_input["name"]]

            modelyard.pyfunc.set_model(Greeter())
            """
        )
    )
    (tmp_path / "greeting.txt").write_text("Hello")
    with modelyard.start_run():
        info = modelyard.pyfunc.log_model(
            name="greeter",
            python_model=code,
            artifacts={"greeting": tmp_path / "greeting.txt"},
            input_example=pd.DataFrame({"name": ["Ada"]}),
            registered_model_name="greeter",
        )
    assert info.registered_model_version == "1"
    frame = pd.DataFrame({"name": ["Bob", "Cy"]})
    assert modelyard.pyfunc.load_model(info.model_uri).predict(frame) == ["Hello, Bob", "Hello, Cy"]
    assert modelyard.pyfunc.load_model("models:/greeter/1").predict(frame) == [
        "Hello, Bob",
        "Hello, Cy",
    ]
    assert modelyard.pyfunc.load_model("models:/greeter/latest").predict(frame)[0] == "Hello, Bob"


def test_bad_names_and_missing_models(tracking, estimator) -> None:
    with pytest.raises(InvalidInput, match="Invalid model name"):
        modelyard.sklearn.log_model(estimator, name="../escape")
    with pytest.raises(InvalidInput, match="name or artifact_path"):
        modelyard.sklearn.log_model(estimator, name="a", artifact_path="b")
    with modelyard.start_run() as run:
        pass
    with pytest.raises(NotFound):
        modelyard.pyfunc.load_model(f"runs:/{run.run_id}/nothing-here")


@pytest.fixture
def net_and_batch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh()).eval()
    return net, np.random.default_rng(5).normal(size=(4, 2)).astype(np.float32)


# ---------------------------------------------------------------------------- through a server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=str(tmp_path / "proxied"),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.slow
def test_through_a_server_both_ways_with_the_mlflow_client(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frame, estimator
) -> None:
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_url)
    modelyard.set_tracking_uri(server_url)
    modelyard.set_experiment("served")
    with modelyard.start_run() as run:
        info = modelyard.sklearn.log_model(estimator, name="model")
    stored = list((tmp_path / "proxied").rglob("model.skops"))
    assert stored, "the model went through the server's artifact proxy"
    expected = estimator.predict(frame)
    np.testing.assert_array_equal(
        modelyard.pyfunc.load_model(info.model_uri).predict(frame), expected
    )
    mlflow.set_tracking_uri(server_url)
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(f"runs:/{run.run_id}/model").predict(frame), expected
    )
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(info.model_uri).predict(frame), expected)
    assert mlflow.get_logged_model(info.model_id).source_run_id == run.run_id

    floats = frame.astype({"rooms": "float64"})
    mlflow.set_experiment("served")
    with mlflow.start_run() as mlflow_run:
        logged = mlflow.sklearn.log_model(estimator, name="from_mlflow")
    # MLflow 3 stores the files with the logged model (models:/m-<id>), not among the run's artifacts
    assert logged.model_uri.startswith("models:/m-")
    mlflow_dir = mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(tmp_path / "m"))
    mlmodel = yaml.safe_load((Path(mlflow_dir) / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert mlmodel["run_id"] == mlflow_run.info.run_id
    ours = modelyard.sklearn.load_model(logged.model_uri)
    np.testing.assert_array_equal(ours.predict(floats), estimator.predict(floats))
    model = modelyard.pyfunc.load_model(logged.model_uri)
    np.testing.assert_array_equal(model.predict(floats), estimator.predict(floats))
    # and by the run's URI: nothing among the run's artifacts, so the run's logged model of that name
    by_run = modelyard.pyfunc.load_model(f"runs:/{mlflow_run.info.run_id}/from_mlflow")
    np.testing.assert_array_equal(by_run.predict(floats), estimator.predict(floats))
