"""Artifacts behind a server's artifact proxy (``/api/2.0/mlflow-artifacts/...``, reference §1.7).

``HttpArtifactStore("http://host:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts")`` works
against a modelyard server or an MLflow one. The client's ``mlflow-artifacts:/x`` URIs map to it.

* Uploads are one streamed ``PUT`` (chunked, or with ``Content-Length`` for a local file); downloads are
  a streamed ``GET``, with a ``Range`` header for byte ranges; nothing is held whole in memory.
* Multipart uploads use the proxy's ``mpu/create|complete|abort`` routes (the destination hands out
  presigned part URLs; a local destination answers 501, raised here as ``NotImplementedError``).
* Refused or dropped connections and 429/502/503/504 answers are retried with exponential backoff
  (``Retry-After`` honoured), as long as the request can be sent again: an upload from a generator is
  retried only while none of it has been sent. A download whose body breaks off resumes from the
  first byte it has not handed out (``Range`` with ``If-Range`` on the first answer's ``ETag``, so a
  file replaced meanwhile is refused rather than spliced), up to ``max_retries`` times.
* Every HTTP failure becomes a modelyard error here (error JSON keeps its ``error_code``); no httpx
  exception reaches the caller. httpx is imported when the first store is made.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, unquote, urlparse

from modelyard.errors import (
    BadRequest,
    Conflict,
    EndpointNotFound,
    InvalidInput,
    ModelyardError,
    NotFound,
    PermissionDenied,
    TemporarilyUnavailable,
    Unauthenticated,
    from_error_code,
)
from modelyard.store.artifacts.base import (
    CHUNK_SIZE,
    CompletedPart,
    FileInfo,
    MultipartUpload,
    ObjectStat,
    PartUpload,
)
from modelyard.store.artifacts.paths import safe_relative_path

if TYPE_CHECKING:
    import httpx

#: The part of an artifact URI that names the proxy's file routes.
ARTIFACTS_ROUTE = "/mlflow-artifacts/artifacts"
DEFAULT_API_ROOT = "/api/2.0"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_TIMEOUT_S = 120.0
_MAX_RETRY_AFTER_S = 60.0
_FOLDER_ETAG = '"folder"'
_STATUS_ERRORS: dict[int, type[ModelyardError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    416: InvalidInput,
    503: TemporarilyUnavailable,
}


def parse_http_artifact_uri(uri: str) -> tuple[str, str]:
    """(API root such as ``http://host:5000/api/2.0``, root prefix) of an HTTP artifact URI.

    A server address without a path (``http://host:5000``) means its default proxy root.
    """
    if not isinstance(uri, str):
        raise InvalidInput("Invalid HTTP artifact URI: a string is required.")
    parsed = urlparse(uri)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(
            f"Invalid HTTP artifact URI '{uri}': expected "
            "http(s)://host[:port]/api/2.0/mlflow-artifacts/artifacts[/prefix]."
        )
    if parsed.query or parsed.fragment:
        raise InvalidInput(
            f"Invalid HTTP artifact URI '{uri}': a query or fragment is not allowed."
        )
    origin = f"{parsed.scheme.lower()}://{parsed.netloc}"
    path = parsed.path
    if ARTIFACTS_ROUTE in path:
        api_path, _, tail = path.partition(ARTIFACTS_ROUTE)
        if tail and not tail.startswith("/"):
            raise InvalidInput(f"Invalid HTTP artifact URI '{uri}': no proxy route in it.")
    elif path.strip("/") == "":
        api_path, tail = DEFAULT_API_ROOT, ""
    else:
        raise InvalidInput(
            f"Invalid HTTP artifact URI '{uri}': the path must contain '{ARTIFACTS_ROUTE}'."
        )
    prefix = safe_relative_path(unquote(tail.strip("/")), what="HTTP artifact root")
    return origin + api_path.rstrip("/"), prefix


def _credential_headers() -> dict[str, str]:
    """Basic auth or a bearer token from the tracking settings, as the tracking client sends them."""
    import base64

    from modelyard.settings import load_settings

    settings = load_settings()
    if settings.tracking_username:
        raw = f"{settings.tracking_username}:{settings.tracking_password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    if settings.tracking_token:
        return {"Authorization": f"Bearer {settings.tracking_token}"}
    return {}


class HttpArtifactStore:
    """An :class:`~modelyard.store.artifacts.base.ArtifactStore` over a server's artifact proxy.

    ``headers`` are sent with every request (credentials, say); when None, the tracking credentials of
    the settings (``MODELYARD_TRACKING_USERNAME``/``PASSWORD`` or ``TOKEN``) are used. ``timeout`` is
    the longest wait, in seconds, for one network operation. ``max_retries`` and ``backoff_s`` default
    to the settings ``http_max_retries`` and ``http_backoff_s``. ``transport`` is an httpx transport
    to use instead of the network (tests run the store against the app in-process).
    """

    def __init__(
        self,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int | None = None,
        backoff_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.root_uri = uri
        self.api_root, self.prefix = parse_http_artifact_uri(uri)
        if max_retries is None or backoff_s is None:
            from modelyard.settings import load_settings

            settings = load_settings()
            max_retries = settings.http_max_retries if max_retries is None else max_retries
            backoff_s = settings.http_backoff_s if backoff_s is None else backoff_s
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = max(0.0, float(backoff_s))
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx is a core dependency
            raise InvalidInput("The HTTP artifact store needs httpx: pip install httpx") from None
        import modelyard

        sent = {"User-Agent": f"modelyard/{modelyard.__version__}"}
        sent.update(_credential_headers() if headers is None else headers)
        self._http = httpx.Client(
            headers=sent,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"HttpArtifactStore({self.root_uri!r})"

    def close(self) -> None:
        """Close the pooled connections (also done when the store is garbage-collected)."""
        http = getattr(self, "_http", None)
        if http is not None:
            http.close()

    def __enter__(self) -> HttpArtifactStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- URLs ----------------------------------------------------------------------------------

    def _rel(self, path: str | None, *, allow_root: bool = True) -> tuple[str, str]:
        """(root-relative path, path below the proxy root) of ``path``."""
        rel = safe_relative_path(path, allow_empty=allow_root)
        full = "/".join(p for p in (self.prefix, rel) if p)
        return rel, full

    def _url(self, route: str, full: str) -> str:
        return f"{self.api_root}/mlflow-artifacts/{route}/{quote(full, safe='/')}"

    # -- transport -----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        rel: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: Callable[[], Any] | None = None,
        stream: bool = False,
        replayable: Callable[[], bool] = lambda: True,
        not_implemented: bool = False,
    ) -> httpx.Response:
        """Send one request with retries; an error answer is raised as a modelyard error.

        ``content`` makes a fresh body for each attempt; ``replayable()`` says whether a failed attempt
        may be sent again (false once a one-shot body has been partly read).
        """
        import httpx

        attempt = 0
        while True:
            request = self._http.build_request(
                method,
                url,
                params=params,
                json=json,
                headers=headers,
                content=content() if content is not None else None,
            )
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries or not replayable():
                    raise TemporarilyUnavailable(
                        f"Could not reach the artifact server for '{rel}' ({method}, {attempt + 1} "
                        f"attempt(s)): {type(exc).__name__}.",
                        path=rel,
                    ) from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            status = response.status_code
            if status < 400 or status == 304:
                if not stream:
                    self._read_body(response, rel)
                return response
            with contextlib.closing(response):
                self._read_body(response, rel)
            if status in RETRY_STATUSES and attempt < self.max_retries and replayable():
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            if status == 501 and not_implemented:
                raise NotImplementedError(_error_message(response) or "Not implemented.")
            raise _error(response, method, rel)

    @staticmethod
    def _read_body(response: httpx.Response, rel: str) -> None:
        import httpx

        try:
            response.read()
        except httpx.HTTPError as exc:
            raise TemporarilyUnavailable(
                f"The artifact server's answer for '{rel}' broke off: {type(exc).__name__}.",
                path=rel,
            ) from None
        finally:
            response.close()

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_s * (2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), _MAX_RETRY_AFTER_S))
        time.sleep(delay)

    # -- reading -------------------------------------------------------------------------------

    def read(self, path: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        rel, full = self._rel(path, allow_root=False)
        headers = {}
        first = 0
        if start is not None or end is not None:
            first = 0 if start is None else start
            if first < 0 or (end is not None and end < first):
                raise InvalidInput(f"Invalid byte range {start}-{end}.")
            headers["Range"] = f"bytes={first}-{'' if end is None else end}"
        url = self._url("artifacts", full)
        response = self._send("GET", url, rel=rel, headers=headers, stream=True)
        skip, limit = 0, None
        if headers and response.status_code == 200:  # the server ignored the range: cut it here
            skip = first
            limit = None if end is None else end - first + 1
        etag = response.headers.get("ETag")

        def resume(offset: int) -> tuple[httpx.Response, int]:
            """The rest of the file from ``offset``, and how many leading bytes to drop from it."""
            ask = {"Range": f"bytes={offset}-{'' if end is None else end}"}
            if etag:
                ask["If-Range"] = etag  # a file replaced meanwhile comes back whole, and is refused
            again = self._send("GET", url, rel=rel, headers=ask, stream=True)
            if again.status_code == 206:
                return again, 0
            if etag and again.headers.get("ETag") == etag:
                return again, offset  # the same file, but the server ignores ranges
            again.close()
            raise TemporarilyUnavailable(
                f"The download of '{rel}' broke off and '{rel}' changed before it could resume.",
                path=rel,
            )

        return _ResponseChunks(response, rel, skip, limit, resume, first, self.max_retries)

    def stat(self, path: str) -> ObjectStat | None:
        rel, full = self._rel(path)
        try:
            response = self._send("HEAD", self._url("artifacts", full), rel=rel)
        except NotFound:
            return None
        except (BadRequest, InvalidInput):
            # A folder cannot be downloaded: the proxy answers 400 (the path itself was checked here).
            return ObjectStat(size=0, etag=_FOLDER_ETAG, last_modified=0.0, is_dir=True)
        size = int(response.headers.get("Content-Length", "0"))
        etag = response.headers.get("ETag") or f'"{size:x}"'
        modified = 0.0
        with contextlib.suppress(TypeError, ValueError, IndexError):
            modified = parsedate_to_datetime(response.headers["Last-Modified"]).timestamp()
        return ObjectStat(size=size, etag=etag, last_modified=modified)

    def list(self, path: str = "") -> list[FileInfo]:
        rel, full = self._rel(path)
        response = self._send(
            "GET", f"{self.api_root}{ARTIFACTS_ROUTE}", rel=rel, params={"path": full}
        )
        data = _json(response, rel)
        entries = []
        for item in data.get("files") or ():
            name = item.get("path") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name or "/" in name:
                continue
            try:
                if safe_relative_path(name) != name:
                    continue
            except InvalidInput:
                continue  # a server must not hand out names that escape the folder
            is_dir = bool(item.get("is_dir"))
            size = item.get("file_size")
            entries.append(
                FileInfo(
                    path=f"{rel}/{name}" if rel else name,
                    is_dir=is_dir,
                    file_size=None if is_dir or size is None else int(size),
                )
            )
        entries.sort(key=lambda info: info.path)
        return entries

    def download_file(self, path: str, local_path: str) -> None:
        chunks = self.read(path)
        folder = os.path.dirname(os.path.abspath(local_path))
        os.makedirs(folder, exist_ok=True)
        try:
            with open(local_path, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(local_path)
            raise

    # -- writing -------------------------------------------------------------------------------

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        rel, full = self._rel(path, allow_root=False)
        if isinstance(chunks, (bytes, bytearray, memoryview)):
            chunks = [bytes(chunks)]
        if isinstance(chunks, Sequence):
            sequence = chunks
            size = sum(len(c) for c in sequence)
            self._send(
                "PUT",
                self._url("artifacts", full),
                rel=rel,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                content=lambda: _Counted(iter(sequence)),
            )
            return size
        counted = _Counted(iter(chunks))
        self._send(
            "PUT",
            self._url("artifacts", full),
            rel=rel,
            headers={"Content-Type": "application/octet-stream"},
            content=lambda: counted,
            replayable=lambda: counted.pulled == 0,
        )
        return counted.size

    def upload_file(self, local_path: str, path: str) -> None:
        rel, full = self._rel(path, allow_root=False)
        try:
            source = open(local_path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound(f"Local file '{local_path}' does not exist.") from None
        except IsADirectoryError:
            raise InvalidInput(f"Local path '{local_path}' is a folder, not a file.") from None
        with source:
            size = os.fstat(source.fileno()).st_size

            def body() -> Iterator[bytes]:
                source.seek(0)
                return _file_chunks(source)

            self._send(
                "PUT",
                self._url("artifacts", full),
                rel=rel,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                content=body,
            )

    def delete(self, path: str) -> None:
        rel, full = self._rel(path)
        if not full:
            raise InvalidInput("Invalid path: the proxy's whole root cannot be deleted at once.")
        self._send("DELETE", self._url("artifacts", full), rel=rel)

    # -- multipart uploads through the proxy ---------------------------------------------------

    def _mpu(self, action: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        rel, full = self._rel(path, allow_root=False)
        folder, name = posixpath.split(full)
        response = self._send(
            "POST",
            self._url(f"mpu/{action}", folder),
            rel=rel,
            json={"path": name, **body},
            not_implemented=True,
        )
        return _json(response, rel)

    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload:
        data = self._mpu("create", path, {"num_parts": num_parts})
        parts = tuple(
            PartUpload(
                part_number=int(item["part_number"]),
                url=str(item["url"]),
                headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
            )
            for item in data.get("credentials") or ()
        )
        return MultipartUpload(upload_id=str(data.get("upload_id", "")), parts=parts)

    def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        self._mpu(
            "complete",
            path,
            {
                "upload_id": upload_id,
                "parts": [
                    {
                        "part_number": p.part_number,
                        "etag": p.etag,
                        **({"url": p.url} if p.url else {}),
                    }
                    for p in parts
                ],
            },
        )

    def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        self._mpu("abort", path, {"upload_id": upload_id})


def _file_chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_SIZE):
        yield chunk


class _Counted:
    """An iterator over upload chunks that counts what was handed to the transport."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.pulled = 0
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.pulled += 1
            if chunk:
                data = bytes(chunk) if not isinstance(chunk, bytes) else chunk
                self.size += len(data)
                yield data


class _ResponseChunks:
    """Iterator over a streamed response body in ``CHUNK_SIZE`` pieces; closes it when done.

    A body that breaks off is resumed (up to ``retries`` times) with ``resume(offset)``, which asks
    for the rest from the first byte not yet handed out (``offset``, counted from the file's start)
    and says how many leading bytes of its answer to drop.
    """

    def __init__(
        self,
        response: httpx.Response,
        rel: str,
        skip: int = 0,
        limit: int | None = None,
        resume: Callable[[int], tuple[httpx.Response, int]] | None = None,
        first: int = 0,
        retries: int = 0,
    ) -> None:
        self._response: httpx.Response | None = response
        self._chunks = response.iter_bytes(CHUNK_SIZE)
        self._rel = rel
        self._skip = skip
        self._left = limit
        self._resume = resume
        self._offset = first  # the file offset of the next byte handed out
        self._retries = retries

    def __iter__(self) -> _ResponseChunks:
        return self

    def __next__(self) -> bytes:
        import httpx

        while True:
            if self._response is None or self._left == 0:
                self.close()
                raise StopIteration
            try:
                chunk = next(self._chunks, None)
            except httpx.HTTPError as exc:
                self.close()
                if self._resume is None or self._retries <= 0:
                    raise TemporarilyUnavailable(
                        f"The download of '{self._rel}' broke off: {type(exc).__name__}.",
                        path=self._rel,
                    ) from None
                self._retries -= 1
                response, self._skip = self._resume(self._offset)
                self._response, self._chunks = response, response.iter_bytes(CHUNK_SIZE)
                continue
            except BaseException:
                self.close()
                raise
            if chunk is None:
                self.close()
                raise StopIteration
            if self._skip:
                cut = min(self._skip, len(chunk))
                chunk = chunk[cut:]
                self._skip -= cut
            if self._left is not None:
                chunk = chunk[: self._left]
                self._left -= len(chunk)
            if chunk:
                self._offset += len(chunk)
                return chunk

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def __del__(self) -> None:
        self.close()


def _json(response: httpx.Response, rel: str) -> dict[str, Any]:
    import orjson

    if not response.content:
        return {}
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ModelyardError(
            f"The artifact server answered for '{rel}' with a body that is not a JSON object "
            f"(status {response.status_code}). Is this a modelyard or MLflow server?",
            path=rel,
        )
    return data


def _error_message(response: httpx.Response) -> str | None:
    import orjson

    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return None


def _error(response: httpx.Response, method: str, rel: str) -> ModelyardError:
    """The modelyard error for an error answer: its JSON ``error_code``, else one for its status."""
    import orjson

    status = response.status_code
    data: Any = None
    with contextlib.suppress(orjson.JSONDecodeError):
        data = orjson.loads(response.content) if response.content else None
    if isinstance(data, dict) and isinstance(data.get("error_code"), str):
        message = data.get("message")
        error = from_error_code(data["error_code"], str(message) if message else f"HTTP {status}")
        if status == 416:
            return InvalidInput(error.message, path=rel)
        return error
    text = response.text.strip()[:200] if response.content else ""
    cls = _STATUS_ERRORS.get(status, EndpointNotFound if status == 405 else ModelyardError)
    detail = f": {text}" if text else "."
    return cls(
        f"The artifact server answered {method} '{rel}' with HTTP {status}{detail}", path=rel
    )


__all__ = ["ARTIFACTS_ROUTE", "HttpArtifactStore", "parse_http_artifact_uri"]
