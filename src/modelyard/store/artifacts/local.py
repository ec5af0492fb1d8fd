"""Artifacts in a folder of the local filesystem (``file:///data/mlartifacts`` or a plain path).

Every path is checked twice: once as text (:func:`safe_relative_path`) and once on disk, where the
final path is resolved with :func:`os.path.realpath` and must stay inside the resolved root. A
symlink inside the root that points outside it is therefore refused for every operation, and a
listing leaves such entries out.

Writes go to a hidden temporary file in the destination folder and are renamed over the target, so a
reader sees the old file or the new one, never half of one. The folder's temporary files are not
listed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat as stat_mode
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.store.artifacts.base import (
    CHUNK_SIZE,
    CompletedPart,
    FileInfo,
    MultipartUpload,
    ObjectStat,
)
from modelyard.store.artifacts.paths import safe_relative_path

_TEMP_PREFIX = ".modelyard-"
_TEMP_SUFFIX = ".tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
#: How a temporary file is made: O_EXCL with a fresh name never follows or reuses an existing entry.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
#: Folders remembered by a store for small writes (forgotten all at once when full).
_FOLDER_CACHE_LIMIT = 4096
#: A remembered folder: its absolute path, and (path, st_dev, st_ino) of each folder from the root's
#: first child down to it (the root alone for files at the top).
_Folder = tuple[str, tuple[tuple[str, int, int], ...]]


def local_root(root_uri: str) -> str:
    """The absolute folder named by ``file:///abs/path``, ``file:/abs/path`` or a plain path."""
    if not isinstance(root_uri, str) or not root_uri.strip():
        raise InvalidInput("Invalid artifact root: a non-empty path or file: URI is required.")
    parsed = urlparse(root_uri)
    if parsed.scheme.lower() == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInput(
                f"Invalid artifact root '{root_uri}': file: URIs must not name a host."
            )
        if parsed.query or parsed.fragment:
            raise InvalidInput(
                f"Invalid artifact root '{root_uri}': a query or fragment is not allowed."
            )
        path = unquote(parsed.path)
    else:
        path = root_uri
    if "\x00" in path:
        raise InvalidInput("Invalid artifact root: control characters are not allowed.")
    return os.path.abspath(os.path.expanduser(path))


