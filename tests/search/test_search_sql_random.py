"""Differential test: random filters (with OR, NOT and nesting) give the same runs and experiments in
SQL on every backend as the reference semantics in plain Python."""

from __future__ import annotations

import random

import pytest
from search_reference import (
    EXPERIMENTS,
    RUNS,
    experiment_matches,
    random_expr,
    random_run_clause,
    render,
    run_matches,
)

from modelyard.search import Comparator, Comparison, EntityType, Field, parse_filter

N_FILTERS = 300


def _run_filters() -> list[str]:
    rnd = random.Random(20240601)
    run_ids = [r.run_id for r in RUNS]
    return [
        render(random_expr(rnd, lambda: random_run_clause(rnd, run_ids))) for _ in range(N_FILTERS)
    ]


def test_rendered_filters_round_trip():
    for text in _run_filters():
        expr = parse_filter(text, "runs")
        assert expr is not None
        assert parse_filter(render(expr), "runs") == expr


def test_random_run_filters_match_reference(search_db):
    stages = ("active", "deleted")
    for text in _run_filters():
        expr = parse_filter(text, "runs")
        assert expr is not None
        expected = {r.run_id for r in RUNS if r.experiment_id in (1, 2) and run_matches(r, expr)}
        got = search_db.runs(text, experiment_ids=["1", "2"], stages=stages)
        assert len(got) == len(set(got)), text
        assert set(got) == expected, text


def _experiment_clause(rnd: random.Random) -> Comparison:
    C = Comparator
    kind = rnd.choice(["name", "id", "time", "tag"])
    if kind == "name":
        op = rnd.choice([C.EQ, C.NE, C.LIKE, C.ILIKE, C.IN, C.NOT_IN])
        words = ["vision-exp", "Audio_exp", "vision-2", "archived", "x"]
        patterns = ["v%", "%exp", "%\\_%", "AUDIO%", "%-_"]
        value = (
            tuple(rnd.sample(words, 2))
            if op in (C.IN, C.NOT_IN)
            else rnd.choice(patterns + words)
            if op in (C.LIKE, C.ILIKE)
            else rnd.choice(words)
        )
        return Comparison(Field(EntityType.ATTRIBUTE, "name"), op, value)
    if kind == "id":
        op = rnd.choice([C.EQ, C.NE, C.IN, C.NOT_IN, C.LIKE])
        pool = ["1", "2", "3", "4", "x", "99999999999"]
        value = (
            tuple(rnd.sample(pool, 2))
            if op in (C.IN, C.NOT_IN)
            else "%" + rnd.choice("1234")
            if op is C.LIKE
            else rnd.choice(pool)
        )
        return Comparison(Field(EntityType.ATTRIBUTE, "experiment_id"), op, value)
    if kind == "time":
        op = rnd.choice([C.EQ, C.NE, C.LT, C.LE, C.GT, C.GE, C.IS_NULL, C.IS_NOT_NULL])
        value = (
            None if op in (C.IS_NULL, C.IS_NOT_NULL) else rnd.choice([0, 5, 10, 20, 50, 60, 15.5])
        )
        return Comparison(
            Field(EntityType.ATTRIBUTE, rnd.choice(["creation_time", "last_update_time"])),
            op,
            value,
        )
    op = rnd.choice([C.EQ, C.NE, C.LIKE, C.ILIKE, C.IS_NULL, C.IS_NOT_NULL])
    value = (
        None
        if op in (C.IS_NULL, C.IS_NOT_NULL)
        else rnd.choice(["ann", "bob", "prod", "dev", "A%", "%o%"])
    )
    return Comparison(Field(EntityType.TAG, rnd.choice(["owner", "stage", "none"])), op, value)


def test_random_experiment_filters_match_reference(search_db):
    rnd = random.Random(7)
    for _ in range(150):
        text = render(random_expr(rnd, lambda: _experiment_clause(rnd)))
        expr = parse_filter(text, "experiments")
        assert expr is not None
        expected = {e.experiment_id for e in EXPERIMENTS if experiment_matches(e, expr)}
        assert set(search_db.experiments(text, stages=("active", "deleted"))) == expected, text


@pytest.mark.parametrize("seed", range(3))
def test_random_filters_never_duplicate_or_lose_rows_when_ordered(search_db, seed):
    rnd = random.Random(seed)
    run_ids = [r.run_id for r in RUNS]
    for _ in range(20):
        text = render(random_expr(rnd, lambda: random_run_clause(rnd, run_ids)))
        order = rnd.sample(
            [
                "metrics.acc DESC",
                "metrics.loss",
                "params.model",
                "tags.team DESC",
                "end_time",
                "run_name",
            ],
            2,
        )
        plain = search_db.runs(text, experiment_ids=["1", "2"])
        ordered = search_db.runs(text, order, experiment_ids=["1", "2"])
        assert sorted(plain) == sorted(ordered), (text, order)
