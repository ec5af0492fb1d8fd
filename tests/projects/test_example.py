"""The example project examples/sklearn_project runs with ``--env-manager local`` and logs its
params, metrics and a model that loads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_helpers import runs_of

from modelyard.sklearn import load_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sklearn_project"


@pytest.mark.slow
def test_sklearn_example_project(
    modelyard, tracking_db: str, client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = modelyard(
        "run", str(EXAMPLE), "--env-manager", "local", "-P", "alpha=0.05",
        "--experiment-name", "example", "--tracking-uri", tracking_db, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    experiment = client.get_experiment_by_name("example")
    assert experiment is not None
    (run,) = runs_of(client, experiment.experiment_id)
    assert run.info.status == "FINISHED"
    assert run.data.tag_dict["mlflow.project.entryPoint"] == "main"
    assert run.data.param_dict == {
        "alpha": "0.05",
        "l1_ratio": "0.5",
        "test_size": "0.25",
        "seed": "42",
        "model": "elasticnet",
        "train_rows": "331",
    }
    metrics = {m.key: m.value for m in run.data.metrics}
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert 0 < metrics["mae"] < metrics["rmse"] < 100 and 0 < metrics["r2"] < 1
    # modelyard.sklearn.log_model follows MLflow 3: the files live with the run's logged model,
    # and runs:/<run>/model resolves to it.
    (logged,) = client.search_logged_models([experiment.experiment_id])
    assert (logged.name, logged.source_run_id, logged.status) == (
        "model",
        run.info.run_id,
        "LOGGED_MODEL_READY",
    )
    monkeypatch.setenv("MODELYARD_TRACKING_URI", tracking_db)
    monkeypatch.setattr("modelyard.client.fluent._state.tracking_uri", None)
    model = load_model(f"runs:/{run.info.run_id}/model", dst_path=str(tmp_path / "download"))
    assert list((tmp_path / "download").rglob("MLmodel"))
    from sklearn.datasets import load_diabetes

    X, _ = load_diabetes(return_X_y=True, as_frame=True)
    assert model.predict(X.head(4)).shape == (4,)
