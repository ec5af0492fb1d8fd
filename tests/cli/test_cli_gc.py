"""``modelyard gc``: permanently removing what is in the deleted stage."""

from __future__ import annotations

import json

import pytest

from modelyard.cli.gc import parse_duration_ms
from modelyard.entities import ViewType
from modelyard.errors import NotFound


@pytest.fixture
def deleted(service) -> dict[str, str]:
    """One active run, one deleted run in an active experiment, and a deleted experiment with a run."""
    keep = service.create_experiment("keep")
    active = service.create_run(keep, run_name="active").info.run_id
    gone = service.create_run(keep, run_name="gone").info.run_id
    service.delete_run(gone)
    old = service.create_experiment("old")
    old_run = service.create_run(old, run_name="old-run").info.run_id
    service.delete_experiment(old)
    return {"keep": keep, "active": active, "gone": gone, "old": old, "old_run": old_run}


def _all_run_ids(service, experiment_id: str) -> set[str]:
    return {r.info.run_id for r in service.search_runs([experiment_id], run_view_type=ViewType.ALL)}


def test_gc_removes_everything_deleted(invoke, sqlite_uri, service, deleted) -> None:
    result = invoke("gc", "--backend-store-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Removed ") and deleted["gone"] in lines[0]
    assert lines[1] == f"Removed 1 experiment(s): {deleted['old']}"
    assert _all_run_ids(service, deleted["keep"]) == {deleted["active"]}
    with pytest.raises(NotFound):
        service.get_experiment(deleted["old"])
    with pytest.raises(NotFound):
        service.get_run(deleted["old_run"])

    again = invoke("gc", "--backend-store-uri", sqlite_uri)
    assert again.stdout.splitlines() == ["Removed 0 run(s).", "Removed 0 experiment(s)."]


def test_gc_json_output(invoke, sqlite_uri, deleted) -> None:
    result = invoke("gc", "--backend-store-uri", sqlite_uri, "-o", "json")
    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)
    assert deleted["gone"] in removed["runs"]
    assert removed["experiments"] == [deleted["old"]]


def test_older_than_spares_recent_deletions(invoke, sqlite_uri, service, deleted) -> None:
    result = invoke("gc", "--backend-store-uri", sqlite_uri, "--older-than", "1d")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Removed 0 run(s).", "Removed 0 experiment(s)."]
    assert deleted["gone"] in _all_run_ids(service, deleted["keep"])


def test_named_runs_and_experiments_only(invoke, sqlite_uri, service, deleted) -> None:
    result = invoke(
        "gc", "--backend-store-uri", sqlite_uri, "--run-ids", deleted["gone"], "-o", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"runs": [deleted["gone"]], "experiments": []}
    assert service.get_experiment(deleted["old"]).lifecycle_stage == "deleted"

    result = invoke(
        "gc", "--backend-store-uri", sqlite_uri, "--experiment-ids", f" {deleted['old']} ,"
    )
    assert result.exit_code == 0, result.output
    with pytest.raises(NotFound):
        service.get_experiment(deleted["old"])


def test_backend_store_uri_from_the_environment(invoke, sqlite_uri, service, deleted) -> None:
    result = invoke("gc", "-o", "json", env={"MODELYARD_BACKEND_STORE_URI": sqlite_uri})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["experiments"] == [deleted["old"]]


# ------------------------------------------------------------------ error paths


def test_naming_an_active_run_removes_nothing(
    invoke, sqlite_uri, service, deleted, one_line_error
) -> None:
    result = invoke(
        "gc",
        "--backend-store-uri",
        sqlite_uri,
        "--run-ids",
        f"{deleted['gone']},{deleted['active']}",
    )
    one_line_error(result, deleted["active"], "not in the deleted")
    assert _all_run_ids(service, deleted["keep"]) == {deleted["active"], deleted["gone"]}


def test_naming_an_unknown_experiment(invoke, sqlite_uri, deleted, one_line_error) -> None:
    one_line_error(
        invoke("gc", "--backend-store-uri", sqlite_uri, "--experiment-ids", "31337"), "31337"
    )


def test_older_than_with_ids_is_a_usage_error(invoke, sqlite_uri, deleted) -> None:
    result = invoke(
        "gc", "--backend-store-uri", sqlite_uri, "--older-than", "1h", "--run-ids", deleted["gone"]
    )
    assert result.exit_code == 2
    assert "--older-than cannot be combined" in result.stderr


@pytest.mark.parametrize("bad", ["", "1w", "2h1d", "h", "-5m", "1.5h", "10"])
def test_bad_duration_is_a_usage_error(invoke, sqlite_uri, bad) -> None:
    result = invoke("gc", "--backend-store-uri", sqlite_uri, "--older-than", bad)
    assert result.exit_code == 2
    assert "is not a duration" in result.stderr


def test_server_uri_is_refused(invoke) -> None:
    result = invoke("gc", "--backend-store-uri", "http://127.0.0.1:5000")
    assert result.exit_code == 2
    assert "database URI" in result.stderr


def test_bad_database_uri(invoke, one_line_error) -> None:
    one_line_error(invoke("gc", "--backend-store-uri", "not a uri"))


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1d2h30m", 95_400_000),
        ("30d", 2_592_000_000),
        ("12h", 43_200_000),
        ("90s", 90_000),
        ("0m", 0),
        ("1D", 86_400_000),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms
