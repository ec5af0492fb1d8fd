"""What an artifact store does, as a small ``typing.Protocol``, and the values it returns.

A store is rooted at a URI (``file:///data/mlartifacts``, ``s3://bucket/prefix``,
``http://server/api/2.0/mlflow-artifacts/artifacts``). Every ``path`` it takes is relative to that root and
has already passed :func:`modelyard.store.artifacts.paths.safe_relative_path`; a store checks it again
anyway (defence in depth) and never touches anything outside its root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

CHUNK_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One entry of a listing. ``path`` is relative to the root; ``file_size`` is None for folders."""

    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectStat:
    size: int
    etag: str
    last_modified: float  # epoch seconds
    is_dir: bool = False


@dataclass(frozen=True, slots=True)
class PartUpload:
    """Where the client sends one part of a multipart upload (a presigned URL), and which headers."""

    part_number: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    upload_id: str
    parts: tuple[PartUpload, ...]


@dataclass(frozen=True, slots=True)
class CompletedPart:
    part_number: int
    etag: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PresignedDownload:
    """A URL from which a client downloads one file directly (stores that can presign, S3)."""

    url: str
    file_size: int
    headers: dict[str, str] = field(default_factory=dict)


class ArtifactStore(Protocol):
    root_uri: str

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        """Stream ``chunks`` into the file at ``path`` (replacing it); returns the bytes written."""
        ...

    def read(self, path: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        """Stream the file's bytes, optionally the inclusive range ``start``..``end``."""
        ...

    def stat(self, path: str) -> ObjectStat | None:
        """Size, ETag and time of the file at ``path``, ``is_dir`` for a folder, None if absent."""
        ...

    def list(self, path: str = "") -> list[FileInfo]:
        """The immediate children of folder ``path``, sorted by path; [] for a missing folder."""
        ...

    def delete(self, path: str) -> None:
        """Delete the file, or the whole folder, at ``path``. Missing paths are not an error."""
        ...

    def upload_file(self, local_path: str, path: str) -> None: ...

    def download_file(self, path: str, local_path: str) -> None: ...

    # Multipart uploads (S3-compatible stores; others raise NotImplementedError).
    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload: ...

    def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None: ...

    def abort_multipart_upload(self, path: str, upload_id: str) -> None: ...
