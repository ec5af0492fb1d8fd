"""Where a run's artifacts are, for the server's routes (the proxy, ``artifacts/list``, downloads).

:class:`ArtifactService` holds the proxy's destination store and turns a run's ``artifact_uri`` into
``(store, path below the store's root)``:

* ``mlflow-artifacts:/<exp>/<run>/artifacts`` (with or without a host) is a path in the destination;
* ``file://`` (or a plain path) is read only inside the server's own artifact roots (the destination
  and the default artifact root); anything else on the server's disk is refused, so that an
  experiment created with ``artifact_location=/etc`` cannot turn a download route into a file reader;
* ``s3://bucket/prefix`` is opened with the server's credentials;
* ``http(s)://`` locations are never fetched by the server (no SSRF through artifact routes);
* other schemes go to the store registered for them (entry points).

Stores are opened once per root (the destination, a bucket, a local root) and reused.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import unquote, urlparse

from modelyard.errors import InvalidInput, TemporarilyUnavailable
from modelyard.store.artifacts import ArtifactStore, open_artifact_store, uri_scheme
from modelyard.store.artifacts.local import local_root
from modelyard.store.artifacts.paths import safe_relative_path

PROXY_SCHEME = "mlflow-artifacts"
NOT_SERVING_MESSAGE = (
    "This server does not serve artifacts (it was started with --no-serve-artifacts); "
    "use the artifact store directly."
)


class ArtifactService:
    """Resolves artifact locations to stores. ``proxy`` is None when the server does not proxy."""

    def __init__(
        self,
        proxy: ArtifactStore | None,
        *,
        destination: str | None = None,
        local_roots: tuple[str, ...] = (),
    ) -> None:
        self.proxy = proxy
        self.destination = destination
        self._local_roots = tuple(_real(local_root(r)) for r in local_roots)
        self._stores: dict[str, ArtifactStore] = {}
        self._lock = threading.Lock()

    @property
    def serving(self) -> bool:
        return self.proxy is not None

    def require_proxy(self) -> ArtifactStore:
        if self.proxy is None:
            raise TemporarilyUnavailable(NOT_SERVING_MESSAGE)
        return self.proxy

    def _cached(self, root_uri: str) -> ArtifactStore:
        with self._lock:
            store = self._stores.get(root_uri)
            if store is None:
                store = self._stores[root_uri] = open_artifact_store(root_uri)
            return store

    def resolve(self, artifact_uri: str, path: str = "") -> tuple[ArtifactStore, str]:
        """(store, path below its root) of ``path`` inside the location ``artifact_uri``.

        ``path`` is checked with :func:`safe_relative_path`; the location is checked too (a run's
        location was stored earlier and may predate today's checks).
        """
        rel = safe_relative_path(path)
        if not isinstance(artifact_uri, str) or not artifact_uri:
            raise InvalidInput("This run has no artifact location.")
        parsed = urlparse(artifact_uri)
        if parsed.query or parsed.fragment or "#" in artifact_uri:
            raise InvalidInput("The run's artifact location has a query or fragment; refused.")
        scheme = uri_scheme(artifact_uri)
        if scheme == PROXY_SCHEME:
            base = safe_relative_path(unquote(parsed.path).lstrip("/"), what="artifact location")
            return self.require_proxy(), _join(base, rel)
        if scheme == "file":
            return self._local(artifact_uri, rel)
        if scheme in ("http", "https"):
            raise InvalidInput(
                "The server does not fetch artifacts from HTTP locations; read them from the "
                "location directly."
            )
        if scheme == "s3":
            bucket = parsed.netloc
            base = safe_relative_path(unquote(parsed.path).lstrip("/"), what="artifact location")
            return self._cached(f"s3://{bucket}"), _join(base, rel)
        return open_artifact_store(artifact_uri), rel

    def _local(self, artifact_uri: str, rel: str) -> tuple[ArtifactStore, str]:
        folder = _real(local_root(artifact_uri))
        for root in self._local_roots:
            if folder == root or folder.startswith(root.rstrip(os.sep) + os.sep):
                base = os.path.relpath(folder, root).replace(os.sep, "/")
                base = "" if base == "." else safe_relative_path(base, what="artifact location")
                return self._cached("file://" + root), _join(base, rel)
        raise InvalidInput(
            "The run's artifacts are in a local folder outside the server's artifact roots; "
            "the server does not read it."
        )


def _real(path: str) -> str:
    return os.path.realpath(path)


def _join(base: str, rel: str) -> str:
    return "/".join(p for p in (base, rel) if p)


__all__ = ["NOT_SERVING_MESSAGE", "PROXY_SCHEME", "ArtifactService"]
