"""Artifact stores behind one protocol, chosen by the scheme of a URI.

``open_artifact_store("s3://bucket/prefix")`` looks the scheme up in one table: the built-ins of
:data:`DEFAULT_STORES` plus every entry point of the group ``modelyard.artifact_stores`` (name = the
scheme, value = a class or factory that takes the URI). Built-ins are entry points too, only listed
here instead of in package metadata, and they are loaded the same way. An installed entry point with
the name of a built-in replaces it. Plain paths (no scheme) use the ``file`` store.

Importing this package loads neither boto3, httpx nor any plugin; installed entry points are read once, on
first use.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from modelyard.errors import InvalidInput, ModelyardError
from modelyard.store.artifacts.base import (
    CHUNK_SIZE,
    ArtifactStore,
    CompletedPart,
    FileInfo,
    MultipartUpload,
    ObjectStat,
    PartUpload,
)
from modelyard.store.artifacts.http import HttpArtifactStore
from modelyard.store.artifacts.local import LocalArtifactStore
from modelyard.store.artifacts.paths import safe_relative_path, validate_artifact_location
from modelyard.store.artifacts.s3 import S3ArtifactStore

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

#: The entry point group through which packages add artifact stores for new schemes.
ENTRY_POINT_GROUP = "modelyard.artifact_stores"

#: Built-in stores, as ``scheme -> "module:attribute"``, registered exactly like entry points.
DEFAULT_STORES: dict[str, str] = {
    "file": "modelyard.store.artifacts.local:LocalArtifactStore",
    "s3": "modelyard.store.artifacts.s3:S3ArtifactStore",
    "http": "modelyard.store.artifacts.http:HttpArtifactStore",
    "https": "modelyard.store.artifacts.http:HttpArtifactStore",
}


@functools.cache
def _registry() -> dict[str, EntryPoint]:
    """Every known scheme and the entry point that opens it: the built-ins, then installed plugins."""
    from importlib.metadata import EntryPoint, entry_points

    table = {
        name: EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
        for name, value in DEFAULT_STORES.items()
    }
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        table[entry.name.lower()] = entry
    return table


def available_schemes() -> list[str]:
    """The schemes that :func:`open_artifact_store` can open, sorted."""
    return sorted(_registry())


def uri_scheme(uri: str) -> str:
    """The lower-case scheme of ``uri``; ``file`` for a plain path (a Windows drive letter included)."""
    scheme = urlparse(uri).scheme.lower()
    return "file" if len(scheme) <= 1 else scheme


def open_artifact_store(uri: str) -> ArtifactStore:
    """The artifact store rooted at ``uri``, made by the store registered for its scheme.

    Raises :class:`InvalidInput` for an empty URI or a scheme that no store is registered for.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput("Invalid artifact URI: a non-empty string is required.")
    scheme = uri_scheme(uri)
    registry = _registry()
    entry = registry.get(scheme)
    if entry is None:
        known = ", ".join(f"{name}:" for name in sorted(registry))
        raise InvalidInput(
            f"No artifact store is registered for the scheme '{scheme}:' (registered: {known}). "
            f"A package can add one under the entry point group '{ENTRY_POINT_GROUP}'.",
            uri=uri,
        )
    try:
        factory: Any = entry.load()
    except Exception as e:
        raise ModelyardError(
            f"The artifact store for '{scheme}:' ({entry.value}) could not be loaded: {type(e).__name__}: {e}",
            uri=uri,
        ) from e
    store: ArtifactStore = factory(uri)
    return store


__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_STORES",
    "ENTRY_POINT_GROUP",
    "ArtifactStore",
    "CompletedPart",
    "FileInfo",
    "HttpArtifactStore",
    "LocalArtifactStore",
    "MultipartUpload",
    "ObjectStat",
    "PartUpload",
    "S3ArtifactStore",
    "available_schemes",
    "open_artifact_store",
    "safe_relative_path",
    "uri_scheme",
    "validate_artifact_location",
]
