"""``modelyard runs ...`` over a real SQLite file, seeded through the tracking service."""

from __future__ import annotations

import json

import pytest

from modelyard.entities import Metric, Param, RunTag


@pytest.fixture
def seeded(service) -> dict[str, str]:
    """An experiment with three runs (rmse 0.5, 0.3, 0.7); returns experiment id and run ids by name."""
    experiment_id = service.create_experiment("seeded")
    ids = {"experiment": experiment_id}
    for start, (name, rmse) in enumerate((("a", 0.5), ("b", 0.3), ("c", 0.7))):
        run = service.create_run(
            experiment_id, start_time=1_700_000_000_000 + start * 1000, run_name=name
        )
        service.log_batch(
            run.info.run_id,
            metrics=[Metric("rmse", rmse, 1_700_000_000_000, step=0)],
            params=[Param("lr", str(rmse / 10))],
            tags=[RunTag("team", "search")],
        )
        ids[name] = run.info.run_id
    return ids


def _list(invoke, uri: str, experiment_id: str, *extra: str) -> list[dict]:
    result = invoke(
        "runs",
        "list",
        "--experiment-id",
        experiment_id,
        "-o",
        "json",
        "--tracking-uri",
        uri,
        *extra,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_prints_a_table_newest_first(invoke, sqlite_uri, seeded) -> None:
    result = invoke(
        "runs", "list", "--experiment-id", seeded["experiment"], "--tracking-uri", sqlite_uri
    )
    assert result.exit_code == 0, result.output
    header, _rule, *rows = result.stdout.splitlines()
    assert header.split() == ["RUN", "ID", "NAME", "STATUS", "STARTED", "ENDED"]
    assert [row.split()[0] for row in rows] == [seeded["c"], seeded["b"], seeded["a"]]
    name_column = header.index("NAME")
    assert [row[name_column:].split()[0] for row in rows] == ["c", "b", "a"]
    assert all("RUNNING" in row for row in rows)


def test_list_filter_order_and_limit(invoke, sqlite_uri, seeded) -> None:
    exp = seeded["experiment"]
    below = _list(
        invoke, sqlite_uri, exp, "--filter", "metrics.rmse < 0.6", "--order-by", "metrics.rmse ASC"
    )
    assert [r["info"]["run_name"] for r in below] == ["b", "a"]
    top = _list(invoke, sqlite_uri, exp, "--order-by", "metrics.rmse DESC", "--max-results", "1")
    assert [r["info"]["run_name"] for r in top] == ["c"]
    assert top[0]["data"]["metrics"] == {"rmse": 0.7}


@pytest.mark.slow
def test_list_pages_through_more_runs_than_one_page(invoke, sqlite_uri, service) -> None:
    experiment_id = service.create_experiment("many")
    for i in range(1005):
        service.create_run(experiment_id, start_time=i, run_name=f"r{i}")
    runs = _list(invoke, sqlite_uri, experiment_id, "--max-results", "1003")
    assert len(runs) == 1003
    assert len({r["info"]["run_id"] for r in runs}) == 1003


def test_describe_prints_the_run_as_json(invoke, sqlite_uri, seeded) -> None:
    result = invoke("runs", "describe", "--run-id", seeded["b"], "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["info"]["run_id"] == seeded["b"]
    assert run["info"]["experiment_id"] == seeded["experiment"]
    assert run["info"]["lifecycle_stage"] == "active"
    assert run["data"]["metrics"] == {"rmse": 0.3}
    assert run["data"]["params"] == {"lr": "0.03"}
    assert run["data"]["tags"]["team"] == "search"
    assert run["data"]["tags"]["mlflow.runName"] == "b"


def test_delete_and_restore(invoke, sqlite_uri, seeded) -> None:
    exp = seeded["experiment"]
    result = invoke("runs", "delete", "--run-id", seeded["a"], "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Deleted run {seeded['a']}.")
    assert seeded["a"] not in {r["info"]["run_id"] for r in _list(invoke, sqlite_uri, exp)}
    deleted = _list(invoke, sqlite_uri, exp, "--view", "deleted")
    assert [(r["info"]["run_id"], r["info"]["lifecycle_stage"]) for r in deleted] == [
        (seeded["a"], "deleted")
    ]

    table = invoke("runs", "list", "-x", exp, "--view", "all", "--tracking-uri", sqlite_uri).stdout
    assert table.splitlines()[0].split()[-1] == "STAGE"
    assert any(
        line.startswith(seeded["a"]) and line.endswith("deleted") for line in table.splitlines()
    )

    result = invoke("runs", "restore", "--run-id", seeded["a"], "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Restored run {seeded['a']}."
    assert len(_list(invoke, sqlite_uri, exp)) == 3


# ------------------------------------------------------------------ error paths


def test_describe_unknown_run(invoke, sqlite_uri, one_line_error) -> None:
    one_line_error(
        invoke("runs", "describe", "-r", "0" * 32, "--tracking-uri", sqlite_uri), "0" * 32
    )


def test_malformed_run_id(invoke, sqlite_uri, one_line_error) -> None:
    one_line_error(
        invoke("runs", "delete", "-r", "'; drop table runs; --", "--tracking-uri", sqlite_uri)
    )


def test_restoring_an_active_run_is_harmless(invoke, sqlite_uri, seeded) -> None:
    # As in MLflow: restoring a run that is not deleted succeeds and changes nothing.
    result = invoke("runs", "restore", "-r", seeded["a"], "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    described = invoke("runs", "describe", "-r", seeded["a"], "--tracking-uri", sqlite_uri)
    assert '"lifecycle_stage": "active"' in described.stdout


def test_list_unknown_experiment_and_bad_search(invoke, sqlite_uri, seeded, one_line_error) -> None:
    exp = seeded["experiment"]
    one_line_error(
        invoke(
            "runs", "list", "-x", exp, "--filter", "metrics.rmse <", "--tracking-uri", sqlite_uri
        )
    )
    one_line_error(
        invoke(
            "runs", "list", "-x", exp, "--order-by", "colour SIDEWAYS", "--tracking-uri", sqlite_uri
        )
    )
    one_line_error(invoke("runs", "list", "-x", "abc", "--tracking-uri", sqlite_uri), "abc")
    one_line_error(invoke("runs", "list", "-x", "404", "--tracking-uri", sqlite_uri), "404")


def test_max_results_must_be_positive(invoke, sqlite_uri) -> None:
    result = invoke("runs", "list", "-x", "0", "--max-results", "0", "--tracking-uri", sqlite_uri)
    assert result.exit_code == 2
    assert "--max-results" in result.stderr
