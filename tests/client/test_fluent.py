"""The fluent API over a real SQLite file: runs, nesting, statuses, experiments, search."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from modelyard.client.tracking import ModelyardClient
from modelyard.errors import InvalidInput, InvalidState, NotFound


def test_run_as_context_manager_logs_and_finishes(fluent):
    fluent.set_experiment("train")
    with fluent.start_run(run_name="r1", tags={"team": "a"}, description="first try") as run:
        assert fluent.active_run() is run
        assert fluent.log_param("lr", 0.1) == 0.1
        fluent.log_params({"depth": 3, "act": "relu"})
        fluent.log_metric("loss", 0.5, step=1)
        fluent.log_metrics({"acc": 0.9, "f1": 0.8}, step=2)
        fluent.set_tag("t", "v")
        fluent.set_tags({"u": 1, "w": None})
    assert fluent.active_run() is None
    stored = fluent.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED" and stored.info.end_time is not None
    assert stored.info.run_name == "r1"
    assert stored.info.experiment_id == fluent.get_experiment_by_name("train").experiment_id
    assert stored.data.param_dict == {"lr": "0.1", "depth": "3", "act": "relu"}
    assert stored.data.metric_dict == {"loss": 0.5, "acc": 0.9, "f1": 0.8}
    tags = stored.data.tag_dict
    assert tags["team"] == "a" and tags["t"] == "v" and tags["u"] == "1" and tags["w"] == ""
    assert tags["mlflow.note.content"] == "first try"
    assert tags["mlflow.user"] == stored.info.user_id
    assert tags["mlflow.source.type"] == "LOCAL"
    acc = fluent.get_metric_history(run.info.run_id, "acc")
    f1 = fluent.get_metric_history(run.info.run_id, "f1")
    assert acc[0].step == f1[0].step == 2 and acc[0].timestamp == f1[0].timestamp


def test_exception_marks_failed_and_keyboard_interrupt_killed(fluent):
    with pytest.raises(ValueError, match="boom"), fluent.start_run() as failed:
        fluent.log_metric("m", 1.0)
        raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt), fluent.start_run() as killed:
        raise KeyboardInterrupt
    assert fluent.get_run(failed.info.run_id).info.status == "FAILED"
    assert fluent.get_run(failed.info.run_id).data.metric_dict == {"m": 1.0}
    assert fluent.get_run(killed.info.run_id).info.status == "KILLED"
    assert fluent.active_run() is None


def test_nested_runs_set_parent_and_end_in_order(fluent):
    with fluent.start_run() as parent:
        with fluent.start_run(nested=True) as child:
            assert fluent.active_run() is child
            with fluent.start_run(nested=True) as grandchild:
                fluent.log_metric("depth", 2)
            assert fluent.active_run() is child
        assert fluent.active_run() is parent
    tags = lambda r: fluent.get_run(r.info.run_id).data.tag_dict  # noqa: E731
    assert tags(child)["mlflow.parentRunId"] == parent.info.run_id
    assert tags(grandchild)["mlflow.parentRunId"] == child.info.run_id
    assert "mlflow.parentRunId" not in tags(parent)
    for r in (parent, child, grandchild):
        assert fluent.get_run(r.info.run_id).info.status == "FINISHED"


def test_starting_a_second_run_without_nested_is_a_clear_error(fluent):
    with fluent.start_run() as run:
        with pytest.raises(
            InvalidState, match=f"Run with UUID {run.info.run_id} is already active"
        ):
            fluent.start_run()
        assert fluent.active_run() is run


def test_leaving_a_parent_ends_children_still_active(fluent):
    with fluent.start_run() as parent:
        child = fluent.start_run(nested=True)  # never ended by the user
    assert fluent.active_run() is None
    assert fluent.get_run(child.info.run_id).info.status == "FINISHED"
    assert fluent.get_run(parent.info.run_id).info.status == "FINISHED"


def test_end_run_with_status_and_last_active_run(fluent):
    run = fluent.start_run()
    assert fluent.last_active_run().info.run_id == run.info.run_id
    fluent.end_run("KILLED")
    fluent.end_run()  # nothing active: no-op
    last = fluent.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "KILLED"


def test_logging_without_a_run_starts_one(fluent):
    fluent.log_metric("m", 3.0)
    run = fluent.active_run()
    assert run is not None
    fluent.end_run()
    assert fluent.get_run(run.info.run_id).data.metric_dict == {"m": 3.0}


def test_resume_a_run_by_id(fluent):
    with fluent.start_run() as run:
        fluent.log_param("a", 1)
    with fluent.start_run(run_id=run.info.run_id, tags={"resumed": "yes"}) as again:
        assert again.info.status == "RUNNING"
        fluent.log_param("b", 2)
    stored = fluent.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.param_dict == {"a": "1", "b": "2"}
    assert stored.data.tag_dict["resumed"] == "yes"
    with pytest.raises(InvalidInput, match="belongs to experiment"):
        fluent.start_run(run_id=run.info.run_id, experiment_id="12345")
    with pytest.raises(NotFound):
        fluent.start_run(run_id="0123456789abcdef0123456789abcdef")
    assert fluent.active_run() is None


def test_set_experiment_creates_then_reuses_and_refuses_deleted(fluent, sqlite_uri):
    exp = fluent.set_experiment("new-exp")
    assert fluent.set_experiment("new-exp").experiment_id == exp.experiment_id
    assert fluent.set_experiment(experiment_id=exp.experiment_id).name == "new-exp"
    with fluent.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    with pytest.raises(InvalidInput, match="exactly one"):
        fluent.set_experiment()
    with pytest.raises(NotFound):
        fluent.set_experiment(experiment_id="424242")
    ModelyardClient(sqlite_uri).delete_experiment(exp.experiment_id)
    with pytest.raises(InvalidState, match="deleted experiment"):
        fluent.set_experiment("new-exp")


def test_experiment_functions(fluent):
    exp_id = fluent.create_experiment("listed", tags={"a": "b"})
    assert fluent.get_experiment(exp_id).tag_dict == {"a": "b"}
    assert fluent.get_experiment_by_name("listed").experiment_id == exp_id
    assert fluent.get_experiment_by_name("absent") is None
    names = [e.name for e in fluent.search_experiments()]
    assert set(names) == {"Default", "listed"}
    assert [e.name for e in fluent.search_experiments(filter_string="name = 'listed'")] == [
        "listed"
    ]
    assert len(fluent.search_experiments(max_results=1)) == 1


def test_search_runs_as_dataframe_with_mlflow_columns(fluent):
    pd = pytest.importorskip("pandas")
    fluent.set_experiment("frame")
    for i in range(3):
        with fluent.start_run(run_name=f"r{i}"):
            fluent.log_metric("score", float(i))
            fluent.log_param("i", i)
            if i == 2:
                fluent.log_metric("extra", 1.0)
    df = fluent.search_runs(order_by=["metrics.score ASC"])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert {"metrics.score", "metrics.extra", "params.i", "tags.mlflow.runName"} <= set(df.columns)
    assert list(df["metrics.score"]) == [0.0, 1.0, 2.0]
    assert list(df["params.i"]) == ["0", "1", "2"]
    assert list(df["tags.mlflow.runName"]) == ["r0", "r1", "r2"]
    assert math.isnan(df["metrics.extra"][0]) and df["metrics.extra"][2] == 1.0
    assert str(df["start_time"].dt.tz) == "UTC"
    assert (df["status"] == "FINISHED").all()
    filtered = fluent.search_runs(filter_string="metrics.score > 0.5", output_format="list")
    assert sorted(r.data.metric_dict["score"] for r in filtered) == [1.0, 2.0]
    assert (
        len(fluent.search_runs(experiment_names=["frame"], max_results=2, output_format="list"))
        == 2
    )
    assert len(fluent.search_runs(search_all_experiments=True, output_format="list")) == 3


def test_search_runs_with_no_runs_gives_the_base_columns(fluent):
    pytest.importorskip("pandas")
    df = fluent.search_runs()
    assert len(df) == 0
    assert list(df.columns) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    with pytest.raises(InvalidInput, match="output format"):
        fluent.search_runs(output_format="json")


def test_search_runs_without_pandas_says_how_to_install_it(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["pandas"] = None  # as if it were not installed
        import modelyard
        modelyard.set_tracking_uri("sqlite:///{tmp_path / "p.db"}")
        try:
            modelyard.search_runs()
        except ImportError as error:
            print(error)
        print(len(modelyard.search_runs(output_format="list")))
        """
    )
    env = {**os.environ, "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert "pip install 'modelyard[pandas]'" in out.stdout
    assert out.stdout.strip().endswith("0")


def test_log_input_and_inputs(fluent):
    with fluent.start_run() as run:
        fluent.log_input(
            {"name": "train", "digest": "d1", "source_type": "local", "source": "/d/train"},
            context="training",
        )
        fluent.log_inputs(
            [
                fluent.Dataset("a", "d2", "local", "/d/a"),
                fluent.Dataset("b", "d3", "local", "/d/b"),
            ],
            contexts=["eval", None],
            tags_list=[None, {"k": "v"}],
        )
        with pytest.raises(InvalidInput, match="as long as"):
            fluent.log_inputs([fluent.Dataset("c", "d4", "local", "/d/c")], contexts=[])
        with pytest.raises(InvalidInput, match="name"):
            fluent.log_input({"name": "x"})
    inputs = fluent.get_run(run.info.run_id).inputs.dataset_inputs
    got = {i.dataset.name: {t.key: t.value for t in i.tags} for i in inputs}
    assert got == {
        "train": {"mlflow.data.context": "training"},
        "a": {"mlflow.data.context": "eval"},
        "b": {"k": "v"},
    }


def test_delete_tag_and_delete_run(fluent):
    with fluent.start_run() as run:
        fluent.set_tag("gone", "soon")
        fluent.delete_tag("gone")
    assert "gone" not in fluent.get_run(run.info.run_id).data.tag_dict
    fluent.delete_run(run.info.run_id)
    assert fluent.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert fluent.search_runs(output_format="list") == []


def test_other_threads_log_to_the_active_run(fluent):
    with fluent.start_run() as run:

        def work(n: int) -> None:
            for i in range(200):
                fluent.log_metric(f"thread{n}", float(i), step=i)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for n in range(4):
        assert len(fluent.get_metric_history(run.info.run_id, f"thread{n}")) == 200


def test_a_run_keeps_its_backend_when_the_tracking_uri_changes(fluent, tmp_path):
    first = fluent.get_tracking_uri()
    with fluent.start_run() as run:
        fluent.set_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}")
        fluent.log_metric("m", 1.0)
    fluent.set_tracking_uri(first)
    assert fluent.get_run(run.info.run_id).data.metric_dict == {"m": 1.0}


