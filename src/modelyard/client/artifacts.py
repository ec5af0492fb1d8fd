"""The client's file API: where a run's artifacts live, and moving files there and back.

:class:`RunArtifacts` (one per :class:`~modelyard.client.tracking.ModelyardClient`) resolves a run's
``artifact_uri`` to an :class:`~modelyard.store.artifacts.base.ArtifactStore`:

* ``file://``, plain paths, ``s3://``, ``http(s)://`` and plugin schemes through
  :func:`~modelyard.store.artifacts.open_artifact_store`;
* ``mlflow-artifacts:/x`` (and ``mlflow-artifacts://host/x``) through the tracking server's artifact
  proxy at ``<tracking URI>/api/2.0/mlflow-artifacts/artifacts/x``, with the credentials the HTTP
  tracking backend sends (only to the tracking server's own host). An in-process SQL tracking URI
  has no proxy, so such a location is an :class:`InvalidInput` error;
* ``runs:/<run_id>/<path>`` through the tracking backend (the run's ``artifact_uri``).

Every artifact path goes through :func:`safe_relative_path` before anything is read or written, and
every path that a listing returns is checked again before it names a local file.

Transfers (:class:`Transfer`) run on a bounded thread pool, stream each file in chunks (never whole
in memory), write downloads to a temporary file that is renamed when complete, retry a file that
failed with :class:`TemporarilyUnavailable` with exponential backoff (the stores already retry single
requests; this retries the whole file once those retries are spent), and draw a progress bar on
stderr for large or many files when stderr is a terminal. Failures are modelyard errors that name
the file.

What goes into the files (JSON, YAML, figures, images, tables) is :mod:`modelyard.client.artifact_formats`.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from modelyard.client.artifact_formats import (
    LOGGED_ARTIFACTS_TAG,
    check_table_file,
    has_table,
    import_pandas,
    logged_table_tag,
    parse_dict,
    read_table,
    table_bytes,
    table_frame,
    text_of,
)
from modelyard.errors import InvalidInput, ModelyardError, NotFound, TemporarilyUnavailable
from modelyard.store.artifacts import (
    CHUNK_SIZE,
    CompletedPart,
    FileInfo,
    MultipartUpload,
    ObjectStat,
    open_artifact_store,
    uri_scheme,
)
from modelyard.store.artifacts.paths import safe_relative_path

if TYPE_CHECKING:
    from modelyard.client.tracking import ModelyardClient
    from modelyard.entities import Run
    from modelyard.store.artifacts import ArtifactStore

T = TypeVar("T")

#: The artifact proxy's route below a tracking server's address (reference §1.7).
PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"
#: Most files moved at the same time.
MAX_WORKERS = 8
#: Extra attempts for one whole file after the store's own request retries gave up on a transient
#: failure (a stream that broke off midway, which a store cannot replay by itself).
FILE_RETRIES = 1
#: A transfer gets a progress bar (on a terminal) from this many files, or this many bytes, on.
PROGRESS_MIN_FILES = 10
PROGRESS_MIN_BYTES = 16 << 20
_PART_SUFFIX = ".modelyard-part"


# ---------------------------------------------------------------------------------------- URIs
def proxy_url(artifact_uri: str, tracking_uri: str) -> str:
    """The artifact proxy URL of an ``mlflow-artifacts:`` location, for a server at ``tracking_uri``.

    ``mlflow-artifacts:/0/abc`` on ``http://host:5000/prefix`` is
    ``http://host:5000/prefix/api/2.0/mlflow-artifacts/artifacts/0/abc``; a host in the location
    (``mlflow-artifacts://other:5000/0/abc``) replaces the tracking server's host.
    """
    location = urlsplit(artifact_uri)
    tracking = urlsplit(tracking_uri)
    if location.query or location.fragment:
        raise InvalidInput(
            f"Invalid artifact location {artifact_uri!r}: a query or fragment is not allowed."
        )
    if location.hostname is not None and location.hostname.isdigit():
        raise InvalidInput(
            f"Invalid artifact location {artifact_uri!r}: it names a port but no host."
        )
    path = safe_relative_path(location.path.strip("/"), what="artifact location")
    base = tracking.path.rstrip("/") + PROXY_PATH
    full = f"{base}/{path}" if path else base
    return urlunsplit((tracking.scheme, location.netloc or tracking.netloc, full, "", ""))


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """(run id, artifact path) of ``runs:/<run_id>/<path>``."""
    from modelyard.service import validation as v

    rest = uri[len("runs:") :] if uri.lower().startswith("runs:") else None
    if rest is None or not rest.startswith("/") or rest.startswith("//"):
        raise InvalidInput(f"Invalid runs URI {uri!r}: expected runs:/<run_id>/<path>.")
    run_id, _, path = rest.lstrip("/").partition("/")
    return v.validate_run_id(run_id), safe_relative_path(path, what="artifact path")


def split_uri(uri: str) -> tuple[str, str]:
    """(store root URI, checked path of the last segment) of an artifact URI; ("uri", "") for a root."""
    scheme = uri_scheme(uri)
    if scheme == "file" and "://" not in uri and not uri.lower().startswith("file:"):
        local = os.path.abspath(os.path.expanduser(uri))
        head, tail = os.path.split(local)
        return head, safe_relative_path(tail, what="artifact path")
    parts = urlsplit(uri)
    path = parts.path.rstrip("/")
    head, _, tail = path.rpartition("/")
    if not tail:
        return uri, ""
    root = urlunsplit((parts.scheme, parts.netloc, head or "/", parts.query, parts.fragment))
    return root, safe_relative_path(tail, what="artifact path")


# ---------------------------------------------------------------------------------------- progress
class Progress:
    """A small progress bar on ``stream`` (stderr), drawn only when it is a terminal.

    It shows for a transfer of at least :data:`PROGRESS_MIN_FILES` files or
    :data:`PROGRESS_MIN_BYTES` bytes, redraws at most ten times a second and is safe to update from
    several threads.
    """

    def __init__(
        self, label: str, files: int, total_bytes: int, stream: IO[str] | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.files = files
        self.total = total_bytes
        self.done_files = 0
        self.done_bytes = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()
        big = files >= PROGRESS_MIN_FILES or total_bytes >= PROGRESS_MIN_BYTES
        self.enabled = big and _is_terminal(self.stream)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.done_bytes += n
            self._draw(final=False)

    def file_done(self) -> None:
        with self._lock:
            self.done_files += 1
            self._draw(final=False)

    def close(self) -> None:
        with self._lock:
            if self.enabled and self._drawn:
                self._draw(final=True)
                self.stream.write("\n")
                self.stream.flush()
            self.enabled = False

    def _draw(self, *, final: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._drawn < 0.1 and self.done_files < self.files:
            return
        self._drawn = now
        fraction = (
            self.done_bytes / self.total if self.total else self.done_files / max(self.files, 1)
        )
        fraction = min(max(fraction, 0.0), 1.0)
        width = 24
        filled = int(fraction * width)
        rate = self.done_bytes / max(now - self._started, 1e-6)
        line = (
            f"\r{self.label}: {fraction:4.0%} |{'#' * filled}{' ' * (width - filled)}| "
            f"{self.done_files}/{self.files} files, {_size(self.done_bytes)}/{_size(self.total)}, "
            f"{_size(rate)}/s"
        )
        self.stream.write(line)
        self.stream.flush()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


# ---------------------------------------------------------------------------------------- transfers
@dataclass(frozen=True, slots=True)
class Upload:
    local_path: str
    path: str  # artifact path, checked
    size: int


@dataclass(frozen=True, slots=True)
class Download:
    path: str  # artifact path, checked
    local_path: str
    size: int | None


class Transfer:
    """Moves files between local disk and one store: in parallel, streamed, retried, with progress."""

    def __init__(
        self,
        store: ArtifactStore,
        *,
        max_workers: int = MAX_WORKERS,
        retries: int = FILE_RETRIES,
        backoff_s: float = 0.2,
        stream: IO[str] | None = None,
    ) -> None:
        self.store = store
        self.max_workers = max(1, max_workers)
        self.retries = max(0, retries)
        self.backoff_s = max(0.0, backoff_s)
        self.stream = stream

    def upload(self, files: Sequence[Upload]) -> None:
        progress = Progress(
            "Uploading artifacts", len(files), sum(f.size for f in files), self.stream
        )
        try:
            self._run(
                [(f.path, lambda f=f: self._upload_one(f, progress)) for f in files], progress
            )
        finally:
            progress.close()

    def download(self, files: Sequence[Download]) -> None:
        total = sum(f.size or 0 for f in files)
        progress = Progress("Downloading artifacts", len(files), total, self.stream)
        try:
            self._run(
                [(f.path, lambda f=f: self._download_one(f, progress)) for f in files], progress
            )
        finally:
            progress.close()

    def _run(self, jobs: Sequence[tuple[str, Callable[[], None]]], progress: Progress) -> None:
        if len(jobs) <= 1 or self.max_workers == 1:
            for path, job in jobs:
                self._retrying(path, job)
                progress.file_done()
            return
        pool = ThreadPoolExecutor(
            min(self.max_workers, len(jobs)), thread_name_prefix="modelyard-artifacts"
        )
        try:
            futures = [pool.submit(self._job, path, job, progress) for path, job in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # After a failure (or Ctrl-C), files not yet started are not sent; the ones in flight
            # finish before this returns, so nothing is written behind the caller's back.
            pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def _job(self, path: str, job: Callable[[], None], progress: Progress) -> None:
        self._retrying(path, job)
        progress.file_done()

    def _retrying(self, path: str, job: Callable[[], None]) -> None:
        attempt = 0
        while True:
            try:
                job()
                return
            except TemporarilyUnavailable as error:
                if attempt >= self.retries:
                    raise TemporarilyUnavailable(
                        f"Artifact '{path}' could not be transferred after {attempt + 1} attempt(s): "
                        f"{error.message}",
                        path=path,
                    ) from None
            except ModelyardError as error:
                if path in error.message:
                    raise
                raise type(error)(
                    f"Artifact '{path}': {error.message}", error_code=error.error_code, path=path
                ) from None
            except OSError as error:
                raise ModelyardError(
                    f"Artifact '{path}': {error.strerror or type(error).__name__}.", path=path
                ) from None
            time.sleep(self.backoff_s * (2**attempt))
            attempt += 1

    def _upload_one(self, item: Upload, progress: Progress) -> None:
        counter = [0]
        try:
            with open(item.local_path, "rb") as source:
                self.store.write(item.path, _chunks(source, counter, progress))
        except BaseException:
            progress.add_bytes(-counter[0])  # a retry counts the file again
            raise

    def _download_one(self, item: Download, progress: Progress) -> None:
        folder = os.path.dirname(item.local_path) or "."
        os.makedirs(folder, exist_ok=True)
        temp = os.path.join(
            folder, f".{os.path.basename(item.local_path)}.{uuid.uuid4().hex[:8]}{_PART_SUFFIX}"
        )
        counted = 0
        try:
            with open(temp, "wb") as out:
                for chunk in self.store.read(item.path):
                    out.write(chunk)
                    counted += len(chunk)
                    progress.add_bytes(len(chunk))
            os.replace(temp, item.local_path)
        except BaseException:
            progress.add_bytes(-counted)  # a retry counts the file again
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise


def _chunks(source: IO[bytes], counter: list[int], progress: Progress) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_SIZE):
        counter[0] += len(chunk)
        progress.add_bytes(len(chunk))
        yield chunk


# ---------------------------------------------------------------------------------------- local files
def local_tree(local_dir: str, artifact_path: str | None) -> list[Upload]:
    """Every file below ``local_dir`` as an upload to ``artifact_path``/<relative path>, all checked
    before anything is sent."""
    if not os.path.exists(local_dir):
        raise NotFound(f"Local folder '{local_dir}' does not exist.")
    if not os.path.isdir(local_dir):
        raise InvalidInput(f"Local path '{local_dir}' is a file, not a folder; use log_artifact.")
    base = safe_relative_path(artifact_path, what="artifact_path")
    uploads: list[Upload] = []
    for folder, dirs, names in os.walk(local_dir):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            if not os.path.isfile(full):
                continue  # sockets, dangling links
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            checked = safe_relative_path(rel, what=f"file name '{rel}'")
            uploads.append(
                Upload(full, f"{base}/{checked}" if base else checked, os.path.getsize(full))
            )
    return uploads


def local_file(local_path: str, artifact_path: str | None) -> Upload:
    if not os.path.exists(local_path):
        raise NotFound(f"Local file '{local_path}' does not exist.")
    if os.path.isdir(local_path):
        raise InvalidInput(
            f"Local path '{local_path}' is a folder; use log_artifacts for a folder."
        )
    name = os.path.basename(local_path)
    base = safe_relative_path(artifact_path, what="artifact_path")
    checked = safe_relative_path(name, what=f"file name '{name}'")
    return Upload(local_path, f"{base}/{checked}" if base else checked, os.path.getsize(local_path))


# ---------------------------------------------------------------------------------------- the run's files
class RunArtifacts:
    """The artifacts of the runs of one client: resolving stores, logging, listing, downloading."""

    def __init__(self, client: ModelyardClient, *, max_workers: int = MAX_WORKERS) -> None:
        self._client = client
        self._stores: dict[str, ArtifactStore] = {}
        self._lock = threading.Lock()
        self.max_workers = max_workers

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            _close(store)

    # -- resolving -----------------------------------------------------------------------------
    def store(self, uri: str) -> ArtifactStore:
        """The store rooted at ``uri``: a view into one shared store per proxy, bucket or plugin root,
        so that the runs of one server share its connections."""
        base_uri, prefix = self._split_base(uri)
        if uri_scheme(base_uri) == "file":
            return open_artifact_store(uri)  # cheap, and nothing to share
        with self._lock:
            base = self._stores.get(base_uri)
        if base is None:
            made = self._open(base_uri)
            with self._lock:
                base = self._stores.setdefault(base_uri, made)
            if base is not made:
                _close(made)
        return StoreView(base, prefix, uri) if prefix else base

    def _split_base(self, uri: str) -> tuple[str, str]:
        """(URI of the shared store, checked prefix below it) of a store URI."""
        scheme = uri_scheme(uri)
        if scheme == "mlflow-artifacts":
            tracking_uri = self._client.backend.uri
            if uri_scheme(tracking_uri) not in ("http", "https"):
                raise InvalidInput(
                    f"The artifacts are at {uri!r}, a location that only a tracking server's artifact "
                    f"proxy can resolve, but the tracking URI {tracking_uri!r} is a database. Point "
                    "the client at the server's http(s):// address instead.",
                    uri=uri,
                )
            proxy_url(uri, tracking_uri)  # checks the whole location
            location = urlsplit(uri)
            root = (
                f"mlflow-artifacts://{location.netloc}" if location.netloc else "mlflow-artifacts:"
            )
            path = safe_relative_path(location.path.strip("/"), what="artifact location")
            return proxy_url(root, tracking_uri), path
        if scheme in ("http", "https"):
            from modelyard.store.artifacts.http import ARTIFACTS_ROUTE, parse_http_artifact_uri

            api_root, prefix = parse_http_artifact_uri(uri)
            return api_root + ARTIFACTS_ROUTE, prefix
        if scheme == "s3":
            from modelyard.store.artifacts.s3 import parse_s3_uri

            bucket, prefix = parse_s3_uri(uri)
            return f"s3://{bucket}", prefix
        if scheme in ("runs", "models"):
            raise InvalidInput(
                f"{uri!r} names artifacts through the tracking server, not a store.", uri=uri
            )
        return uri, ""

    def _open(self, uri: str) -> ArtifactStore:
        if uri_scheme(uri) in ("http", "https"):
            backend = self._client.backend
            headers: dict[str, str] = dict(getattr(backend, "auth_headers", None) or {})
            # The tracking credentials go to the tracking server's own host only.
            return self._http_store(uri, headers if _same_host(uri, backend.uri) else {})
        return open_artifact_store(uri)

    def _http_store(self, url: str, headers: dict[str, str]) -> ArtifactStore:
        try:
            from modelyard.store.artifacts.http import HttpArtifactStore
        except ImportError:
            raise ModelyardError(
                f"Artifacts at {url} are served over HTTP, and this modelyard has no HTTP artifact store.",
                uri=url,
            ) from None
        settings = self._client._settings
        store: ArtifactStore = HttpArtifactStore(
            url, headers=headers, timeout=float(settings.http_timeout_s)
        )
        return store

    def run_uri(self, run_id: str) -> str:
        return self._client.get_run(run_id).info.artifact_uri

    def run_store(self, run_id: str) -> ArtifactStore:
        return self.store(self.run_uri(run_id))

    def locate(self, artifact_uri: str) -> tuple[ArtifactStore, str]:
        """(store, path) of any artifact URI: ``runs:/``, a store URI, or a run's ``artifact_uri``/path."""
        if not isinstance(artifact_uri, str) or not artifact_uri.strip():
            raise InvalidInput("Invalid artifact URI: a non-empty string is required.")
        if uri_scheme(artifact_uri) == "runs":
            run_id, path = parse_runs_uri(artifact_uri)
            return self.run_store(run_id), path
        root, path = split_uri(artifact_uri)
        return self.store(root), path

    def _transfer(self, store: ArtifactStore) -> Transfer:
        settings = self._client._settings
        return Transfer(
            store, max_workers=self.max_workers, backoff_s=float(settings.http_backoff_s)
        )

    # -- writing -------------------------------------------------------------------------------
    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        item = local_file(os.fspath(local_path), artifact_path)
        self._transfer(self.run_store(run_id)).upload([item])

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        items = local_tree(os.fspath(local_dir), artifact_path)
        if items:
            self._transfer(self.run_store(run_id)).upload(items)

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> None:
        """Store ``data`` (small, already in memory) as ``artifact_file`` of the run."""
        path = safe_relative_path(artifact_file, what="artifact_file", allow_empty=False)
        store = self.run_store(run_id)
        self._transfer(store)._retrying(path, lambda: _write_all(store, path, data))

    # -- reading -------------------------------------------------------------------------------
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        rel = safe_relative_path(path, what="path")
        store = self.run_store(run_id)
        return [info for info in store.list(rel) if _inside(info.path, rel)]

    def download(
        self, store: ArtifactStore, path: str, dst_path: str | None, *, keep_parents: bool = True
    ) -> str:
        """Download the file or tree at ``path`` to ``dst_path``/``path`` (``dst_path``/<last part
        of ``path``> without ``keep_parents``); returns that local path."""
        rel = safe_relative_path(path, what="artifact path")
        dst = (
            os.path.abspath(dst_path)
            if dst_path
            else tempfile.mkdtemp(prefix="modelyard-artifacts-")
        )
        stat = store.stat(rel) if rel else None
        if rel and stat is None:
            raise NotFound(f"Artifact '{rel}' does not exist.", path=rel)
        strip = 0 if keep_parents else len(posixpath.dirname(rel))

        def local(artifact: str) -> str:
            tail = artifact[strip:].lstrip("/")
            return os.path.join(dst, *tail.split("/")) if tail else dst

        target = local(rel)
        if stat is not None and not stat.is_dir:
            self._transfer(store).download([Download(rel, target, stat.size)])
            return target
        files = [
            Download(info.path, local(info.path), info.file_size) for info in _walk(store, rel)
        ]
        os.makedirs(target, exist_ok=True)
        self._transfer(store).download(files)
        return target

    def download_run(self, run_id: str, path: str | None, dst_path: str | None) -> str:
        return self.download(self.run_store(run_id), path or "", dst_path)

    def download_uri(self, artifact_uri: str, dst_path: str | None) -> str:
        store, path = self.locate(artifact_uri)
        return self.download(store, path, dst_path, keep_parents=False)

    def read_bytes(self, artifact_uri: str) -> bytes:
        store, path = self.locate(artifact_uri)
        if not path:
            raise InvalidInput(f"{artifact_uri!r} is a folder of artifacts, not a file.")
        return b"".join(store.read(path))

    # -- typed files ---------------------------------------------------------------------------
    def load_text(self, artifact_uri: str) -> str:
        return text_of(self.read_bytes(artifact_uri), artifact_uri)

    def load_dict(self, artifact_uri: str) -> Any:
        return parse_dict(self.read_bytes(artifact_uri), artifact_uri)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        path = check_table_file(artifact_file)
        frame = table_frame(data)
        store = self.run_store(run_id)
        existing = store.stat(path)
        if existing is not None and not existing.is_dir:
            pd = import_pandas("log_table")
            old = read_table(b"".join(store.read(path)), path)
            frame = pd.concat([old, frame], ignore_index=True)
        self.log_bytes(run_id, table_bytes(frame, path), path)
        run = self._client.get_run(run_id)
        tag = logged_table_tag(run.data.tag_dict.get(LOGGED_ARTIFACTS_TAG), path)
        if tag is not None:
            self._client.set_tag(run_id, LOGGED_ARTIFACTS_TAG, tag, synchronous=True)

    def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: Sequence[str] | None,
        extra_columns: Sequence[str] | None,
    ) -> Any:
        path = check_table_file(artifact_file)
        pd = import_pandas("load_table")
        if run_ids:
            runs = [self._client.get_run(r) for r in run_ids]
        else:
            runs = []
            token: str | None = None
            while True:
                page = self._client.search_runs(
                    [experiment_id],
                    f"tags.`{LOGGED_ARTIFACTS_TAG}` LIKE '%\"{path}\"%'",
                    page_token=token,
                )
                runs.extend(page.items)
                token = page.next_page_token
                if not token:
                    break
            runs = [r for r in runs if has_table(r.data.tag_dict.get(LOGGED_ARTIFACTS_TAG), path)]
        frames = []
        for run in runs:
            store = self.store(run.info.artifact_uri)
            frame = read_table(b"".join(store.read(path)), path)
            for column in extra_columns or ():
                name = f"{column}_" if column in frame.columns else column
                frame[name] = _run_field(run, column)
            frames.append(frame)
        if not frames:
            raise NotFound(
                f"No run of experiment {experiment_id} has the table '{path}'.", path=path
            )
        return pd.concat(frames, ignore_index=True)


