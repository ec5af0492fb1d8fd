"""Logged models (MLflow 3) from the client: the calls on both backends, and ``log_model`` making one.

In-process over SQLite and over HTTP to the real app (``any_client``), and end to end through a real
uvicorn server with the fluent API.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import modelyard
import modelyard.pyfunc
import modelyard.sklearn
from modelyard.entities import ModelOutput
from modelyard.errors import InvalidInput, NotFound


def _experiment(client, name: str = "lm") -> str:
    return client.create_experiment(name)


def test_create_get_finalize_tags_and_delete(any_client) -> None:
    exp = _experiment(any_client)
    run = any_client.create_run(exp)
    model = any_client.create_logged_model(
        exp,
        name="clf",
        source_run_id=run.info.run_id,
        tags={"team": "a"},
        params={"alpha": 0.5},
        model_type="sklearn",
    )
    assert model.model_id.startswith("m-") and model.status == "LOGGED_MODEL_PENDING"
    assert model.name == "clf" and model.source_run_id == run.info.run_id
    assert model.model_type == "sklearn" and model.experiment_id == exp
    assert {p.key: p.value for p in model.params} == {"alpha": "0.5"}
    assert {t.key: t.value for t in model.tags} == {"team": "a"}
    assert model.artifact_uri

    ready = any_client.finalize_logged_model(model.model_id, "READY")
    assert ready.status == "LOGGED_MODEL_READY"
    tagged = any_client.set_logged_model_tags(model.model_id, {"team": "b", "stage": "dev"})
    assert {t.key: t.value for t in tagged.tags} == {"team": "b", "stage": "dev"}
    any_client.delete_logged_model_tag(model.model_id, "stage")
    got = any_client.get_logged_model(model.model_id)
    assert {t.key: t.value for t in got.tags} == {"team": "b"}
    assert got.status == "LOGGED_MODEL_READY"

    any_client.delete_logged_model(model.model_id)
    with pytest.raises(NotFound):
        any_client.get_logged_model(model.model_id)
    assert (
        any_client.get_logged_model(model.model_id, allow_deleted=True).model_id == model.model_id
    )


def test_bad_input_is_refused_the_same_on_both_backends(any_client) -> None:
    exp = _experiment(any_client)
    model = any_client.create_logged_model(exp)
    assert model.name  # a generated name
    with pytest.raises(InvalidInput):
        any_client.finalize_logged_model(model.model_id, "PENDING")
    with pytest.raises(InvalidInput):
        any_client.get_logged_model("not-a-model-id")
    with pytest.raises(NotFound):
        any_client.get_logged_model("m-0123456789abcdef0123456789abcdef")
    with pytest.raises(InvalidInput):
        any_client.search_logged_models([])


def test_search_filter_order_and_pages(any_client) -> None:
    exp = _experiment(any_client)
    run = any_client.create_run(exp)
    other = any_client.create_run(exp)
    made = [
        any_client.create_logged_model(exp, name=f"m{i}", source_run_id=run.info.run_id)
        for i in range(3)
    ]
    any_client.create_logged_model(exp, name="m1", source_run_id=other.info.run_id)

    found = any_client.search_logged_models(
        [exp], filter_string=f"source_run_id = '{run.info.run_id}' AND name = 'm1'"
    )
    assert [m.model_id for m in found.items] == [made[1].model_id]

    by_name = any_client.search_logged_models(
        [exp], filter_string=f"source_run_id = '{run.info.run_id}'", order_by=["name DESC"]
    )
    assert [m.name for m in by_name.items] == ["m2", "m1", "m0"]
    ascending = any_client.search_logged_models(
        [exp],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        order_by=[{"field_name": "name", "ascending": True}],
    )
    assert [m.name for m in ascending.items] == ["m0", "m1", "m2"]

    first = any_client.search_logged_models([exp], max_results=3, order_by=["name"])
    assert len(first.items) == 3 and first.next_page_token
    rest = any_client.search_logged_models(
        [exp], max_results=3, order_by=["name"], page_token=first.next_page_token
    )
    assert len(rest.items) == 1 and rest.next_page_token is None
    seen = {m.model_id for m in [*first.items, *rest.items]}
    assert len(seen) == 4


def test_log_outputs_links_the_run(any_client, tmp_path) -> None:
    from modelyard.store.sql import logged_model_store_for, open_tracking_store

    exp = _experiment(any_client)
    run = any_client.create_run(exp)
    a = any_client.create_logged_model(exp, name="a")
    b = any_client.create_logged_model(exp, name="b")
    any_client.log_outputs(run.info.run_id, [a.model_id, ModelOutput(b.model_id, 3)])
    with pytest.raises(InvalidInput):
        any_client.log_outputs(run.info.run_id, [])
    # what the database holds (the client's own file, or the server's)
    db = next(p for p in (tmp_path / "client.db", tmp_path / "server.db") if p.exists())
    store = open_tracking_store(f"sqlite:///{db}")
    try:
        outputs = logged_model_store_for(store).get_run_outputs([run.info.run_id])
    finally:
        store.close()
    assert sorted((o.model_id, o.step) for o in outputs[run.info.run_id]) == sorted(
        [(a.model_id, 0), (b.model_id, 3)]
    )


def test_model_files_upload_to_the_artifact_uri(any_client, tmp_path) -> None:
    exp = _experiment(any_client)
    model = any_client.create_logged_model(exp, name="files")
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "data" / "weights.bin").write_bytes(b"\x00\x01\x02")
    any_client.log_model_artifacts(model.model_id, src)
    back = Path(
        any_client.download_artifacts(
            artifact_uri=model.artifact_uri, dst_path=str(tmp_path / "dl")
        )
    )
    assert (back / "MLmodel").read_text() == "flavors: {}\n"
    assert (back / "data" / "weights.bin").read_bytes() == b"\x00\x01\x02"


# ---------------------------------------------------------------------------------------- log_model
@pytest.fixture
def line() -> LinearRegression:
    return LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])


def _check_logged(info, run_id: str, line) -> None:
    assert info.model_uri == f"models:/{info.model_id}"
    logged = modelyard.get_logged_model(info.model_id)
    assert logged.status == "LOGGED_MODEL_READY"
    assert logged.source_run_id == run_id and logged.name == "line"
    assert {p.key: p.value for p in logged.params} == {"fit_intercept": "True"}
    assert modelyard.last_logged_model().model_id == info.model_id
    for uri in (info.model_uri, f"runs:/{run_id}/line"):
        model = modelyard.pyfunc.load_model(uri)
        np.testing.assert_allclose(model.predict([[2.0]]), line.predict([[2.0]]))
        assert model.metadata.model_id == info.model_id and model.metadata.run_id == run_id
    history = json.loads(modelyard.get_run(run_id).data.tag_dict["mlflow.log-model.history"])
    assert [h["model_id"] for h in history] == [info.model_id]
    found = modelyard.search_logged_models(filter_string=f"source_run_id = '{run_id}'")
    assert [m.model_id for m in found] == [info.model_id]


def test_log_model_in_process(fluent, line) -> None:
    fluent.set_experiment("in-process")
    with fluent.start_run() as run:
        fluent.log_param("fit_intercept", True)
        info = modelyard.sklearn.log_model(line, name="line", registered_model_name="line")
    _check_logged(info, run.info.run_id, line)
    version = modelyard.ModelyardClient(fluent.get_tracking_uri()).get_model_version("line", "1")
    assert version.model_id == info.model_id and version.source == info.model_uri
    assert modelyard.pyfunc.load_model("models:/line/1").predict([[2.0]])[0] == pytest.approx(5.0)


@pytest.mark.slow
def test_log_model_through_a_real_server(live_server, monkeypatch, tmp_path, line) -> None:
    monkeypatch.setenv("MODELYARD_HTTP_BACKOFF", "0.01")
    modelyard.set_tracking_uri(live_server)
    try:
        modelyard.set_experiment("served")
        with modelyard.start_run() as run:
            modelyard.log_param("fit_intercept", True)
            info = modelyard.sklearn.log_model(line, name="line")
        _check_logged(info, run.info.run_id, line)
    finally:
        while modelyard.active_run() is not None:
            modelyard.end_run()


def test_a_failed_upload_leaves_the_model_upload_failed(fluent, line) -> None:
    # A database tracking URI cannot write to a server's artifact proxy: the upload fails.
    exp = fluent.create_experiment("proxied", artifact_location="mlflow-artifacts:/elsewhere")
    with (
        fluent.start_run(experiment_id=exp) as run,
        pytest.raises(InvalidInput, match="artifact proxy"),
    ):
        modelyard.sklearn.log_model(line, name="line")
    client = modelyard.ModelyardClient(fluent.get_tracking_uri())
    found = client.search_logged_models([exp], filter_string=f"source_run_id = '{run.info.run_id}'")
    assert [m.status for m in found.items] == ["LOGGED_MODEL_UPLOAD_FAILED"]
    client.close()


def test_runs_uri_with_nothing_logged_is_not_found(fluent) -> None:
    with fluent.start_run() as run:
        pass
    with pytest.raises(NotFound):
        modelyard.pyfunc.load_model(f"runs:/{run.info.run_id}/missing")
