"""Registry pages in the browser: models list and search, a model, a version with its signature, and
the approval flow (request, Approve, Reject, Cancel with comments) changing the stage and the log."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from modelyard.entities.registry import RegistryTag
from modelyard.service.registry import APPROVAL_TAG

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (deliveries to it fail)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NAME = "fraud <detector>"


@pytest.fixture(scope="module")
def model(ui_server) -> str:
    reg = ui_server.app.state.registry.for_user("alice")
    reg.create_registered_model(
        NAME, [RegistryTag(APPROVAL_TAG, "true")], description="**Detects** fraud <script>"
    )
    reg.create_model_version(NAME, f"runs:/{ui_server.long_run}/model", ui_server.long_run)
    reg.create_registered_model("churn")
    return NAME


def as_user(browser, user: str):
    return browser.new_context(extra_http_headers={"X-Modelyard-User": user})


@pytest.fixture
def two_users(browser, console) -> Iterator[tuple]:
    alice, bob = as_user(browser, "alice"), as_user(browser, "bob")
    pages = []
    for context in (alice, bob):
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        tab.on("console", lambda m: console.add(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: console.add(f"page error: {e}"))
        pages.append(tab)
    try:
        yield tuple(pages)
    finally:
        alice.close()
        bob.close()
    assert console.errors == [], console.errors


def test_models_list_and_search(ui_server, model, page, console):
    page.goto(f"{ui_server.url}/models")
    names = page.locator("#models-table tbody td:first-child").all_inner_texts()
    assert NAME in names and "churn" in names
    page.fill("#model-filter", "name LIKE 'fraud%'")
    page.press("#model-filter", "Enter")
    page.wait_for_url("**filter=*")
    assert page.locator("#models-table tbody td:first-child").all_inner_texts() == [NAME]
    console.allowed.append("400")
    page.fill("#model-filter", "name LIKE")
    page.press("#model-filter", "Enter")
    page.wait_for_selector("#filter-error")


def test_model_and_version_pages(ui_server, model, page):
    page.goto(f"{ui_server.url}/models")
    page.click(f"a:has-text('{NAME}')")
    page.wait_for_selector("#versions-table")
    assert page.locator("h1").inner_text() == NAME
    assert page.locator("#model-description strong").inner_text() == "Detects"
    assert page.locator("#model-description script").count() == 0
    assert "registered model created" in page.locator("#activity-log").inner_text()
    page.click("#versions-table a:has-text('Version 1')")
    page.wait_for_selector("#mlmodel-summary")
    assert "sepal <length>" in page.locator("#mlmodel-summary").inner_text()
    page.click("#source-run")
    page.wait_for_url(f"**/runs/{ui_server.long_run}")


def _stage(ui_server) -> str:
    return ui_server.app.state.registry.get_model_version(NAME, "1").current_stage


def test_approval_flow_changes_the_stage_and_the_log(ui_server, model, two_users):
    alice, bob = two_users
    url = f"{ui_server.url}/models/{NAME.replace(' ', '%20').replace('<', '%3C').replace('>', '%3E')}/versions/1"
    alice.goto(url)
    assert "acting as alice" in alice.locator(".titlebar").inner_text()
    # Production needs an approval: a direct transition is refused on the page.
    alice.select_option("#request-form select[name=stage]", "Production")
    alice.click("button:has-text('Transition now')")
    alice.wait_for_selector(".alert.error")
    assert "approved transition request" in alice.locator(".alert.error").inner_text()
    assert _stage(ui_server) == "None"

    alice.select_option("#request-form select[name=stage]", "Production")
    alice.fill("#request-form input[name=comment]", "ship it")
    alice.click("button:has-text('Request transition')")
    alice.wait_for_selector("#pending-requests")
    assert "ship it" in alice.locator("#pending-requests").inner_text()
    # The requester cannot approve their own request.
    alice.click("#pending-requests button:has-text('Approve')")
    alice.wait_for_selector(".alert.error")
    assert "cannot approve" in alice.locator(".alert.error").inner_text()
    assert _stage(ui_server) == "None"

    bob.goto(url)
    bob.fill("#pending-requests input[name=comment]", "numbers look good")
    bob.click("#pending-requests button:has-text('Approve')")
    bob.wait_for_selector("#current-stage:has-text('Production')")
    assert _stage(ui_server) == "Production"
    log = bob.locator("#activity-log").inner_text()
    assert "approved request" in log and "numbers look good" in log and "bob" in log

    # Reject and cancel.
    alice.goto(url)
    alice.select_option("#request-form select[name=stage]", "Staging")
    alice.click("button:has-text('Request transition')")
    alice.wait_for_selector("#pending-requests")
    bob.goto(url)
    bob.fill("#pending-requests input[name=comment]", "not now")
    bob.click("#pending-requests button:has-text('Reject')")
    bob.wait_for_load_state()
    assert "rejected request" in bob.locator("#activity-log").inner_text()
    alice.goto(url)
    alice.select_option("#request-form select[name=stage]", "Archived")
    alice.click("button:has-text('Request transition')")
    alice.wait_for_selector("#pending-requests")
    alice.click("#pending-requests button:has-text('Cancel')")
    alice.wait_for_load_state()
    assert alice.locator("#pending-requests").count() == 0
    assert "cancelled request" in alice.locator("#activity-log").inner_text()
    assert _stage(ui_server) == "Production"

    alice.fill("#comment-text", "monitoring <b>dashboard</b> is up")
    alice.click("button:has-text('Add comment')")
    alice.wait_for_selector(".comment")
    assert "monitoring <b>dashboard</b> is up" in alice.locator(".comment").last.inner_text()


def test_webhooks_and_their_deliveries(ui_server, page):
    hooks = ui_server.app.state.webhooks
    hook = hooks.create_webhook(
        "ci <hook>", f"http://127.0.0.1:{closed_port()}/hook", [("registered_model", "created")]
    )
    ui_server.app.state.registry.for_user("carol").create_registered_model("hooked")
    page.goto(f"{ui_server.url}/webhooks")
    assert "ci <hook>" in page.locator("#webhooks-table").inner_text()
    page.click("a:has-text('ci <hook>')")
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"{ui_server.url}/webhooks/{hook.webhook_id}")
        if page.locator("#deliveries td", has_text="failed").count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    row = page.locator("#deliveries tbody tr").first.inner_text()
    assert "registered_model.created" in row and "failed" in row.lower()