def _run_field(run: Run, column: str) -> Any:
    """A run's ``run_id``, ``run_name`` or other info field, or a ``tags.``/``params.``/``metrics.`` value."""
    group, _, key = column.partition(".")
    if key and group == "tags":
        return run.data.tag_dict.get(key)
    if key and group == "params":
        return run.data.param_dict.get(key)
    if key and group == "metrics":
        return run.data.metric_dict.get(key)
    if hasattr(run.info, column):
        return getattr(run.info, column)
    raise InvalidInput(f"load_table: unknown extra column {column!r}.")


def _close(store: ArtifactStore) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


class StoreView:
    """The part of ``base`` below ``prefix``, as a store of its own: paths are checked and joined on
    the way in and cut on the way out (listed paths outside the prefix are left out)."""

    def __init__(self, base: ArtifactStore, prefix: str, root_uri: str) -> None:
        self.base = base
        self.prefix = safe_relative_path(prefix, what="artifact root")
        self.root_uri = root_uri

    def __repr__(self) -> str:
        return f"StoreView({self.base!r}, {self.prefix!r})"

    def _full(self, path: str | None, *, allow_root: bool = True) -> str:
        rel = safe_relative_path(path, allow_empty=allow_root)
        return f"{self.prefix}/{rel}" if rel else self.prefix

    def write(self, path: str, chunks: Iterable[bytes]) -> int:
        return self.base.write(self._full(path, allow_root=False), chunks)

    def read(self, path: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        return self.base.read(self._full(path, allow_root=False), start, end)

    def stat(self, path: str) -> ObjectStat | None:
        return self.base.stat(self._full(path))

    def list(self, path: str = "") -> list[FileInfo]:
        head = self.prefix + "/"
        return [
            FileInfo(info.path[len(head) :], info.is_dir, info.file_size)
            for info in self.base.list(self._full(path))
            if info.path.startswith(head)
        ]

    def delete(self, path: str) -> None:
        self.base.delete(self._full(path))

    def upload_file(self, local_path: str, path: str) -> None:
        self.base.upload_file(local_path, self._full(path, allow_root=False))

    def download_file(self, path: str, local_path: str) -> None:
        self.base.download_file(self._full(path, allow_root=False), local_path)

    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload:
        return self.base.create_multipart_upload(self._full(path, allow_root=False), num_parts)

    def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[CompletedPart]
    ) -> None:
        self.base.complete_multipart_upload(self._full(path, allow_root=False), upload_id, parts)

    def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        self.base.abort_multipart_upload(self._full(path, allow_root=False), upload_id)


