"""Webhooks end to end: real HTTP receivers on 127.0.0.1 that check the HMAC signature, retries with
backoff, recorded attempts, pinned targets, refused private and http URLs, and no redirects."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from modelyard.server.app import create_app
from modelyard.service.webhooks import sign, verify
from modelyard.settings import load_settings

API = "/api/2.0/mlflow"
SECRET = "s3cr3t-for-tests"


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it is sent and answers ``statuses`` in turn."""

    def __init__(self, statuses: list[int] | None = None, location: str | None = None) -> None:
        self.statuses = list(statuses or [])
        self.location = location
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if receiver.location and 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int, timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _settings(tmp_path, **kw):
    values = {
        "backend_store_uri": f"sqlite:///{tmp_path / 'hooks.db'}",
        "default_artifact_root": str(tmp_path / "artifacts"),
        "webhook_allow_private_addresses": True,
        "webhook_allow_http": True,
        "webhook_retry_backoff_s": 0.05,
        "webhook_delivery_threads": 2,
        **kw,
    }
    return load_settings({}, **values)


@pytest.fixture
def hooks(tmp_path, api):
    """An app that may call 127.0.0.1 over http, with its dispatcher running (TestClient lifespan)."""
    from starlette.testclient import TestClient

    with TestClient(create_app(_settings(tmp_path))) as client:
        yield type(api)(client)


def _webhook(api, url: str, events: list[tuple[str, str]], **body) -> dict:
    return api.ok_post(
        "webhooks",
        {
            "name": "ci",
            "url": url,
            "events": [{"entity": e, "action": a} for e, a in events],
            "secret": SECRET,
            **body,
        },
    )["webhook"]


