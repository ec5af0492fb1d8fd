"""Webhook endpoints (reference §8) under ``/api/2.0/mlflow/webhooks``, plus the delivery history.

Events travel as enum names (``{"entity": "MODEL_VERSION", "action": "CREATED"}``); the secret is
accepted on create and update and never returned.
"""

from __future__ import annotations

from typing import Any

from modelyard.entities import Webhook, WebhookDelivery
from modelyard.schemas.fields import INT64, MESSAGE, STRING, Field, Message
from modelyard.server.deps import get_webhooks
from modelyard.server.rpc import RpcTable
from modelyard.service.webhooks import WebhookService

rpc = RpcTable(get_webhooks)
Json = dict[str, Any]

EVENT = Message(
    "WebhookEvent",
    [Field("entity", STRING, required=True), Field("action", STRING, required=True)],
    build=lambda d: (d["entity"], d["action"]),
)
_ID = Field("webhook_id", STRING, required=True)
CREATE_WEBHOOK = Message(
    "CreateWebhook",
    [
        Field("name", STRING, required=True),
        Field("url", STRING, required=True),
        Field("events", MESSAGE, repeated=True, required=True, message=EVENT),
        Field("description", STRING),
        Field("secret", STRING),
        Field("status", STRING),
    ],
)
UPDATE_WEBHOOK = Message(
    "UpdateWebhook",
    [
        _ID,
        Field("name", STRING),
        Field("url", STRING),
        Field("events", MESSAGE, repeated=True, message=EVENT),
        Field("description", STRING),
        Field("secret", STRING, allow_empty=True),
        Field("status", STRING),
    ],
)
LIST = Message("ListWebhooks", [Field("max_results", INT64), Field("page_token", STRING)])
WEBHOOK_ID = Message("WebhookId", [_ID])
LIST_DELIVERIES = Message(
    "ListWebhookDeliveries", [_ID, Field("max_results", INT64), Field("page_token", STRING)]
)
TEST_WEBHOOK = Message("TestWebhook", [_ID, Field("event", MESSAGE, message=EVENT)])


def webhook_to_dict(w: Webhook) -> Json:
    out: Json = {
        "webhook_id": w.webhook_id,
        "name": w.name,
        "url": w.url,
        "events": [{"entity": e.entity.upper(), "action": e.action.upper()} for e in w.events],
        "status": w.status,
        "creation_timestamp": w.creation_timestamp,
        "last_updated_timestamp": w.last_updated_timestamp,
    }
    if w.description:
        out["description"] = w.description
    return out


def delivery_to_dict(d: WebhookDelivery) -> Json:
    out: Json = {
        "delivery_id": d.delivery_id,
        "webhook_id": d.webhook_id,
        "entity": d.entity.upper(),
        "action": d.action.upper(),
        "status": d.status,
        "attempts": d.attempts,
        "creation_timestamp": d.creation_timestamp,
        "next_attempt_at": d.next_attempt_at,
        "history": [
            {
                k: v
                for k, v in {
                    "attempt": a.attempt,
                    "timestamp": a.timestamp,
                    "duration_ms": a.duration_ms,
                    "success": a.success,
                    "response_status": a.response_status,
                    "error": a.error,
                }.items()
                if v is not None
            }
            for a in d.history
        ],
    }
    if d.completed_timestamp is not None:
        out["completed_timestamp"] = d.completed_timestamp
    return out


@rpc("webhooks", "POST", request=CREATE_WEBHOOK)
def create_webhook(svc: WebhookService, req: Json) -> Json:
    return {
        "webhook": webhook_to_dict(
            svc.create_webhook(
                req["name"],
                req["url"],
                req["events"],
                req["description"],
                req["secret"],
                req["status"],
            )
        )
    }


@rpc("webhooks", "GET", request=LIST)
def list_webhooks(svc: WebhookService, req: Json) -> Json:
    page = svc.list_webhooks(req["max_results"], req["page_token"])
    out: Json = {}
    if page.items:
        out["webhooks"] = [webhook_to_dict(w) for w in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@rpc("webhooks/{webhook_id}", "GET", request=WEBHOOK_ID)
def get_webhook(svc: WebhookService, req: Json) -> Json:
    return {"webhook": webhook_to_dict(svc.get_webhook(req["webhook_id"]))}


@rpc("webhooks/{webhook_id}", "PATCH", request=UPDATE_WEBHOOK)
def update_webhook(svc: WebhookService, req: Json) -> Json:
    webhook = svc.update_webhook(
        req["webhook_id"],
        name=req["name"],
        url=req["url"],
        events=req["events"],
        description=req["description"],
        secret=req["secret"],
        status=req["status"],
    )
    return {"webhook": webhook_to_dict(webhook)}


@rpc("webhooks/{webhook_id}", "DELETE", request=WEBHOOK_ID)
def delete_webhook(svc: WebhookService, req: Json) -> Json:
    svc.delete_webhook(req["webhook_id"])
    return {}


@rpc("webhooks/{webhook_id}/test", "POST", request=TEST_WEBHOOK)
def test_webhook(svc: WebhookService, req: Json) -> Json:
    result = svc.test_webhook(req["webhook_id"], req["event"])
    out: Json = {"success": result.success}
    if result.response_status is not None:
        out["response_status"] = result.response_status
    if result.response_body:
        out["response_body"] = result.response_body
    if result.error:
        out["error_message"] = result.error
    return {"result": out}


@rpc("webhooks/{webhook_id}/deliveries", "GET", request=LIST_DELIVERIES)
def list_webhook_deliveries(svc: WebhookService, req: Json) -> Json:
    page = svc.list_deliveries(req["webhook_id"], req["max_results"], req["page_token"])
    out: Json = {}
    if page.items:
        out["deliveries"] = [delivery_to_dict(d) for d in page.items]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out
