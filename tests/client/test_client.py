"""ModelyardClient end to end, in-process over SQLite and over HTTP against the real app."""

from __future__ import annotations

import math

import pytest

from modelyard.client.tracking import ModelyardClient
from modelyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from modelyard.errors import (
    AlreadyExists,
    EndpointNotFound,
    InvalidInput,
    InvalidState,
    NotFound,
)


def test_experiment_lifecycle(any_client: ModelyardClient):
    c = any_client
    exp_id = c.create_experiment("exp-a", tags={"team": "vision"})
    exp = c.get_experiment(exp_id)
    assert (exp.name, exp.lifecycle_stage, exp.tag_dict) == ("exp-a", "active", {"team": "vision"})
    assert c.get_experiment_by_name("exp-a").experiment_id == exp_id
    assert c.get_experiment_by_name("no-such-experiment") is None
    with pytest.raises(AlreadyExists):
        c.create_experiment("exp-a")
    c.set_experiment_tag(exp_id, "stage", 2)
    c.rename_experiment(exp_id, "exp-b")
    assert c.get_experiment(exp_id).name == "exp-b"
    assert c.get_experiment(exp_id).tag_dict["stage"] == "2"
    c.delete_experiment_tag(exp_id, "stage")
    c.delete_experiment(exp_id)
    assert c.get_experiment(exp_id).lifecycle_stage == "deleted"
    active = [e.name for e in c.search_experiments()]
    assert "exp-b" not in active and "Default" in active
    assert [e.name for e in c.search_experiments(view_type="deleted_only")] == ["exp-b"]
    c.restore_experiment(exp_id)
    assert c.get_experiment(exp_id).lifecycle_stage == "active"


def test_run_lifecycle_and_data(any_client: ModelyardClient):
    c = any_client
    exp_id = c.create_experiment("runs")
    run = c.create_run(exp_id, tags={"k": "v"}, run_name="first")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.info.run_name == "first"
    assert run.info.user_id  # the login name
    c.log_param(run_id, "lr", 0.01)
    c.log_metric(run_id, "loss", 1.5, step=0)
    c.log_metric(run_id, "loss", 0.5, step=1)
    c.log_metric(run_id, "inf", math.inf)
    c.log_metric(run_id, "nan", math.nan)
    c.set_tag(run_id, "note", "hello")
    c.set_tag(run_id, "note", "bye")  # last value wins
    c.log_batch(
        run_id,
        metrics=[Metric("acc", 0.9, 123, 3)],
        params=[Param("depth", "4")],
        tags=[RunTag("t", "1")],
    )
    got = c.get_run(run_id)  # reads its own queued writes
    assert got.data.param_dict == {"lr": "0.01", "depth": "4"}
    metrics = got.data.metric_dict
    assert metrics["loss"] == 0.5 and metrics["acc"] == 0.9 and metrics["inf"] == math.inf
    assert math.isnan(metrics["nan"])
    assert got.data.tag_dict["note"] == "bye" and got.data.tag_dict["k"] == "v"
    history = c.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.5), (1, 0.5)]
    c.delete_tag(run_id, "t")
    assert "t" not in c.get_run(run_id).data.tag_dict
    info = c.set_terminated(run_id, "FAILED")
    assert info.status == "FAILED" and info.end_time is not None
    c.update_run(run_id, name="renamed")
    assert c.get_run(run_id).info.run_name == "renamed"
    c.delete_run(run_id)
    assert c.search_runs(exp_id).items == []
    assert [
        r.info.run_id for r in c.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    ] == [run_id]
    c.restore_run(run_id)
    assert len(c.search_runs([exp_id])) == 1


def test_search_runs_filter_order_and_pages(any_client: ModelyardClient):
    c = any_client
    exp_id = c.create_experiment("search")
    ids = []
    for i in range(5):
        run_id = c.create_run(exp_id, start_time=1000 + i).info.run_id
        c.log_metric(run_id, "score", float(i))
        c.log_param(run_id, "i", i)
        ids.append(run_id)
    found = c.search_runs([exp_id], "metrics.score >= 2", order_by=["metrics.score DESC"])
    assert [r.data.metric_dict["score"] for r in found] == [4.0, 3.0, 2.0]
    page1 = c.search_runs([exp_id], max_results=2, order_by=["params.i ASC"])
    page2 = c.search_runs(
        [exp_id], max_results=2, order_by=["params.i ASC"], page_token=page1.next_page_token
    )
    assert [r.data.param_dict["i"] for r in [*page1, *page2]] == ["0", "1", "2", "3"]


def test_log_inputs(any_client: ModelyardClient):
    c = any_client
    run_id = c.create_run("0").info.run_id
    c.log_input(
        run_id,
        {"name": "train", "digest": "abc123", "source_type": "local", "source": "/data/train.csv"},
        context="training",
    )
    c.log_inputs(
        run_id,
        [DatasetInput(Dataset("eval", "def", "local", "/data/eval.csv"), (InputTag("k", "v"),))],
    )
    inputs = c.get_run(run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: {t.key: t.value for t in i.tags} for i in inputs}
    assert by_name == {"train": {"mlflow.data.context": "training"}, "eval": {"k": "v"}}


