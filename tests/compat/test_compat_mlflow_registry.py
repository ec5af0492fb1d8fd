"""The official ``mlflow`` 3.17.2 client's registry against a modelyard server: register from a run
and from a logged model, versions, stages, aliases, tags, search, latest versions, delete, and
``mlflow.pyfunc.load_model("models:/name@alias")``."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _python_model(mlflow):
    class Triple(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: pd.DataFrame, params=None) -> list[int]:
            return [3 * x for x in model_input["x"]]

    return Triple()


def _quiet(call, *args, **kwargs):
    """Stage APIs are deprecated in MLflow (FutureWarning); they must still work."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return call(*args, **kwargs)


def test_register_from_a_logged_model_and_load_by_alias(mlflow):
    from mlflow import MlflowClient

    client = MlflowClient()
    mlflow.set_experiment("compat-registry")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="tripler", python_model=_python_model(mlflow), registered_model_name="tripler"
        )
    assert str(info.registered_model_version) == "1"
    mv = client.get_model_version("tripler", "1")
    assert mv.source == f"models:/{info.model_id}"
    assert mv.run_id == run.info.run_id  # the 3.17 client does not read model_id back
    assert mv.status == "READY" and mv.current_stage == "None"

    second = mlflow.register_model(info.model_uri, "tripler")
    assert second.version == "2"
    client.set_registered_model_alias("tripler", "champion", "2")
    assert client.get_model_version_by_alias("tripler", "champion").version == "2"
    assert client.get_registered_model("tripler").aliases == {"champion": "2"}

    uri = client.get_model_version_download_uri("tripler", "2")
    assert uri.endswith(f"/models/{info.model_id}/artifacts")
    loaded = mlflow.pyfunc.load_model("models:/tripler@champion")
    assert list(loaded.predict(pd.DataFrame({"x": [1, 2]}))) == [3, 6]
    assert list(
        mlflow.pyfunc.load_model("models:/tripler/1").predict(pd.DataFrame({"x": [2]}))
    ) == [6]
    client.delete_registered_model_alias("tripler", "champion")
    assert client.get_registered_model("tripler").aliases == {}


def test_register_from_a_run_uri(mlflow):
    mlflow.set_experiment("compat-registry-runs")
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=_python_model(mlflow))
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", "from-run")
    assert mv.version == "1" and mv.run_id == run.info.run_id
    loaded = mlflow.pyfunc.load_model("models:/from-run/1")
    assert list(loaded.predict(pd.DataFrame({"x": [5]}))) == [15]


def test_versions_stages_tags_search_and_delete(mlflow):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    exp = client.create_experiment("compat-registry-stages")
    run = client.create_run(exp)
    run_id = run.info.run_id
    created = client.create_registered_model("stages", tags={"team": "risk"}, description="d")
    assert created.name == "stages" and created.tags == {"team": "risk"}
    for _ in range(3):
        client.create_model_version("stages", f"runs:/{run_id}/model", run_id=run_id)

    staged = _quiet(client.transition_model_version_stage, "stages", "1", "staging")
    assert staged.current_stage == "Staging"
    _quiet(client.transition_model_version_stage, "stages", "2", "Production")
    moved = _quiet(
        client.transition_model_version_stage,
        "stages",
        "3",
        "Production",
        archive_existing_versions=True,
    )
    assert moved.current_stage == "Production"
    assert client.get_model_version("stages", "2").current_stage == "Archived"
    latest = _quiet(client.get_latest_versions, "stages", stages=["Production", "Staging"])
    assert sorted((v.current_stage, v.version) for v in latest) == [
        ("Production", "3"),
        ("Staging", "1"),
    ]
    with pytest.raises(MlflowException):
        _quiet(client.transition_model_version_stage, "stages", "1", "Live")

    client.set_model_version_tag("stages", "1", "validated", "yes")
    client.set_registered_model_tag("stages", "owner", "ann")
    assert client.get_model_version("stages", "1").tags == {"validated": "yes"}
    client.delete_model_version_tag("stages", "1", "validated")
    client.delete_registered_model_tag("stages", "owner")
    client.update_registered_model("stages", description="new")
    client.update_model_version("stages", "1", description="first")
    assert client.get_model_version("stages", "1").description == "first"

    client.create_registered_model("stages-other")
    found = client.search_registered_models(filter_string="name LIKE 'stages%'")
    assert sorted(m.name for m in found) == ["stages", "stages-other"]
    found = client.search_registered_models(filter_string="tags.team = 'risk'")
    assert [m.name for m in found] == ["stages"]
    versions = client.search_model_versions(f"name = 'stages' AND run_id = '{run_id}'")
    assert sorted(v.version for v in versions) == ["1", "2", "3"]
    page = client.search_registered_models(filter_string="name LIKE 'stages%'", max_results=1)
    assert len(page) == 1 and page.token

    client.rename_registered_model("stages-other", "stages-renamed")
    client.delete_model_version("stages", "2")
    with pytest.raises(MlflowException) as info:
        client.get_model_version("stages", "2")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model("stages-renamed")
    client.delete_registered_model("stages")
    assert client.search_registered_models(filter_string="name LIKE 'stages%'") == []


def test_bad_sources_are_refused(mlflow):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    client.create_registered_model("guarded")
    run = client.create_run(client.create_experiment("compat-registry-guarded"))
    for source in ("/etc", "file:///etc/passwd", "http://169.254.169.254/latest/meta-data"):
        with pytest.raises(MlflowException) as info:
            client.create_model_version("guarded", source, run_id=run.info.run_id)
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