class LocalArtifactStore:
    """An :class:`~modelyard.store.artifacts.base.ArtifactStore` over a local folder."""

    #: Its writes go to a local filesystem: the server writes a small upload on its event loop,
    #: which costs less than handing a few kilobytes to a worker thread and back.
    local_disk = True

    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri
        self.root = local_root(root_uri)
        #: Folder (relative path) -> its absolute path and the folders down to it, for write_small.
        self._folders: dict[str, _Folder] = {}

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root_uri!r})"

    # -- paths ---------------------------------------------------------------------------------

    def _resolve(self, path: str | None, *, allow_root: bool = True) -> tuple[str, str]:
        """(relative path, absolute resolved path), refusing anything that leaves the root."""
        rel = safe_relative_path(path, allow_empty=allow_root)
        root = os.path.realpath(self.root)
        full = os.path.realpath(os.path.join(root, rel)) if rel else root
        if full != root and not full.startswith(root.rstrip(os.sep) + os.sep):
            raise InvalidInput(f"Invalid path '{rel}': it leaves the artifact root.")
        return rel, full

    # -- reading -------------------------------------------------------------------------------

    def read(self, path: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        rel, full = self._resolve(path, allow_root=False)
        with _os_errors(rel, "read"):
            try:
                fd = os.open(full, os.O_RDONLY | _NOFOLLOW | _BINARY)
            except (FileNotFoundError, NotADirectoryError):
                raise NotFound(f"Artifact '{rel}' does not exist.", path=rel) from None
            except IsADirectoryError:
                raise InvalidInput(f"Artifact '{rel}' is a folder, not a file.", path=rel) from None
            try:
                info = os.fstat(fd)
                if stat_mode.S_ISDIR(info.st_mode):
                    raise InvalidInput(f"Artifact '{rel}' is a folder, not a file.", path=rel)
                first, length = byte_range(start, end, info.st_size)
                if first:
                    os.lseek(fd, first, os.SEEK_SET)
                file = os.fdopen(fd, "rb", buffering=0)
            except BaseException:
                os.close(fd)
                raise
        return _FileChunks(file, length, rel)

    def stat(self, path: str) -> ObjectStat | None:
        rel, full = self._resolve(path)
        with _os_errors(rel, "inspect"):
            try:
                info = os.stat(full)
            except (FileNotFoundError, NotADirectoryError):
                return None
        is_dir = stat_mode.S_ISDIR(info.st_mode)
        return ObjectStat(
            size=0 if is_dir else info.st_size,
            etag=f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"',
            last_modified=info.st_mtime,
            is_dir=is_dir,
        )

    def list(self, path: str = "") -> list[FileInfo]:
        rel, full = self._resolve(path)
        root = os.path.realpath(self.root)
        entries: list[FileInfo] = []
        with _os_errors(rel, "list"):
            try:
                scanner = os.scandir(full)
            except (FileNotFoundError, NotADirectoryError):
                return []
            with scanner:
                for entry in scanner:
                    if not _listable(entry.name) or (
                        entry.name.startswith(_TEMP_PREFIX) and entry.name.endswith(_TEMP_SUFFIX)
                    ):
                        continue
                    if entry.is_symlink():
                        target = os.path.realpath(entry.path)
                        if not target.startswith(root.rstrip(os.sep) + os.sep):
                            continue  # a link out of the root is neither shown nor followed
                    try:
                        is_dir = entry.is_dir()
                        size = None if is_dir else entry.stat().st_size
                    except FileNotFoundError:
                        continue  # removed while listing, or a dangling link
                    child = f"{rel}/{entry.name}" if rel else entry.name
                    entries.append(FileInfo(path=child, is_dir=is_dir, file_size=size))
        entries.sort(key=lambda info: info.path)
        return entries

    # -- writing -------------------------------------------------------------------------------

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        def fill(out: BinaryIO) -> int:
            written = 0
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
            return written

        return self._write_atomically(path, fill)

    # -- small files in one go (the server's proxy, on its event loop) ---------------------------

    def write_small(self, path: str, data: bytes) -> int:
        """``write(path, [data])`` for a body already in memory, with few system calls.

        The first write into a folder takes the full path of :meth:`write` (``realpath`` of the
        root and of the target, ``makedirs``) and then remembers the folder, when it was reached
        without links, with the device and inode of every folder from the root down to it. Later
        writes into it ``lstat`` those folders and go on only while each is still the same folder
        (not removed, moved or swapped for a link), ``lstat`` the target (a folder is refused, a
        link takes the full path, which resolves it) and write a temporary file renamed over the
        target: about half the system calls of :meth:`write` and far less Python. Anything
        unexpected takes the full path.
        """
        rel = safe_relative_path(path, allow_empty=False)
        folder_rel, _, name = rel.rpartition("/")
        known = self._folders.get(folder_rel)
        if known is not None:
            written = self._write_known(rel, known, name, data)
            if written is not None:
                return written
            self._folders.pop(folder_rel, None)
        rel, full = self._resolve(rel, allow_root=False)
        written = self._write_resolved(rel, full, lambda out: _fill(out, data))
        self._remember(rel, folder_rel, full)
        return written

    def read_small(self, path: str, limit: int) -> tuple[ObjectStat, bytes | None] | None:
        """The stat of the file at ``path`` and its bytes when it has at most ``limit`` of them
        (None for a larger file, and for a folder); None when nothing is there.

        The bytes and the stat come from one open file, so they agree. A folder remembered by
        :meth:`write_small` (or an earlier read) is re-checked as there; other paths are resolved as
        :meth:`read` does.
        """
        rel = safe_relative_path(path, allow_empty=False)
        folder_rel, _, name = rel.rpartition("/")
        known = self._folders.get(folder_rel)
        if known is not None and self._still(known):
            with _os_errors(rel, "read"):
                try:
                    fd = os.open(known[0] + os.sep + name, os.O_RDONLY | _NOFOLLOW | _BINARY)
                except (FileNotFoundError, NotADirectoryError):
                    return None
                except OSError as e:
                    if e.errno != errno.ELOOP:  # a link: resolved below, as read() does
                        raise
                    fd = -1
                if fd >= 0:
                    return _read_open(fd, limit)
        rel, full = self._resolve(rel, allow_root=False)
        with _os_errors(rel, "read"):
            try:
                fd = os.open(full, os.O_RDONLY | _NOFOLLOW | _BINARY)
            except (FileNotFoundError, NotADirectoryError):
                return None
            found = _read_open(fd, limit)
        self._remember(rel, folder_rel, full)
        return found

    def _write_known(self, rel: str, known: _Folder, name: str, data: bytes) -> int | None:
        """Write into a remembered folder; None when the folder or the target needs the full path."""
        if not self._still(known):
            return None
        full = known[0] + os.sep + name
        with _os_errors(rel, "write"):
            try:
                mode = os.lstat(full).st_mode
            except FileNotFoundError:
                mode = 0
            if stat_mode.S_ISDIR(mode):
                raise InvalidInput(
                    f"Artifact '{rel}' is a folder; a file cannot replace it.", path=rel
                )
            if stat_mode.S_ISLNK(mode):
                return None
            temp = known[0] + os.sep + _TEMP_PREFIX + os.urandom(16).hex() + _TEMP_SUFFIX
            try:
                fd = os.open(temp, _CREATE, 0o666)
            except FileNotFoundError:
                return None  # the folder went away after the check
            try:
                try:
                    _write_all(fd, data)
                finally:
                    os.close(fd)
                os.rename(temp, full)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise
        return len(data)

    @staticmethod
    def _still(known: _Folder) -> bool:
        """Whether every folder from the root down to the remembered one is still the folder it was
        (``lstat``: a link put in place of any of them has an inode of its own)."""
        for path, dev, ino in known[1]:
            try:
                info = os.lstat(path)
            except OSError:
                return False
            if info.st_ino != ino or info.st_dev != dev:
                return False
        return True

    def _remember(self, rel: str, folder_rel: str, full: str) -> None:
        """Remember the folder of ``full`` (``rel`` resolved) as the place of ``folder_rel``, with the
        device and inode of each folder on the way from the root, when it was reached without links
        (a link could later point elsewhere)."""
        folder = os.path.dirname(full)
        real_root = self._real_root()
        if os.path.dirname(os.path.join(real_root, rel)) != folder:
            return
        paths = [real_root]
        for part in folder_rel.split("/") if folder_rel else ():
            paths.append(paths[-1] + os.sep + part)
        chain = []
        for path in paths[1:] or paths:
            try:
                info = os.lstat(path)
            except OSError:
                return
            if not stat_mode.S_ISDIR(info.st_mode):
                return
            chain.append((path, info.st_dev, info.st_ino))
        if len(self._folders) >= _FOLDER_CACHE_LIMIT:
            self._folders.clear()
        self._folders[folder_rel] = (folder, tuple(chain))

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def upload_file(self, local_path: str, path: str) -> None:
        try:
            source = open(local_path, "rb")  # noqa: SIM115 - closed below, after the target is checked
        except FileNotFoundError:
            raise NotFound(f"Local file '{local_path}' does not exist.") from None
        except IsADirectoryError:
            raise InvalidInput(f"Local path '{local_path}' is a folder, not a file.") from None
        with source:
            self._write_atomically(path, lambda out: _copy(source, out))

    def _write_atomically(self, path: str, fill: Callable[[BinaryIO], int]) -> int:
        rel, full = self._resolve(path, allow_root=False)
        return self._write_resolved(rel, full, fill)

    def _write_resolved(self, rel: str, full: str, fill: Callable[[BinaryIO], int]) -> int:
        if os.path.isdir(full):
            raise InvalidInput(f"Artifact '{rel}' is a folder; a file cannot replace it.", path=rel)
        folder = os.path.dirname(full)
        with _os_errors(rel, "write"):
            try:
                os.makedirs(folder, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidInput(
                    f"Cannot write '{rel}': a parent of it is a file.", path=rel
                ) from None
            temp = os.path.join(folder, f"{_TEMP_PREFIX}{uuid.uuid4().hex}{_TEMP_SUFFIX}")
            fd = os.open(temp, _CREATE, 0o666)  # the umask applies
            try:
                with os.fdopen(fd, "wb") as out:
                    written = fill(out)
                os.replace(temp, full)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise
        return written

    def delete(self, path: str) -> None:
        rel, full = self._resolve(path)
        self._folders.clear()  # (other processes' deletes are caught by the inode check)
        with _os_errors(rel, "delete"):
            try:
                info = os.lstat(full)
            except (FileNotFoundError, NotADirectoryError):
                return
            if stat_mode.S_ISDIR(info.st_mode):
                # rmtree removes links found inside the tree without following them.
                shutil.rmtree(full)
            else:
                os.unlink(full)

    def download_file(self, path: str, local_path: str) -> None:
        chunks = self.read(path)
        folder = os.path.dirname(os.path.abspath(local_path))
        os.makedirs(folder, exist_ok=True)
        with open(local_path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)

    # -- multipart (not for local folders) ------------------------------------------------------

    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload:
        self._resolve(path, allow_root=False)
        raise NotImplementedError(
            "Multipart uploads are not supported by the local artifact store."
        )

    def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        self._resolve(path, allow_root=False)
        raise NotImplementedError(
            "Multipart uploads are not supported by the local artifact store."
        )

    def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        self._resolve(path, allow_root=False)
        raise NotImplementedError(
            "Multipart uploads are not supported by the local artifact store."
        )


def byte_range(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """(first byte, length) of the inclusive range ``start``..``end`` of a ``size``-byte file.

    ``end`` past the end of the file is clipped; a ``start`` at or past the end is refused.
    """
    if start is None and end is None:
        return 0, size
    first = 0 if start is None else start
    if first < 0 or (end is not None and end < first):
        raise InvalidInput(f"Invalid byte range {start}-{end}.")
    if first >= size:
        raise InvalidInput(f"Invalid byte range {start}-{end}: the file has {size} bytes.")
    last = size - 1 if end is None else min(end, size - 1)
    return first, last - first + 1


def _listable(name: str) -> bool:
    """Whether a child called ``name`` is listed: only names that this store's path checks accept,
    so that everything listed can be read back (a key or file named ``..`` or ``a#b`` cannot)."""
    if not name or "/" in name:
        return False
    try:
        return safe_relative_path(name) == name
    except InvalidInput:
        return False


def _fill(out: BinaryIO, data: bytes) -> int:
    out.write(data)
    return len(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_open(fd: int, limit: int) -> tuple[ObjectStat, bytes | None]:
    """(stat, bytes or None) of the open file ``fd`` (see ``read_small``); closes it."""
    try:
        info = os.fstat(fd)
        is_dir = stat_mode.S_ISDIR(info.st_mode)
        found = ObjectStat(
            size=0 if is_dir else info.st_size,
            etag=f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"',
            last_modified=info.st_mtime,
            is_dir=is_dir,
        )
        if is_dir or info.st_size > limit:
            return found, None
        data = os.read(fd, info.st_size)
        while len(data) < info.st_size:  # a short read
            more = os.read(fd, info.st_size - len(data))
            if not more:  # it shrank while read: the streaming path sends what is there
                return found, None
            data += more
        return found, data
    finally:
        os.close(fd)


def _copy(source: BinaryIO, out: BinaryIO) -> int:
    written = 0
    while chunk := source.read(CHUNK_SIZE):
        out.write(chunk)
        written += len(chunk)
    return written


class _FileChunks:
    """Iterator over ``length`` bytes of an open file in ``CHUNK_SIZE`` pieces; closes it when done."""

    def __init__(self, file: BinaryIO, length: int, rel: str) -> None:
        self._file: BinaryIO | None = file
        self._left = length
        self._rel = rel

    def __iter__(self) -> _FileChunks:
        return self

    def __next__(self) -> bytes:
        if self._file is None:
            raise StopIteration
        if self._left <= 0:
            self.close()
            raise StopIteration
        with _os_errors(self._rel, "read"):
            chunk = self._file.read(min(CHUNK_SIZE, self._left))
        if not chunk:  # the file shrank while it was read
            self.close()
            raise StopIteration
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        self.close()


@contextlib.contextmanager
def _os_errors(rel: str, action: str) -> Iterator[None]:
    """Turn filesystem errors into modelyard errors, without the server's own paths in the message."""
    try:
        yield
    except ModelyardError:
        raise
    except OSError as e:
        shown = rel if len(rel) <= 200 else rel[:200] + "..."
        if e.errno in (errno.ENAMETOOLONG, errno.EILSEQ):  # the request's fault: 400, not 500
            raise InvalidInput(
                f"Invalid path '{shown}': the file system cannot hold that name.", path=rel
            ) from None
        reason = e.strerror or type(e).__name__
        raise ModelyardError(
            f"Could not {action} artifact '{shown}': {reason}.", path=rel
        ) from None


__all__ = ["LocalArtifactStore", "byte_range", "local_root"]
