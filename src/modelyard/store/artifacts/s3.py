"""Artifacts in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, ...) through boto3.

``S3ArtifactStore("s3://bucket/prefix")``. boto3 is imported when the store first talks to S3, so
opening a store (and importing this module) stays cheap and works without the ``s3`` extra until it
is used. Credentials come from boto3's usual chain (environment, shared files, profiles, instance
roles); the endpoint from the ``endpoint_url`` argument, else ``MODELYARD_S3_ENDPOINT_URL``, else
``MLFLOW_S3_ENDPOINT_URL``, else AWS.

Every botocore error is translated here into a modelyard error (:func:`_s3_errors`): a missing key
is :class:`NotFound`, missing credentials or an unreachable endpoint :class:`TemporarilyUnavailable`,
anything else a short :class:`ModelyardError` without the raw XML.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from modelyard.errors import InvalidInput, ModelyardError, NotFound, TemporarilyUnavailable
from modelyard.store.artifacts.base import (
    CHUNK_SIZE,
    CompletedPart,
    FileInfo,
    MultipartUpload,
    ObjectStat,
    PartUpload,
    PresignedDownload,
)
from modelyard.store.artifacts.paths import safe_relative_path

ENDPOINT_ENV_VARS = ("MODELYARD_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
MIB = 1 << 20
#: S3's limits: parts of 5 MiB at least (except the last), at most 10,000 parts, 1,000 keys a listing page
#: or a delete.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
MAX_PAGE_SIZE = 1000
#: Part size doubles every this many parts, so one streamed upload can reach S3's 5 TB object limit.
_PARTS_PER_SIZE = 1000
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$", re.IGNORECASE)
_FOLDER_ETAG = '"folder"'

_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_CREDENTIAL_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "403",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "503",
        "500",
        "Throttling",
    }
)
_BAD_REQUEST_CODES = frozenset(
    {"InvalidRange", "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "416"}
)


def parse_s3_uri(root_uri: str) -> tuple[str, str]:
    """(bucket, key prefix without slashes) of ``s3://bucket/prefix``; the prefix is checked like a path."""
    if not isinstance(root_uri, str):
        raise InvalidInput("Invalid S3 artifact root: a string is required.")
    parsed = urlparse(root_uri)
    if parsed.scheme.lower() != "s3" or not parsed.netloc:
        raise InvalidInput(f"Invalid S3 artifact root '{root_uri}': expected s3://bucket/prefix.")
    if parsed.query or parsed.fragment or "#" in root_uri:
        raise InvalidInput(
            f"Invalid S3 artifact root '{root_uri}': a query or fragment is not allowed."
        )
    bucket = parsed.netloc
    if not _BUCKET.match(bucket):
        raise InvalidInput(
            f"Invalid S3 artifact root '{root_uri}': '{bucket}' is not a bucket name."
        )
    prefix = safe_relative_path(parsed.path.lstrip("/"), what="S3 artifact root")
    return bucket, prefix


