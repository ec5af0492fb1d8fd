"""Artifact routes: the proxy of reference §1.7, the tracking API's ``artifacts/list`` and the UI downloads.

These are raw Starlette routes (bodies are files, not JSON RPCs) that fail through the same error
renderer as the RPCs. Every path a request carries passes
:func:`~modelyard.store.artifacts.paths.safe_relative_path` (repeated URL-decoding; no ``..``,
absolute paths, backslashes, drive letters, ``#``, ``?`` or control characters) before a store sees it.

* ``PUT .../artifacts/<path>``: the request body is streamed into ``store.write`` from a worker thread,
  1 MiB at a time, never read whole into memory;
* ``GET .../artifacts/<path>``: streamed back, with ``Range`` (206 and ``Content-Range``; 416 when
  unsatisfiable), ``ETag`` and ``If-None-Match`` (304); a folder is 400;
* downloads carry ``Content-Disposition: attachment`` and ``X-Content-Type-Options: nosniff``.

Small files of a local-disk destination (up to 64 KiB, without ``Range``) are answered before these
routes by :mod:`modelyard.server.routes.artifacts_fast`, with the same answers.
"""

from __future__ import annotations

import functools
import mimetypes
import posixpath
import re
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.server.errors import (
    RequestTooLarge,
    error_response,
    render_error,
    too_large_message,
)
from modelyard.server.responses import OrjsonResponse
from modelyard.server.rpc import read_json_body
from modelyard.service.artifacts import ArtifactService
from modelyard.service.tracking import TrackingService
from modelyard.store.artifacts import ArtifactStore, CompletedPart, ObjectStat
from modelyard.store.artifacts.paths import safe_relative_path

PROXY_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
TRACKING_LIST_PATHS = ("/api/2.0/mlflow/artifacts/list", "/ajax-api/2.0/mlflow/artifacts/list")
#: MLflow's client falls back to a plain upload when the message starts with this (a wire fact).
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
PRESIGNED_UNSUPPORTED = (
    "Presigned downloads are not supported by this server's artifact destination"
)
UPLOAD_BLOCK = 1 << 20
#: Blocks of a request body read ahead of the store's writing (bounds an upload's memory).
UPLOAD_READ_AHEAD = 4
#: Largest upload written on the event loop, for stores on a local disk (``local_disk``).
INLINE_WRITE_BYTES = 64 << 10
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
#: Types a browser could run or render as a page are sent as plain text (they download anyway).
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
    }
)


# ------------------------------------------------------------------------------ dependencies
def _artifacts(request: Request) -> ArtifactService:
    service: ArtifactService = request.app.state.artifacts
    return service


def _tracking(request: Request) -> TrackingService:
    service: TrackingService = request.app.state.tracking
    return service


def _path_param(request: Request, *, allow_root: bool = True) -> str:
    return safe_relative_path(request.path_params.get("path", ""), allow_empty=allow_root)


