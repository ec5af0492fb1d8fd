"""The tracking service over the real SQL store, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import math
import threading
import warnings

import pytest

from modelyard.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
)
from modelyard.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from modelyard.service.tracking import TrackingService


def _exp(tracking: TrackingService, unique: str, **kw) -> str:
    return tracking.create_experiment(f"exp-{unique}", **kw)


def test_default_experiment_exists(tracking):
    exp = tracking.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location.endswith("/0")


def test_create_get_experiment_with_tags(tracking, unique):
    exp_id = _exp(tracking, unique, tags=[ExperimentTag("team", "vision")])
    exp = tracking.get_experiment(exp_id)
    assert exp.name == f"exp-{unique}"
    assert exp.tag_dict == {"team": "vision"}
    assert exp.artifact_location.endswith(f"/{exp_id}")
    assert exp.creation_time and exp.last_update_time
    assert tracking.get_experiment_by_name(f"exp-{unique}").experiment_id == exp_id
    assert tracking.get_experiment_by_name(f"missing-{unique}") is None


def test_experiment_names_are_unique_and_case_sensitive(tracking, unique):
    _exp(tracking, unique)
    with pytest.raises(AlreadyExists, match="already exists"):
        _exp(tracking, unique)
    # another case is another name on every backend
    assert tracking.create_experiment(f"EXP-{unique}")


def test_explicit_artifact_location_is_resolved(tracking, unique, tmp_path):
    exp_id = _exp(tracking, unique, artifact_location=str(tmp_path / "custom"))
    assert tracking.get_experiment(exp_id).artifact_location == f"file://{tmp_path / 'custom'}"
    s3 = tracking.create_experiment(f"s3-{unique}", artifact_location="s3://bucket/prefix")
    assert tracking.get_experiment(s3).artifact_location == "s3://bucket/prefix"
    with pytest.raises(InvalidInput, match="runs:"):
        tracking.create_experiment(f"bad-{unique}", artifact_location="runs:/abc/model")


def test_rename_tag_and_lifecycle_of_experiment(tracking, unique):
    exp_id = _exp(tracking, unique)
    tracking.rename_experiment(exp_id, f"renamed-{unique}")
    assert tracking.get_experiment(exp_id).name == f"renamed-{unique}"
    tracking.set_experiment_tag(exp_id, "k", "v1")
    tracking.set_experiment_tag(exp_id, "k", "v2")
    assert tracking.get_experiment(exp_id).tag_dict == {"k": "v2"}
    tracking.delete_experiment_tag(exp_id, "k")
    assert tracking.get_experiment(exp_id).tags == ()
    with pytest.raises(NotFound):
        tracking.delete_experiment_tag(exp_id, "k")

    run = tracking.create_run(exp_id)
    tracking.delete_experiment(exp_id)
    assert tracking.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert tracking.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidState):
        tracking.create_run(exp_id)
    with pytest.raises(InvalidState):
        tracking.rename_experiment(exp_id, f"again-{unique}")
    tracking.restore_experiment(exp_id)
    assert tracking.get_experiment(exp_id).lifecycle_stage == "active"
    assert tracking.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_default_experiment_cannot_be_deleted(tracking):
    with pytest.raises(InvalidInput):
        tracking.delete_experiment("0")


def test_unknown_ids_are_not_found(tracking):
    with pytest.raises(NotFound):
        tracking.get_experiment("987654321")
    with pytest.raises(NotFound):
        tracking.get_run("0" * 32)
    with pytest.raises(InvalidInput):
        tracking.get_run("../etc/passwd")
    with pytest.raises(InvalidInput):
        tracking.get_experiment("1; DROP TABLE runs")


def test_create_run_defaults_and_name_sync(tracking, unique):
    exp_id = _exp(tracking, unique)
    run = tracking.create_run(exp_id, user_id="alice", start_time=123)
    info = run.info
    assert len(info.run_id) == 32 and info.run_uuid == info.run_id
    assert info.status == "RUNNING" and info.start_time == 123 and info.user_id == "alice"
    assert info.artifact_uri.endswith(f"/{exp_id}/{info.run_id}/artifacts")
    assert info.run_name.count("-") == 2  # generated adjective-noun-NNN
    assert run.data.tag_dict["mlflow.runName"] == info.run_name

    named = tracking.create_run(exp_id, run_name="mine")
    assert tracking.get_run(named.info.run_id).data.tag_dict["mlflow.runName"] == "mine"
    tagged = tracking.create_run(
        exp_id, tags=[RunTag("mlflow.runName", "from-tag"), RunTag("mlflow.user", "bob")]
    )
    assert tagged.info.run_name == "from-tag" and tagged.info.user_id == "bob"
    with pytest.raises(InvalidInput, match="different values"):
        tracking.create_run(exp_id, run_name="a", tags=[RunTag("mlflow.runName", "b")])

    # renaming through update or through the tag keeps both in step
    tracking.update_run_info(named.info.run_id, run_name="renamed")
    got = tracking.get_run(named.info.run_id)
    assert got.info.run_name == "renamed" and got.data.tag_dict["mlflow.runName"] == "renamed"
    tracking.set_tag(named.info.run_id, RunTag("mlflow.runName", "via-tag"))
    assert tracking.get_run(named.info.run_id).info.run_name == "via-tag"


def test_create_run_in_default_experiment_when_none_given(tracking):
    assert tracking.create_run(None).info.experiment_id == "0"


def test_update_run_status_and_end_time(tracking, unique):
    run = tracking.create_run(_exp(tracking, unique))
    info = tracking.update_run_info(run.info.run_id, status=RunStatus.FINISHED, end_time=999)
    assert info.status == "FINISHED" and info.end_time == 999
    with pytest.raises(InvalidInput):
        tracking.update_run_info(run.info.run_id, status="DONE")


def test_params_are_immutable(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    tracking.log_param(run_id, Param("lr", "0.1"))
    tracking.log_param(run_id, Param("lr", "0.1"))  # the same value again is fine
    with pytest.raises(InvalidInput, match="Changing param values is not allowed"):
        tracking.log_param(run_id, Param("lr", "0.2"))
    with pytest.raises(InvalidInput, match="Changing param values"):
        tracking.log_batch(run_id, params=[Param("other", "1"), Param("lr", "0.3")])
    # nothing of the refused batch was written
    assert tracking.get_run(run_id).data.param_dict == {"lr": "0.1"}
    with pytest.raises(InvalidInput, match="Duplicate parameter keys"):
        tracking.log_batch(run_id, params=[Param("x", "1"), Param("x", "2")])


def test_metrics_nan_inf_and_latest_rule(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    tracking.log_batch(
        run_id,
        metrics=[
            Metric("loss", 1.0, timestamp=100, step=0),
            Metric("loss", 0.5, timestamp=50, step=3),
            Metric("loss", 0.9, timestamp=10, step=3),  # same step, older time: not latest
            Metric("loss", 0.1, timestamp=5, step=1),
            Metric("nan", math.nan, timestamp=1, step=0),
            Metric("pinf", math.inf, timestamp=1, step=0),
            Metric("ninf", -math.inf, timestamp=1, step=0),
        ],
    )
    # a later call with a lower step does not replace the latest value
    tracking.log_metric(run_id, Metric("loss", 7.0, timestamp=10**12, step=2))
    data = tracking.get_run(run_id).data.metric_dict
    assert data["loss"] == 0.5
    assert math.isnan(data["nan"])
    assert data["pinf"] == math.inf and data["ninf"] == -math.inf
    history = tracking.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [
        (0, 1.0),
        (1, 0.1),
        (2, 7.0),
        (3, 0.9),
        (3, 0.5),
    ]
    assert all(m.run_id == run_id and m.key == "loss" for m in history)
    # same step and time, bigger value wins
    tracking.log_metric(run_id, Metric("tie", 1.0, timestamp=5, step=1))
    tracking.log_metric(run_id, Metric("tie", 2.0, timestamp=5, step=1))
    tracking.log_metric(run_id, Metric("tie", 1.5, timestamp=5, step=1))
    assert tracking.get_run(run_id).data.metric_dict["tie"] == 2.0


def test_identical_metric_points_are_stored_once(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    batch = [Metric("m", float(i), timestamp=1, step=i) for i in range(10)]
    tracking.log_batch(run_id, metrics=batch)
    tracking.log_batch(run_id, metrics=batch)  # a retried batch
    assert len(tracking.get_metric_history(run_id, "m")) == 10


def test_metric_validation(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    with pytest.raises(InvalidInput):
        tracking.log_metric(run_id, Metric("m", True, 1, 0))
    with pytest.raises(InvalidInput):
        tracking.log_metric(run_id, Metric("m", "1.0", 1, 0))
    with pytest.raises(InvalidInput):
        tracking.log_metric(run_id, Metric("m", 1.0, -1, 0))
    for bad_key in ("../x", "/abs", "a\\b", "semi;colon", "x" * 251, "", "a/../b", "."):
        with pytest.raises(InvalidInput):
            tracking.log_metric(run_id, Metric(bad_key, 1.0, 1, 0))
    assert tracking.get_run(run_id).data.metrics == ()


def test_batch_limits(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    with pytest.raises(InvalidInput, match="at most 1000 metrics"):
        tracking.log_batch(run_id, metrics=[Metric(f"m{i}", 1.0, 1, 0) for i in range(1001)])
    with pytest.raises(InvalidInput, match="at most 100 params"):
        tracking.log_batch(run_id, params=[Param(f"p{i}", "v") for i in range(101)])
    with pytest.raises(InvalidInput, match="at most 100 tags"):
        tracking.log_batch(run_id, tags=[RunTag(f"t{i}", "v") for i in range(101)])
    with pytest.raises(InvalidInput, match="in total"):
        tracking.log_batch(
            run_id,
            metrics=[Metric(f"m{i}", 1.0, 1, 0) for i in range(950)],
            params=[Param(f"p{i}", "v") for i in range(51)],
        )
    tracking.log_batch(run_id, metrics=[Metric(f"m{i}", float(i), 1, 0) for i in range(1000)])
    assert len(tracking.get_run(run_id).data.metrics) == 1000


def test_long_values_truncated_or_rejected(store, unique):
    lenient = TrackingService(store, truncate_long_values=True)
    strict = TrackingService(store, truncate_long_values=False)
    run_id = lenient.create_run(lenient.create_experiment(f"exp-{unique}")).info.run_id
    with pytest.warns(UserWarning, match="truncated"):
        lenient.log_param(run_id, Param("long", "x" * 7000))
    assert len(lenient.get_run(run_id).data.param_dict["long"]) == 6000
    with pytest.raises(InvalidInput, match="exceeds the maximum"):
        strict.set_tag(run_id, RunTag("t", "y" * 8001))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        strict.set_tag(run_id, RunTag("t", "y" * 8000))  # the limit itself is fine
    assert len(strict.get_run(run_id).data.tag_dict["t"]) == 8000


def test_unicode_and_case_sensitive_keys(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    tracking.log_batch(
        run_id,
        params=[Param("Alpha", "Ünïcødé ✓"), Param("alpha", "lower")],
        tags=[RunTag("note", "日本語")],
    )
    data = tracking.get_run(run_id).data
    assert data.param_dict == {"Alpha": "Ünïcødé ✓", "alpha": "lower"}
    assert data.tag_dict["note"] == "日本語"


def test_tags_overwrite_and_delete(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    tracking.set_tag(run_id, RunTag("k", "1"))
    tracking.set_tag(run_id, RunTag("k", "2"))
    assert tracking.get_run(run_id).data.tag_dict["k"] == "2"
    tracking.delete_tag(run_id, "k")
    assert "k" not in tracking.get_run(run_id).data.tag_dict
    with pytest.raises(NotFound):
        tracking.delete_tag(run_id, "k")


def test_deleted_run_refuses_writes_and_restores(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    tracking.log_param(run_id, Param("p", "1"))
    tracking.delete_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidState):
        tracking.log_metric(run_id, Metric("m", 1.0, 1, 0))
    with pytest.raises(InvalidState):
        tracking.set_tag(run_id, RunTag("t", "v"))
    tracking.restore_run(run_id)
    run = tracking.get_run(run_id)
    assert run.info.lifecycle_stage == "active" and run.data.param_dict == {"p": "1"}


def test_writes_to_unknown_run_are_not_found(tracking):
    with pytest.raises(NotFound):
        tracking.log_batch("f" * 32, metrics=[Metric("m", 1.0, 1, 0)])
    with pytest.raises(NotFound):
        tracking.update_run_info("f" * 32, status="FINISHED")


def test_metric_history_paging(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    tracking.log_batch(run_id, metrics=[Metric("m", float(i), 1000 + i, i) for i in range(25)])
    seen, token = [], None
    while True:
        page = tracking.get_metric_history(run_id, "m", max_results=10, page_token=token)
        seen += [m.step for m in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == list(range(25))
    with pytest.raises(InvalidInput, match="page token"):
        tracking.get_metric_history(run_id, "m", max_results=10, page_token="not-a-token")


def test_metric_history_bulk_interval_samples_and_keeps_ends(tracking, unique):
    exp_id = _exp(tracking, unique)
    a = tracking.create_run(exp_id).info.run_id
    b = tracking.create_run(exp_id).info.run_id
    for run_id in (a, b):
        for start in range(0, 3000, 1000):
            tracking.log_batch(
                run_id, metrics=[Metric("m", float(i), i, i) for i in range(start, start + 1000)]
            )
    points = tracking.get_metric_history_bulk_interval([a, b], "m", max_results=50)
    for run_id in (a, b):
        steps = [p.step for p in points if p.run_id == run_id]
        assert len(steps) == 50 and steps == sorted(steps)
        assert steps[0] == 0 and steps[-1] == 2999
    windowed = tracking.get_metric_history_bulk_interval(
        [a], "m", start_step=100, end_step=199, max_results=2500
    )
    assert [p.step for p in windowed] == list(range(100, 200))
    with pytest.raises(InvalidInput, match="both must be specified"):
        tracking.get_metric_history_bulk_interval([a], "m", start_step=1)
    with pytest.raises(InvalidInput):
        tracking.get_metric_history_bulk_interval([a] * 101, "m")


def test_dataset_inputs(tracking, unique):
    exp_id = _exp(tracking, unique)
    run_id = tracking.create_run(exp_id).info.run_id
    ds = Dataset(
        "iris", "d1g3st", "local", "/data/iris.csv", schema='{"cols": []}', profile='{"rows": 150}'
    )
    item = DatasetInput(ds, (InputTag("mlflow.data.context", "training"),))
    tracking.log_inputs(run_id, [item])
    tracking.log_inputs(run_id, [item])  # logging the same input again adds nothing
    inputs = tracking.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset == ds
    assert inputs[0].tags == (InputTag("mlflow.data.context", "training"),)
    summaries = tracking.search_datasets([exp_id])
    assert [(s.name, s.digest, s.context) for s in summaries] == [("iris", "d1g3st", "training")]
    with pytest.raises(InvalidInput):
        tracking.log_inputs(run_id, [DatasetInput(Dataset("", "d", "local", "/x"))])


def test_gc_hard_deletes_only_deleted(tracking, unique):
    exp_id = _exp(tracking, unique)
    keep = tracking.create_run(exp_id).info.run_id
    gone = tracking.create_run(exp_id).info.run_id
    tracking.log_batch(gone, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")])
    with pytest.raises(InvalidState):
        tracking.gc(run_ids=[gone])
    tracking.delete_run(gone)
    result = tracking.gc(run_ids=[gone])
    assert result.runs == [gone]
    with pytest.raises(NotFound):
        tracking.get_run(gone)
    assert tracking.get_run(keep).info.lifecycle_stage == "active"

    doomed = tracking.create_experiment(f"doomed-{unique}")
    doomed_run = tracking.create_run(doomed).info.run_id
    tracking.delete_experiment(doomed)
    assert tracking.gc(older_than_ms=10**9).experiments == []  # not old enough
    result = tracking.gc(experiment_ids=[doomed])
    assert result.experiments == [doomed]
    with pytest.raises(NotFound):
        tracking.get_experiment(doomed)
    with pytest.raises(NotFound):
        tracking.get_run(doomed_run)


def test_concurrent_writers_lose_nothing(tracking, unique):
    run_id = tracking.create_run(_exp(tracking, unique)).info.run_id
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(0, 200, 20):
                tracking.log_batch(
                    run_id, metrics=[Metric(f"w{n}", float(j), j, j) for j in range(i, i + 20)]
                )
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for n in range(8):
        assert len(tracking.get_metric_history(run_id, f"w{n}")) == 200
    assert tracking.get_run(run_id).data.metric_dict == {f"w{n}": 199.0 for n in range(8)}
