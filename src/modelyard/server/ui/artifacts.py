"""The artifacts browser of the run page: one folder's listing and a preview of one file.

Files are found through the same :class:`~modelyard.service.artifacts.ArtifactService` as the REST
API's ``artifacts/list`` and ``/get-artifact`` (which also serves the downloads and the images shown
here). Previews read at most :data:`PREVIEW_BYTES` of a file and are always escaped text: text, JSON
(pretty-printed), YAML, CSV/TSV as a table, images by URL, and an ``MLmodel`` summary with flavors and
signature.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from typing import Any
from urllib.parse import urlencode

from modelyard.errors import InvalidInput, ModelyardError
from modelyard.store.artifacts.paths import safe_relative_path

PREVIEW_BYTES = 256 * 1024
MAX_LISTING = 1000
MAX_CSV_ROWS = 100
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
TEXT_EXTENSIONS = {
    ".txt", ".log", ".md", ".py", ".cfg", ".ini", ".toml", ".sh", ".r", ".sql", ".html", ".xml",
    ".rst", ".ipynb", ".env", ".requirements",
}  # fmt: skip
TEXT_NAMES = {"MLproject", "requirements.txt", "conda.yaml", "python_env.yaml", "LICENSE"}


def download_url(run_id: str, path: str) -> str:
    return "/get-artifact?" + urlencode({"run_id": run_id, "path": path})


def _kind(path: str) -> str:
    name = posixpath.basename(path)
    ext = posixpath.splitext(name)[1].lower()
    if name == "MLmodel":
        return "mlmodel"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext == ".json":
        return "json"
    if ext in (".yaml", ".yml"):
        return "yaml"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in TEXT_EXTENSIONS or name in TEXT_NAMES:
        return "text"
    return "binary"


def browse(artifacts: Any, run: Any, folder: str, selected: str) -> dict[str, Any]:
    """Context for the template: ``folder``'s entries and the preview of ``selected`` (if any)."""
    info = run.info
    out: dict[str, Any] = {"folder": "", "crumbs": [], "entries": [], "preview": None}
    out["error"] = None
    try:
        folder = safe_relative_path(folder)
        out["folder"] = folder
        store, base = artifacts.resolve(info.artifact_uri, folder)
        entries = store.list(base)
    except ModelyardError as exc:
        out["error"] = exc.message
        return out
    parts = folder.split("/") if folder else []
    out["crumbs"] = [("/".join(parts[: i + 1]), part) for i, part in enumerate(parts)]
    for entry in entries[:MAX_LISTING]:
        name = posixpath.basename(entry.path.rstrip("/"))
        path = posixpath.join(folder, name) if folder else name
        out["entries"].append(
            {
                "name": name,
                "path": path,
                "is_dir": entry.is_dir,
                "size": entry.file_size,
                "download": None if entry.is_dir else download_url(info.run_id, path),
            }
        )
    out["truncated"] = len(entries) > MAX_LISTING
    if selected:
        out["preview"] = preview(artifacts, run, selected)
    return out


def preview(artifacts: Any, run: Any, path: str) -> dict[str, Any]:
    info = run.info
    result: dict[str, Any] = {"path": path, "kind": "binary", "error": None, "truncated": False}
    try:
        path = safe_relative_path(path, allow_empty=False)
        result["path"] = path
        result["download"] = download_url(info.run_id, path)
        store, full = artifacts.resolve(info.artifact_uri, path)
        stat = store.stat(full)
        if stat is None:
            raise InvalidInput(f"Artifact '{path}' does not exist.")
        if stat.is_dir:
            raise InvalidInput(f"Artifact '{path}' is a folder.")
        result["size"] = stat.size
        kind = _kind(path)
        result["kind"] = kind
        if kind in ("image", "binary"):
            return result
        data = (
            b"".join(store.read(full, 0, min(stat.size, PREVIEW_BYTES) - 1)) if stat.size else b""
        )
    except ModelyardError as exc:
        result["error"] = exc.message
        return result
    result["truncated"] = stat.size > PREVIEW_BYTES
    text = data.decode("utf-8", "replace")
    result["text"] = text
    if kind == "json" and not result["truncated"]:
        try:
            result["text"] = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            result["kind"] = "text"
    elif kind == "csv":
        dialect = "excel-tab" if path.lower().endswith(".tsv") else "excel"
        rows = []
        for i, row in enumerate(csv.reader(io.StringIO(text), dialect=dialect)):
            if i > MAX_CSV_ROWS:
                result["truncated"] = True
                break
            rows.append(row)
        result["header"], result["rows"] = (rows[0], rows[1:]) if rows else ([], [])
    elif kind == "mlmodel":
        result["model"] = mlmodel_summary(text)
    return result


def mlmodel_summary(text: str) -> dict[str, Any] | None:
    """Flavors, identity and signature of an ``MLmodel`` file (None when it does not parse)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    flavors = data.get("flavors") if isinstance(data.get("flavors"), dict) else {}
    signature = data.get("signature") if isinstance(data.get("signature"), dict) else {}

    def columns(raw: Any) -> list[dict[str, str]]:
        try:
            specs = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return []
        if not isinstance(specs, list):
            return []
        out = []
        for spec in specs:
            if isinstance(spec, dict):
                kind = spec.get("type", "")
                if kind == "tensor" and isinstance(spec.get("tensor-spec"), dict):
                    ts = spec["tensor-spec"]
                    kind = f"tensor {ts.get('dtype', '')} {ts.get('shape', '')}"
                out.append(
                    {
                        "name": str(spec.get("name", "")),
                        "type": str(kind),
                        "required": "no" if spec.get("required") is False else "yes",
                    }
                )
        return out

    return {
        "flavors": [
            (
                name,
                ", ".join(f"{k}={v}" for k, v in sorted(conf.items()) if not isinstance(v, dict)),
            )
            for name, conf in flavors.items()
            if isinstance(conf, dict)
        ],
        "facts": [
            (label, str(data[key]))
            for label, key in (
                ("Run", "run_id"),
                ("Model UUID", "model_uuid"),
                ("Model ID", "model_id"),
                ("Created (UTC)", "utc_time_created"),
                ("Size (bytes)", "model_size_bytes"),
                ("MLflow format", "mlflow_version"),
            )
            if data.get(key) is not None
        ],
        "inputs": columns(signature.get("inputs")),
        "outputs": columns(signature.get("outputs")),
        "params": columns(signature.get("params")),
    }
