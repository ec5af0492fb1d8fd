"""The official mlflow client (3.17.2) against a real modelyard server gets back exactly what it logged."""

from __future__ import annotations

import math
import uuid

import pytest

pytestmark = pytest.mark.slow


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _client(mlflow):
    return mlflow.MlflowClient()


def test_experiment_lifecycle(mlflow):
    client = _client(mlflow)
    name = _name("exp")
    exp_id = client.create_experiment(name, tags={"team": "vision"})
    experiment = client.get_experiment(exp_id)
    assert experiment.name == name
    assert experiment.tags == {"team": "vision"}
    assert experiment.lifecycle_stage == "active"
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert client.get_experiment_by_name(_name("absent")) is None

    client.set_experiment_tag(exp_id, "stage", "dev")
    client.delete_experiment_tag(exp_id, "team")
    assert client.get_experiment(exp_id).tags == {"stage": "dev"}

    renamed = _name("renamed")
    client.rename_experiment(exp_id, renamed)
    assert client.get_experiment(exp_id).name == renamed

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    active_ids = [e.experiment_id for e in client.search_experiments()]
    assert exp_id not in active_ids
    from mlflow.entities import ViewType

    deleted_ids = [
        e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)
    ]
    assert exp_id in deleted_ids
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_duplicate_experiment_and_unknown_run_raise_mlflow_errors(mlflow):
    from mlflow.exceptions import MlflowException

    client = _client(mlflow)
    name = _name("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(name)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as exc:
        client.get_run("0" * 32)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_experiments_filter_and_order(mlflow):
    client = _client(mlflow)
    prefix = _name("srch")
    for i in range(3):
        client.create_experiment(f"{prefix}-{i}", tags={"i": str(i)})
    found = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]
    )
    assert [e.name for e in found] == [f"{prefix}-2", f"{prefix}-1", f"{prefix}-0"]
    tagged = client.search_experiments(filter_string=f"name LIKE '{prefix}-%' AND tags.i = '1'")
    assert [e.name for e in tagged] == [f"{prefix}-1"]


def test_set_experiment_and_nested_runs_log_everything(mlflow):
    experiment = mlflow.set_experiment(_name("fluent"))
    assert mlflow.set_experiment(experiment.name).experiment_id == experiment.experiment_id
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"depth": 3, "kind": "tree"})
        for step, value in enumerate([1.0, math.nan, math.inf, -math.inf, 0.25]):
            mlflow.log_metric("odd", value, step=step)
        mlflow.log_metrics({"a": 1.5, "b": -2.0}, step=7)
        mlflow.set_tag("note", "hello")
        mlflow.set_tags({"x": "1", "y": "2"})
        mlflow.delete_tag("y")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 3.0)
    client = _client(mlflow)

    run = client.get_run(parent.info.run_id)
    assert run.info.run_name == "parent"
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert run.info.experiment_id == experiment.experiment_id
    assert run.data.params == {"alpha": "0.5", "depth": "3", "kind": "tree"}
    assert run.data.metrics == {"odd": 0.25, "a": 1.5, "b": -2.0}
    tags = run.data.tags
    assert tags["note"] == "hello" and tags["x"] == "1" and "y" not in tags
    assert tags["mlflow.runName"] == "parent"

    history = client.get_metric_history(parent.info.run_id, "odd")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    values = [m.value for m in history]
    assert values[0] == 1.0 and math.isnan(values[1])
    assert values[2] == math.inf and values[3] == -math.inf and values[4] == 0.25
    assert {m.step for m in client.get_metric_history(parent.info.run_id, "a")} == {7}

    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.data.metrics == {"child_metric": 3.0}
    children = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_log_batch_of_1000_metrics_and_special_values(mlflow):
    from mlflow.entities import Metric, Param, RunTag

    client = _client(mlflow)
    exp_id = client.create_experiment(_name("batch"))
    run = client.create_run(exp_id)
    run_id = run.info.run_id
    metrics = [Metric("loss", 1.0 / (i + 1), 1_700_000_000_000 + i, i) for i in range(1000)]
    client.log_batch(run_id, metrics=metrics)
    client.log_batch(
        run_id,
        metrics=[
            Metric("nan", math.nan, 1, 0),
            Metric("inf", math.inf, 1, 0),
            Metric("ninf", -math.inf, 1, 0),
        ],
        params=[Param(f"p{i}", str(i)) for i in range(100)],
        tags=[RunTag("batch", "yes")],
    )
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (m.step, m.value, m.timestamp) for m in metrics
    ]
    data = client.get_run(run_id).data
    assert data.metrics["loss"] == metrics[-1].value
    assert math.isnan(data.metrics["nan"])
    assert data.metrics["inf"] == math.inf and data.metrics["ninf"] == -math.inf
    assert data.params == {f"p{i}": str(i) for i in range(100)}
    assert data.tags["batch"] == "yes"
    client.set_terminated(run_id, status="KILLED")
    assert client.get_run(run_id).info.status == "KILLED"


