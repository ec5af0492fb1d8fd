"""``modelyard users`` and ``modelyard tokens`` on a real SQLite database (no server), and the users
they make signing in to a ``--auth`` server built over the same database."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.entities.auth import Principal
from modelyard.service.auth import AuthService
from modelyard.store.sql import open_tracking_store
from modelyard.store.sql.auth import SqlAuthStore


@pytest.fixture
def invoke(monkeypatch, tmp_path, sqlite_uri):
    for name in ("MODELYARD_BACKEND_STORE_URI", "MODELYARD_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(
            cli, [*args, "--backend-store-uri", sqlite_uri], input=input, catch_exceptions=False
        )

    return run


@pytest.fixture
def auth(sqlite_uri, tmp_path):
    store = open_tracking_store(sqlite_uri, default_artifact_root=str(tmp_path / "a"))
    yield AuthService(SqlAuthStore(store.engine))
    store.close()


def test_users_create_list_set_admin_delete(invoke, auth):
    created = invoke("users", "create", "alice", "--password-stdin", input="alice-password\n")
    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == "Created user 'alice' (id 1)."
    prompted = invoke("users", "create", "bob", "--admin", input="bob-password\nbob-password\n")
    assert prompted.exit_code == 0, prompted.output
    assert "Created admin 'bob'" in prompted.stdout
    assert auth.authenticate_password("alice", "alice-password") == Principal(
        "alice", False, (), via="basic"
    )
    listed = json.loads(invoke("users", "list", "-o", "json").stdout)
    assert [(u["username"], u["is_admin"]) for u in listed] == [("alice", False), ("bob", True)]
    table = invoke("users", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "USERNAME", "ADMIN", "GROUPS", "CREATED"]
    assert invoke("users", "set-admin", "alice").stdout.strip() == "'alice' is now an admin."
    assert auth.store.get_user("alice").is_admin
    invoke("users", "set-admin", "alice", "--no-admin")
    assert not auth.store.get_user("alice").is_admin
    deleted = invoke("users", "delete", "alice", "--yes")
    assert deleted.exit_code == 0 and auth.store.get_credentials("alice") is None
    events = [(e.event, e.actor, e.subject) for e in auth.store.list_audit(50, None).items]
    assert ("user_created", "operator", "alice") in events
    assert ("user_deleted", "operator", "alice") in events


def test_mistakes_are_one_line_errors(invoke):
    invoke("users", "create", "carol", "--password-stdin", input="carol-password\n")
    again = invoke("users", "create", "carol", "--password-stdin", input="carol-password\n")
    assert again.exit_code == 1 and again.stderr.strip() == (
        "Error: User (username=carol) already exists."
    )
    short = invoke("users", "create", "dave", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    missing = invoke("users", "delete", "nobody", "--yes")
    assert missing.exit_code == 1 and "nobody" in missing.stderr
    last = invoke("users", "create", "root", "--admin", "--password-stdin", input="root-password\n")
    assert last.exit_code == 0
    demote = invoke("users", "set-admin", "root", "--no-admin")
    assert demote.exit_code == 1 and "last admin" in demote.stderr
    for result in (again, short, missing, demote):
        assert "Traceback" not in result.output


def test_set_password_recovers_a_locked_account(invoke, auth):
    invoke("users", "create", "erin", "--password-stdin", input="first-password\n")
    locking = AuthService(auth.store, max_failed_logins=2)
    for _ in range(2):
        locking.authenticate_password("erin", "wrong-password")
    reset = invoke("users", "set-password", "erin", "--password-stdin", input="second-password\n")
    assert reset.exit_code == 0, reset.output
    assert locking.authenticate_password("erin", "second-password") is not None


def test_tokens_create_list_revoke(invoke, auth):
    invoke("users", "create", "frank", "--password-stdin", input="frank-password\n")
    created = invoke("tokens", "create", "frank", "--name", "ci", "--expires-in-days", "30")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("myd_") and "not shown again" in created.stderr
    assert auth.authenticate_token(secret).username == "frank"
    listed = json.loads(invoke("tokens", "list", "frank", "-o", "json").stdout)
    assert [(t["username"], t["name"], t["revoked"]) for t in listed] == [("frank", "ci", False)]
    assert listed[0]["expires_at"] is not None and secret not in json.dumps(listed)
    everyone = invoke("tokens", "list").stdout
    assert listed[0]["id"] in everyone and secret not in everyone
    revoked = invoke("tokens", "revoke", listed[0]["id"])
    assert revoked.exit_code == 0 and auth.authenticate_token(secret) is None
    bad = invoke("tokens", "create", "frank", "--name", "x", "--expires-in-days", "0")
    assert bad.exit_code == 2


def test_a_server_uri_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["users", "list", "--backend-store-uri", "http://127.0.0.1:5000"]
    )
    assert result.exit_code == 2 and "database URI" in result.stderr


def test_audit_list_and_prune(invoke, auth):
    invoke("users", "create", "erin", "--password-stdin", input="erin-password\n")
    assert auth.authenticate_password("erin", "wrong-password") is None
    listed = json.loads(invoke("audit", "list", "-o", "json").stdout)
    assert [e["event"] for e in listed] == ["login_failed", "user_created"]  # newest first
    assert listed[1]["actor"] == "operator" and listed[1]["subject"] == "erin"
    only = json.loads(invoke("audit", "list", "--event", "user_created", "-o", "json").stdout)
    assert [e["subject"] for e in only] == ["erin"]
    table = invoke("audit", "list").stdout.splitlines()
    assert table[0].split() == ["TIME", "EVENT", "ACTOR", "SUBJECT", "FROM", "DETAILS"]

    kept = invoke("audit", "prune", "--older-than", "1d", "--yes")
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.strip() == "Deleted 0 audit event(s) older than 1 days."
    time.sleep(0.01)  # every event so far is in an earlier millisecond than the cut-off
    pruned = invoke("audit", "prune", "--older-than", "0s", "--yes")
    assert pruned.stdout.strip() == "Deleted 3 audit event(s) older than 0 days."
    events = auth.store.list_audit(50, None).items
    assert [e.event for e in events] == ["audit_pruned"]
    assert events[0].details["deleted"] == "3" and events[0].actor == "operator"

    refused = invoke("audit", "prune", "--older-than", "soon", "--yes")
    assert refused.exit_code == 2 and "is not a duration" in refused.output
    asked = invoke("audit", "prune", "--older-than", "1d", input="n\n")
    assert asked.exit_code == 1 and "Aborted" in asked.output