def test_same_errors_in_process_and_over_http(any_client: ModelyardClient):
    c = any_client
    with pytest.raises(NotFound):
        c.get_run("0123456789abcdef0123456789abcdef")
    with pytest.raises(NotFound):
        c.get_experiment("987654")
    with pytest.raises(InvalidInput):
        c.get_run("../etc")
    run_id = c.create_run("0").info.run_id
    c.delete_run(run_id)
    c.log_metric(run_id, "m", 1.0)
    with pytest.raises(InvalidState):  # logging to a deleted run, raised at flush
        c.flush()


def test_bad_values_are_refused_on_the_calling_thread(sqlite_client: ModelyardClient):
    c = sqlite_client
    run_id = c.create_run("0").info.run_id
    with pytest.raises(InvalidInput, match="metric"):
        c.log_metric(run_id, "bad key!", 1.0)
    with pytest.raises(InvalidInput, match="double"):
        c.log_metric(run_id, "m", "1.0")
    with pytest.raises(InvalidInput, match="double"):
        c.log_metric(run_id, "m", True)
    with pytest.raises(InvalidInput, match="step"):
        c.log_metric(run_id, "m", 1.0, step=1.5)
    with pytest.raises(InvalidInput, match=r"[Tt]imestamp"):
        c.log_metric(run_id, "m", 1.0, timestamp=-1)
    with pytest.raises(InvalidInput, match="run_id"):
        c.log_param("not a run id", "p", 1)
    with pytest.raises(InvalidInput, match="status"):
        c.set_terminated(run_id, "DONE")
    with pytest.raises(InvalidInput, match="view_type"):
        c.search_runs(["0"], run_view_type="SOME")
    c.flush()  # nothing bad reached the queue
    assert c.get_run(run_id).data.metrics == ()


def test_numpy_scalars_are_metric_values(sqlite_client: ModelyardClient):
    np = pytest.importorskip("numpy")
    c = sqlite_client
    run_id = c.create_run("0").info.run_id
    c.log_metric(run_id, "f32", np.float32(0.5), step=np.int64(3))
    c.log_metric(run_id, "i64", np.int64(7))
    c.flush()
    history = c.get_metric_history(run_id, "f32")
    assert [(m.value, m.step) for m in history] == [(0.5, 3)]
    assert c.get_run(run_id).data.metric_dict["i64"] == 7.0


def test_long_param_value_is_truncated_with_a_warning(sqlite_client: ModelyardClient):
    c = sqlite_client
    run_id = c.create_run("0").info.run_id
    with pytest.warns(UserWarning, match="truncated"):
        c.log_param(run_id, "big", "x" * 7000)
    assert len(c.get_run(run_id).data.param_dict["big"]) == 6000


def test_long_param_value_is_refused_when_truncation_is_off(sqlite_uri, tmp_path, client_settings):
    settings = client_settings(truncate_long_values=False, default_artifact_root=str(tmp_path))
    with ModelyardClient(sqlite_uri, settings=settings) as c:
        run_id = c.create_run("0").info.run_id
        with pytest.raises(InvalidInput, match="6000"):
            c.log_param(run_id, "big", "x" * 7000)


def test_log_batch_of_any_size_is_split_within_the_limits(any_client: ModelyardClient):
    c = any_client
    run_id = c.create_run("0").info.run_id
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(2500)]
    params = [Param(f"p{i}", str(i)) for i in range(250)]
    tags = [RunTag(f"t{i}", str(i)) for i in range(150)]
    c.log_batch(run_id, metrics, params, tags, synchronous=True)
    run = c.get_run(run_id)
    assert len(run.data.params) == 250
    assert len([t for t in run.data.tags if t.key.startswith("t")]) == 150
    assert len(c.get_metric_history(run_id, "m")) == 2500


def test_context_manager_flushes_and_closes(sqlite_uri, tmp_path, client_settings):
    settings = client_settings(default_artifact_root=str(tmp_path))
    with ModelyardClient(sqlite_uri, settings=settings) as c:
        run_id = c.create_run("0").info.run_id
        for i in range(100):
            c.log_metric(run_id, "m", float(i), step=i)
    with ModelyardClient(sqlite_uri, settings=settings) as again:
        assert len(again.get_metric_history(run_id, "m")) == 100


def test_unsupported_tracking_uri_says_what_works(client_settings):
    with pytest.raises(InvalidInput, match="sqlite:///"):
        ModelyardClient("ftp://example.com/x", settings=client_settings())
    with pytest.raises(InvalidInput):
        ModelyardClient("", settings=client_settings())


def test_unknown_route_over_http_is_endpoint_not_found(app_client: ModelyardClient):
    with pytest.raises(EndpointNotFound):
        app_client.backend._call("GET", "no/such/endpoint")  # type: ignore[attr-defined]


def test_run_status_enum_is_accepted(any_client: ModelyardClient):
    run_id = any_client.create_run("0").info.run_id
    assert any_client.set_terminated(run_id, RunStatus.KILLED).status == "KILLED"
