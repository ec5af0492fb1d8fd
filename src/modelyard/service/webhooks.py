"""Webhooks (reference §8): subscriptions, signed deliveries off the request path, retries, history.

* **Pinned targets.** The URL's host is resolved once, at create or update; the address is stored and
  every delivery connects to it (sending the name as ``Host`` and TLS SNI, and verifying the
  certificate against the name), so a DNS answer that changes later (rebinding) is never followed.
  Private, loopback and link-local addresses are refused unless ``webhook_allow_private_addresses``;
  ``https`` only unless ``webhook_allow_http``; redirects are never followed (a 3xx is a failure).
* **Signature.** ``X-MLflow-Delivery-Id`` (uuid), ``X-MLflow-Timestamp`` (unix seconds) and, with a
  secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>``.
* **Queue.** :meth:`WebhookService.emit` writes one row per subscribed webhook (see
  :mod:`modelyard.store.sql.webhooks`); :class:`WebhookDispatcher` threads in each server worker claim
  due rows with a lease, send, and record the attempt; failures (connection errors, 408, 429, 5xx)
  are retried with exponential backoff up to ``webhook_max_attempts``.
* **Secrets** are never returned by the API; with ``webhook_secret_key`` (a Fernet key) they are
  encrypted at rest.

The sender uses the standard library's ``http.client``: no redirect logic to switch off, and the
socket is opened to the pinned address by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from modelyard.entities import DeliveryAttempt, PagedList, Webhook, WebhookDelivery, WebhookEvent
from modelyard.errors import InvalidInput
from modelyard.store.artifacts.paths import is_private_host

log = logging.getLogger(__name__)

#: (entity, action) pairs, payload spelling. MLflow's, then modelyard's registry extras.
EVENTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("registered_model", "created"),
        ("model_version", "created"),
        ("model_version_tag", "set"),
        ("model_version_tag", "deleted"),
        ("model_version_alias", "created"),
        ("model_version_alias", "deleted"),
        ("prompt", "created"),
        ("prompt_version", "created"),
        ("prompt_tag", "set"),
        ("prompt_tag", "deleted"),
        ("prompt_version_tag", "set"),
        ("prompt_version_tag", "deleted"),
        ("prompt_alias", "created"),
        ("prompt_alias", "deleted"),
        ("budget_policy", "exceeded"),
        ("model_version_stage", "transitioned"),
        ("transition_request", "created"),
        ("transition_request", "approved"),
        ("transition_request", "rejected"),
        ("transition_request", "cancelled"),
        ("comment", "created"),
    }
)
STATUSES = ("ACTIVE", "DISABLED")
DEFAULT_LIST_RESULTS = 100
MAX_LIST_RESULTS = 1000
MAX_NAME_LENGTH = 256
MAX_URL_LENGTH = 2000
_RESPONSE_BODY_LIMIT = 1000
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


# ------------------------------------------------------------------------------ signing
def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``<id>.<ts>.<body>``."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """True when ``headers`` carry a valid signature of ``body`` (a receiver's check)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = sign(
        secret, lowered.get("x-mlflow-delivery-id", ""), lowered.get("x-mlflow-timestamp", ""), body
    )
    return hmac.compare_digest(expected, lowered.get("x-mlflow-signature", ""))


# ------------------------------------------------------------------------------ secrets at rest
class SecretBox:
    """Seals secrets with Fernet when a key is configured; stores them as given otherwise."""

    def __init__(self, key: str | None) -> None:
        self._fernet: Any = None
        if key:
            try:
                from cryptography.fernet import Fernet
            except ImportError:
                raise InvalidInput(
                    "webhook_secret_key needs the cryptography package: "
                    "pip install 'modelyard[webhooks]'"
                ) from None
            try:
                self._fernet = Fernet(key.encode())
            except ValueError:
                raise InvalidInput(
                    "webhook_secret_key must be a Fernet key (32 url-safe base64-encoded bytes)."
                ) from None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return "plain:" + secret
        return "fernet:" + self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        kind, _, rest = sealed.partition(":")
        if kind == "fernet":
            if self._fernet is None:
                raise InvalidInput(
                    "A webhook secret is encrypted but no webhook_secret_key is set."
                )
            return str(self._fernet.decrypt(rest.encode()).decode())
        return rest


