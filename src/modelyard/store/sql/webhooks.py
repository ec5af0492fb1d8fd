"""The SQL store of webhooks and their delivery queue (reference §8).

Deliveries are rows, so every server worker can send them and none is lost when a worker dies: a
sender *claims* a due row by moving it to ``DELIVERING`` with a lease (a conditional ``UPDATE`` that
only one claimer wins); a row whose lease ran out (its sender crashed mid-way) is due again. Each
attempt is recorded in ``webhook_delivery_attempts``. Secrets are stored as the service hands them
(encrypted when a key is configured) and only :meth:`SqlWebhookStore.get_secret` reads them back.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelyard.entities import (
    DeliveryAttempt,
    PagedList,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from modelyard.errors import NotFound
from modelyard.store.sql import tables as t
from modelyard.store.sql.engine import read_connection, translate_errors
from modelyard.store.sql.paging import decode_page_token, encode_page_token

wh, dl, at = t.webhooks, t.webhook_deliveries, t.webhook_delivery_attempts

PENDING, DELIVERING, SUCCEEDED, FAILED = "PENDING", "DELIVERING", "SUCCEEDED", "FAILED"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook with ID '{webhook_id}' not found.", webhook_id=webhook_id)


def _events_text(events: Sequence[WebhookEvent]) -> str:
    return json.dumps([[e.entity, e.action] for e in events])


def _webhook(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.webhook_id,
        name=row.name,
        url=row.url,
        events=tuple(WebhookEvent(e, a) for e, a in json.loads(row.events)),
        status=row.status,
        creation_timestamp=row.creation_timestamp,
        last_updated_timestamp=row.last_updated_timestamp,
        description=row.description,
        pinned_address=row.pinned_address,
        has_secret=bool(row.secret),
    )


class SqlWebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ webhooks
    def create_webhook(
        self,
        name: str,
        url: str,
        pinned_address: str,
        events: Sequence[WebhookEvent],
        description: str | None,
        secret: str | None,
        status: str,
    ) -> Webhook:
        now = _now_ms()
        webhook_id = uuid.uuid4().hex
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(
                wh.insert().values(
                    webhook_id=webhook_id,
                    name=name,
                    description=description,
                    url=url,
                    pinned_address=pinned_address,
                    events=_events_text(events),
                    status=status,
                    secret=secret,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                )
            )
            return self._get(conn, webhook_id)

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
        """``changes`` may hold name, description, url + pinned_address, events, secret, status."""
        values = dict(changes)
        if "events" in values:
            values["events"] = _events_text(values["events"])
        values["last_updated_timestamp"] = _now_ms()
        with translate_errors(), self.engine.begin() as conn:
            self._get(conn, webhook_id)
            conn.execute(wh.update().where(wh.c.webhook_id == webhook_id).values(**values))
            return self._get(conn, webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        with translate_errors(), self.engine.begin() as conn:
            self._get(conn, webhook_id)
            ids = sa.select(dl.c.delivery_id).where(dl.c.webhook_id == webhook_id)
            conn.execute(at.delete().where(at.c.delivery_id.in_(ids)))
            conn.execute(dl.delete().where(dl.c.webhook_id == webhook_id))
            conn.execute(wh.delete().where(wh.c.webhook_id == webhook_id))

    def get_webhook(self, webhook_id: str) -> Webhook:
        with translate_errors(), read_connection(self.engine) as conn:
            return self._get(conn, webhook_id)

    def get_secret(self, webhook_id: str) -> str | None:
        with translate_errors(), read_connection(self.engine) as conn:
            secret = conn.execute(
                sa.select(wh.c.secret).where(wh.c.webhook_id == webhook_id)
            ).scalar()
        return str(secret) if secret else None

    def list_webhooks(self, max_results: int, page_token: str | None) -> PagedList[Webhook]:
        offset = decode_page_token(page_token)
        with translate_errors(), read_connection(self.engine) as conn:
            rows = conn.execute(
                sa.select(wh)
                .order_by(wh.c.creation_timestamp, wh.c.webhook_id)
                .offset(offset)
                .limit(max_results + 1)
            ).all()
        more = len(rows) > max_results
        return PagedList(
            [_webhook(r) for r in rows[:max_results]],
            encode_page_token(offset + max_results) if more else None,
        )

    def _get(self, conn: Connection, webhook_id: str) -> Webhook:
        row = conn.execute(sa.select(wh).where(wh.c.webhook_id == webhook_id)).first()
        if row is None:
            raise _not_found(webhook_id)
        return _webhook(row)

    # ------------------------------------------------------------------ the queue
    def enqueue(self, entity: str, action: str, payload: str) -> list[str]:
        """A delivery for every active webhook subscribed to (entity, action); their ids."""
        now = _now_ms()
        with translate_errors(), self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(wh.c.webhook_id, wh.c.events).where(wh.c.status == "ACTIVE")
            ).all()
            targets = [r.webhook_id for r in rows if [entity, action] in json.loads(r.events)]
            ids = [uuid.uuid4().hex for _ in targets]
            if targets:
                conn.execute(
                    dl.insert(),
                    [
                        {
                            "delivery_id": delivery_id,
                            "webhook_id": webhook_id,
                            "entity": entity,
                            "action": action,
                            "payload": payload,
                            "status": PENDING,
                            "attempts": 0,
                            "creation_timestamp": now,
                            "next_attempt_at": now,
                        }
                        for delivery_id, webhook_id in zip(ids, targets, strict=True)
                    ],
                )
        return ids

    def claim_due(self, lease_ms: int, limit: int = 1) -> list[tuple[str, str, str, int]]:
        """Claim up to ``limit`` due deliveries: ``(delivery_id, webhook_id, payload, attempts)``."""
        now = _now_ms()
        due = sa.or_(
            sa.and_(dl.c.status == PENDING, dl.c.next_attempt_at <= now),
            sa.and_(dl.c.status == DELIVERING, dl.c.lease_until < now),
        )
        claimed: list[tuple[str, str, str, int]] = []
        with translate_errors(), read_connection(self.engine) as conn:
            candidates = conn.execute(
                sa.select(dl.c.delivery_id).where(due).order_by(dl.c.next_attempt_at).limit(limit)
            ).all()
        for (delivery_id,) in candidates:
            with translate_errors(), self.engine.begin() as conn:
                won = conn.execute(
                    dl.update()
                    .where(dl.c.delivery_id == delivery_id, due)
                    .values(status=DELIVERING, lease_until=now + lease_ms)
                ).rowcount
                if not won:
                    continue
                row = conn.execute(
                    sa.select(dl.c.webhook_id, dl.c.payload, dl.c.attempts).where(
                        dl.c.delivery_id == delivery_id
                    )
                ).one()
                claimed.append((delivery_id, row.webhook_id, row.payload, int(row.attempts)))
        return claimed

    def record_attempt(
        self,
        delivery_id: str,
        attempt: DeliveryAttempt,
        next_attempt_at: int | None,
    ) -> None:
        """Record an attempt; ``next_attempt_at`` None ends the delivery (succeeded or failed)."""
        now = _now_ms()
        with translate_errors(), self.engine.begin() as conn:
            conn.execute(
                at.insert().values(
                    delivery_id=delivery_id,
                    attempt=attempt.attempt,
                    timestamp=attempt.timestamp,
                    duration_ms=attempt.duration_ms,
                    success=attempt.success,
                    response_status=attempt.response_status,
                    error=attempt.error,
                )
            )
            if next_attempt_at is None:
                values: dict[str, Any] = {
                    "status": SUCCEEDED if attempt.success else FAILED,
                    "completed_timestamp": now,
                    "lease_until": None,
                }
            else:
                values = {
                    "status": PENDING,
                    "next_attempt_at": next_attempt_at,
                    "lease_until": None,
                }
            conn.execute(
                dl.update()
                .where(dl.c.delivery_id == delivery_id)
                .values(attempts=attempt.attempt, **values)
            )

    def list_deliveries(
        self, webhook_id: str, max_results: int, page_token: str | None
    ) -> PagedList[WebhookDelivery]:
        offset = decode_page_token(page_token)
        with translate_errors(), read_connection(self.engine) as conn:
            self._get(conn, webhook_id)
            rows = conn.execute(
                sa.select(dl)
                .where(dl.c.webhook_id == webhook_id)
                .order_by(dl.c.creation_timestamp.desc(), dl.c.delivery_id)
                .offset(offset)
                .limit(max_results + 1)
            ).all()
            more = len(rows) > max_results
            rows = rows[:max_results]
            history: dict[str, list[DeliveryAttempt]] = defaultdict(list)
            ids = [r.delivery_id for r in rows]
            if ids:
                for a in conn.execute(
                    sa.select(at).where(at.c.delivery_id.in_(ids)).order_by(at.c.attempt)
                ):
                    history[a.delivery_id].append(
                        DeliveryAttempt(
                            attempt=a.attempt,
                            timestamp=a.timestamp,
                            duration_ms=a.duration_ms,
                            success=bool(a.success),
                            response_status=a.response_status,
                            error=a.error,
                        )
                    )
        return PagedList(
            [
                WebhookDelivery(
                    delivery_id=r.delivery_id,
                    webhook_id=r.webhook_id,
                    entity=r.entity,
                    action=r.action,
                    status=r.status,
                    attempts=r.attempts,
                    creation_timestamp=r.creation_timestamp,
                    next_attempt_at=r.next_attempt_at,
                    completed_timestamp=r.completed_timestamp,
                    history=tuple(history.get(r.delivery_id, ())),
                )
                for r in rows
            ],
            encode_page_token(offset + max_results) if more else None,
        )
