"""MLflow-style RPC endpoints: one declarative record per endpoint, one fast request path for all.

An endpoint is a plain function ``handler(service, request_dict) -> response_dict`` registered with an
:class:`RpcTable`; :func:`add_rpc_routes` serves it under ``/api/<v>/mlflow/<path>`` and
``/ajax-api/<v>/mlflow/<path>`` (or only the latter for UI-only endpoints). Each table names the
dependency that hands its handlers their service (the tracking service unless it says otherwise).
The shared request path:

1. GET reads query pairs; POST/PUT/PATCH/DELETE read a JSON body (POST/PUT/PATCH must say
   ``Content-Type: application/json``); a body double-encoded as a JSON string is decoded twice;
   path parameters (``logged-models/{model_id}``) are added under their names and win over both;
2. the endpoint's :class:`~modelyard.schemas.fields.Message` turns it into a dict;
3. the handler runs in the thread pool (the store is synchronous) and its dict is written by orjson.

With ``--auth``, the app's :class:`~modelyard.server.auth.guard.Guard` admits the request before step 1
(401 without valid credentials) and runs the handler behind the endpoint's rule of
:mod:`modelyard.server.auth.policy` in step 3, on the request parsed in step 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import BadRequest, InvalidInput, ModelyardError
from modelyard.schemas.fields import Message
from modelyard.server.deps import get_tracking
from modelyard.server.errors import RequestTooLarge, internal_error, too_large_message
from modelyard.server.responses import OrjsonResponse

Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]
Dependency = Callable[..., Any]

_BODY_METHODS_NEEDING_JSON = frozenset({"POST", "PUT", "PATCH"})
CONTENT_TYPE_MESSAGE = "Content-Type must be one of ['application/json']"
#: Largest JSON body an endpoint reads when the app has no settings (the ``max_request_bytes``
#: setting's default: a dataset profile may be 16 MiB and its schema 1 MiB).
MAX_REQUEST_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Rpc:
    """One endpoint: where it answers, what it reads and the function that does the work."""

    path: str
    methods: tuple[str, ...]
    request: Message
    handler: Handler
    ajax_only: bool = False
    version: str = "2.0"
    dependency: Dependency = get_tracking

    def urls(self) -> list[str]:
        ajax = f"/ajax-api/{self.version}/mlflow/{self.path}"
        return [ajax] if self.ajax_only else [f"/api/{self.version}/mlflow/{self.path}", ajax]


class RpcTable:
    """Collects endpoints declared with ``@table("runs/get", "GET", request=GET_RUN)``.

    ``dependency`` is the FastAPI dependency whose value every handler of the table gets first.
    """

    def __init__(self, dependency: Dependency = get_tracking) -> None:
        self.rpcs: list[Rpc] = []
        self.dependency = dependency

    def __call__(
        self, path: str, *methods: str, request: Message, ajax_only: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.rpcs.append(
                Rpc(path, methods, request, handler, ajax_only, dependency=self.dependency)
            )
            return handler

        return register

    def __iter__(self) -> Iterator[Rpc]:
        return iter(self.rpcs)


# ------------------------------------------------------------------------------ request reading
async def read_json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, with MLflow's content-type and double-encoding rules."""
    if request.method in _BODY_METHODS_NEEDING_JSON:
        content_type = request.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "application/json":
            raise InvalidInput(CONTENT_TYPE_MESSAGE)
    body = await _read_limited(request)
    if not body.strip():
        return {}
    data = _loads(body)
    if type(data) is str:  # older clients send the JSON text as a JSON string
        data = _loads(data.encode())
    if type(data) is not dict:
        raise BadRequest("The request body must be a JSON object.")
    return data


async def _read_limited(request: Request) -> bytes:
    """The whole body, refused with 413 past the ``max_request_bytes`` setting (0: no limit)."""
    settings = getattr(request.app.state, "settings", None)
    limit = settings.max_request_bytes if settings is not None else MAX_REQUEST_BYTES
    limit = limit if limit > 0 else 1 << 62
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(too_large_message(limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(too_large_message(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # the standard library also reads the bare NaN / Infinity some clients write
        data = json.loads(raw)
        # ... and lone surrogates (``"\ud800"``), which orjson rightly refuses: no database, log
        # or JSON answer can hold them, so they are refused here, once, rather than failing later.
        orjson.dumps(data)
    except (ValueError, RecursionError, TypeError, orjson.JSONEncodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    return data


# ------------------------------------------------------------------------------ route building
def _endpoint(rpc: Rpc) -> Callable[..., Any]:
    message = rpc.request
    handler = rpc.handler
    service_dependency = Depends(rpc.dependency)

    async def endpoint(request: Request, service: Any = service_dependency) -> Response:
        # With --auth: 401 before any body is read; the handler then runs behind its rule.
        guard = getattr(request.app.state, "auth_guard", None)
        if guard is not None and (refused := await guard.admit(request, rpc)) is not None:
            return refused  # type: ignore[no-any-return]
        # Reading the body may raise the framework's own signals (a client disconnect): let them pass.
        body = None if request.method == "GET" else await read_json_body(request)
        path_params = request.path_params
        try:
            if body is None:
                pairs = request.query_params.multi_items()
                if path_params:
                    pairs = [(k, v) for k, v in pairs if k not in path_params]
                    pairs += list(path_params.items())
                req = message.parse_query(pairs)
            else:
                req = message.parse({**body, **path_params} if path_params else body)
            call = handler if guard is None else guard.authorize(request, rpc)
            result = await run_in_threadpool(call, service, req)
        except ModelyardError:
            raise
        except Exception as exc:
            raise internal_error(request, exc) from None
        return OrjsonResponse(result)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    endpoint.rpc = rpc  # type: ignore[attr-defined]  # the auth policy finds its rule by it
    return endpoint


def add_rpc_routes(app: FastAPI, rpcs: Iterable[Rpc]) -> None:
    """Serve each endpoint of ``rpcs`` at its URLs (see :meth:`Rpc.urls`)."""
    for rpc in rpcs:
        endpoint = _endpoint(rpc)
        for url in rpc.urls():
            app.add_api_route(
                url,
                endpoint,
                methods=list(rpc.methods),
                response_class=OrjsonResponse,
                include_in_schema=False,
                name=f"{rpc.handler.__name__}:{url}",
            )
