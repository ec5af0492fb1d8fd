"""A project command logging with the official ``mlflow`` client (MLFLOW_RUN_ID) or modelyard's
client over HTTP continues the run that ``modelyard run`` created on a live modelyard server."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_helpers import RECORDER, runs_of, write_project

from modelyard.client import ModelyardClient

MLFLOW_TRAIN = """
import os
import mlflow

expected = os.environ["MLFLOW_RUN_ID"]  # mlflow removes it once it has used it
with mlflow.start_run() as run:
    assert run.info.run_id == expected, "mlflow started another run"
    mlflow.log_param("optimizer", "adam")
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("client", "mlflow " + mlflow.__version__)
"""


@pytest.mark.slow
def test_mlflow_client_inside_a_project_continues_the_run(
    modelyard, server_url: str, tmp_path: Path
) -> None:
    project = write_project(
        tmp_path / "mlflow-project",
        {
            "MLproject": "name: with-mlflow\nentry_points:\n  main:\n"
            "    parameters: {epochs: {type: int, default: 3}}\n"
            "    command: 'python train.py --epochs {epochs}'\n",
            "train.py": MLFLOW_TRAIN,
        },
    )
    done = modelyard(
        "run", str(project), "--experiment-name", "mlflow-inside", "--tracking-uri", server_url,
        env={"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with ModelyardClient(server_url) as client:
        experiment = client.get_experiment_by_name("mlflow-inside")
        assert experiment is not None
        (run,) = runs_of(client, experiment.experiment_id)
        assert run.info.status == "FINISHED"
        assert run.data.param_dict == {"epochs": "3", "optimizer": "adam"}
        assert run.data.tag_dict["client"] == "mlflow 3.17.2"
        assert run.data.tag_dict["mlflow.source.type"] == "PROJECT"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]


@pytest.mark.slow
def test_modelyard_client_over_http_continues_the_run(
    modelyard, server_url: str, tmp_path: Path
) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "MLproject": "entry_points:\n  main: {command: 'python record.py'}\n",
            "record.py": RECORDER,
        },
    )
    done = modelyard(
        "run", str(project), "--experiment-name", "http-inside", "--tracking-uri", server_url,
        env={"RECORD_TO": str(tmp_path / "record.json")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with ModelyardClient(server_url) as client:
        experiment = client.get_experiment_by_name("http-inside")
        assert experiment is not None
        (run,) = runs_of(client, experiment.experiment_id)
        assert run.info.status == "FINISHED"
        assert run.data.tag_dict["inner_run_id"] == run.info.run_id
        assert {m.key for m in run.data.metrics} == {"seen"}