def _deliveries(api, webhook_id: str, until: str, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        out = api.ok_get(f"webhooks/{webhook_id}/deliveries").get("deliveries", [])
        if out and all(d["status"] == until for d in out):
            return out
        if time.monotonic() > deadline:
            raise AssertionError(out)
        time.sleep(0.05)


def test_crud_never_returns_the_secret(hooks, receiver):
    created = _webhook(hooks, receiver.url, [("MODEL_VERSION", "CREATED")], description="d")
    assert set(created) == {
        "webhook_id",
        "name",
        "url",
        "events",
        "status",
        "description",
        "creation_timestamp",
        "last_updated_timestamp",
    }
    assert created["events"] == [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    assert created["status"] == "ACTIVE"
    webhook_id = created["webhook_id"]
    got = hooks.ok_get(f"webhooks/{webhook_id}")["webhook"]
    assert got == created and SECRET not in json.dumps(got)
    listed = hooks.ok_get("webhooks")["webhooks"]
    assert [w["webhook_id"] for w in listed] == [webhook_id]
    patched = hooks.client.patch(
        f"{API}/webhooks/{webhook_id}",
        json={
            "status": "DISABLED",
            "events": [{"entity": "registered_model", "action": "created"}],
        },
    ).json()["webhook"]
    assert patched["status"] == "DISABLED"
    assert patched["events"] == [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]
    assert hooks.client.request("DELETE", f"{API}/webhooks/{webhook_id}", json={}).json() == {}
    assert hooks.get(f"webhooks/{webhook_id}").status_code == 404


def test_registry_events_are_delivered_signed(hooks, receiver):
    _webhook(
        hooks,
        receiver.url,
        [
            ("REGISTERED_MODEL", "CREATED"),
            ("MODEL_VERSION", "CREATED"),
            ("MODEL_VERSION_ALIAS", "CREATED"),
            ("TRANSITION_REQUEST", "CREATED"),
            ("TRANSITION_REQUEST", "APPROVED"),
            ("MODEL_VERSION_STAGE", "TRANSITIONED"),
        ],
    )
    run_id = hooks.run(hooks.experiment("hooks"))
    hooks.ok_post("registered-models/create", {"name": "hooked"})
    hooks.ok_post(
        "model-versions/create", {"name": "hooked", "source": f"runs:/{run_id}/m", "run_id": run_id}
    )
    hooks.ok_post("registered-models/alias", {"name": "hooked", "alias": "champ", "version": "1"})
    request = hooks.ok_post(
        "transition-requests/create", {"name": "hooked", "version": "1", "stage": "Staging"}
    )["request"]
    hooks.ok_post("transition-requests/approve", {"id": request["id"]})
    got = receiver.wait(6)
    events = []
    for headers, body in got:
        assert verify(SECRET, headers, body)
        assert headers["X-MLflow-Signature"] == sign(
            SECRET, headers["X-MLflow-Delivery-Id"], headers["X-MLflow-Timestamp"], body
        )
        assert headers["X-MLflow-Timestamp"].isdigit()
        assert headers["Content-Type"] == "application/json"
        assert not verify("wrong secret", headers, body)
        payload = json.loads(body)
        assert set(payload) == {"entity", "action", "timestamp", "data"}
        assert payload["timestamp"].endswith("Z")
        events.append((payload["entity"], payload["action"], payload["data"]))
    kinds = sorted((e, a) for e, a, _ in events)
    assert kinds == sorted(
        [
            ("registered_model", "created"),
            ("model_version", "created"),
            ("model_version_alias", "created"),
            ("transition_request", "created"),
            ("transition_request", "approved"),
            ("model_version_stage", "transitioned"),
        ]
    )
    version = next(d for e, _, d in events if e == "model_version")
    assert version == {
        "name": "hooked",
        "version": "1",
        "source": f"runs:/{run_id}/m",
        "run_id": run_id,
        "tags": {},
        "description": None,
    }
    stage = next(d for e, _, d in events if e == "model_version_stage")
    assert (stage["from_stage"], stage["to_stage"]) == ("None", "Staging")
    ids = {h["X-MLflow-Delivery-Id"] for h, _ in got}
    assert len(ids) == 6


def test_a_receiver_that_fails_twice_then_succeeds(hooks):
    flaky = Receiver(statuses=[500, 503])
    try:
        webhook = _webhook(hooks, flaky.url, [("REGISTERED_MODEL", "CREATED")])
        hooks.ok_post("registered-models/create", {"name": "flaky"})
        got = flaky.wait(3)
        assert len({h["X-MLflow-Delivery-Id"] for h, _ in got}) == 1  # one delivery, 3 attempts
        assert all(verify(SECRET, h, b) for h, b in got)
        (delivery,) = _deliveries(hooks, webhook["webhook_id"], "SUCCEEDED")
        assert delivery["attempts"] == 3
        history = delivery["history"]
        assert [a.get("response_status") for a in history] == [500, 503, 200]
        assert [a["success"] for a in history] == [False, False, True]
        assert history[0]["error"] == "HTTP 500"
        assert history[0]["timestamp"] <= history[1]["timestamp"] <= history[2]["timestamp"]
        assert all(isinstance(a["duration_ms"], int) for a in history)
    finally:
        flaky.close()


def test_gives_up_after_max_attempts_and_never_follows_redirects(hooks):
    elsewhere = Receiver()
    redirecting = Receiver(statuses=[302], location=elsewhere.url)
    down = Receiver(statuses=[500] * 10)
    try:
        moved = _webhook(hooks, redirecting.url, [("REGISTERED_MODEL", "CREATED")])
        failing = _webhook(hooks, down.url, [("REGISTERED_MODEL", "CREATED")])
        hooks.ok_post("registered-models/create", {"name": "redirected"})
        (delivery,) = _deliveries(hooks, moved["webhook_id"], "FAILED")
        assert delivery["attempts"] == 1  # a redirect is a final failure
        assert "redirects are not followed" in delivery["history"][0]["error"]
        (delivery,) = _deliveries(hooks, failing["webhook_id"], "FAILED")
        assert delivery["attempts"] == 4  # webhook_max_attempts
        time.sleep(0.2)
        assert elsewhere.received == []
    finally:
        for r in (elsewhere, redirecting, down):
            r.close()


def test_test_endpoint_sends_one_signed_sample(hooks, receiver):
    webhook = _webhook(hooks, receiver.url, [("MODEL_VERSION", "CREATED")])
    result = hooks.ok_post(f"webhooks/{webhook['webhook_id']}/test", {})["result"]
    assert result == {"success": True, "response_status": 200, "response_body": "ok"}
    headers, body = receiver.received[-1]
    assert verify(SECRET, headers, body)
    assert json.loads(body)["entity"] == "model_version"
    result = hooks.ok_post(
        f"webhooks/{webhook['webhook_id']}/test",
        {"event": {"entity": "TRANSITION_REQUEST", "action": "APPROVED"}},
    )["result"]
    assert result["success"] is True
    assert json.loads(receiver.received[-1][1])["entity"] == "transition_request"


def test_private_http_and_unresolvable_targets_are_refused(tmp_path, api, receiver):
    from starlette.testclient import TestClient

    strict = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp_path / 'strict.db'}",
        default_artifact_root=str(tmp_path / "a"),
    )
    with TestClient(create_app(strict)) as client:
        strict_api = type(api)(client)
        events = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
        for url, text in [
            (receiver.url, "https"),
            ("https://127.0.0.1/hook", "private"),
            ("https://localhost:8443/hook", "private"),
            ("https://169.254.169.254/latest", "private"),
            ("https://[::1]/hook", "private"),
            ("https://10.1.2.3/hook", "private"),
            ("https://no-such-host.invalid/hook", "cannot be resolved"),
            ("ftp://example.com/hook", "scheme"),
            ("https://user:pw@example.com/hook", "credentials"),
        ]:
            response = strict_api.post("webhooks", {"name": "x", "url": url, "events": events})
            assert response.status_code == 400, (url, response.text)
            assert text in response.json()["message"], (url, response.json())
        bad_event = strict_api.post(
            "webhooks",
            {
                "name": "x",
                "url": "https://example.com",
                "events": [{"entity": "RUN", "action": "X"}],
            },
        )
        assert bad_event.status_code == 400


def test_the_target_is_pinned_at_creation(tmp_path, hooks, receiver):
    port = receiver.url.split(":")[2].split("/")[0]
    webhook = _webhook(hooks, f"http://localhost:{port}/hook", [("REGISTERED_MODEL", "CREATED")])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT pinned_address, secret FROM webhooks WHERE webhook_id = :i"),
            {"i": webhook["webhook_id"]},
        ).one()
    engine.dispose()
    assert row.pinned_address in ("127.0.0.1", "::1")
    hooks.ok_post("registered-models/create", {"name": "pinned"})
    headers, _ = receiver.wait(1)[0]
    assert headers["Host"] == f"localhost:{port}"  # the name travels in Host; the IP was pinned


def test_secrets_are_encrypted_at_rest_with_a_key(tmp_path, api, receiver):
    from cryptography.fernet import Fernet
    from starlette.testclient import TestClient

    settings = _settings(tmp_path, webhook_secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as client:
        sealed_api = type(api)(client)
        _webhook(sealed_api, receiver.url, [("REGISTERED_MODEL", "CREATED")])
        sealed_api.ok_post("registered-models/create", {"name": "sealed"})
        headers, body = receiver.wait(1)[0]
        assert verify(SECRET, headers, body)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT secret FROM webhooks")).scalar_one()
    engine.dispose()
    assert stored.startswith("fernet:") and SECRET not in stored
