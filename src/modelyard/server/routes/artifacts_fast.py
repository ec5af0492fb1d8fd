"""A raw ASGI path for the proxy's small files, in front of FastAPI's middleware and routing.

Most artifacts are small (metrics files, MLmodel, requirements, images) and an upload of 4 KiB is
mostly fixed cost: FastAPI's exception middlewares, the route table, Starlette's ``Request`` and the
handler's awaits cost several times the few system calls of the write. :class:`ArtifactFastPath`
sits just inside :class:`~modelyard.server.security.SecurityMiddleware` (so the host check, CORS and
the body limit have already run) and answers these requests itself:

* ``PUT .../artifacts/<path>`` with a ``Content-Length`` of at most :data:`FAST_BYTES` (and no
  ``Transfer-Encoding``): the body is read whole and written on the event loop with
  ``LocalArtifactStore.write_small`` (a temporary file renamed over the target);
* ``GET`` and ``HEAD`` of ``.../artifacts/<path>`` without ``Range``, for a file of at most
  :data:`FAST_BYTES`: read whole with ``read_small`` and sent with the route's headers (``ETag``,
  ``Last-Modified``, ``Content-Disposition: attachment``, ``nosniff``; 304 for ``If-None-Match``).

Everything else goes on to the app unchanged, before a byte of the body is read: larger or
chunked bodies (streamed with bounded memory by :mod:`modelyard.server.routes.artifacts`), ranges,
larger files, folders' root, other methods, a ``root_path``. Paths pass the same
:func:`~modelyard.store.artifacts.paths.safe_relative_path`, and errors leave through the same
renderer with the same codes and messages as the routes'. It is installed only for a local-disk
destination and only without ``--auth`` (with auth, the guarded routes answer).
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import Response

from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.server.errors import error_response, render_error
from modelyard.server.routes.artifacts import (
    INLINE_WRITE_BYTES,
    PROXY_PREFIXES,
    _matches,
    _media_type,
    download_headers,
)
from modelyard.store.artifacts.paths import safe_relative_path

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest body or file the fast path handles; larger ones take the streaming routes.
FAST_BYTES = INLINE_WRITE_BYTES
_FILE_PREFIXES = tuple(f"{p}/artifacts/" for p in PROXY_PREFIXES)
_OK_HEADERS = ((b"content-length", b"2"), (b"content-type", b"application/json"))
CUT_OFF_MESSAGE = "The upload was cut off before its end."


class ArtifactFastPath:
    """The ASGI wrapper of the module docstring, around the FastAPI app."""

    def __init__(self, app: ASGIApp, *, store: Any, max_upload_bytes: int) -> None:
        self.app = app
        self.store = store  # a LocalArtifactStore (write_small, read_small)
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            rest = _file_path(scope["path"])
            if rest:
                method = scope["method"]
                if method == "PUT":
                    if await self._put(scope, receive, send, rest):
                        return
                elif method in ("GET", "HEAD") and await self._get(scope, send, rest):
                    return
        await self.app(scope, receive, send)

    async def _put(self, scope: Scope, receive: Receive, send: Send, rest: str) -> bool:
        """Answer a small upload; False (nothing read) when the streaming route should."""
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                return False
        if length is None or not length.isdigit():
            return False
        size = int(length)
        if size > FAST_BYTES or (self.max_upload_bytes and size > self.max_upload_bytes):
            return False
        try:
            rel = safe_relative_path(rest, allow_empty=False)
        except ModelyardError as exc:
            await render_error(exc)(scope, receive, send)
            return True
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # The client went away mid-upload; the old file stays. Nobody reads this answer.
                await error_response("BAD_REQUEST", CUT_OFF_MESSAGE, 400)(scope, receive, send)
                return True
            body = message.get("body", b"")
            if body:
                parts.append(body)
            if not message.get("more_body", False):
                break
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        try:
            self.store.write_small(rel, data)
        except ModelyardError as exc:
            await render_error(exc)(scope, receive, send)
            return True
        await send({"type": "http.response.start", "status": 200, "headers": list(_OK_HEADERS)})
        await send({"type": "http.response.body", "body": b"{}"})
        return True

    async def _get(self, scope: Scope, send: Send, rest: str) -> bool:
        """Answer a download of a small file; False when the streaming route should."""
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"range":
                return False
            if name == b"if-none-match" and if_none_match is None:  # the first, as Starlette's
                if_none_match = value.decode("latin-1")
        response: Response
        try:
            rel = safe_relative_path(rest)
            if not rel:
                return False  # the route's "name a file" answer
            found = self.store.read_small(rel, FAST_BYTES)
            if found is None:
                raise NotFound(f"Artifact '{rel}' does not exist.", path=rel)
            info, data = found
            if info.is_dir:
                raise InvalidInput(f"Artifact '{rel}' is a folder, not a file.", path=rel)
        except ModelyardError as exc:
            response = render_error(exc)
        else:
            if data is None:
                return False  # larger than FAST_BYTES: streamed by the route
            name = posixpath.basename(rel)
            headers = download_headers(info, name)
            if _matches(if_none_match, info.etag):
                response = Response(status_code=304, headers=headers)
            else:
                headers["Content-Length"] = str(len(data))
                body = data if scope["method"] == "GET" else None
                response = Response(body, headers=headers, media_type=_media_type(name))
        await response(scope, _no_receive, send)
        return True


def _file_path(path: str) -> str:
    """The ``<path>`` of a proxy file URL (as the routes' ``{path:path}`` matches it), else ""."""
    for prefix in _FILE_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            # "\n" is not matched by the routes' patterns: the router's 404 answers it.
            return "" if "\n" in rest else rest
    return ""


async def _no_receive() -> Message:  # pragma: no cover - a plain Response never receives
    return {"type": "http.disconnect"}


def install_artifact_fast_path(app: Any, settings: Any) -> bool:
    """Put :class:`ArtifactFastPath` in front of ``app``'s routes when it applies (a local-disk
    proxy destination, no ``--auth``); call it before ``install_security`` so that the security
    middleware stays outermost. Returns whether it was installed."""
    service = getattr(app.state, "artifacts", None)
    store = getattr(service, "proxy", None)
    if settings.auth or store is None or not hasattr(store, "write_small"):
        return False
    app.add_middleware(
        ArtifactFastPath, store=store, max_upload_bytes=int(settings.max_upload_bytes or 0)
    )
    return True


__all__ = ["FAST_BYTES", "ArtifactFastPath", "install_artifact_fast_path"]