def _endpoint_from_env() -> str | None:
    for name in ENDPOINT_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class S3ArtifactStore:
    """An :class:`~modelyard.store.artifacts.base.ArtifactStore` over ``s3://bucket/prefix``.

    ``part_size`` is the size of each part of a streamed upload and ``multipart_threshold`` the size
    above which :meth:`write` switches from one ``PutObject`` to a multipart upload; neither is ever
    held in memory more than once. ``presign_expires`` is how long multipart part URLs stay valid.
    ``page_size`` is how many keys one listing (or one batch delete) asks for, at most 1,000.
    ``client`` is an already configured boto3 S3 client to use instead of making one.
    """

    def __init__(
        self,
        root_uri: str,
        endpoint_url: str | None = None,
        *,
        region_name: str | None = None,
        addressing_style: str | None = None,
        part_size: int = 8 * MIB,
        multipart_threshold: int = 8 * MIB,
        presign_expires: int = 3600,
        page_size: int = MAX_PAGE_SIZE,
        client: Any = None,
    ) -> None:
        self.root_uri = root_uri
        self.bucket, self.prefix = parse_s3_uri(root_uri)
        self.endpoint_url = endpoint_url or _endpoint_from_env()
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise InvalidInput(
                f"The S3 part size must be from {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes."
            )
        self.part_size = part_size
        self.multipart_threshold = max(multipart_threshold, 0)
        self.presign_expires = presign_expires
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"The S3 page size must be from 1 to {MAX_PAGE_SIZE}.")
        self.page_size = page_size
        self._region_name = region_name
        self._addressing_style = addressing_style
        self._client = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.root_uri!r}, endpoint_url={self.endpoint_url!r})"

    # -- the boto3 client, made on first use ---------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        try:
            import boto3.session
            from botocore.config import Config
        except ImportError:
            raise InvalidInput(
                "The S3 artifact store needs boto3: pip install 'modelyard[s3]'",
                root_uri=self.root_uri,
            ) from None
        options: dict[str, Any] = {
            "signature_version": "s3v4",
            "retries": {"max_attempts": 3, "mode": "standard"},
        }
        if self._addressing_style:
            options["s3"] = {"addressing_style": self._addressing_style}
        if self.endpoint_url:
            # S3-compatible servers (MinIO, R2, ...) do not all accept the newer default checksums.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        try:
            config = Config(**options)
        except TypeError:  # botocore older than 1.36 knows no checksum options
            options.pop("request_checksum_calculation", None)
            options.pop("response_checksum_validation", None)
            config = Config(**options)
        # A session of our own: boto3's default session is not thread-safe.
        session = boto3.session.Session()
        with _s3_errors("", self.endpoint_url):
            return session.client(
                "s3", endpoint_url=self.endpoint_url, region_name=self._region_name, config=config
            )

    # -- keys ----------------------------------------------------------------------------------

    def _key(self, path: str | None, *, allow_root: bool = True) -> tuple[str, str]:
        """(relative path, object key) of ``path``; the key is the prefix itself for the root."""
        rel = safe_relative_path(path, allow_empty=allow_root)
        if not rel:
            return rel, self.prefix
        return rel, f"{self.prefix}/{rel}" if self.prefix else rel

    @staticmethod
    def _folder(key: str) -> str:
        return f"{key}/" if key else ""

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _has_children(self, key: str) -> bool:
        listing = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=self._folder(key), MaxKeys=1
        )
        return bool(
            listing.get("KeyCount") or listing.get("Contents") or listing.get("CommonPrefixes")
        )

    def _missing(self, rel: str, key: str) -> ModelyardError:
        """The error for a file that is absent: a folder is :class:`InvalidInput`, else :class:`NotFound`."""
        with _s3_errors(rel, self.endpoint_url):
            if self._has_children(key):
                return InvalidInput(f"Artifact '{rel}' is a folder, not a file.", path=rel)
        return NotFound(f"Artifact '{rel}' does not exist.", path=rel)

    # -- reading -------------------------------------------------------------------------------

    def read(self, path: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        rel, key = self._key(path, allow_root=False)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start is not None or end is not None:
            first = 0 if start is None else start
            if first < 0 or (end is not None and end < first):
                raise InvalidInput(f"Invalid byte range {start}-{end}.")
            params["Range"] = f"bytes={first}-{'' if end is None else end}"
        client = self.client  # outside the try: a missing boto3 is not a bad range
        try:
            with _s3_errors(rel, self.endpoint_url):
                response = client.get_object(**params)
        except NotFound:
            raise self._missing(rel, key) from None
        except InvalidInput:
            raise InvalidInput(
                f"Invalid byte range {start}-{end} for artifact '{rel}'.", path=rel
            ) from None
        return _BodyChunks(response["Body"], rel, self.endpoint_url)

    def stat(self, path: str) -> ObjectStat | None:
        rel, key = self._key(path)
        with _s3_errors(rel, self.endpoint_url):
            if rel:
                try:
                    with _s3_errors(rel, self.endpoint_url):
                        head = self.client.head_object(Bucket=self.bucket, Key=key)
                except NotFound:
                    pass
                else:
                    return ObjectStat(
                        size=int(head["ContentLength"]),
                        etag=head["ETag"],
                        last_modified=head["LastModified"].timestamp(),
                    )
            if self._has_children(key):
                return ObjectStat(size=0, etag=_FOLDER_ETAG, last_modified=0.0, is_dir=True)
        return None

    def list(self, path: str = "") -> list[FileInfo]:
        rel, key = self._key(path)
        folder = self._folder(key)
        entries: list[FileInfo] = []
        with _s3_errors(rel, self.endpoint_url):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=folder,
                Delimiter="/",
                PaginationConfig={"PageSize": self.page_size},
            )
            for page in pages:
                for common in page.get("CommonPrefixes", ()):
                    name = common["Prefix"][len(folder) :].rstrip("/")
                    if _listable(name):
                        entries.append(FileInfo(path=self._relative(folder + name), is_dir=True))
                for obj in page.get("Contents", ()):
                    name = obj["Key"][len(folder) :]
                    if _listable(name):  # also skips folder markers ("name/")
                        entries.append(
                            FileInfo(
                                path=self._relative(obj["Key"]),
                                is_dir=False,
                                file_size=int(obj["Size"]),
                            )
                        )
        entries.sort(key=lambda info: info.path)
        return entries

    def download_file(self, path: str, local_path: str) -> None:
        rel, key = self._key(path, allow_root=False)
        folder = os.path.dirname(os.path.abspath(local_path))
        os.makedirs(folder, exist_ok=True)
        try:
            with _s3_errors(rel, self.endpoint_url):
                self.client.download_file(self.bucket, key, local_path)
        except NotFound:
            raise self._missing(rel, key) from None

    # -- writing -------------------------------------------------------------------------------

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        rel, key = self._key(path, allow_root=False)
        pending = _Pending()
        rest = iter(chunks)
        for chunk in rest:
            pending.add(chunk)
            if pending.size > self.multipart_threshold:
                return self._write_multipart(rel, key, pending, rest)
        size = pending.size
        with _s3_errors(rel, self.endpoint_url):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=pending.take(size))
        return size

    def _part_size(self, parts_sent: int) -> int:
        return min(self.part_size << (parts_sent // _PARTS_PER_SIZE), MAX_PART_SIZE)

    def _write_multipart(self, rel: str, key: str, pending: _Pending, rest: Iterator[bytes]) -> int:
        """Send ``pending`` and then ``rest`` as the parts of one multipart upload; abort on any failure.

        At most one part is held in memory (plus the copy that joins its chunks).
        """
        client = self.client
        with _s3_errors(rel, self.endpoint_url):
            upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        parts: list[dict[str, Any]] = []
        written = 0
        try:
            with _s3_errors(rel, self.endpoint_url):
                while True:
                    size = self._part_size(len(parts))
                    while pending.size < size:
                        chunk = next(rest, None)
                        if chunk is None:
                            break
                        pending.add(chunk)
                    if not pending.size:
                        break
                    if len(parts) == MAX_PARTS:
                        raise InvalidInput(
                            f"Artifact '{rel}' is too large for one S3 upload.", path=rel
                        )
                    data = pending.take(min(size, pending.size))
                    written += len(data)
                    answer = client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=len(parts) + 1,
                        Body=data,
                    )
                    del data
                    parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
                client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return written

    def upload_file(self, local_path: str, path: str) -> None:
        rel, key = self._key(path, allow_root=False)
        if not os.path.exists(local_path):
            raise NotFound(f"Local file '{local_path}' does not exist.")
        if os.path.isdir(local_path):
            raise InvalidInput(f"Local path '{local_path}' is a folder, not a file.")
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self.multipart_threshold, multipart_chunksize=self.part_size
        )
        with _s3_errors(rel, self.endpoint_url):
            self.client.upload_file(local_path, self.bucket, key, Config=config)

    def delete(self, path: str) -> None:
        rel, key = self._key(path)
        with _s3_errors(rel, self.endpoint_url):
            if rel:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=self._folder(key),
                PaginationConfig={"PageSize": self.page_size},
            )
            for page in pages:  # a page holds at most 1,000 keys, as much as one delete takes
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", ())]
                if keys:
                    answer = self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    if answer.get("Errors"):
                        failed = answer["Errors"][0]
                        raise ModelyardError(
                            f"Could not delete artifact '{self._relative(failed.get('Key', key))}': "
                            f"{failed.get('Code', 'error')}.",
                            path=rel,
                        )

    # -- multipart uploads by the client through presigned URLs ---------------------------------

    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload:
        rel, key = self._key(path, allow_root=False)
        if (
            not isinstance(num_parts, int)
            or isinstance(num_parts, bool)
            or not 1 <= num_parts <= MAX_PARTS
        ):
            raise InvalidInput(f"Invalid num_parts: an integer from 1 to {MAX_PARTS} is required.")
        with _s3_errors(rel, self.endpoint_url):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
            urls = tuple(
                PartUpload(
                    part_number=number,
                    url=self.client.generate_presigned_url(
                        "upload_part",
                        Params={
                            "Bucket": self.bucket,
                            "Key": key,
                            "UploadId": upload_id,
                            "PartNumber": number,
                        },
                        ExpiresIn=self.presign_expires,
                    ),
                )
                for number in range(1, num_parts + 1)
            )
        return MultipartUpload(upload_id=upload_id, parts=urls)

    def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        rel, key = self._key(path, allow_root=False)
        _check_upload_id(upload_id)
        if not parts:
            raise InvalidInput("Invalid parts: at least one uploaded part is required.")
        ordered = sorted(parts, key=lambda part: part.part_number)
        with _s3_errors(rel, self.endpoint_url, missing="upload"):
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in ordered]
                },
            )

    def presigned_download(self, path: str) -> PresignedDownload:
        """A presigned ``GetObject`` URL for the file at ``path``, valid ``presign_expires`` seconds."""
        rel, key = self._key(path, allow_root=False)
        info = self.stat(rel)
        if info is None:
            raise NotFound(f"Artifact '{rel}' does not exist.", path=rel)
        if info.is_dir:
            raise InvalidInput(f"Artifact '{rel}' is a folder, not a file.", path=rel)
        with _s3_errors(rel, self.endpoint_url):
            url = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self.presign_expires,
            )
        return PresignedDownload(url=url, file_size=info.size)

    def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        rel, key = self._key(path, allow_root=False)
        _check_upload_id(upload_id)
        # Aborting an upload that is already gone is not an error (like deleting a missing file).
        with contextlib.suppress(NotFound), _s3_errors(rel, self.endpoint_url, missing="upload"):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)


