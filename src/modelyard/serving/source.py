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
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
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
        if (Path(local) / "model.skops").is_file():
            import_skops_quickly()
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


def import_skops_quickly() -> None:
    """Import ``skops.io`` for a model server without paying for its scan of scikit-learn twice.

    On import, skops lists every scikit-learn estimator (``sklearn.utils.all_estimators``, which
    imports all of scikit-learn, and with it torch when torch is installed, though no estimator
    lives in ``sklearn.externals.array_api_compat.torch``) only to learn their names, the types it
    trusts. That is over two seconds of CPU before a scikit-learn model can serve. So:

    * the names found are kept in a small JSON file of the user's cache directory, keyed by the
      scikit-learn and skops versions; the next server hands skops the same names at once;
    * while the scan runs, that torch package is a placeholder with no subpackages (removed right
      after, so anything that needs it later imports the real one).

    Any problem with the cache (unwritable, corrupt) only means the scan runs as usual.
    """
    if "skops.io" in sys.modules:
        return
    try:
        import sklearn
        import sklearn.utils
        import skops
    except ImportError:
        return  # the flavor says how to install it
    key = f"{sklearn.__version__}-{getattr(skops, '__version__', '0')}"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    cache = cache / "modelyard" / f"skops-estimators-{key}.json"
    original = sklearn.utils.all_estimators
    names = _read_names(cache)
    found: list[tuple[str, str]] = []
    if names is not None:
        fakes = [(n, type(n, (), {"__module__": m})) for m, n in names]

        def all_estimators(*args: Any, **kwargs: Any) -> Any:
            return list(fakes) if not args and not kwargs else original(*args, **kwargs)
    else:

        def all_estimators(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if not args and not kwargs:
                found[:] = [(c.__module__, c.__name__) for _, c in result]
            return result

    placeholder = "sklearn.externals.array_api_compat.torch"
    stub = placeholder not in sys.modules and "torch" not in sys.modules
    if stub:
        sys.modules[placeholder] = types.ModuleType(placeholder)
    sklearn.utils.all_estimators = all_estimators
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = original
        if stub and not hasattr(sys.modules.get(placeholder), "__file__"):
            sys.modules.pop(placeholder, None)
    if found:
        _write_names(cache, found)


def _read_names(path: Path) -> list[tuple[str, str]] | None:
    try:
        data = json.loads(path.read_text())
        return [(str(m), str(n)) for m, n in data] or None
    except (OSError, ValueError, TypeError):
        return None


def _write_names(path: Path, names: list[tuple[str, str]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(names))
        os.replace(partial, path)
    except OSError:
        pass


__all__ = ["LoadedModel", "ModelSource", "import_skops_quickly"]
