"""The UI's static files (``/static/ui/<name>``): our own CSS, JavaScript and logo, and Plotly.js as
the ``plotly`` Python package ships it.

* **Versioned URLs, long cache.** Pages link ``/static/ui/<name>?v=<hash>`` (:func:`static_url`), the
  hash being of the file's bytes (of its size and mtime for Plotly, which is too big to hash on
  start-up). A request with the current ``v`` may be cached for a year (``immutable``); any other
  gets ``no-cache`` and is revalidated by its ``ETag`` (``304 Not Modified``).
* **gzip.** Text files are sent gzip-compressed to browsers that accept it. Plotly.js (4.8 MB,
  1.5 MB compressed) is compressed in a background thread on its first request, which is answered
  uncompressed meanwhile: no request waits half a second for the compressor.
* Files are read once into memory (Plotly included, about 6 MB per worker) and answered from there.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

import modelyard

HERE = Path(__file__).parent
STATIC = HERE / "static"
PLOTLY_FILE = "plotly.min.js"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
GZIP_LEVEL = 6
MIN_GZIP_BYTES = 1024


def plotly_path() -> Path | None:
    """``plotly.min.js`` as shipped inside the ``plotly`` Python package (found without importing it)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "package_data" / PLOTLY_FILE
        if candidate.is_file():
            return candidate
    return None


@dataclass
class Asset:
    """One file held in memory, with its gzip form once it has been made."""

    path: Path
    version: str
    data: bytes = b""
    gzipped: bytes | None = None
    compressing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> None:
        with self.lock:
            if not self.data:
                self.data = self.path.read_bytes()

    def gzip_now(self) -> None:
        compressed = gzip.compress(self.data, GZIP_LEVEL, mtime=0)
        with self.lock:
            self.gzipped = compressed

    def gzip_later(self) -> None:
        with self.lock:
            if self.compressing or self.gzipped is not None:
                return
            self.compressing = True
        threading.Thread(target=self.gzip_now, name="ui-gzip", daemon=True).start()


def _version_of_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _version_of_plotly(path: Path) -> str:
    stat = path.stat()
    text = f"{path}:{stat.st_size}:{stat.st_mtime_ns}:{modelyard.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class StaticAssets:
    """The ``/static/ui/{name}`` endpoint and the versioned URLs pages link to."""

    def __init__(self) -> None:
        self.assets: dict[str, Asset] = {}
        for path in sorted(STATIC.iterdir()):
            if path.suffix in TYPES:
                self.assets[path.name] = Asset(path, _version_of_file(path))
        plotly = plotly_path()
        if plotly is not None:
            self.assets[PLOTLY_FILE] = Asset(plotly, _version_of_plotly(plotly))

    def url(self, name: str) -> str:
        asset = self.assets.get(name)
        return f"/static/ui/{name}?v={asset.version}" if asset else f"/static/ui/{name}"

    def respond(self, request: Request, name: str) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            message = (
                "Plotly.js is missing: pip install 'modelyard[server]'"
                if name == PLOTLY_FILE
                else "Not Found"
            )
            return Response(message, status_code=404, media_type="text/plain")
        asset.load()
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
        body, encoding = asset.data, None
        if accepts_gzip and len(asset.data) >= MIN_GZIP_BYTES:
            if asset.gzipped is None and name == PLOTLY_FILE:
                asset.gzip_later()  # this request goes out uncompressed
            elif asset.gzipped is None:
                asset.gzip_now()  # our own files: a few KiB, a millisecond
            if asset.gzipped is not None:
                body, encoding = asset.gzipped, "gzip"
        etag = f'"{asset.version}{"-gz" if encoding else ""}"'
        headers = {
            "ETag": etag,
            "Cache-Control": IMMUTABLE
            if request.query_params.get("v") == asset.version
            else REVALIDATE,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        if encoding:
            headers["Content-Encoding"] = encoding
        return Response(body, headers=headers, media_type=TYPES[asset.path.suffix])


_assets: StaticAssets | None = None
_assets_lock = threading.Lock()


def static_assets() -> StaticAssets:
    """The process's :class:`StaticAssets` (made on first use: it hashes our static files)."""
    global _assets
    with _assets_lock:
        if _assets is None:
            _assets = StaticAssets()
        return _assets


def static_url(name: str) -> str:
    """The versioned URL of a static file, for templates."""
    return static_assets().url(name)


__all__ = ["PLOTLY_FILE", "StaticAssets", "plotly_path", "static_assets", "static_url"]
