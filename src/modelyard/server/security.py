"""Browser-side and transport hardening: one pure ASGI middleware in front of every route.

:class:`SecurityMiddleware` does four cheap things per HTTP request, from one pass over the headers:

* **Host check** (against DNS rebinding): a page on ``evil.example`` whose name the attacker points
  at 127.0.0.1 reaches the server with ``Host: evil.example``; such requests get 400 ``BAD_REQUEST``.
  The ``allowed_hosts`` setting lists the accepted names (``*.example.com`` matches subdomains, ``*``
  all). Unset, the server accepts what no rebinding can produce: IP literals that are loopback or
  private (any IP literal when bound to a wildcard address), names without a dot (``localhost``,
  intranet names: a rebinding needs a public DNS name, which has a dot), ``*.localhost`` and the host
  the server was bound to. Decisions are cached per header value.
* **CORS**: without ``cors_allowed_origins`` no CORS header is ever sent and a cross-origin request
  that writes (any method but GET, HEAD) is refused with 403, as is any preflight. Listed origins get
  their preflight answered and ``Access-Control-Allow-Origin`` with credentials; ``*`` allows any
  origin, never with credentials. A same-origin request (``Origin`` equal to the Host) is left alone.
* **Body size**: a declared ``Content-Length`` above ``max_request_bytes`` (``max_upload_bytes`` for
  the artifact proxy's PUT uploads, 0 for no limit) gets 413 before the app reads a byte; bodies
  without a length are counted where they are read (:mod:`modelyard.server.rpc`, the proxy upload).
* **Security headers** on everything outside the JSON API (UI pages, static files, downloads, error
  pages): the UI's Content-Security-Policy, ``X-Frame-Options: DENY``, ``nosniff`` and
  ``Referrer-Policy``, each only when the route did not set its own. API responses are not touched:
  the tracking hot path pays for one header scan and nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelyard.server.errors import too_large_message
from modelyard.server.ui.pages import SECURITY_HEADERS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIXES = ("/api/", "/ajax-api/")
UPLOAD_PREFIXES = (
    "/api/2.0/mlflow-artifacts/artifacts/",
    "/ajax-api/2.0/mlflow-artifacts/artifacts/",
)
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_CACHE_LIMIT = 4096
CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Requested-With"
CORS_MAX_AGE = "600"
#: The headers every non-API response gets (when its route did not set them), as raw pairs.
_PAGE_HEADERS = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
    if name != "Cache-Control"
)


def parse_list(raw: str | None) -> tuple[str, ...]:
    """A comma list setting as lowercase items, blanks dropped."""
    if not raw:
        return ()
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def _host_name(host: str) -> str:
    """``Host`` header -> the name alone: no port, no brackets, lowercase, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class HostPolicy:
    """Which ``Host`` header values the server answers (see the module docstring)."""

    def __init__(self, allowed: str | None, bound_host: str) -> None:
        self.explicit = parse_list(allowed)
        self.allow_all = "*" in self.explicit
        self.bound = _host_name(bound_host)
        self.wildcard_bind = bound_host.strip() in _WILDCARD_BINDS
        self._exact = {_host_name(h) for h in self.explicit if not h.startswith("*")}
        self._suffixes = tuple(h[1:] for h in self.explicit if h.startswith("*."))

    def allows(self, header: str) -> bool:
        name = _host_name(header)
        if not name:
            return False
        if self.explicit:
            return name in self._exact or name.endswith(self._suffixes)
        if name == self.bound:
            return True
        ip = _ip(name)
        if ip is not None:
            return self.wildcard_bind or ip.is_loopback or ip.is_private or ip.is_link_local
        if any(not c.isalnum() and c not in "-._" for c in name):
            return False
        return "." not in name or name.endswith(".localhost")


class CorsPolicy:
    """Which origins may call the API from a browser, and with what headers."""

    def __init__(self, origins: str | None) -> None:
        items = parse_list(origins)
        self.any_origin = "*" in items
        self.listed = frozenset(o.rstrip("/") for o in items if o != "*")

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/").lower() in self.listed

    def headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        listed = origin.rstrip("/").lower() in self.listed
        pairs = [
            (b"access-control-allow-origin", origin.encode("latin-1") if listed else b"*"),
            (b"vary", b"Origin"),
        ]
        if listed:
            pairs.append((b"access-control-allow-credentials", b"true"))
        return pairs


def _same_origin(origin: str, host: str | None) -> bool:
    if host is None:
        return False
    _scheme, sep, rest = origin.partition("://")
    return bool(sep) and rest.rstrip("/").lower() == host.strip().lower()


