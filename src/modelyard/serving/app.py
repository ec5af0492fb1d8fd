"""The scoring app: :func:`create_scoring_app` builds the ASGI app that serves one model.

Routes (reference §4, plus ``/metadata`` and ``/metrics``):

=====================  =====================================================================
``GET /ping``          200 ``\\n`` once the model is loaded, 503 before (and if loading failed)
``GET /health``        the same
``GET /version``       the modelyard version
``GET /metadata``      the model's URI, registry version, flavors and signature
``GET /metrics``       Prometheus text exposition (:mod:`modelyard.serving.metrics`)
``POST /invocations``  ``{"predictions": ...}`` for any body of :mod:`modelyard.serving.payloads`
=====================  =====================================================================

It is a plain ASGI callable rather than a FastAPI app: a scoring request is small and frequent,
and a router, dependency injection and request models would cost more per request than decoding
the body and calling a linear model. Errors leave as ``{"error_code", "message"}``: 400 for
anything the caller got wrong (``INVALID_PARAMETER_VALUE`` when the signature refuses the input,
``BAD_REQUEST`` otherwise, including an exception raised by the model, as MLflow answers), 413 for
a body over the limit, 415 for a content type or charset it does not read, 504
``DEADLINE_EXCEEDED`` when predicting takes longer than the timeout, 503 before the model is loaded.
Tracebacks go to the log, never to the caller.

The model is loaded when the app starts (in a thread, so ``/ping`` answers 503 meanwhile), unless
the caller hands over one already loaded (the pre-fork parent loads it once for all its workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

import modelyard
from modelyard.errors import BadRequest, ModelyardError
from modelyard.serving import metrics as _metrics
from modelyard.serving.batching import MicroBatcher
from modelyard.serving.payloads import PayloadTooLarge, encode_predictions, parse_request
from modelyard.serving.predictor import ModelHolder, Predictor
from modelyard.serving.source import LoadedModel, ModelSource
from modelyard.serving.watch import Watcher

log = logging.getLogger("modelyard.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_BODY_BYTES = 64 << 20
_JSON_HEADERS = [(b"content-type", b"application/json")]
_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
_METRICS_HEADERS = [(b"content-type", _metrics.CONTENT_TYPE.encode())]
_GET_ROUTES = ("/ping", "/health", "/version", "/metadata", "/metrics")


class ScoringApp:
    """The ASGI app of :func:`create_scoring_app`; its attributes are for tests and the runner."""

    def __init__(
        self,
        source: ModelSource,
        *,
        model: LoadedModel | None,
        timeout_s: float,
        max_body_bytes: int,
        batch_max_size: int | None,
        batch_max_wait_ms: float,
        watch_interval_s: float | None,
        on_ready: Callable[[], None] | None,
        on_fatal: Callable[[str], None] | None,
    ) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.metrics = _metrics.ScoringMetrics()
        self.metrics.model_uri = source.uri
        self.holder = ModelHolder()
        self._preloaded = model
        self._batch_max_size = batch_max_size
        self._batch_max_wait_s = batch_max_wait_ms / 1000.0
        self._watch_interval_s = watch_interval_s
        self._on_ready = on_ready
        self._on_fatal = on_fatal
        self.predictor: Predictor | None = None
        self.batcher: MicroBatcher | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        if path == "/invocations":
            if method != "POST":
                await _error(send, 405, "BAD_REQUEST", "Use POST for /invocations.")
                self.metrics.request(path, 405)
                return
            await self._invocations(scope, receive, send)
            return
        if path not in _GET_ROUTES:
            await _error(send, 404, "ENDPOINT_NOT_FOUND", f"No route at {path}.")
            self.metrics.request("other", 404)
            return
        if method not in ("GET", "HEAD"):
            await _error(send, 405, "BAD_REQUEST", f"Use GET for {path}.")
            self.metrics.request(path, 405)
            return
        status, headers, body = self._get(path)
        await _respond(send, status, headers, body)
        self.metrics.request(path, status)

    def _get(self, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if path in ("/ping", "/health"):
            if self.holder.current is not None:
                return 200, _TEXT_HEADERS, b"\n"
            message = self.holder.error or "The model is still loading."
            return 503, _JSON_HEADERS, _error_body("TEMPORARILY_UNAVAILABLE", message)
        if path == "/version":
            return 200, _TEXT_HEADERS, modelyard.__version__.encode()
        if path == "/metrics":
            return 200, _METRICS_HEADERS, self.metrics.render()
        model = self.holder.current
        if model is None:
            message = self.holder.error or "The model is still loading."
            return 503, _JSON_HEADERS, _error_body("TEMPORARILY_UNAVAILABLE", message)
        return 200, _JSON_HEADERS, orjson.dumps(model.metadata())

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 200
        batcher = self.batcher
        if batcher is not None:
            batcher.arriving += 1
        arriving = batcher is not None
        try:
            model = self.holder.current
            if model is None or self.predictor is None:
                raise _NotReady(self.holder.error or "The model is still loading; try again soon.")
            content_type = None
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == b"content-length" and int(value or 0) > self.max_body_bytes:
                    raise PayloadTooLarge(_too_large(self.max_body_bytes))
            body = await _read_body(receive, self.max_body_bytes)
            item = parse_request(content_type, body, model.plan)
            if item.rows is not None:
                self.metrics.request_rows.observe(item.rows)
            if batcher is not None:
                batcher.arriving -= 1
                arriving = False
                call = batcher.submit(item)
            else:
                call = self.predictor.predict(item)
            try:
                predictions = await asyncio.wait_for(call, self.timeout_s)
            except TimeoutError:
                raise _Deadline(self.timeout_s) from None
            payload = encode_predictions(predictions)
        except ModelyardError as exc:
            status = exc.http_status
            payload = _error_body(exc.error_code, exc.message)
        except Exception as exc:  # the model raised: the caller's input, most likely
            status = 400
            log.warning("predict failed: %s", _describe(exc))
            log.debug("predict failed", exc_info=True)  # the traceback, for --log-level debug
            payload = _error_body("BAD_REQUEST", f"The model failed to predict: {_describe(exc)}")
        finally:
            if arriving and batcher is not None:
                batcher.arriving -= 1
        headers = _JSON_HEADERS
        await _respond(send, status, headers, payload)
        self.metrics.request("/invocations", status, time.perf_counter() - started)

    # ------------------------------------------------------------------ lifespan
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _startup(self) -> None:
        self.predictor = Predictor(self.holder, self.metrics)
        if self._batch_max_size and self._batch_max_size > 1:
            self.batcher = MicroBatcher(
                self.predictor, max_size=self._batch_max_size, max_wait_s=self._batch_max_wait_s
            )
        if self._preloaded is not None:
            self._serve(self._preloaded)
            self._preloaded = None
        else:
            self._tasks.append(asyncio.get_running_loop().create_task(self._load()))

    async def _load(self) -> None:
        try:
            model = await asyncio.to_thread(self.source.load)
        except Exception as exc:
            message = f"The model {self.source.uri} could not be loaded: {_describe(exc)}"
            self.holder.error = message
            log.error("%s", message, exc_info=not isinstance(exc, ModelyardError))
            if self._on_fatal is not None:
                self._on_fatal(message)
            return
        self._serve(model)

    def _serve(self, model: LoadedModel) -> None:
        self.holder.current = model
        self.metrics.model_version = model.version
        if self._watch_interval_s is not None and self.source.movable:
            watcher = Watcher(
                self.source,
                self.holder,
                self.metrics,
                interval_s=self._watch_interval_s,
                grace_s=self.timeout_s + 1.0,
            )
            self._tasks.append(asyncio.get_running_loop().create_task(watcher.run()))
        if self._on_ready is not None:
            self._on_ready()

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.predictor is not None:
            self.predictor.close()


class _NotReady(ModelyardError):
    error_code = "TEMPORARILY_UNAVAILABLE"


class _Deadline(ModelyardError):
    error_code = "DEADLINE_EXCEEDED"

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"Request processing time exceeded the limit of {timeout_s:g} s "
            "(--timeout of modelyard models serve)."
        )


def _too_large(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes (--max-body-size)."


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(_too_large(limit))
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _error_body(error_code: str, message: str) -> bytes:
    return orjson.dumps({"error_code": error_code, "message": message})


async def _error(send: Send, status: int, error_code: str, message: str) -> None:
    await _respond(send, status, _JSON_HEADERS, _error_body(error_code, message))


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    text = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def create_scoring_app(
    model_uri: str | ModelSource,
    *,
    model: LoadedModel | None = None,
    tracking_uri: str | None = None,
    allow_pickle: bool | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    batch_max_size: int | None = None,
    batch_max_wait_ms: float = 2.0,
    watch_interval_s: float | None = None,
    on_ready: Callable[[], None] | None = None,
    on_fatal: Callable[[str], None] | None = None,
) -> ScoringApp:
    """The ASGI scoring app for the model at ``model_uri`` (a path or any model URI).

    ``model`` is the model already loaded (else it loads when the app starts); ``batch_max_size``
    above 1 turns micro-batching on; ``watch_interval_s`` follows a moving registry URI
    (``--watch``). ``on_ready`` is called once the model serves, ``on_fatal`` if it cannot load.
    """
    source = (
        model_uri
        if isinstance(model_uri, ModelSource)
        else ModelSource(model_uri, tracking_uri=tracking_uri, allow_pickle=allow_pickle)
    )
    return ScoringApp(
        source,
        model=model,
        timeout_s=timeout_s,
        max_body_bytes=max_body_bytes,
        batch_max_size=batch_max_size,
        batch_max_wait_ms=batch_max_wait_ms,
        watch_interval_s=watch_interval_s,
        on_ready=on_ready,
        on_fatal=on_fatal,
    )


__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_TIMEOUT_S", "ScoringApp", "create_scoring_app"]