def _listable(name: str) -> bool:
    """Whether a child called ``name`` is listed: only names that this store's path checks accept,
    so that everything listed can be read back (a key or file named ``..`` or ``a#b`` cannot)."""
    if not name or "/" in name:
        return False
    try:
        return safe_relative_path(name) == name
    except InvalidInput:
        return False


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id or len(upload_id) > 1024:
        raise InvalidInput("Invalid upload_id: a non-empty string is required.")
    if any(ord(c) < 32 for c in upload_id):
        raise InvalidInput("Invalid upload_id: control characters are not allowed.")


class _Pending:
    """Chunks waiting to be sent, taken from the front without copying them more than once."""

    def __init__(self) -> None:
        self._chunks: deque[bytes | memoryview] = deque()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if chunk:
            self._chunks.append(bytes(chunk) if not isinstance(chunk, bytes) else chunk)
            self.size += len(chunk)

    def take(self, size: int) -> bytes:
        """The first ``size`` bytes, as one ``bytes`` object."""
        out: list[bytes | memoryview] = []
        need = size
        while need:
            head = self._chunks[0]
            if len(head) <= need:
                out.append(self._chunks.popleft())
                need -= len(head)
            else:
                view = memoryview(head)
                out.append(view[:need])
                self._chunks[0] = view[need:]
                need = 0
        self.size -= size
        return b"".join(out)