def test_param_values_cannot_change(mlflow):
    from mlflow.exceptions import MlflowException

    client = _client(mlflow)
    run_id = client.create_run(client.create_experiment(_name("immutable"))).info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as exc:
        client.log_param(run_id, "lr", "0.2")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.fixture
def search_fixture(mlflow):
    client = _client(mlflow)
    exp_id = client.create_experiment(_name("search"))
    run_ids = []
    for i in range(7):
        run = client.create_run(exp_id, run_name=f"run-{i}", start_time=1_000 + i)
        client.log_metric(run.info.run_id, "acc", i / 10)
        client.log_param(run.info.run_id, "depth", str(i % 3))
        client.set_tag(run.info.run_id, "parity", "even" if i % 2 == 0 else "odd")
        run_ids.append(run.info.run_id)
    return client, exp_id, run_ids


def test_search_runs_filters_and_order(mlflow, search_fixture):
    client, exp_id, run_ids = search_fixture
    frame = mlflow.search_runs(
        [exp_id], filter_string="metrics.acc >= 0.3", order_by=["metrics.acc DESC"]
    )
    assert list(frame["run_id"]) == [run_ids[6], run_ids[5], run_ids[4], run_ids[3]]
    assert list(frame["metrics.acc"]) == [0.6, 0.5, 0.4, 0.3]
    assert list(frame["params.depth"]) == ["0", "2", "1", "0"]

    by_param = client.search_runs(
        [exp_id], filter_string="params.depth = '1'", order_by=["attributes.run_name"]
    )
    assert [r.info.run_name for r in by_param] == ["run-1", "run-4"]
    by_tag = client.search_runs([exp_id], filter_string="tags.parity = 'odd' and metrics.acc < 0.5")
    assert {r.info.run_name for r in by_tag} == {"run-1", "run-3"}
    by_attr = client.search_runs(
        [exp_id], filter_string="attributes.run_name LIKE 'run-%' AND attributes.status = 'RUNNING'"
    )
    assert len(by_attr) == 7
    default_order = client.search_runs([exp_id])
    assert [r.info.run_id for r in default_order] == list(reversed(run_ids))


def test_search_runs_paging_with_page_tokens(search_fixture):
    client, exp_id, run_ids = search_fixture
    seen = []
    token = None
    pages = 0
    while True:
        page = client.search_runs(
            [exp_id], max_results=3, order_by=["attributes.start_time ASC"], page_token=token
        )
        seen += [r.info.run_id for r in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == run_ids
    assert pages == 3


def test_delete_and_restore_runs(mlflow, search_fixture):
    from mlflow.entities import ViewType

    client, exp_id, run_ids = search_fixture
    client.delete_run(run_ids[0])
    assert client.get_run(run_ids[0]).info.lifecycle_stage == "deleted"
    active = [r.info.run_id for r in client.search_runs([exp_id])]
    assert run_ids[0] not in active and len(active) == 6
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_ids[0]]
    client.restore_run(run_ids[0])
    assert client.get_run(run_ids[0]).info.lifecycle_stage == "active"
    assert len(client.search_runs([exp_id], run_view_type=ViewType.ALL)) == 7


def test_update_run_name_and_status(mlflow):
    client = _client(mlflow)
    run = client.create_run(client.create_experiment(_name("update")), run_name="before")
    client.update_run(run.info.run_id, status="FAILED", name="after")
    updated = client.get_run(run.info.run_id)
    assert updated.info.run_name == "after"
    assert updated.info.status == "FAILED"
    assert updated.data.tags["mlflow.runName"] == "after"


def test_log_input_dataset(mlflow):
    import pandas as pd

    mlflow.set_experiment(_name("datasets"))
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.5, 0.25, 0.125]})
    dataset = mlflow.data.from_pandas(frame, name="toy", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training", tags={"split": "train"})
    inputs = _client(mlflow).get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    logged = inputs[0]
    assert logged.dataset.name == "toy"
    assert logged.dataset.digest == dataset.digest
    assert logged.dataset.source_type == dataset.source.__class__._get_source_type()
    assert logged.dataset.schema == dataset._to_mlflow_entity().schema
    assert logged.dataset.profile == dataset._to_mlflow_entity().profile
    assert {t.key: t.value for t in logged.tags} == {
        "mlflow.data.context": "training",
        "split": "train",
    }