# ------------------------------------------------------------------------------ targets
@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    return is_private_host(str(ip))


def resolve_target(url: object, *, allow_http: bool, allow_private: bool) -> Target:
    """Check a webhook URL and pin its host to one address (IPv4 preferred)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("Missing value for required parameter 'url'.", field="url")
    if len(url) > MAX_URL_LENGTH or any(ord(c) < 33 for c in url):
        raise InvalidInput(
            "Invalid webhook URL: too long or contains spaces or control characters."
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput("Invalid webhook URL: the scheme must be https.")
    if scheme == "http" and not allow_http:
        raise InvalidInput(
            "Invalid webhook URL: only https URLs are allowed (the webhook_allow_http setting "
            "allows http)."
        )
    if parts.fragment or parts.username or parts.password:
        raise InvalidInput("Invalid webhook URL: credentials and fragments are not allowed.")
    host = parts.hostname or ""
    if not host:
        raise InvalidInput("Invalid webhook URL: it needs a host.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise InvalidInput("Invalid webhook URL: the port is not a number.") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidInput(f"Invalid webhook URL: the host '{host}' cannot be resolved.") from None
    addresses = sorted({str(i[4][0]) for i in infos}, key=lambda a: (":" in a, a))
    if not allow_private and (is_private_host(host) or any(_is_private(a) for a in addresses)):
        raise InvalidInput(
            "Invalid webhook URL: it resolves to a private, loopback or link-local address "
            "(the webhook_allow_private_addresses setting allows that)."
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port, path, addresses[0])


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a pinned address, with SNI and certificate checks for the host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


@dataclass(frozen=True, slots=True)
class SendResult:
    success: bool
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: int
    retryable: bool


def send(
    target: Target,
    body: bytes,
    secret: str | None,
    timeout_s: float,
    delivery_id: str | None = None,
) -> SendResult:
    """POST ``body`` to the pinned target once, signed; never follows a redirect."""
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "modelyard-webhooks",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
    }
    if secret:
        headers["X-MLflow-Signature"] = sign(secret, delivery_id, timestamp, body)
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    started = time.monotonic()
    conn = cls(target.address, target.host, target.port, timeout_s)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read(_RESPONSE_BODY_LIMIT).decode("utf-8", "replace")
        status = response.status
    except (OSError, http.client.HTTPException) as e:
        return SendResult(
            False, None, None, f"{type(e).__name__}: {e}"[:500], _elapsed(started), True
        )
    finally:
        conn.close()
    ok = 200 <= status < 300
    error = None
    if not ok:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return SendResult(ok, status, text, error, _elapsed(started), status in _RETRY_STATUSES)


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def payload(entity: str, action: str, data: Mapping[str, Any]) -> str:
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {"entity": entity, "action": action, "timestamp": stamp, "data": dict(data)},
        separators=(",", ":"),
    )


def _parse_events(events: object) -> list[WebhookEvent]:
    if not isinstance(events, (list, tuple)) or not events:
        raise InvalidInput("Missing value for required parameter 'events'.", field="events")
    out: list[WebhookEvent] = []
    for e in events:
        entity, action = (e.entity, e.action) if isinstance(e, WebhookEvent) else e
        pair = (str(entity).lower(), str(action).lower())
        if pair not in EVENTS:
            valid = ", ".join(f"{a}.{b}" for a, b in sorted(EVENTS))
            raise InvalidInput(
                f"Invalid webhook event {entity}.{action}: one of {valid}.", field="events"
            )
        if WebhookEvent(*pair) not in out:
            out.append(WebhookEvent(*pair))
    return out


_SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "registered_model": {"name": "example-model", "tags": {}, "description": "An example."},
    "model_version": {
        "name": "example-model",
        "version": "1",
        "source": "models:/m-0123456789abcdef0123456789abcdef",
        "run_id": "0123456789abcdef0123456789abcdef",
        "tags": {},
        "description": None,
    },
    "model_version_tag": {"name": "example-model", "version": "1", "key": "k", "value": "v"},
    "model_version_alias": {"name": "example-model", "alias": "champion", "version": "1"},
    "model_version_stage": {
        "name": "example-model",
        "version": "1",
        "from_stage": "Staging",
        "to_stage": "Production",
        "user_id": "someone",
    },
    "transition_request": {
        "id": "1",
        "name": "example-model",
        "version": "1",
        "to_stage": "Production",
        "user_id": "someone",
        "comment": "Ready.",
        "status": "PENDING",
    },
}


class WebhookService:
    """Webhook subscriptions, the event sink of the registry, and the sender used by the dispatcher."""

    def __init__(
        self,
        store: Any,
        *,
        allow_http: bool = False,
        allow_private_addresses: bool = False,
        secret_key: str | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        retry_backoff_s: float = 2.0,
    ) -> None:
        self.store = store
        self.allow_http = allow_http
        self.allow_private_addresses = allow_private_addresses
        self.box = SecretBox(secret_key)
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.retry_backoff_s = max(0.0, retry_backoff_s)
        self.wakeup = threading.Event()

    # ------------------------------------------------------------------ CRUD
    def _target(self, url: object) -> Target:
        return resolve_target(
            url, allow_http=self.allow_http, allow_private=self.allow_private_addresses
        )

    def _name(self, name: object) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("Missing value for required parameter 'name'.", field="name")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidInput(f"The webhook name is longer than {MAX_NAME_LENGTH} characters.")
        return name

    def _status(self, status: object) -> str:
        text = str(status or "ACTIVE").upper()
        if text not in STATUSES:
            raise InvalidInput(f"Invalid value {status!r} for parameter 'status' supplied.")
        return text

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[Any],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        target = self._target(url)
        webhook: Webhook = self.store.create_webhook(
            self._name(name),
            url,
            target.address,
            _parse_events(events),
            description,
            self.box.seal(secret) if secret else None,
            self._status(status),
        )
        return webhook

    def update_webhook(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Sequence[Any] | None = None,
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = self._name(name)
        if url is not None:
            changes["url"] = url
            changes["pinned_address"] = self._target(url).address
        if events:
            changes["events"] = _parse_events(events)
        if description is not None:
            changes["description"] = description
        if secret is not None:
            changes["secret"] = self.box.seal(secret) if secret else None
        if status is not None:
            changes["status"] = self._status(status)
        webhook: Webhook = self.store.update_webhook(webhook_id, changes)
        return webhook

    def delete_webhook(self, webhook_id: str) -> None:
        self.store.delete_webhook(webhook_id)

    def get_webhook(self, webhook_id: str) -> Webhook:
        webhook: Webhook = self.store.get_webhook(webhook_id)
        return webhook

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        limit = DEFAULT_LIST_RESULTS if max_results is None else max_results
        if not 1 <= limit <= MAX_LIST_RESULTS:
            raise InvalidInput(f"Invalid value {limit} for parameter 'max_results' supplied.")
        page: PagedList[Webhook] = self.store.list_webhooks(limit, page_token)
        return page

    def list_deliveries(
        self, webhook_id: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[WebhookDelivery]:
        limit = DEFAULT_LIST_RESULTS if max_results is None else max_results
        if not 1 <= limit <= MAX_LIST_RESULTS:
            raise InvalidInput(f"Invalid value {limit} for parameter 'max_results' supplied.")
        page: PagedList[WebhookDelivery] = self.store.list_deliveries(webhook_id, limit, page_token)
        return page

    # ------------------------------------------------------------------ sending
    def _pinned(self, webhook: Webhook) -> Target:
        parts = urlsplit(webhook.url)
        scheme = parts.scheme.lower()
        if scheme == "http" and not self.allow_http:
            raise InvalidInput("http webhook URLs are no longer allowed (webhook_allow_http).")
        if not self.allow_private_addresses and _is_private(webhook.pinned_address):
            raise InvalidInput(
                "The webhook's address is private and webhook_allow_private_addresses is off."
            )
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        port = parts.port or (443 if scheme == "https" else 80)
        return Target(scheme, parts.hostname or "", port, path, webhook.pinned_address)

    def _secret(self, webhook_id: str) -> str | None:
        sealed = self.store.get_secret(webhook_id)
        return self.box.open(sealed) if sealed else None

    def test_webhook(self, webhook_id: str, event: Any = None) -> SendResult:
        """Send one sample event now (no retry, nothing queued) and report what came back.

        A target today's rules refuse (a private pinned address, plain http) raises
        :class:`InvalidInput` (400), as creating it would: nothing is sent.
        """
        webhook = self.get_webhook(webhook_id)
        chosen = _parse_events([event])[0] if event else webhook.events[0]
        body = payload(chosen.entity, chosen.action, _SAMPLE_DATA.get(chosen.entity, {}))
        target = self._pinned(webhook)
        return send(target, body.encode(), self._secret(webhook_id), self.timeout_s)

    def emit(self, entity: str, action: str, data: Mapping[str, Any]) -> None:
        """Queue the event for every subscribed webhook; never fails the change that caused it."""
        try:
            ids = self.store.enqueue(entity, action, payload(entity, action, data))
        except Exception:
            log.exception("could not queue webhook event %s.%s", entity, action)
            return
        if ids:
            self.wakeup.set()

    def deliver_due(self, limit: int = 1) -> int:
        """Claim and send up to ``limit`` due deliveries; returns how many were attempted."""
        lease_ms = int((self.timeout_s * 2 + 30) * 1000)
        claimed = self.store.claim_due(lease_ms, limit)
        for delivery_id, webhook_id, body, attempts in claimed:
            self._attempt(delivery_id, webhook_id, body, attempts + 1)
        return len(claimed)

    def _attempt(self, delivery_id: str, webhook_id: str, body: str, number: int) -> None:
        started = int(time.time() * 1000)
        try:
            webhook = self.get_webhook(webhook_id)
            result = send(
                self._pinned(webhook),
                body.encode(),
                self._secret(webhook_id),
                self.timeout_s,
                delivery_id,
            )
        except Exception as e:  # a refused target or a store error: recorded, not retried
            message = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            result = SendResult(False, None, None, str(message)[:500], 0, False)
        retry = not result.success and result.retryable and number < self.max_attempts
        next_at = None
        if retry:
            delay = self.retry_backoff_s * (2 ** (number - 1))
            next_at = int(time.time() * 1000 + delay * 1000)
        self.store.record_attempt(
            delivery_id,
            DeliveryAttempt(
                attempt=number,
                timestamp=started,
                duration_ms=result.duration_ms,
                success=result.success,
                response_status=result.response_status,
                error=result.error,
            ),
            next_at,
        )
        if retry:
            self.wakeup.set()


class WebhookDispatcher:
    """A few daemon threads in one server worker that drain the shared delivery queue."""

    def __init__(self, service: WebhookService, threads: int, poll_interval_s: float = 1.0) -> None:
        self.service = service
        self.threads = threads
        self.poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"modelyard-webhooks-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.service.wakeup.set()
        for worker in self._workers:
            worker.join(timeout_s)
        self._workers.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.service.deliver_due(1)
            except Exception:
                log.exception("webhook delivery loop failed; retrying")
                sent = 0
            if sent:
                continue
            self.service.wakeup.wait(self.poll_interval_s)
            self.service.wakeup.clear()
