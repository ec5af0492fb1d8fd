"""``modelyard experiments ...`` over a real SQLite file."""

from __future__ import annotations

import json


def _create(invoke, uri: str, name: str, *extra: str) -> str:
    result = invoke("experiments", "create", "--name", name, *extra, "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Created experiment {name!r} with id ")
    return result.stdout.strip().rstrip(".").rsplit(" ", 1)[-1]


def _search_json(invoke, uri: str, *extra: str) -> list[dict]:
    result = invoke("experiments", "search", "--output", "json", "--tracking-uri", uri, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_then_search_shows_it(invoke, sqlite_uri, tmp_path) -> None:
    location = str(tmp_path / "fraud-artifacts")
    experiment_id = _create(invoke, sqlite_uri, "fraud", "--artifact-location", location)
    found = {e["experiment_id"]: e for e in _search_json(invoke, sqlite_uri)}
    assert found[experiment_id]["name"] == "fraud"
    assert found[experiment_id]["artifact_location"] == (tmp_path / "fraud-artifacts").as_uri()
    assert found[experiment_id]["lifecycle_stage"] == "active"
    assert "0" in found  # the default experiment


def test_search_prints_an_aligned_table(invoke, sqlite_uri) -> None:
    _create(invoke, sqlite_uri, "a")
    _create(invoke, sqlite_uri, "a much longer experiment name")
    result = invoke("experiments", "search", "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    header, rule, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STAGE", "CREATED", "ARTIFACT", "LOCATION"]
    assert set(rule.replace(" ", "")) == {"-"}
    stage_column = header.index("STAGE")
    assert len(rows) == 3
    for row in rows:
        assert row[stage_column:].startswith("active"), (header, row)
    assert any(" a much longer experiment name " in row for row in rows)


def test_search_filter(invoke, sqlite_uri) -> None:
    _create(invoke, sqlite_uri, "fraud-v1")
    _create(invoke, sqlite_uri, "churn")
    names = [e["name"] for e in _search_json(invoke, sqlite_uri, "--filter", "name LIKE 'fraud%'")]
    assert names == ["fraud-v1"]


def test_rename(invoke, sqlite_uri) -> None:
    experiment_id = _create(invoke, sqlite_uri, "old")
    result = invoke(
        "experiments",
        "rename",
        "--experiment-id",
        experiment_id,
        "--new-name",
        "new",
        "--tracking-uri",
        sqlite_uri,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Renamed experiment {experiment_id} to 'new'."
    names = {e["experiment_id"]: e["name"] for e in _search_json(invoke, sqlite_uri)}
    assert names[experiment_id] == "new"


def test_delete_and_restore_move_it_between_views(invoke, sqlite_uri) -> None:
    experiment_id = _create(invoke, sqlite_uri, "short-lived")
    result = invoke("experiments", "delete", "-x", experiment_id, "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Deleted experiment {experiment_id}.")
    assert experiment_id not in {e["experiment_id"] for e in _search_json(invoke, sqlite_uri)}
    deleted = _search_json(invoke, sqlite_uri, "--view", "deleted")
    assert [(e["experiment_id"], e["lifecycle_stage"]) for e in deleted] == [
        (experiment_id, "deleted")
    ]
    assert {e["experiment_id"] for e in _search_json(invoke, sqlite_uri, "--view", "all")} == {
        "0",
        experiment_id,
    }

    result = invoke("experiments", "restore", "-x", experiment_id, "--tracking-uri", sqlite_uri)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Restored experiment {experiment_id}."
    assert experiment_id in {e["experiment_id"] for e in _search_json(invoke, sqlite_uri)}


def test_tracking_uri_comes_from_the_environment(invoke, sqlite_uri) -> None:
    result = invoke(
        "experiments", "create", "--name", "from-env", env={"MODELYARD_TRACKING_URI": sqlite_uri}
    )
    assert result.exit_code == 0, result.output
    result = invoke("experiments", "search", "-o", "json", env={"MLFLOW_TRACKING_URI": sqlite_uri})
    assert "from-env" in {e["name"] for e in json.loads(result.stdout)}


def test_default_tracking_uri_is_modelyard_db_in_the_working_directory(invoke, tmp_path) -> None:
    result = invoke("experiments", "create", "--name", "here")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "modelyard.db").exists()


# ------------------------------------------------------------------ error paths


def test_duplicate_name(invoke, sqlite_uri, one_line_error) -> None:
    _create(invoke, sqlite_uri, "taken")
    result = invoke("experiments", "create", "--name", "taken", "--tracking-uri", sqlite_uri)
    one_line_error(result, "taken")


def test_rename_unknown_experiment(invoke, sqlite_uri, one_line_error) -> None:
    result = invoke(
        "experiments", "rename", "-x", "999", "--new-name", "x", "--tracking-uri", sqlite_uri
    )
    one_line_error(result, "999")


def test_rename_to_a_taken_name(invoke, sqlite_uri, one_line_error) -> None:
    _create(invoke, sqlite_uri, "first")
    second = _create(invoke, sqlite_uri, "second")
    result = invoke(
        "experiments", "rename", "-x", second, "--new-name", "first", "--tracking-uri", sqlite_uri
    )
    one_line_error(result, "first")


def test_delete_the_default_experiment_is_refused(invoke, sqlite_uri, one_line_error) -> None:
    result = invoke("experiments", "delete", "-x", "0", "--tracking-uri", sqlite_uri)
    one_line_error(result, "default experiment")


def test_restore_unknown_and_malformed_ids(invoke, sqlite_uri, one_line_error) -> None:
    one_line_error(
        invoke("experiments", "restore", "-x", "4242", "--tracking-uri", sqlite_uri), "4242"
    )
    one_line_error(
        invoke("experiments", "delete", "-x", "not-a-number", "--tracking-uri", sqlite_uri)
    )


def test_malformed_filter(invoke, sqlite_uri, one_line_error) -> None:
    result = invoke("experiments", "search", "--filter", "name LIKE", "--tracking-uri", sqlite_uri)
    one_line_error(result)


def test_unsupported_tracking_uri(invoke, one_line_error) -> None:
    one_line_error(
        invoke("experiments", "search", "--tracking-uri", "ftp://example.com/x"), "ftp://"
    )


def test_unreachable_database(invoke, one_line_error) -> None:
    result = invoke(
        "experiments", "search", "--tracking-uri", "postgresql://postgres:s3cret@127.0.0.1:1/none"
    )
    one_line_error(result, "postgresql://postgres:***@127.0.0.1:1/none")
    assert "s3cret" not in result.output


def test_missing_required_option_is_a_usage_error(invoke) -> None:
    result = invoke("experiments", "create")
    assert result.exit_code == 2
    assert "Missing option '--name'" in result.stderr