def _write_all(store: ArtifactStore, path: str, data: bytes) -> None:
    store.write(path, [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""])


def _same_host(url: str, tracking_uri: str) -> bool:
    a, b = urlsplit(url), urlsplit(tracking_uri)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())


def _inside(path: str, folder: str) -> bool:
    """Whether a listed ``path`` is a safe path directly or deeply inside ``folder``."""
    try:
        checked = safe_relative_path(path, allow_empty=False)
    except InvalidInput:
        return False
    return checked == path and (not folder or path.startswith(folder + "/"))


def _walk(store: ArtifactStore, folder: str) -> Iterator[FileInfo]:
    """Every file below ``folder``, depth first; listed paths that are unsafe are refused."""
    for info in store.list(folder):
        if not _inside(info.path, folder):
            raise InvalidInput(
                f"The artifact store listed an unsafe path {info.path!r} under '{folder}'."
            )
        if info.is_dir:
            yield from _walk(store, info.path)
        else:
            yield info


__all__ = [
    "FILE_RETRIES",
    "MAX_WORKERS",
    "PROGRESS_MIN_BYTES",
    "PROGRESS_MIN_FILES",
    "PROXY_PATH",
    "Download",
    "Progress",
    "RunArtifacts",
    "StoreView",
    "Transfer",
    "Upload",
    "local_file",
    "local_tree",
    "parse_runs_uri",
    "proxy_url",
    "split_uri",
]
