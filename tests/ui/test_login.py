"""The login page of a ``--auth`` server in headless Chromium: redirect to /login, log in, the nav shows
who, the session cookie's flags, lists show only readable experiments, CSRF on every form (the login
form too), logout, a tampered cookie, and the lockout after repeated failures.

The server is this module's own (uvicorn in a thread over a fresh SQLite file, ``--auth`` settings);
the ``browser`` fixture is the UI suite's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from live_app import serve_in_thread
from modelyard.entities.auth import Permission, ResourceType
from modelyard.server.app import create_app
from modelyard.service.auth import OPERATOR
from modelyard.settings import load_settings

pytestmark = pytest.mark.slow
PASSWORDS = {"admin": "ui-admin-pw-1", "alice": "ui-alice-pw-1", "mallory": "ui-mallory-pw-1"}
MAX_FAILURES = 3


@dataclass
class LoginServer:
    url: str
    app: Any
    readable: str  # experiment alice may read
    hidden: str  # experiment alice has no grant on


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoginServer]:
    root = tmp_path_factory.mktemp("login-server")
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{root / 'login.db'}",
        artifacts_destination=str(root / "artifacts"),
        auth=True,
        auth_admin_password=PASSWORDS["admin"],
        auth_default_permission="NO_PERMISSIONS",
        auth_max_failed_logins=MAX_FAILURES,
    )
    app = create_app(settings)
    auth, tracking = app.state.auth, app.state.tracking
    for user in ("alice", "mallory"):
        auth.create_user(OPERATOR, user, PASSWORDS[user])
    readable = tracking.create_experiment("alice can read this")
    hidden = tracking.create_experiment("hidden from alice")
    auth.set_permission(
        OPERATOR, ResourceType.EXPERIMENT, readable, Permission.READ, username="alice"
    )
    with serve_in_thread(app) as url:
        yield LoginServer(url, app, readable, hidden)


def _log_in(page: Any, url: str, user: str, password: str) -> None:
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")
    page.wait_for_load_state()


def test_log_in_see_who_and_log_out(login_server, page, console):
    s = login_server
    console.allowed.append("403")  # the experiment alice may not read
    page.goto(f"{s.url}/experiments")
    assert "/login?next=%2Fexperiments" in page.url
    _log_in(page, s.url, "alice", PASSWORDS["alice"])
    assert page.url == f"{s.url}/experiments"
    assert page.locator("#who").inner_text() == "alice"
    body = page.locator("main").inner_text()
    assert "alice can read this" in body
    assert "hidden from alice" not in body
    cookie = next(c for c in page.context.cookies() if c["name"] == "modelyard_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on 127.0.0.1; over https it is Secure
    assert cookie["expires"] > time.time() + 3600

    page.goto(f"{s.url}/experiments/{s.hidden}")
    assert page.locator("p.status").inner_text() == "HTTP 403"

    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login")
    assert not [c for c in page.context.cookies() if c["name"] == "modelyard_session"]
    page.goto(f"{s.url}/experiments/{s.readable}")
    assert "/login?next=" in page.url


def test_a_wrong_password_shows_the_form_again(login_server, page, console):
    s = login_server
    console.allowed.append("401")  # Chromium logs the 401 answer of the form post
    page.goto(f"{s.url}/login")
    _log_in(page, s.url, "alice", "not-the-password")
    assert page.locator(".alert.error").inner_text() == "Wrong user name or password."
    assert page.locator("input[name=username]").input_value() == "alice"
    assert not [c for c in page.context.cookies() if c["name"] == "modelyard_session"]


def test_forms_without_the_csrf_token_are_refused(login_server, page):
    s = login_server
    page.goto(f"{s.url}/login")
    _log_in(page, s.url, "alice", PASSWORDS["alice"])
    request = page.context.request  # shares the browser's cookies (session and CSRF)
    refused = request.post(
        f"{s.url}/ui/experiments/create",
        form={"name": "made without a token"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "security token" in refused.text()
    token = page.locator("form[action='/logout'] input[name=csrf_token]").input_value()
    made = request.post(
        f"{s.url}/ui/experiments/create",
        form={"name": "made with the token", "csrf_token": token},
        max_redirects=0,
    )
    assert made.status == 303
    experiment_id = made.headers["location"].rsplit("/", 1)[1]
    assert s.app.state.tracking.get_experiment(experiment_id).name == "made with the token"
    permission = s.app.state.auth.permission(
        s.app.state.auth.principal_for("alice"), ResourceType.EXPERIMENT, experiment_id
    )
    assert permission is Permission.MANAGE  # the creator manages it
    with httpx.Client(base_url=s.url) as anonymous:  # the login form is CSRF-checked too
        posted = anonymous.post("/login", data={"username": "alice", "password": "x"})
    assert posted.status_code == 403


def test_a_tampered_session_cookie_is_not_a_login(login_server, page):
    s = login_server
    page.goto(f"{s.url}/login")
    _log_in(page, s.url, "alice", PASSWORDS["alice"])
    cookie = next(c for c in page.context.cookies() if c["name"] == "modelyard_session")
    payload, _, signature = cookie["value"].partition(".")
    import base64
    import json

    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["u"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    page.context.add_cookies([{**cookie, "value": f"{forged}.{signature}"}])
    page.goto(f"{s.url}/webhooks")
    assert "/login?next=" in page.url


def test_repeated_failures_lock_the_account(login_server, page, console):
    s = login_server
    console.allowed += ["401", "429"]
    page.goto(f"{s.url}/login")
    for _ in range(MAX_FAILURES):
        _log_in(page, s.url, "mallory", "wrong-password")
    _log_in(page, s.url, "mallory", PASSWORDS["mallory"])  # the right one, but too late
    assert "Too many failed logins" in page.locator(".alert.error").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "modelyard_session"]
