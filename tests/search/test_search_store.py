"""Search through the real tracking service and SQL store on every backend: what the store writes
(latest metrics, NaN, run names, dataset contexts) is what the filters and orderings see."""

from __future__ import annotations

import math

import pytest

from modelyard.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from modelyard.errors import MalformedFilter


@pytest.fixture
def populated(tracking, unique):
    exp = tracking.create_experiment(f"search-{unique}", tags=[ExperimentTag("team", "vision")])
    other = tracking.create_experiment(f"search-other-{unique}")
    runs = {}
    for i, name in enumerate(["r-low", "r-high", "r-nan", "r-none"]):
        run = tracking.create_run(
            exp, user_id="ann" if i % 2 else "bob", start_time=1000 + i, run_name=name
        )
        runs[name] = run.info.run_id
    log = tracking.log_batch
    # the latest value is the one at the highest step, whatever the order of logging
    log(runs["r-low"], metrics=[Metric("acc", 0.9, 1, step=0), Metric("acc", 0.2, 2, step=5)])
    log(runs["r-high"], metrics=[Metric("acc", 0.8, 1, step=3), Metric("acc", 0.1, 5, step=1)])
    log(runs["r-nan"], metrics=[Metric("acc", 0.7, 1, step=0), Metric("acc", math.nan, 2, step=1)])
    log(runs["r-low"], params=[Param("model", "cnn")], tags=[RunTag("stage", "Prod")])
    log(runs["r-high"], params=[Param("model", "CNN")], tags=[RunTag("stage", "prod")])
    log(runs["r-nan"], params=[Param("model", "rnn")])
    dataset = Dataset("mnist", "abc123", "local", "file:///data/mnist")
    tracking.log_inputs(
        runs["r-high"], [DatasetInput(dataset, (InputTag("mlflow.data.context", "training"),))]
    )
    tracking.create_run(other, run_name="elsewhere", start_time=5)
    return exp, other, runs


def _names(page) -> list[str]:
    return [r.info.run_name for r in page]


def test_filters_see_latest_metrics_params_tags_and_inputs(tracking, populated):
    exp, _, _ = populated

    def search(filter_string: str) -> set[str]:
        return set(_names(tracking.search_runs([exp], filter_string)))

    assert search("metrics.acc > 0.5") == {"r-high"}
    assert search("metrics.acc < 0.5") == {"r-low"}
    assert search("metrics.acc >= 0") == {"r-low", "r-high"}  # NaN never matches
    assert search("params.model LIKE 'c%'") == {"r-low"}
    assert search("params.model ILIKE 'c%'") == {"r-low", "r-high"}
    assert search("params.model IS NULL") == {"r-none"}
    assert search("tags.stage = 'prod' OR tags.stage = 'Prod'") == {"r-low", "r-high"}
    assert search("tags.`mlflow.runName` = 'r-nan'") == {"r-nan"}
    assert search("run_name = 'r-none' OR `Run name` = 'r-low'") == {"r-none", "r-low"}
    # NOT is the exact complement: a run without the param is "not model = CNN"
    assert search("user_id = 'ann' AND NOT (params.model = 'CNN')") == {"r-none"}
    assert search("datasets.name = 'mnist' AND datasets.context = 'training'") == {"r-high"}
    assert search("status = 'RUNNING' AND created >= 1002") == {"r-nan", "r-none"}


def test_order_by_latest_metric_with_nan_and_missing_last(tracking, populated):
    exp, _, _ = populated
    desc = _names(tracking.search_runs([exp], order_by=["metrics.acc DESC"]))
    asc = _names(tracking.search_runs([exp], order_by=["metrics.acc"]))
    # r-high's latest is 0.8 (step 3), r-low's 0.2 (step 5); r-nan (NaN) and r-none (no metric) last,
    # between them start_time DESC
    assert desc == ["r-high", "r-low", "r-none", "r-nan"]
    assert asc == ["r-low", "r-high", "r-none", "r-nan"]
    assert _names(tracking.search_runs([exp])) == ["r-none", "r-nan", "r-high", "r-low"]


def test_paging_through_the_store(tracking, populated):
    exp, other, _ = populated
    seen, token = [], None
    while True:
        page = tracking.search_runs(
            [exp, other], order_by=["params.model DESC"], max_results=1, page_token=token
        )
        seen.extend(_names(page))
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(["r-low", "r-high", "r-nan", "r-none", "elsewhere"])
    assert seen[:3] == ["r-nan", "r-low", "r-high"]


def test_deleted_runs_and_view_types(tracking, populated):
    exp, _, runs = populated
    tracking.delete_run(runs["r-low"])
    assert "r-low" not in _names(tracking.search_runs([exp]))
    assert _names(tracking.search_runs([exp], run_view_type=ViewType.DELETED_ONLY)) == ["r-low"]
    assert "r-low" in _names(
        tracking.search_runs([exp], "params.model = 'cnn'", run_view_type=ViewType.ALL)
    )


def test_search_experiments_through_the_store(tracking, populated, unique):
    exp, other, _ = populated
    found = tracking.search_experiments(
        filter_string=f"name LIKE 'search-%{unique}' AND tags.team = 'vision'"
    )
    assert [e.experiment_id for e in found] == [exp]
    both = tracking.search_experiments(
        filter_string=f"name LIKE '%{unique}' OR experiment_id IN ('{exp}', '{other}')",
        order_by=["name DESC"],
    )
    assert [e.experiment_id for e in both] == [other, exp]


@pytest.mark.parametrize(
    ("filter_string", "order_by", "message"),
    [
        ("metrics.acc >> 1", (), "unexpected '>' at position 13"),
        ("params.model = cnn", (), "unquoted value 'cnn'"),
        (None, ("metrics.acc sideways",), "Invalid order_by clause"),
    ],
)
def test_bad_filters_are_400s_from_the_store(tracking, populated, filter_string, order_by, message):
    exp, _, _ = populated
    with pytest.raises(MalformedFilter, match=message) as info:
        tracking.search_runs([exp], filter_string, order_by=order_by)
    assert info.value.http_status == 400
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
