"""Where the served model comes from: a path, a run, a logged model or a registry version.

A :class:`ModelSource` names a model by URI and knows how to load it as a :class:`LoadedModel`
(the pyfunc model, what ``/metadata`` tells about it, and the parse plan of its signature). For a
registry URI that can move (``models:/name@alias``, ``models:/name/Production``,
``models:/name/latest``), :meth:`ModelSource.current_version` asks the registry which version it
names now, which is what ``--watch`` polls.

The tracking client is imported only inside the functions that need it: the scoring app itself
works over models only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+?)(?:@(?P<alias>[^/]+)|/(?P<selector>[^/]+))$")


@dataclass
class LoadedModel:
    """One loaded model: swapped as a whole when ``--watch`` sees a new version."""

    pyfunc: Any  # modelyard.models.pyfunc.PyFuncModel
    uri: str
    version: str | None  # the registry version, for models:/ URIs of a registered model
    plan: Any  # modelyard.serving.payloads.InputPlan
    loaded_at: float = field(default_factory=time.time)
    #: the temporary directory this process downloaded the model into, if it did
    download_root: str | None = None
    owner_pid: int = field(default_factory=os.getpid)

    def remove_download(self) -> None:
        """Delete the downloaded files (a model swapped out by ``--watch``), if this process
        downloaded them; a model loaded from a path or by a parent process is left alone."""
        if self.download_root is not None and self.owner_pid == os.getpid():
            shutil.rmtree(self.download_root, ignore_errors=True)
            self.download_root = None

    def metadata(self) -> dict[str, Any]:
        """The body of ``GET /metadata``."""
        manifest = self.pyfunc.metadata
        signature = manifest.signature
        return {
            "model_uri": self.uri,
            "model_version": self.version,
            "model_uuid": manifest.model_uuid,
            "model_id": getattr(manifest, "model_id", None),
            "run_id": manifest.run_id,
            "flavors": sorted(manifest.flavors),
            "loader_module": self.pyfunc.loader_module,
            "signature": None
            if signature is None
            else {k: None if v is None else json.loads(v) for k, v in signature.to_dict().items()},
            "loaded_at": self.loaded_at,
        }


class ModelSource:
    """A model URI, with the tracking URI that resolves ``runs:/`` and ``models:/``.

    ``local_dir`` is a directory already holding the model (the CLI resolves a registry URI once,
    before it forks its workers); the first :meth:`load` reads it instead of downloading again.
    """

    def __init__(
        self,
        uri: str,
        *,
        tracking_uri: str | None = None,
        allow_pickle: bool | None = None,
        local_dir: str | None = None,
        version: str | None = None,
    ) -> None:
        self.uri = uri
        self.tracking_uri = tracking_uri
        self.allow_pickle = allow_pickle
        self._local_dir = local_dir
        self._roots: dict[str, str] = {}  # downloaded model dir -> the temporary dir made for it
        self._version = version
        match = _REGISTRY_URI.match(uri)
        self.registered_name = None
        if match is not None and not match.group("name").startswith("m-"):
            self.registered_name = match.group("name")
        selector = match.group("selector") if match else None
        self.movable = self.registered_name is not None and not (selector or "").isdigit()

    def current_version(self) -> str | None:
        """The registry version the URI names now (``None`` for a URI outside the registry)."""
        if self.registered_name is None:
            return None
        with self._client() as client:
            return str(client.resolve_model_version(self.uri).version)

    def resolve(self) -> tuple[str, str | None]:
        """A local directory with the model, and its registry version; downloads if needed."""
        version = self.current_version()
        uri = self.uri if version is None else f"models:/{self.registered_name}/{version}"
        return self._download(uri), version

    def load(self, version: str | None = None) -> LoadedModel:
        """Load the model (the given registry ``version`` of it, when one is named)."""
        from modelyard.models.pyfunc import load_model
        from modelyard.serving.payloads import InputPlan

        if self._local_dir is not None and (version is None or version == self._version):
            local, version = self._local_dir, self._version
            self._local_dir = None  # later loads (a moved alias) download the new version
        elif version is not None and self.registered_name is not None:
            local = self._download(f"models:/{self.registered_name}/{version}")
        else:
            local, version = self.resolve()
        model = load_model(local, allow_pickle=self.allow_pickle)
        root = self._roots.pop(str(local), None)
        return LoadedModel(
            model, self.uri, version, InputPlan.of(model.signature), download_root=root
        )

    def _download(self, uri: str) -> str:
        from urllib.parse import urlparse

        scheme = urlparse(uri).scheme.lower()
        if len(scheme) <= 1 or scheme == "file":
            return uri
        from modelyard.client.tracking import ModelyardClient

        target = tempfile.mkdtemp(prefix="modelyard-serve-")
        try:
            with ModelyardClient(self.tracking_uri) as client:
                if scheme == "models":
                    source = client.get_model_download_uri(uri)
                    local = str(client.download_artifacts(artifact_uri=source, dst_path=target))
                else:
                    local = None
            if local is None:
                from modelyard.client import fluent
                from modelyard.pyfunc import resolve_model_uri

                if self.tracking_uri:
                    fluent.set_tracking_uri(self.tracking_uri)
                local = resolve_model_uri(uri, target)
            self._roots[local] = target
            return local
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise

    def _client(self) -> Any:
        from modelyard.client.tracking import ModelyardClient

        return ModelyardClient(self.tracking_uri)


__all__ = ["LoadedModel", "ModelSource"]
