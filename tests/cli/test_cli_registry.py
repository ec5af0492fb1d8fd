"""``modelyard registry ...`` over a real SQLite file: register, list, describe, transition, request,
approve, reject, alias, tag and activity, with one-line errors."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def run_id(service) -> str:
    experiment_id = service.create_experiment("cli-registry")
    return service.create_run(experiment_id, start_time=1).info.run_id


def _ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result.output


def test_register_promote_with_approval_alias_tag_and_activity(invoke, sqlite_uri, run_id):
    u = ("--tracking-uri", sqlite_uri)
    out = _ok(invoke("registry", "register", f"runs:/{run_id}/model", "-n", "clf", "-t", "a=1", *u))
    assert "version 1" in out
    _ok(invoke("registry", "register", f"runs:/{run_id}/model", "--name", "clf", *u))
    _ok(invoke("registry", "transition", "clf", "1", "staging", *u))
    _ok(invoke("registry", "tag", "clf", "modelyard.require_approval_for_production", "true", *u))

    refused = invoke("registry", "transition", "clf", "1", "Production", *u)
    assert refused.exit_code == 1 and "approved transition request" in refused.stderr
    _ok(invoke("registry", "request", "clf", "1", "Production", "-c", "auc 0.91", "-u", "ann", *u))
    own = invoke("registry", "approve", "clf", "1", "Production", "-u", "ann", *u)
    assert own.exit_code == 1 and "cannot approve" in own.stderr
    out = _ok(invoke("registry", "approve", "clf", "1", "Production", "-c", "ok", "-u", "bob", *u))
    assert "is now in Production" in out
    _ok(invoke("registry", "request", "clf", "2", "Production", "-u", "ann", *u))
    _ok(invoke("registry", "reject", "clf", "2", "production", "-c", "worse", "-u", "bob", *u))

    _ok(invoke("registry", "alias", "clf", "champion", "1", *u))
    _ok(invoke("registry", "tag", "clf", "checked", "yes", "--version", "1", *u))
    bad = invoke("registry", "alias", "clf", "latest", "1", *u)
    assert bad.exit_code == 1 and "reserved" in bad.stderr
    usage = invoke("registry", "alias", "clf", "champion", *u)
    assert usage.exit_code == 2

    listed = json.loads(_ok(invoke("registry", "list", "-o", "json", *u)))
    assert [m["name"] for m in listed] == ["clf"]
    assert listed[0]["aliases"] == {"champion": "1"}
    table = _ok(invoke("registry", "list", "--filter", "name = 'clf'", *u))
    assert "1 (Production)" in table and "champion=1" in table

    described = json.loads(_ok(invoke("registry", "describe", "clf", *u)))
    assert [(v["version"], v["current_stage"]) for v in described["versions"]] == [
        ("1", "Production"),
        ("2", "None"),
    ]
    assert described["versions"][0]["tags"] == {"a": "1", "checked": "yes"}
    one = json.loads(_ok(invoke("registry", "describe", "clf", "-v", "2", *u)))
    assert [r["status"] for r in one["requests"]] == ["REJECTED"]
    assert one["requests"][0]["resolution_comment"] == "worse"

    log = json.loads(_ok(invoke("registry", "activity", "clf", "-v", "1", "-o", "json", *u)))
    kinds = [(a["activity_type"], a["user_id"]) for a in log]
    assert ("REQUESTED_TRANSITION", "ann") in kinds and ("APPROVED_REQUEST", "bob") in kinds
    table = _ok(invoke("registry", "activity", "clf", *u))
    assert "REGISTERED_MODEL_CREATED" in table and "Staging -> Production" in table

    _ok(invoke("registry", "tag", "clf", "checked", "--delete", "-v", "1", *u))
    _ok(invoke("registry", "alias", "clf", "champion", "--delete", *u))
    described = json.loads(_ok(invoke("registry", "describe", "clf", *u)))
    assert described["aliases"] == {} and "checked" not in described["versions"][0]["tags"]


def test_errors_are_one_line(invoke, sqlite_uri, one_line_error):
    result = invoke("registry", "describe", "missing", "--tracking-uri", sqlite_uri)
    one_line_error(result, "missing")
    result = invoke("registry", "register", "/etc/passwd", "-n", "x", "--tracking-uri", sqlite_uri)
    one_line_error(result, "Invalid model version source")
    result = invoke("registry", "register", "runs:/r/m", "-n", "x", "-t", "novalue")
    assert result.exit_code == 2
