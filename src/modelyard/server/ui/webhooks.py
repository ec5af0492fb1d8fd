"""Webhook pages: the list with a **New webhook** form, and a webhook's page with its deliveries and
forms to edit it (name, URL, events, description, secret, active or disabled), send a test event and
delete it. Every form post carries the CSRF token (:func:`~modelyard.server.ui.pages.read_form`) and
calls :class:`~modelyard.service.webhooks.WebhookService`, the service behind the REST API's
``/webhooks`` routes, so the same checks apply (https only unless allowed, no private addresses, known
events). A refused form is shown again with what was typed and the service's message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.entities import WebhookEvent
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.server.deps import request_user
from modelyard.server.ui.pages import Routes, error_page, read_form, redirect, render
from modelyard.service.webhooks import EVENTS, WebhookService

router = Routes()

#: events grouped by entity, in a stable order, for the forms' checkboxes
EVENT_GROUPS: list[tuple[str, list[str]]] = [
    (entity, sorted(f"{e}.{a}" for e, a in EVENTS if e == entity))
    for entity in sorted({e for e, _ in EVENTS})
]
TEST_MESSAGE_CHARS = 300


def webhooks(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


def webhook_url(webhook_id: str) -> str:
    return f"/webhooks/{quote(webhook_id, safe='')}"


def _ctx(request: Request, **context: Any) -> dict[str, Any]:
    return {
        "nav": "webhooks",
        "user": request_user(request),
        "event_groups": EVENT_GROUPS,
        "form_error": request.query_params.get("error"),
        **context,
    }


def _field(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


def _events(form: dict[str, list[str]]) -> list[WebhookEvent]:
    out = []
    for value in form.get("event", []):
        entity, _, action = value.partition(".")
        out.append(WebhookEvent(entity, action))
    return out


def _typed(form: dict[str, list[str]]) -> dict[str, Any]:
    """What the user typed, to fill the form again when the service refuses it (never the secret)."""
    return {
        "name": _field(form, "name"),
        "url": _field(form, "url"),
        "description": _field(form, "description"),
        "events": form.get("event", []),
        "active": _field(form, "active") == "1",
    }


# ------------------------------------------------------------------------------ pages
@router.get("/webhooks")
def webhooks_page(request: Request) -> Response:
    return _list(request)


def _list(
    request: Request, *, status_code: int = 200, error: str | None = None, typed: Any = None
) -> Response:
    page = webhooks(request).list_webhooks(100, request.query_params.get("page_token") or None)
    return render(
        request,
        "webhooks.html",
        status_code=status_code,
        **_ctx(
            request,
            title="Webhooks",
            webhooks=list(page.items),
            next_token=page.next_page_token,
            create_error=error,
            typed=typed or {"name": "", "url": "", "description": "", "events": [], "active": True},
        ),
    )


@router.get("/webhooks/{webhook_id}")
def webhook_page(request: Request, webhook_id: str) -> Response:
    return _detail(request, webhook_id)


def _detail(
    request: Request,
    webhook_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: Any = None,
) -> Response:
    service = webhooks(request)
    try:
        webhook = service.get_webhook(webhook_id)
        deliveries = service.list_deliveries(
            webhook_id, 100, request.query_params.get("page_token") or None
        )
    except ModelyardError as exc:
        return error_page(request, exc)
    q = request.query_params
    test = None
    if q.get("test") in ("ok", "failed"):
        test = {
            "ok": q.get("test") == "ok",
            "event": q.get("event", ""),
            "status": q.get("status", ""),
            "message": q.get("message", ""),
        }
    current = {
        "name": webhook.name,
        "url": webhook.url,
        "description": webhook.description or "",
        "events": [f"{e.entity}.{e.action}" for e in webhook.events],
        "active": webhook.status == "ACTIVE",
    }
    return render(
        request,
        "webhook.html",
        status_code=status_code,
        **_ctx(
            request,
            title=f"Webhook {webhook.name}",
            webhook=webhook,
            deliveries=list(deliveries.items),
            next_token=deliveries.next_page_token,
            edit_error=error,
            editing=error is not None or q.get("edit") == "1",
            typed=typed or current,
            test=test,
        ),
    )


# ------------------------------------------------------------------------------ form posts
@router.post("/ui/webhooks/create")
async def create_webhook(request: Request) -> Response:
    form = await read_form(request)
    service = webhooks(request)
    try:
        if not form.get("event"):
            raise InvalidInput("Choose at least one event.", field="events")
        webhook = await run_in_threadpool(
            service.create_webhook,
            _field(form, "name").strip(),
            _field(form, "url").strip(),
            _events(form),
            _field(form, "description").strip() or None,
            _field(form, "secret") or None,
            "ACTIVE" if _field(form, "active") == "1" else "DISABLED",
        )
    except InvalidInput as exc:
        message = exc.message
        return await run_in_threadpool(
            lambda: _list(request, status_code=400, error=message, typed=_typed(form))
        )
    return redirect(webhook_url(webhook.webhook_id))


@router.post("/ui/webhooks/{webhook_id}/{action}")
async def change_webhook(request: Request, webhook_id: str, action: str) -> Response:
    form = await read_form(request)
    service = webhooks(request)
    back = webhook_url(webhook_id)
    try:
        if action == "update":
            secret = "" if _field(form, "clear_secret") == "1" else (_field(form, "secret") or None)
            events = _events(form)
            if not events:
                raise InvalidInput("Choose at least one event.", field="events")
            await run_in_threadpool(
                lambda: service.update_webhook(
                    webhook_id,
                    name=_field(form, "name").strip(),
                    url=_field(form, "url").strip(),
                    events=events,
                    description=_field(form, "description").strip(),
                    secret=secret,
                    status="ACTIVE" if _field(form, "active") == "1" else "DISABLED",
                )
            )
        elif action in ("enable", "disable"):
            status = "ACTIVE" if action == "enable" else "DISABLED"
            await run_in_threadpool(lambda: service.update_webhook(webhook_id, status=status))
        elif action == "test":
            event = _field(form, "event")
            entity, _, verb = event.partition(".")
            result = await run_in_threadpool(
                service.test_webhook, webhook_id, WebhookEvent(entity, verb) if event else None
            )
            message = result.error if not result.success else (result.response_body or "")
            query = {
                "test": "ok" if result.success else "failed",
                "event": event,
                "status": str(result.response_status or ""),
                "message": (message or "")[:TEST_MESSAGE_CHARS],
            }
            return redirect(f"{back}?{urlencode(query)}#test-result")
        elif action == "delete":
            await run_in_threadpool(service.delete_webhook, webhook_id)
            return redirect("/webhooks")
        else:
            return error_page(request, InvalidInput(f"Unknown action {action!r}."))
    except InvalidInput as exc:
        message = exc.message
        if action == "update":
            return await run_in_threadpool(
                lambda: _detail(
                    request, webhook_id, status_code=400, error=message, typed=_typed(form)
                )
            )
        return redirect(f"{back}?error={quote(message, safe='')}")
    except ModelyardError as exc:
        return error_page(request, exc)
    return redirect(back)
