"""Every filter and order_by the real MLflow parser accepts parses here to the same clauses."""

from __future__ import annotations

import pytest
from mlflow.utils import search_utils

from modelyard.search import And, Comparison, EntityType, parse_filter, parse_order_by

_TYPES = {
    "metric": EntityType.METRIC,
    "parameter": EntityType.PARAM,
    "tag": EntityType.TAG,
    "attribute": EntityType.ATTRIBUTE,
    "dataset": EntityType.DATASET,
}
_ATTRIBUTE_ALIASES = {"created": "start_time", "run name": "run_name"}

RUN_FILTERS = [
    "metrics.acc > 0.9",
    "metrics.acc >= 1 and metrics.loss < 0.5",
    "metric.`avg score` != -1.5e3",
    "metrics.loss <= .5 AND metrics.loss = 1.",
    "params.model = 'cnn'",
    'param.model = "cnn"',
    "parameters.`a b` LIKE 'x%'",
    "parameter.a ILIKE '%X'",
    "params.a != 'x' AND params.b IS NULL AND params.c IS NOT NULL",
    "tags.team = 'vision'",
    "tag.`mlflow.runName` LIKE 'run-%'",
    "tags.\"mlflow.user\" = 'ann'",
    "tags.x IS NULL",
    "attributes.status = 'FINISHED'",
    "attribute.user_id != 'ann'",
    "attr.artifact_uri LIKE '%s3%'",
    "run.run_name ILIKE 'A%'",
    "run_name = 'alpha'",
    "`Run name` = 'alpha'",
    "`Run Name` LIKE 'a%'",
    "attributes.`run name` = 'alpha'",
    "run_id = 'abc'",
    "run_id IN ('a', 'b')",
    "run_id NOT IN ('a')",
    "attributes.run_id IN ('a','b',)",
    "created > 1700000000000",
    "Created >= 1.5",
    "start_time < 5 AND end_time > -5",
    "end_time != 7",
    "datasets.name = 'mnist'",
    "dataset.digest IN ('d1', 'd2')",
    "datasets.context LIKE 'train%'",
    "datasets.context NOT IN ('eval')",
    "metrics.a > 1 AND params.b = 'x' AND tags.c LIKE 'y%' AND status = 'RUNNING'",
    "params.`a.b` = 'x'",
    "params.a.b = 'x'",
    "metrics.a>1",
    "params.a='x'and params.b='y'",
]

EXPERIMENT_FILTERS = [
    "name = 'exp'",
    "name LIKE 'exp%'",
    "name ILIKE 'EXP%'",
    "name != 'x'",
    "experiment_id = '1'",
    "experiment_id IN ('1', '2')",
    "creation_time > 5 AND last_update_time <= 10",
    "tags.k = 'v'",
    "tags.k IS NULL",
    "tags.`a b` ILIKE '%v%'",
    "attribute.name = 'exp'",
]


def _mlflow_clauses(parsed: list[dict]) -> list[tuple]:
    out = []
    for c in parsed:
        etype = _TYPES[c["type"]]
        key = c["key"]
        if etype is EntityType.ATTRIBUTE:
            key = _ATTRIBUTE_ALIASES.get(key.lower(), key)
        value = c["value"]
        if etype is EntityType.METRIC:
            value = float(value)
        out.append((etype, key, c["comparator"].upper(), value))
    return out


def _our_clauses(expr) -> list[tuple]:
    if expr is None:
        return []
    items = expr.operands if isinstance(expr, And) else (expr,)
    assert all(isinstance(c, Comparison) for c in items)
    return [(c.field.type, c.field.key, c.comparator.value, c.value) for c in items]


@pytest.mark.parametrize("text", RUN_FILTERS)
def test_run_filters_match_mlflow(text):
    expected = _mlflow_clauses(search_utils.SearchUtils.parse_search_filter(text))
    assert _our_clauses(parse_filter(text, "runs")) == expected


@pytest.mark.parametrize("text", EXPERIMENT_FILTERS)
def test_experiment_filters_match_mlflow(text):
    expected = _mlflow_clauses(search_utils.SearchExperimentsUtils.parse_search_filter(text))
    assert _our_clauses(parse_filter(text, "experiments")) == expected


@pytest.mark.parametrize(
    "item",
    [
        "metrics.acc",
        "metrics.acc DESC",
        "metric.`avg score` asc",
        "params.model",
        "tags.`mlflow.runName` DESC",
        "start_time",
        "created DESC",
        "run_name",
        "attributes.run_id",
        "status DESC",
        "end_time",
        "user_id",
        "artifact_uri",
    ],
)
def test_run_order_by_matches_mlflow(item):
    etype, key, ascending = search_utils.SearchUtils.parse_order_by_for_search_runs(item)
    key = _ATTRIBUTE_ALIASES.get(key.lower(), key) if etype == "attribute" else key
    (ours,) = parse_order_by([item], "runs")
    assert (ours.field.type, ours.field.key, ours.ascending) == (_TYPES[etype], key, ascending)


@pytest.mark.parametrize(
    "item", ["name", "experiment_id DESC", "creation_time", "last_update_time asc", "name desc"]
)
def test_experiment_order_by_matches_mlflow(item):
    etype, key, ascending = (
        search_utils.SearchExperimentsUtils.parse_order_by_for_search_experiments(item)
    )
    (ours,) = parse_order_by([item], "experiments")
    assert (ours.field.type, ours.field.key, ours.ascending) == (_TYPES[etype], key, ascending)
