"""The webhook delivery queue on SQLite, PostgreSQL and MariaDB: one claimer wins each delivery, and
a delivery whose sender died mid-way (its lease ran out) is claimed again, so none is lost."""

from __future__ import annotations

import threading
import time

from modelyard.entities import DeliveryAttempt, WebhookEvent
from modelyard.store.sql.webhooks import SqlWebhookStore


def _queue(store, unique: str, count: int) -> tuple[SqlWebhookStore, str]:
    hooks = SqlWebhookStore(store.engine)
    webhook = hooks.create_webhook(
        f"q-{unique}",
        "https://example.com/hook",
        "93.184.216.34",
        [WebhookEvent("registered_model", "created")],
        None,
        None,
        "ACTIVE",
    )
    for i in range(count):
        hooks.enqueue("registered_model", "created", f'{{"n": {i}, "u": "{unique}"}}')
    return hooks, webhook.webhook_id


def _mine(claims, webhook_id: str) -> list[str]:
    return [c[0] for c in claims if c[1] == webhook_id]


def test_concurrent_claimers_never_share_a_delivery(store, unique):
    hooks, webhook_id = _queue(store, unique, 20)
    claimed: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        while True:
            got = _mine(hooks.claim_due(lease_ms=60_000, limit=3), webhook_id)
            if not got:
                mine_left = [
                    d
                    for d in hooks.list_deliveries(webhook_id, 100, None).items
                    if d.status == "PENDING"
                ]
                if not mine_left:
                    return
            with lock:
                claimed.extend(got)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(claimed) == 20 and len(set(claimed)) == 20
    statuses = {d.status for d in hooks.list_deliveries(webhook_id, 100, None).items}
    assert statuses == {"DELIVERING"}
    hooks.delete_webhook(webhook_id)


def test_an_expired_lease_is_claimed_again_and_attempts_are_recorded(store, unique):
    hooks, webhook_id = _queue(store, unique, 1)
    (first,) = _mine(hooks.claim_due(lease_ms=200, limit=50), webhook_id)
    assert _mine(hooks.claim_due(lease_ms=200, limit=50), webhook_id) == []  # leased
    time.sleep(0.3)  # the sender "crashed": its lease runs out
    (again,) = _mine(hooks.claim_due(lease_ms=60_000, limit=50), webhook_id)
    assert again == first
    now = int(time.time() * 1000)
    hooks.record_attempt(
        first, DeliveryAttempt(1, now, 12, False, 503, "HTTP 503"), next_attempt_at=now + 60_000
    )
    assert _mine(hooks.claim_due(lease_ms=60_000, limit=50), webhook_id) == []  # not due yet
    hooks.record_attempt(first, DeliveryAttempt(2, now, 8, True, 200, None), next_attempt_at=None)
    (delivery,) = hooks.list_deliveries(webhook_id, 10, None).items
    assert delivery.status == "SUCCEEDED" and delivery.attempts == 2
    assert [(a.attempt, a.response_status) for a in delivery.history] == [(1, 503), (2, 200)]
    hooks.delete_webhook(webhook_id)
