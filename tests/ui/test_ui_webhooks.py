"""Webhooks managed from the UI in headless Chromium: create (and a refused create keeps what was
typed), edit URL, events, description, secret and status, send a test event to a real receiver,
disable and enable, delete; every form post needs the CSRF token."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.slow


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"thanks")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def by_name(ui_server, name: str):
    hooks = ui_server.app.state.webhooks.list_webhooks(1000).items
    return next((h for h in hooks if h.name == name), None)


def test_create_edit_test_disable_and_delete_a_webhook(ui_server, receiver, page, console):
    s = ui_server
    page.goto(f"{s.url}/webhooks")
    # The form opens from the keyboard.
    page.focus("#new-webhook summary")
    page.keyboard.press("Enter")
    form = page.locator("#new-webhook form")
    form.locator("input[name=name]").fill("deploy <bot>")
    form.locator("input[name=url]").fill("ftp://example.com/hook")
    form.locator("input[value='model_version.created']").check()
    form.locator("input[name=secret]").fill("s3cret")
    # A refused create says why and keeps what was typed (but never the secret).
    console.allowed.append("400")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#create-error")
    assert "http" in page.locator("#create-error").inner_text().lower()
    form = page.locator("#new-webhook form")
    assert form.locator("input[name=name]").input_value() == "deploy <bot>"
    assert form.locator("input[value='model_version.created']").is_checked()
    assert form.locator("input[name=secret]").input_value() == ""
    assert by_name(s, "deploy <bot>") is None
    form.locator("input[name=url]").fill(f"{receiver}/hooks/one")
    form.locator("input[name=secret]").fill("s3cret")
    form.locator("input[value='registered_model.created']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/webhooks/*")
    hook = by_name(s, "deploy <bot>")
    assert hook is not None and hook.has_secret and hook.status == "ACTIVE"
    assert {(e.entity, e.action) for e in hook.events} == {
        ("model_version", "created"),
        ("registered_model", "created"),
    }
    assert page.locator("h1").inner_text() == "Webhook deploy <bot>"

    # A test event reaches the receiver, signed, and the page says what came back.
    Receiver.received.clear()
    page.select_option("#webhook-actions select[name=event]", "registered_model.created")
    page.click("button:has-text('Send test event')")
    page.wait_for_selector("#test-result")
    assert "delivered: HTTP 200" in page.locator("#test-result").inner_text()
    assert "thanks" in page.locator("#test-result").inner_text()
    path, headers, body = Receiver.received[-1]
    assert path == "/hooks/one" and b'"registered_model"' in body
    assert headers["X-MLflow-Signature"].startswith("v1,")

    # Edit: name, URL, events, description, status; an empty secret keeps the secret.
    page.click("#edit-webhook summary")
    edit = page.locator("#edit-webhook form")
    assert edit.locator("input[name=url]").input_value() == f"{receiver}/hooks/one"
    edit.locator("input[name=name]").fill("deploy bot")
    edit.locator("input[name=url]").fill(f"{receiver}/hooks/two")
    edit.locator("input[value='registered_model.created']").uncheck()
    edit.locator("input[value='transition_request.created']").check()
    edit.locator("input[name=description]").fill("tells the deploy bot")
    edit.locator("input[name=active]").uncheck()
    edit.locator("button:has-text('Save changes')").click()
    page.wait_for_selector("#webhook-status:has-text('disabled')")
    hook = ui_server.app.state.webhooks.get_webhook(hook.webhook_id)
    assert hook.name == "deploy bot" and hook.url == f"{receiver}/hooks/two"
    assert hook.status == "DISABLED" and hook.has_secret
    assert hook.description == "tells the deploy bot"
    assert {(e.entity, e.action) for e in hook.events} == {
        ("model_version", "created"),
        ("transition_request", "created"),
    }
    # A refused edit is shown with what was typed, and nothing changes.
    page.click("#edit-webhook summary")
    edit = page.locator("#edit-webhook form")
    for value in [
        b.get_attribute("value") for b in edit.locator("input[name=event]:checked").all()
    ]:
        edit.locator(f"input[value='{value}']").uncheck()
    edit.locator("button:has-text('Save changes')").click()
    page.wait_for_selector("#edit-error")
    assert "at least one event" in page.locator("#edit-error").inner_text()
    assert len(ui_server.app.state.webhooks.get_webhook(hook.webhook_id).events) == 2
    # Removing the secret.
    page.goto(f"{s.url}/webhooks/{hook.webhook_id}?edit=1")
    page.locator("#edit-webhook input[name=clear_secret]").check()
    page.locator("#edit-webhook button:has-text('Save changes')").click()
    page.wait_for_load_state()
    assert not ui_server.app.state.webhooks.get_webhook(hook.webhook_id).has_secret

    # Enable again with one button.
    page.click("#webhook-actions button:has-text('Enable')")
    page.wait_for_selector("#webhook-status:has-text('active')")
    assert ui_server.app.state.webhooks.get_webhook(hook.webhook_id).status == "ACTIVE"

    # Delete asks first; dismissing keeps the webhook.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#webhook-actions button:has-text('Delete')")
    assert by_name(s, "deploy bot") is not None
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#webhook-actions button:has-text('Delete')")
    page.wait_for_url(f"{s.url}/webhooks")
    assert by_name(s, "deploy bot") is None


def test_a_failing_test_event_says_so(ui_server, page):
    hook = ui_server.app.state.webhooks.create_webhook(
        "unreachable", "http://127.0.0.1:9/nothing", [("model_version", "created")]
    )
    page.goto(f"{ui_server.url}/webhooks/{hook.webhook_id}")
    page.click("button:has-text('Send test event')")
    page.wait_for_selector("#test-result.error")
    text = page.locator("#test-result").inner_text()
    assert "failed" in text and "Check the URL" in text
    ui_server.app.state.webhooks.delete_webhook(hook.webhook_id)


def test_webhook_forms_need_the_csrf_token(ui_server):
    hook = ui_server.app.state.webhooks.create_webhook(
        "csrf target", "http://127.0.0.1:9/x", [("model_version", "created")]
    )
    with httpx.Client(base_url=ui_server.url) as client:
        client.get("/webhooks")  # sets the cookie
        for path, data in [
            (
                "/ui/webhooks/create",
                {"name": "sneaky", "url": "http://127.0.0.1:9/", "event": "model_version.created"},
            ),
            (f"/ui/webhooks/{hook.webhook_id}/delete", {}),
            (f"/ui/webhooks/{hook.webhook_id}/disable", {}),
            (
                f"/ui/webhooks/{hook.webhook_id}/update",
                {"name": "renamed", "url": "http://127.0.0.1:9/x"},
            ),
        ]:
            for token in ("", "wrong-token-" * 4):
                response = client.post(path, data={**data, "csrf_token": token})
                assert response.status_code == 403, path
    hook_now = ui_server.app.state.webhooks.get_webhook(hook.webhook_id)
    assert hook_now.name == "csrf target" and hook_now.status == "ACTIVE"
    assert by_name(ui_server, "sneaky") is None
    ui_server.app.state.webhooks.delete_webhook(hook.webhook_id)