class _BodyChunks:
    """Iterator over a ``get_object`` body in ``CHUNK_SIZE`` pieces; returns the connection when done."""

    def __init__(self, body: Any, rel: str, endpoint_url: str | None) -> None:
        self._body = body
        self._chunks = body.iter_chunks(CHUNK_SIZE)
        self._rel = rel
        self._endpoint_url = endpoint_url

    def __iter__(self) -> _BodyChunks:
        return self

    def __next__(self) -> bytes:
        if self._body is None:
            raise StopIteration
        try:
            with _s3_errors(self._rel, self._endpoint_url):
                chunk: bytes | None = next(self._chunks, None)
        except BaseException:
            self.close()
            raise
        if chunk is None:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def __del__(self) -> None:
        self.close()


@contextlib.contextmanager
def _s3_errors(rel: str, endpoint_url: str | None, *, missing: str = "artifact") -> Iterator[None]:
    """Translate botocore and boto3 errors into modelyard errors (a short message, no XML)."""
    try:
        yield
    except ModelyardError:
        raise
    except Exception as e:
        translated = _translate(e, rel, endpoint_url, missing)
        if translated is None:
            raise
        raise translated from None


def _translate(
    error: Exception, rel: str, endpoint_url: str | None, missing: str
) -> ModelyardError | None:
    from botocore import exceptions as bx

    where = endpoint_url or "AWS S3"
    cause = error
    if type(error).__name__ == "S3UploadFailedError" and isinstance(error.__context__, Exception):
        cause = error.__context__  # boto3's transfer manager wraps the ClientError
    if isinstance(cause, bx.ClientError):
        details = cause.response.get("Error", {})
        code = str(details.get("Code") or "")
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchUpload":
            return NotFound(
                f"The multipart upload for '{rel}' does not exist (completed or aborted).", path=rel
            )
        if code in _MISSING_CODES or (status == 404 and code != "NoSuchBucket"):
            return NotFound(f"{missing.capitalize()} '{rel}' does not exist.", path=rel)
        if code in _BAD_REQUEST_CODES:
            return InvalidInput(f"S3 refused the request for '{rel}': {code}.", path=rel)
        if code in _CREDENTIAL_CODES:
            return TemporarilyUnavailable(
                f"S3 at {where} refused the server's credentials ({code}); check the artifact store configuration.",
                path=rel,
            )
        if code in _UNAVAILABLE_CODES or (isinstance(status, int) and status >= 500):
            return TemporarilyUnavailable(
                f"S3 at {where} is unavailable ({code or status}); try again.", path=rel
            )
        if code == "NoSuchBucket":
            return ModelyardError(f"The artifact bucket does not exist at {where}.", path=rel)
        return ModelyardError(f"S3 request for '{rel}' failed: {code or status}.", path=rel)
    if isinstance(
        cause, (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError)
    ):
        return TemporarilyUnavailable(
            "No usable S3 credentials were found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "a profile, or an instance role).",
            path=rel,
        )
    if isinstance(cause, (bx.ConnectionError, bx.HTTPClientError)):
        return TemporarilyUnavailable(
            f"Cannot reach S3 at {where}: {type(cause).__name__}.", path=rel
        )
    if isinstance(cause, bx.BotoCoreError):
        return ModelyardError(f"S3 request for '{rel}' failed: {type(cause).__name__}.", path=rel)
    if type(error).__name__ == "S3UploadFailedError":
        return ModelyardError(f"Upload of '{rel}' to S3 failed.", path=rel)
    return None


__all__ = ["ENDPOINT_ENV_VARS", "S3ArtifactStore", "parse_s3_uri"]