def _query(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[-1] if values else None


# ------------------------------------------------------------------------------ proxy
async def proxy_list(request: Request) -> Response:
    """``GET artifacts?path=``: the children of a folder, by basename (as MLflow's proxy answers)."""
    store = _artifacts(request).require_proxy()
    path = safe_relative_path(_query(request, "path"))
    entries = await run_in_threadpool(store.list, path)
    files = [_file_json(posixpath.basename(e.path), e.is_dir, e.file_size) for e in entries]
    return OrjsonResponse({"files": files} if files else {})


async def proxy_download(request: Request) -> Response:
    store = _artifacts(request).require_proxy()
    path = _path_param(request)
    return await send_artifact(request, store, path, path)


async def proxy_upload(request: Request) -> Response:
    store = _artifacts(request).require_proxy()
    path = _path_param(request, allow_root=False)
    try:
        await write_streamed(store, path, request)
    except ClientDisconnect:
        # The client went away mid-upload; the store kept the old file. Nobody reads this answer.
        return error_response("BAD_REQUEST", "The upload was cut off before its end.", 400)
    return OrjsonResponse({})


async def proxy_delete(request: Request) -> Response:
    store = _artifacts(request).require_proxy()
    path = _path_param(request)
    if not path:
        raise InvalidInput(
            "Invalid path: the whole artifact destination cannot be deleted at once."
        )
    await run_in_threadpool(store.delete, path)
    return OrjsonResponse({})


async def _mpu_target(request: Request) -> tuple[ArtifactStore, str, dict[str, Any]]:
    """(store, file path, body) of an ``mpu/*`` request: the URL names the folder, the body the file."""
    store = _artifacts(request).require_proxy()
    folder = _path_param(request)
    body = await read_json_body(request)
    name = body.get("path")
    if not isinstance(name, str) or not name:
        raise InvalidInput("Missing value for required parameter 'path'.")
    # MLflow's client sends its local file path here; only the file name counts.
    name = posixpath.basename(name.replace("\\", "/"))
    name = safe_relative_path(name, what="path", allow_empty=False)
    return store, posixpath.join(folder, name) if folder else name, body


def _upload_id(body: dict[str, Any]) -> str:
    upload_id = body.get("upload_id")
    if not isinstance(upload_id, str) or not upload_id:
        raise InvalidInput("Missing value for required parameter 'upload_id'.")
    return upload_id


async def _multipart(call: Callable[[], Any]) -> Any:
    try:
        return await run_in_threadpool(call)
    except NotImplementedError:
        raise ModelyardError(
            f"{MULTIPART_UNSUPPORTED}: the destination does not take multipart uploads; "
            "upload the file with one PUT.",
            error_code="NOT_IMPLEMENTED",
        ) from None


async def mpu_create(request: Request) -> Response:
    store, path, body = await _mpu_target(request)
    num_parts = body.get("num_parts", 1)
    if isinstance(num_parts, str) and num_parts.isdigit():
        num_parts = int(num_parts)
    if isinstance(num_parts, bool) or not isinstance(num_parts, int):
        raise InvalidInput(f"Invalid value {num_parts!r} for parameter 'num_parts' supplied.")
    upload = await _multipart(lambda: store.create_multipart_upload(path, num_parts))
    return OrjsonResponse(
        {
            "upload_id": upload.upload_id,
            "credentials": [
                {"url": p.url, "part_number": p.part_number, "headers": p.headers}
                for p in upload.parts
            ],
        }
    )


async def mpu_complete(request: Request) -> Response:
    store, path, body = await _mpu_target(request)
    upload_id = _upload_id(body)
    raw_parts = body.get("parts")
    if not isinstance(raw_parts, list) or not raw_parts:
        raise InvalidInput("Missing value for required parameter 'parts'.")
    parts = []
    for i, part in enumerate(raw_parts):
        number = part.get("part_number") if isinstance(part, dict) else None
        etag = part.get("etag") if isinstance(part, dict) else None
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or not isinstance(etag, str):
            raise InvalidInput(f"Invalid value for parameter 'parts[{i}]' supplied.")
        url = part.get("url")
        parts.append(CompletedPart(number, etag, url if isinstance(url, str) else None))
    await _multipart(lambda: store.complete_multipart_upload(path, upload_id, parts))
    return OrjsonResponse({})


async def mpu_abort(request: Request) -> Response:
    store, path, body = await _mpu_target(request)
    upload_id = _upload_id(body)
    await _multipart(lambda: store.abort_multipart_upload(path, upload_id))
    return OrjsonResponse({})


async def presigned(request: Request) -> Response:
    store = _artifacts(request).require_proxy()
    path = _path_param(request, allow_root=False)
    presign = getattr(store, "presigned_download", None)
    if presign is None:
        raise ModelyardError(PRESIGNED_UNSUPPORTED + ".", error_code="NOT_IMPLEMENTED")
    answer = await run_in_threadpool(presign, path)
    return OrjsonResponse(
        {"url": answer.url, "headers": answer.headers, "file_size": answer.file_size}
    )


# ------------------------------------------------------------------------------ tracking API and UI
async def _run_location(request: Request) -> tuple[str, str]:
    """(run id, artifact_uri) of the run named by the ``run_id`` (or ``run_uuid``) query parameter."""
    run_id = _query(request, "run_id") or _query(request, "run_uuid")
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.")
    run = await run_in_threadpool(_tracking(request).get_run, run_id)
    return run_id, run.info.artifact_uri


async def list_run_artifacts(request: Request) -> Response:
    """``GET artifacts/list?run_id=&path=``: run-relative paths, with the run's ``root_uri``."""
    rel = safe_relative_path(_query(request, "path"))
    _run_id, artifact_uri = await _run_location(request)
    store, base = _artifacts(request).resolve(artifact_uri, rel)
    entries = await run_in_threadpool(store.list, base)
    files = [
        _file_json(
            posixpath.join(rel, posixpath.basename(e.path)) if rel else posixpath.basename(e.path),
            e.is_dir,
            e.file_size,
        )
        for e in entries
    ]
    out: dict[str, Any] = {"root_uri": artifact_uri}
    if files:
        out["files"] = files
    return OrjsonResponse(out)


def _json_errors(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Errors of a download route outside ``/api`` leave as JSON too (they are data, not pages)."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ModelyardError as exc:
            return render_error(exc)

    return wrapped


@_json_errors
async def get_artifact(request: Request) -> Response:
    """``GET /get-artifact?run_id=&path=``: one file of a run, as an attachment (the UI's download)."""
    path = _query(request, "path")
    if not path:
        raise InvalidInput("Missing value for required parameter 'path'.")
    rel = safe_relative_path(path, allow_empty=False)
    _run_id, artifact_uri = await _run_location(request)
    store, full = _artifacts(request).resolve(artifact_uri, rel)
    return await send_artifact(request, store, full, rel)


@_json_errors
async def model_version_artifact(request: Request) -> Response:
    """``GET /model-versions/get-artifact?name=&version=&path=``: one file of a model version, from
    where the registry says the version's files are (its storage location or source)."""
    path = _query(request, "path")
    if not path:
        raise InvalidInput("Missing value for required parameter 'path'.")
    rel = safe_relative_path(path, allow_empty=False)
    name, version = _query(request, "name"), _query(request, "version")
    for field, value in (("name", name), ("version", version)):
        if not value:
            raise InvalidInput(f"Missing value for required parameter '{field}'.")
    registry = request.app.state.registry
    location = await run_in_threadpool(registry.get_model_version_download_uri, name, version)
    store, full = _artifacts(request).resolve(location, rel)
    return await send_artifact(request, store, full, rel)


# ------------------------------------------------------------------------------ sending and receiving
async def send_artifact(request: Request, store: ArtifactStore, path: str, shown: str) -> Response:
    """Stream the file at ``path`` of ``store`` (``shown`` is the name the client knows it by)."""
    if not path:
        raise InvalidInput("Invalid path: a folder cannot be downloaded, name a file.")
    info = await run_in_threadpool(store.stat, path)
    if info is None:
        raise NotFound(f"Artifact '{shown}' does not exist.", path=shown)
    if info.is_dir:
        raise InvalidInput(f"Artifact '{shown}' is a folder, not a file.", path=shown)
    name = posixpath.basename(shown)
    headers = download_headers(info, name)
    if _matches(request.headers.get("if-none-match"), info.etag):
        return Response(status_code=304, headers=headers)
    media_type = _media_type(name)
    try:
        byte_range = _requested_range(request, info.etag, info.size)
    except _Unsatisfiable as exc:
        response = error_response(exc.error_code, exc.message, 416)
        response.headers["Content-Range"] = f"bytes */{exc.size}"
        return response
    status = 200
    start = end = None
    length = info.size
    if byte_range is not None:
        start, end = byte_range
        length = end - start + 1
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    if length == 0:
        return Response(b"", status_code=status, headers=headers, media_type=media_type)
    chunks = await run_in_threadpool(store.read, path, start, end)
    return StreamingResponse(chunks, status_code=status, headers=headers, media_type=media_type)


def download_headers(info: ObjectStat, name: str) -> dict[str, str]:
    """The headers of every download of the file ``name`` (before its length and type)."""
    return {
        "ETag": info.etag,
        "Last-Modified": formatdate(info.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Disposition": _attachment(name),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }


def _requested_range(request: Request, etag: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks for, None for the whole file.

    Multiple ranges and unknown units are answered with the whole file (allowed by RFC 9110); an
    unsatisfiable range raises :class:`_Unsatisfiable` (416).
    """
    header = request.headers.get("range")
    if not header:
        return None
    if_range = request.headers.get("if-range")
    if if_range and if_range.strip() != etag:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise _Unsatisfiable(size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if start >= size or (last and int(last) < start):
        raise _Unsatisfiable(size)
    return start, end


class _Unsatisfiable(InvalidInput):
    def __init__(self, size: int) -> None:
        super().__init__(f"Invalid byte range: the file has {size} bytes.")
        self.size = size


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag.removeprefix("W/") in wanted


def _media_type(name: str) -> str:
    guessed, encoding = mimetypes.guess_type(name)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    if guessed in _ACTIVE_TYPES:
        return "text/plain; charset=utf-8"
    return guessed


def _attachment(name: str) -> str:
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _file_json(path: str, is_dir: bool, file_size: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path, "is_dir": is_dir}
    if not is_dir and file_size is not None:
        entry["file_size"] = file_size
    return entry


async def write_streamed(store: ArtifactStore, path: str, request: Request) -> int:
    """Stream the request body into ``store.write(path, ...)``, reading ahead while the store writes.

    A task on the event loop reads the body into blocks of about 1 MiB and queues at most
    ``UPLOAD_READ_AHEAD`` of them; a worker thread hands them to the (synchronous) store. Memory stays
    bounded by the queue. A failure of the body (the client went away) is raised inside the store's
    ``write``, so the store discards the partial file; a failure of the store stops the reading.
    """
    settings = getattr(request.app.state, "settings", None)
    limit = getattr(settings, "max_upload_bytes", 0) or 1 << 62  # the max_upload_bytes setting
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= min(UPLOAD_BLOCK, limit):
        # A small file (most artifacts): one read and one hop to the thread pool, without the
        # read-ahead queue, whose task group and per-block thread hand-overs cost more than the write.
        body = await request.body()
        chunks = [body] if body else []
        if len(body) <= INLINE_WRITE_BYTES and getattr(store, "local_disk", False):
            return store.write(path, chunks)  # a few syscalls: cheaper than the thread hop
        return await run_in_threadpool(store.write, path, chunks)
    send, receive = anyio.create_memory_object_stream[bytes](UPLOAD_READ_AHEAD)
    failure: list[BaseException] = []

    async def pump() -> None:
        async with send:
            try:
                parts: list[bytes] = []
                size = total = 0
                async for chunk in request.stream():
                    if not chunk:
                        continue
                    total += len(chunk)
                    if total > limit:  # a body without Content-Length (the middleware checks those)
                        raise RequestTooLarge(too_large_message(limit))
                    parts.append(chunk)
                    size += len(chunk)
                    if size >= UPLOAD_BLOCK:
                        await send.send(b"".join(parts))
                        parts, size = [], 0
                if parts:
                    await send.send(b"".join(parts))
            except anyio.BrokenResourceError:
                pass  # the store stopped reading: its own error is the one raised
            except Exception as exc:  # the body broke off: make the store's write fail
                failure.append(exc)

    def blocks() -> Iterator[bytes]:
        while True:
            try:
                block = anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                if failure:
                    raise failure[0] from None
                return
            yield block

    def write() -> int:
        with receive:
            return store.write(path, blocks())

    written = 0
    error: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(pump)
        try:
            written = await run_in_threadpool(write)
        except Exception as exc:  # raised below, outside the group (which would wrap it)
            error = exc
        group.cancel_scope.cancel()
    if error is not None:
        raise error
    return written


# ------------------------------------------------------------------------------ the route table
def artifact_routes() -> list[BaseRoute]:
    """Every artifact route, under both proxy prefixes; served by ``create_app``."""
    routes: list[BaseRoute] = []
    for prefix in PROXY_PREFIXES:
        routes += [
            Route(f"{prefix}/artifacts", proxy_list, methods=["GET"]),
            Route(f"{prefix}/artifacts/{{path:path}}", proxy_download, methods=["GET", "HEAD"]),
            Route(f"{prefix}/artifacts/{{path:path}}", proxy_upload, methods=["PUT"]),
            Route(f"{prefix}/artifacts/{{path:path}}", proxy_delete, methods=["DELETE"]),
            Route(f"{prefix}/mpu/create/{{path:path}}", mpu_create, methods=["POST"]),
            Route(f"{prefix}/mpu/complete/{{path:path}}", mpu_complete, methods=["POST"]),
            Route(f"{prefix}/mpu/abort/{{path:path}}", mpu_abort, methods=["POST"]),
            Route(f"{prefix}/presigned/{{path:path}}", presigned, methods=["GET"]),
        ]
    return routes


def tracking_artifact_routes() -> list[BaseRoute]:
    """The tracking API's listing and the UI's download routes (they need the tracking store)."""
    routes: list[BaseRoute] = [
        Route(path, list_run_artifacts, methods=["GET"]) for path in TRACKING_LIST_PATHS
    ]
    routes.append(Route("/get-artifact", get_artifact, methods=["GET", "HEAD"]))
    routes.append(
        Route("/model-versions/get-artifact", model_version_artifact, methods=["GET", "HEAD"])
    )
    return routes


ARTIFACTS_ONLY_MESSAGE = (
    "This server only serves artifacts (it was started with --artifacts-only); tracking "
    "endpoints are not available here."
)
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


async def artifacts_only(request: Request) -> Response:
    return error_response("TEMPORARILY_UNAVAILABLE", ARTIFACTS_ONLY_MESSAGE, 503)


def artifacts_only_routes() -> list[BaseRoute]:
    """What an artifacts-only server answers outside the proxy: 503 for every tracking endpoint."""
    return [
        Route(path, artifacts_only, methods=_ALL_METHODS)
        for path in (
            "/api/{rest:path}",
            "/ajax-api/{rest:path}",
            "/get-artifact",
            "/model-versions/get-artifact",
            "/graphql",
        )
    ]


__all__ = [
    "ARTIFACTS_ONLY_MESSAGE",
    "MULTIPART_UNSUPPORTED",
    "PROXY_PREFIXES",
    "artifact_routes",
    "artifacts_only_routes",
    "send_artifact",
    "tracking_artifact_routes",
]