async def _answer(send: Send, status: int, body: dict[str, Any] | None, extra=()) -> None:
    payload = orjson.dumps(body) if body is not None else b""
    headers = [(b"content-length", str(len(payload)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    await _answer(send, status, {"error_code": code, "message": message})


class SecurityMiddleware:
    """The ASGI middleware of the module docstring; ``create_app`` installs it outermost."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: str | None,
        bound_host: str,
        cors_allowed_origins: str | None,
        max_request_bytes: int,
        max_upload_bytes: int,
    ) -> None:
        self.app = app
        self.hosts = HostPolicy(allowed_hosts, bound_host)
        self.cors = CorsPolicy(cors_allowed_origins)
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self._host_ok: dict[bytes, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # one C-level pass; names are lowercase in ASGI
        host = headers.get(b"host")
        length = headers.get(b"content-length")
        origin = headers.get(b"origin")
        if host is not None and not self.hosts.allow_all:
            ok = self._host_ok.get(host)
            if ok is None:
                ok = self.hosts.allows(host.decode("latin-1"))
                if len(self._host_ok) >= _CACHE_LIMIT:
                    self._host_ok.clear()
                self._host_ok[host] = ok
            if not ok:
                await _refuse(
                    send,
                    400,
                    "BAD_REQUEST",
                    "Invalid Host header: this server does not answer for that name (see the "
                    "allowed_hosts setting).",
                )
                return
        path: str = scope["path"]
        if length is not None:
            upload = scope["method"] == "PUT" and path.startswith(UPLOAD_PREFIXES)
            limit = self.max_upload_bytes if upload else self.max_request_bytes
            if limit > 0 and length.isdigit() and int(length) > limit:
                await _refuse(send, 413, "BAD_REQUEST", too_large_message(limit))
                return
        if origin is not None:
            text = origin.decode("latin-1")
            if not _same_origin(text, None if host is None else host.decode("latin-1")):
                await self._cross_origin(scope, receive, send, text)
                return
        if path.startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _with_page_headers(send, scope.get("scheme") == "https"))

    async def _cross_origin(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        method = scope["method"]
        allowed = self.cors.allowed(origin)
        preflight = method == "OPTIONS" and any(
            name == b"access-control-request-method" for name, _ in scope["headers"]
        )
        if preflight:
            if not allowed:
                await _refuse(
                    send,
                    403,
                    "PERMISSION_DENIED",
                    "Cross-origin requests from this origin are not allowed (see the "
                    "cors_allowed_origins setting).",
                )
                return
            requested = next(
                (v for n, v in scope["headers"] if n == b"access-control-request-headers"),
                CORS_HEADERS.encode(),
            )
            extra = [
                *self.cors.headers(origin),
                (b"access-control-allow-methods", CORS_METHODS.encode()),
                (b"access-control-allow-headers", requested),
                (b"access-control-max-age", CORS_MAX_AGE.encode()),
            ]
            await _answer(send, 204, None, extra)
            return
        if not allowed:
            if method not in _SAFE_METHODS:
                await _refuse(
                    send,
                    403,
                    "PERMISSION_DENIED",
                    "Cross-origin writes are not allowed: the Origin header does not match the "
                    "Host header. List the origin in the cors_allowed_origins setting; behind a "
                    "reverse proxy, pass the original Host header through.",
                )
                return
            inner = send
        else:
            inner = _with_headers(send, self.cors.headers(origin))
        if not scope["path"].startswith(API_PREFIXES):
            inner = _with_page_headers(inner, scope.get("scheme") == "https")
        await self.app(scope, receive, inner)


def _with_headers(send: Send, pairs: list[tuple[bytes, bytes]]) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *pairs]
        await send(message)

    return sender


def _with_page_headers(send: Send, https: bool) -> Send:
    """Add the missing security headers; over HTTPS (directly or behind a trusted proxy) mark every
    cookie ``Secure``, so that a session or CSRF cookie never travels over plain HTTP."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers.extend(pair for pair in _PAGE_HEADERS if pair[0] not in present)
            if https and b"set-cookie" in present:
                headers = [_secure_cookie(pair) for pair in headers]
            message["headers"] = headers
        await send(message)

    return sender


def _secure_cookie(pair: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    name, value = pair
    if name.lower() != b"set-cookie" or b"; secure" in value.lower():
        return pair
    return name, value + b"; Secure"


def install_security(app: Any, settings: Any) -> None:
    """Wrap ``app`` (a FastAPI app) in :class:`SecurityMiddleware` configured from ``settings``."""
    app.add_middleware(
        SecurityMiddleware,
        allowed_hosts=settings.allowed_hosts,
        bound_host=str(settings.host),
        cors_allowed_origins=settings.cors_allowed_origins,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )


__all__ = [
    "CorsPolicy",
    "HostPolicy",
    "SecurityMiddleware",
    "install_security",
]
