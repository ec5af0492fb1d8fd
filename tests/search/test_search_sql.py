"""The compiled SQL on real SQLite, PostgreSQL and MariaDB databases: semantics, ordering, safety."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from search_reference import RUNS

from modelyard.errors import MalformedFilter
from modelyard.store.sql import tables as t
from modelyard.store.sql.search import experiments_query, runs_query

_BY_NAME = {(r.experiment_id, r.name): r.run_id for r in RUNS}


def ids(*names: str, exp: int = 1) -> list[str]:
    return [_BY_NAME[(exp, n)] for n in names]


def found(db, filter_string, **kw) -> set[str]:
    return set(db.runs(filter_string, **kw))


def names(run_ids: list[str]) -> list[str]:
    by_id = {r.run_id: r.name for r in RUNS}
    return [by_id[i] for i in run_ids]


ACTIVE_EXP1 = {"alpha", "Beta", "gamma", "delta", "zeta", "eta"}


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ACTIVE_EXP1),
        ("", ACTIVE_EXP1),
        # metrics compare the latest value; NaN never matches; ±inf are stored as ±DBL_MAX
        ("metrics.acc > 0.6", {"alpha", "gamma"}),
        ("metrics.acc >= 0.5 AND metrics.acc <= 0.9", {"alpha", "Beta"}),
        ("metrics.acc != 0.9", {"Beta", "gamma", "zeta", "eta"}),
        ("metrics.acc = 1e400", {"gamma"}),
        ("metrics.acc > 1e308", {"gamma"}),
        ("metrics.acc < -1e308", {"eta"}),
        ("metrics.loss >= 0", {"alpha", "zeta"}),
        ("metrics.loss != 0.5", {"zeta"}),
        ("metrics.loss <= 0", set()),
        ("metrics.missing > -1e400", set()),
        # params and tags: != means "has the key with another value"; IS NULL means "has no such key"
        ("params.model = 'cnn'", {"alpha", "zeta"}),
        ("params.model != 'cnn'", {"Beta", "gamma", "eta"}),
        ('params.model = "it\'s"', {"eta"}),
        ("params.model = 'it''s'", {"eta"}),
        ("params.lr IS NULL", {"Beta", "delta", "zeta", "eta"}),
        ("params.lr IS NOT NULL", {"alpha", "gamma"}),
        ("params.model IN ('rnn', 'CNN')", {"Beta", "gamma"}),
        ("params.model NOT IN ('rnn', 'CNN')", {"alpha", "zeta", "eta"}),
        ("tags.team = 'vision'", {"Beta"}),
        ("tags.`a b` = 'x y'", {"eta"}),
        ("tags.team IS NULL", {"gamma", "zeta", "eta"}),
        # LIKE is case-sensitive everywhere, ILIKE is not; backslash escapes % and _
        ("params.model LIKE 'c%'", {"alpha", "zeta"}),
        ("params.model LIKE 'C%'", {"gamma"}),
        ("params.model ILIKE 'c%'", {"alpha", "gamma", "zeta"}),
        ("params.model LIKE '_nn'", {"alpha", "Beta", "zeta"}),
        ("tags.team LIKE 'V%'", {"alpha"}),
        ("tags.team ILIKE 'VISION'", {"alpha", "Beta"}),
        ("tags.note LIKE '5_%'", {"alpha", "gamma"}),
        ("tags.note LIKE '50\\%%'", {"alpha"}),
        ("tags.note LIKE '5\\_%'", {"gamma"}),
        ("tags.note LIKE '%\\%%'", {"alpha"}),
        # attributes
        ("run_name = 'alpha'", {"alpha"}),
        ("attributes.run_name = 'beta'", set()),
        ("`Run name` ILIKE 'beta'", {"Beta"}),
        ("run_name LIKE '%ta'", {"Beta", "delta", "zeta", "eta"}),
        ("status = 'FINISHED'", {"alpha", "delta", "zeta", "eta"}),
        ("status IN ('RUNNING', 'FAILED')", {"Beta", "gamma"}),
        ("status != 'FINISHED'", {"Beta", "gamma"}),
        ("user_id = 'ann' AND status = 'FINISHED'", {"alpha", "eta"}),
        ("artifact_uri LIKE 's3://%'", {"Beta"}),
        ("lifecycle_stage = 'active'", ACTIVE_EXP1),
        ("start_time > 200", {"gamma", "zeta", "eta"}),
        ("created >= 200", {"Beta", "gamma", "zeta", "eta"}),
        ("start_time > 199.5", {"Beta", "gamma", "zeta", "eta"}),
        ("start_time = 250", {"zeta", "eta"}),
        ("start_time != 250", {"alpha", "Beta", "gamma"}),
        ("end_time IS NULL", {"Beta", "delta"}),
        ("end_time IS NOT NULL AND end_time < 300", {"alpha", "zeta"}),
        ("start_time < 99999999999999999999999999", {"alpha", "Beta", "gamma", "zeta", "eta"}),
        ("start_time > 1e400", set()),
        ("start_time > -1e400", {"alpha", "Beta", "gamma", "zeta", "eta"}),
        # datasets: any input of the run matches
        ("datasets.name = 'mnist'", {"alpha", "Beta", "eta"}),
        ("datasets.digest = 'd2'", {"zeta", "eta"}),
        ("datasets.context = 'training'", {"alpha", "eta"}),
        ("datasets.context IN ('eval')", {"Beta", "eta"}),
        ("datasets.context != 'training'", {"Beta", "eta"}),
        ("datasets.name = 'cifar' AND datasets.context = 'eval'", {"eta"}),
        # OR, parentheses and NOT (the superset)
        ("params.model = 'rnn' OR metrics.acc > 1", {"Beta", "gamma"}),
        ("(params.model = 'cnn' OR params.model = 'CNN') AND metrics.acc > 0", {"alpha", "gamma"}),
        (
            "params.model = 'cnn' OR params.model = 'CNN' AND metrics.acc > 0",
            {"alpha", "gamma", "zeta"},
        ),
        ("NOT (params.model = 'cnn')", {"Beta", "gamma", "delta", "eta"}),
        ("NOT (metrics.loss > 1)", {"alpha", "Beta", "gamma", "delta", "eta"}),
        ("NOT (end_time > 250)", {"alpha", "Beta", "delta"}),  # runs without end_time are kept
        ("NOT (end_time IS NULL) AND NOT (status = 'FAILED')", {"alpha", "zeta", "eta"}),
        ("NOT (NOT (tags.team ILIKE 'vision'))", {"alpha", "Beta"}),
    ],
)
def test_run_filters(search_db, filter_string, expected):
    assert set(names(search_db.runs(filter_string))) == expected


def test_run_id_filters(search_db):
    a, b = ids("alpha", "Beta")
    assert found(search_db, f"run_id = '{a}'") == {a}
    assert found(search_db, f"attributes.run_id IN ('{a}', '{b}', 'nope')") == {a, b}
    assert found(search_db, f"run_id NOT IN ('{a}')") == set(ids(*ACTIVE_EXP1)) - {a}
    assert found(search_db, f"run_id LIKE '{a[:6]}%'") == {a}


def test_experiments_and_stages(search_db):
    assert set(names(search_db.runs(experiment_ids=["2"]))) == {"alpha"}
    both = search_db.runs("params.model = 'cnn'", experiment_ids=["1", "2"])
    assert set(both) == set(ids("alpha", "zeta")) | set(ids("alpha", exp=2))
    assert search_db.runs(experiment_ids=["3"]) == []
    assert search_db.runs(experiment_ids=[]) == []
    assert search_db.runs(experiment_ids=["x", "99999999999999"]) == []
    assert names(search_db.runs(stages=["deleted"])) == ["epsilon"]
    assert set(names(search_db.runs("metrics.acc > 0.6", stages=["active", "deleted"]))) == {
        "alpha",
        "gamma",
        "epsilon",
    }


# -- ordering --------------------------------------------------------------------------------------


def test_default_order_is_start_time_desc_nulls_last_then_run_id(search_db):
    got = names(search_db.runs())
    tied = sorted(ids("zeta", "eta"))
    assert got[0] == "gamma"
    assert search_db.runs()[1:3] == tied  # equal start_time: run id ascending
    assert got[3:] == ["Beta", "alpha", "delta"]  # delta has no start_time: last


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        # NaN (Beta's and eta's loss) and missing (delta, gamma) sort last both ways; ties by start_time DESC
        (["metrics.loss DESC"], ["zeta", "alpha", "gamma", "eta", "Beta", "delta"]),
        (["metrics.loss"], ["alpha", "zeta", "gamma", "eta", "Beta", "delta"]),
        (["metrics.acc DESC"], ["gamma", "alpha", "Beta", "zeta", "eta", "delta"]),
        (["metrics.acc ASC"], ["eta", "zeta", "Beta", "alpha", "gamma", "delta"]),
        (["params.lr"], ["gamma", "alpha", "zeta", "eta", "Beta", "delta"]),
        (["params.lr DESC"], ["alpha", "gamma", "zeta", "eta", "Beta", "delta"]),
        (["start_time"], ["alpha", "Beta", "zeta", "eta", "gamma", "delta"]),
        (["created DESC"], ["gamma", "zeta", "eta", "Beta", "alpha", "delta"]),
        (["end_time DESC"], ["gamma", "eta", "zeta", "alpha", "Beta", "delta"]),
        (["end_time"], ["alpha", "zeta", "eta", "gamma", "Beta", "delta"]),
        (["run_name"], ["Beta", "alpha", "delta", "eta", "gamma", "zeta"]),
        (["`Run name` DESC"], ["zeta", "gamma", "eta", "delta", "alpha", "Beta"]),
        (["user_id", "run_name DESC"], ["gamma", "eta", "alpha", "Beta", "delta", "zeta"]),
        (["status DESC", "metrics.acc"], ["Beta", "eta", "zeta", "alpha", "delta", "gamma"]),
    ],
)
def test_run_order_by(search_db, order_by, expected):
    got = names(search_db.runs(order_by=order_by))
    if order_by == ["start_time"]:  # zeta and eta tie on start_time: run id ascending decides
        zeta, eta = ids("zeta", "eta")
        expected = [
            "alpha",
            "Beta",
            *(["zeta", "eta"] if zeta < eta else ["eta", "zeta"]),
            "gamma",
            "delta",
        ]
    if order_by in (
        ["params.lr"],
        ["params.lr DESC"],
    ):  # runs without lr tie: start_time DESC, run id
        zeta, eta = ids("zeta", "eta")
        tail = ["zeta", "eta"] if zeta < eta else ["eta", "zeta"]
        expected = [*expected[:2], *tail, "Beta", "delta"]
    assert got == expected


def test_order_by_tag_then_metric(search_db):
    # lower-case values only, so the order holds under any PostgreSQL collation
    got = names(
        search_db.runs("NOT (tags.team = 'Vision')", order_by=["tags.team", "metrics.acc DESC"])
    )
    assert got == ["delta", "Beta", "gamma", "zeta", "eta"]
    got = names(
        search_db.runs("NOT (tags.team = 'Vision')", order_by=["tags.team DESC", "metrics.acc"])
    )
    assert got == ["Beta", "delta", "eta", "zeta", "gamma"]


def test_run_id_order_and_tiebreak(search_db):
    all_ids = search_db.runs(order_by=["run_id"])
    assert all_ids == sorted(ids(*ACTIVE_EXP1))
    assert search_db.runs(order_by=["attributes.run_id DESC"]) == sorted(
        ids(*ACTIVE_EXP1), reverse=True
    )
    # status ties (four FINISHED runs) break by start_time DESC, then run id
    finished = names(search_db.runs("status = 'FINISHED'", order_by=["status"]))
    zeta, eta = ids("zeta", "eta")
    assert finished == [*(["zeta", "eta"] if zeta < eta else ["eta", "zeta"]), "alpha", "delta"]


def test_filter_and_order_together(search_db):
    # -1e400 is clamped to -DBL_MAX like the stored -inf, so >= keeps eta and > would not
    got = names(
        search_db.runs(
            "metrics.acc >= -1e400 OR params.model = 'rnn'", order_by=["metrics.acc DESC"]
        )
    )
    assert got == ["gamma", "alpha", "Beta", "zeta", "eta"]
    assert "eta" not in names(search_db.runs("metrics.acc > -1e400"))


def test_paging_is_stable(search_db):
    for order_by in ([], ["metrics.loss DESC"], ["params.model"], ["status"], ["start_time"]):
        full = search_db.runs(order_by=order_by)
        pages = [
            search_db.runs(order_by=order_by, offset=o, limit=2) for o in range(0, len(full), 2)
        ]
        assert [r for page in pages for r in page] == full
        assert len(set(full)) == len(full)


def test_order_by_duplicate_key_joins_do_not_duplicate_rows(search_db):
    got = search_db.runs(order_by=["metrics.acc", "metrics.loss DESC", "params.model", "tags.team"])
    assert sorted(got) == sorted(ids(*ACTIVE_EXP1))


# -- experiments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, {1, 2, 4}),
        ("name = 'vision-exp'", {1}),
        ("name LIKE 'vision%'", {1, 4}),
        ("name LIKE 'audio%'", set()),
        ("name ILIKE 'audio%'", {2}),
        ("name LIKE '%\\_exp'", {2}),
        ("name != 'vision-2'", {1, 2}),
        ("name IN ('vision-2', 'Audio_exp')", {2, 4}),
        ("experiment_id = '2'", {2}),
        ("experiment_id != '2'", {1, 4}),
        ("experiment_id IN ('1', '4', 'x', '99999999999999')", {1, 4}),
        ("experiment_id IN ('x')", set()),
        ("experiment_id NOT IN ('x')", {1, 2, 4}),
        ("experiment_id NOT IN ('1')", {2, 4}),
        ("experiment_id = 'abc'", set()),
        ("experiment_id != 'abc'", {1, 2, 4}),
        ("experiment_id LIKE '%4'", {4}),
        ("creation_time >= 20", {2, 4}),
        ("last_update_time > 10", {1, 4}),
        ("NOT (last_update_time > 55)", {1, 2}),
        ("last_update_time IS NULL", {2}),
        ("tags.owner = 'ann'", {1}),
        ("tags.owner != 'ann'", {2}),
        ("tags.owner IS NULL", {4}),
        ("tags.stage ILIKE 'PROD' OR tags.stage = 'dev'", {1, 4}),
        ("NOT (tags.owner = 'bob') AND name LIKE 'v%'", {1, 4}),
    ],
)
def test_experiment_filters(search_db, filter_string, expected):
    assert set(search_db.experiments(filter_string)) == expected


def test_experiment_stages(search_db):
    assert search_db.experiments(stages=["deleted"]) == [3]
    assert set(search_db.experiments("tags.owner = 'ann'", stages=["active", "deleted"])) == {1, 3}


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], [2, 4, 1]),  # creation_time DESC, experiment_id ASC
        (["name"], [2, 4, 1]),
        (["name DESC"], [1, 4, 2]),
        (["experiment_id"], [1, 2, 4]),
        (["experiment_id DESC"], [4, 2, 1]),
        (["creation_time"], [1, 4, 2]),  # tie on 20: experiment_id DESC (MLflow's tiebreaker)
        (["last_update_time DESC"], [4, 1, 2]),  # NULL last
        (["last_update_time"], [1, 4, 2]),  # NULL last
        (["tags.owner"], [1, 2, 4]),
        (["tags.owner DESC"], [2, 1, 4]),
    ],
)
def test_experiment_order_by(search_db, order_by, expected):
    assert search_db.experiments(order_by=order_by) == expected


def test_experiment_default_order_with_deleted(search_db):
    assert search_db.experiments(stages=["active", "deleted"]) == [2, 4, 1, 3]


# -- safety ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filter_string",
    [
        "params.model = 'x'' OR ''1''=''1'",
        "params.model = 'cnn'' --'",
        "tags.team = 'a; DROP TABLE runs; --'",
        "run_name = '\\'; DELETE FROM runs; --'",
        "params.`model' OR 1=1 --` = 'cnn'",
        "run_name LIKE '%'' OR run_name LIKE ''%'",
        "params.model = 'ünïcødé ✓ \U0001d518'",  # astral plane: utf8mb4
        "params.model IN ('a'' OR 1=1', '\\\\')",
        "tags.`a\"b` = '\"'",
    ],
)
def test_injection_strings_are_data(search_db, filter_string):
    assert search_db.runs(filter_string) == []
    with search_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one() == len(
            RUNS
        )


def test_values_are_bound_not_spliced(search_db):
    query = runs_query(
        ["1"], "params.model = 'x'' OR 1=1 --' AND metrics.acc > 0.5", ["active"], ["tags.`t'`"]
    )
    sql = str(query.compile(dialect=search_db.engine.dialect))
    assert "OR 1=1" not in sql and "0.5" not in sql and "t'" not in sql


def test_bad_filter_or_order_raises_before_sql(search_db):
    with pytest.raises(MalformedFilter, match="position 11"):
        runs_query(["1"], "metrics.a >> 1", ["active"], [])
    with pytest.raises(MalformedFilter, match="order_by"):
        runs_query(["1"], None, ["active"], ["metrics.a sideways"])
    with pytest.raises(MalformedFilter, match="cannot filter on metrics"):
        experiments_query("metrics.a > 1", ["active"], [])


def test_large_in_list_and_many_clauses(search_db):
    many_ids = [f"{i:032x}" for i in range(5000)] + ids("alpha")
    in_list = ", ".join(f"'{i}'" for i in many_ids)
    assert names(search_db.runs(f"run_id IN ({in_list})")) == ["alpha"]
    ors = " OR ".join(f"params.model = 'v{i}'" for i in range(199)) + " OR params.model = 'rnn'"
    assert names(search_db.runs(ors)) == ["Beta"]
    nested = "(" * 47 + "params.model = 'rnn'" + ")" * 47  # NOT and each ( count
    assert names(search_db.runs(f"NOT ({nested})")) == names(
        search_db.runs("NOT (params.model = 'rnn')")
    )


def test_and_probes_run_cheapest_first_with_the_same_answer(search_db):
    """Column comparisons, then param/tag equalities, then metric ranges: SQLite stops at the first
    false conjunct and never reorders correlated subqueries, so the order is the plan."""
    written = "metrics.acc > 0.5 AND params.model = 'cnn' AND attributes.status = 'FINISHED'"
    where = str(runs_query(["1"], written, ["active"], []).compile()).split("WHERE", 1)[1]
    status, params, metrics = (
        where.find(s) for s in ("runs.status", "FROM params", "latest_metrics")
    )
    assert 0 < status < params < metrics
    reversed_order = "attributes.status = 'FINISHED' AND params.model = 'cnn' AND metrics.acc > 0.5"
    assert found(search_db, written) == found(search_db, reversed_order) != set()
    assert found(search_db, written) == {
        r.run_id
        for r in RUNS
        if r.experiment_id == 1
        and r.lifecycle_stage == "active"
        and r.status == "FINISHED"
        and r.params.get("model") == "cnn"
        and r.metrics.get("acc", float("nan")) > 0.5
    }