def test_set_tracking_uri_refuses_what_it_cannot_use(fluent):
    with pytest.raises(InvalidInput, match="Unsupported tracking URI"):
        fluent.set_tracking_uri("file:///tmp/mlruns")


def test_runs_left_active_are_ended_at_exit(tmp_path):
    db = tmp_path / "exit.db"
    script = textwrap.dedent(
        f"""
        import sys, modelyard
        modelyard.set_tracking_uri("sqlite:///{db}")
        run = modelyard.start_run()
        print(run.info.run_id, flush=True)
        for i in range(500):
            modelyard.log_metric("m", float(i), step=i)
        if sys.argv[1] == "crash":
            raise RuntimeError("crash")
        """
    )
    env = {**os.environ, "MODELYARD_DEFAULT_ARTIFACT_ROOT": str(tmp_path)}
    ok = subprocess.run(
        [sys.executable, "-c", script, "ok"], capture_output=True, text=True, env=env
    )
    crash = subprocess.run(
        [sys.executable, "-c", script, "crash"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert crash.returncode == 1 and "RuntimeError: crash" in crash.stderr
    with ModelyardClient(f"sqlite:///{db}") as client:
        finished = client.get_run(ok.stdout.split()[0])
        failed = client.get_run(crash.stdout.split()[0])
        assert finished.info.status == "FINISHED"
        assert failed.info.status == "FAILED"
        for run in (finished, failed):
            assert len(client.get_metric_history(run.info.run_id, "m")) == 500
