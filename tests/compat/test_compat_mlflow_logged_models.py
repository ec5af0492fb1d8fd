"""The official ``mlflow`` client's MLflow 3 logged-model flow against a modelyard server."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _python_model(mlflow):
    class Double(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: pd.DataFrame, params=None) -> list[int]:
            return [2 * x for x in model_input["x"]]

    return Double()


def test_log_model_creates_a_ready_logged_model_linked_to_the_run(mlflow):
    mlflow.set_experiment("compat-logged-models")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", "0.5")
        info = mlflow.pyfunc.log_model(
            name="doubler",
            python_model=_python_model(mlflow),
            params={"extra": "1"},
            tags={"team": "search"},
        )
    model_id = info.model_id
    assert model_id.startswith("m-")

    model = mlflow.get_logged_model(model_id)
    assert model.status.to_proto() == 2  # LOGGED_MODEL_READY
    assert model.name == "doubler"
    assert model.source_run_id == run.info.run_id
    assert model.params == {"alpha": "0.5", "extra": "1"}
    assert model.tags["team"] == "search"
    assert model.artifact_location.endswith(f"/models/{model_id}/artifacts")

    loaded = mlflow.pyfunc.load_model(f"models:/{model_id}")
    assert list(loaded.predict(pd.DataFrame({"x": [1, 2, 3]}))) == [2, 4, 6]

    found = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string="name = 'doubler'",
        output_format="list",
    )
    assert [m.model_id for m in found] == [model_id]

    # MLflow 3's run outputs: the run names the model it produced.
    outputs = mlflow.get_run(run.info.run_id).outputs
    assert [(o.model_id, o.step) for o in outputs.model_outputs] == [(model_id, 0)]


def test_tags_search_order_and_delete(mlflow):
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.create_experiment("compat-logged-models-client")
    made = [
        client.create_logged_model(exp, name=f"m{i}", tags={"rank": str(i)}, model_type="t")
        for i in range(3)
    ]
    client.set_logged_model_tags(made[0].model_id, {"extra": "yes"})
    client.delete_logged_model_tag(made[0].model_id, "rank")
    assert client.get_logged_model(made[0].model_id).tags == {"extra": "yes"}

    ordered = client.search_logged_models(
        experiment_ids=[exp], order_by=[{"field_name": "name", "ascending": False}]
    )
    assert [m.name for m in ordered] == ["m2", "m1", "m0"]

    client.finalize_logged_model(made[1].model_id, "READY")
    client.delete_logged_model(made[2].model_id)
    left = client.search_logged_models(experiment_ids=[exp], order_by=[{"field_name": "name"}])
    assert [m.name for m in left] == ["m0", "m1"]
