"""What the typed ``log_*`` calls store, and how ``load_*`` reads it back, in MLflow's formats.

* ``log_dict``: indented JSON, or YAML for a ``.yaml``/``.yml`` name;
* ``log_figure``: a matplotlib figure in the format of the extension; a plotly figure as HTML (plotly.js
  from its CDN) or, with kaleido, as an image;
* ``log_image``: a PIL image or a numpy array saved by Pillow; with a ``key``, the two files of one
  point of an image series (full PNG and a WEBP thumbnail) named as MLflow's UI expects;
* ``log_table``: pandas' split JSON (``{"columns": [...], "data": [[...]]}``, no index, ISO dates) or
  Parquet, listed in the run tag ``mlflow.loggedArtifacts``.

matplotlib, plotly, Pillow, numpy and pandas are imported only inside the functions that need them;
a missing one is an ImportError that says what to install.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.store.artifacts.paths import safe_relative_path

#: Tags MLflow's UI reads to find tables and images of a run.
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
LOGGED_IMAGES_TAG = "mlflow.loggedImages"
#: Longest side of the thumbnail that ``log_image(key=...)`` stores beside each image.
THUMBNAIL_SIZE = 256

_IMAGE_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")


def _need(module: str, pip_name: str, what: str) -> Any:
    """``import module``, or an ImportError that says what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{what} needs {pip_name}, which is not installed: pip install {pip_name}"
        ) from None


def dict_bytes(dictionary: Any, artifact_file: str) -> bytes:
    """JSON (indented) or, for ``.yaml``/``.yml``, YAML of ``dictionary``."""
    extension = posixpath.splitext(artifact_file)[1].lower()
    if extension in (".yaml", ".yml"):
        import yaml

        return yaml.safe_dump(
            dictionary, indent=2, default_flow_style=False, allow_unicode=True
        ).encode("utf-8")
    try:
        return json.dumps(dictionary, indent=2).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"log_dict: the value for '{artifact_file}' is not JSON serialisable: {e}"
        ) from None


def parse_dict(data: bytes, artifact_uri: str) -> Any:
    """The value of a JSON file (or YAML, for a ``.yaml``/``.yml`` name)."""
    text = text_of(data, artifact_uri)
    if posixpath.splitext(artifact_uri)[1].lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise InvalidInput(f"Artifact {artifact_uri!r} is not valid YAML.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise InvalidInput(f"Artifact {artifact_uri!r} is not valid JSON.") from None


def text_of(data: bytes, artifact_uri: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"Artifact {artifact_uri!r} is not UTF-8 text.") from None


def figure_bytes(figure: Any, artifact_file: str, save_kwargs: Mapping[str, Any] | None) -> bytes:
    """A matplotlib figure saved in the format of the file's extension; a plotly figure as HTML
    (``.html``) or as an image (needs kaleido)."""
    extension = posixpath.splitext(artifact_file)[1].lower().lstrip(".")
    kwargs = dict(save_kwargs or {})
    kind = type(figure).__module__.split(".")[0]
    if kind == "matplotlib" or hasattr(figure, "savefig"):
        buffer = io.BytesIO()
        kwargs.setdefault("format", extension or "png")
        figure.savefig(buffer, **kwargs)
        return buffer.getvalue()
    if kind == "plotly" or hasattr(figure, "write_html"):
        if extension in ("html", "htm"):
            kwargs.setdefault("include_plotlyjs", "cdn")
            kwargs.setdefault("full_html", True)
            return str(figure.to_html(**kwargs)).encode("utf-8")
        if extension in ("png", "jpeg", "jpg", "webp", "svg", "pdf"):
            _need("kaleido", "kaleido", "Saving a plotly figure as an image")
            return bytes(
                figure.to_image(format="jpeg" if extension == "jpg" else extension, **kwargs)
            )
        raise InvalidInput(
            f"log_figure: a plotly figure is saved as .html, .png, .jpeg, .webp, .svg or .pdf, not "
            f"'{artifact_file}'."
        )
    raise InvalidInput(
        f"log_figure: unsupported figure type {type(figure).__name__}; expected a matplotlib or plotly figure."
    )


def to_pil(image: Any) -> Any:
    """A PIL image from a PIL image or a numpy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).

    Integer arrays must hold values in 0..255; float and bool arrays values in 0..1 (scaled to 0..255).
    """
    pil = _need("PIL.Image", "pillow", "log_image")
    if isinstance(image, pil.Image):
        return image
    if type(image).__module__.split(".")[0] != "numpy":
        raise InvalidInput(
            f"log_image: unsupported image type {type(image).__name__}; expected a numpy array or a PIL image."
        )
    np = _need("numpy", "numpy", "log_image")
    array = image
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InvalidInput(
            f"log_image: an array image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), not {image.shape}."
        )
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidInput(
                f"log_image: integer pixel values must be in 0..255 (found {array.min()}..{array.max()})."
            )
        array = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_:
        array = array.astype(np.float64)
        if array.size and (array.min() < 0.0 or array.max() > 1.0):
            raise InvalidInput(
                f"log_image: float pixel values must be in 0.0..1.0 (found {array.min()}..{array.max()})."
            )
        array = np.round(array * 255).astype(np.uint8)
    else:
        raise InvalidInput(f"log_image: unsupported array dtype {array.dtype}.")
    return pil.fromarray(array)


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """The image saved in the format of the file's extension (PNG without one)."""
    pil_image = to_pil(image)
    extension = posixpath.splitext(artifact_file)[1].lower().lstrip(".")
    formats = {
        "jpg": "JPEG",
        "jpeg": "JPEG",
        "png": "PNG",
        "webp": "WEBP",
        "gif": "GIF",
        "bmp": "BMP",
        "tif": "TIFF",
        "tiff": "TIFF",
    }
    fmt = formats.get(extension or "png")
    if fmt is None:
        raise InvalidInput(f"log_image: unsupported image file extension in '{artifact_file}'.")
    if fmt == "JPEG" and pil_image.mode in ("RGBA", "LA", "P"):
        pil_image = pil_image.convert("RGB")
    buffer = io.BytesIO()
    pil_image.save(buffer, format=fmt)
    return buffer.getvalue()


def image_series_files(
    image: Any, key: str, step: int | None, timestamp: int | None
) -> list[tuple[str, bytes]]:
    """The two files of one point of an image series (``log_image(key=..., step=...)``), named as
    MLflow's UI expects: ``images/<key>+step+<n>+timestamp+<ms>+<uuid>.png`` and a thumbnail
    ``...+compressed.webp``. A ``/`` in the key becomes ``~``."""
    if not isinstance(key, str) or not _IMAGE_KEY.match(key):
        raise InvalidInput(
            "log_image: the key may only contain letters, digits, '_', '-', '.', ' ' and '/'; "
            f"got {key!r}."
        )
    pil_image = to_pil(image)
    step = 0 if step is None else int(step)
    if timestamp is None:
        timestamp = int(time.time() * 1000)
    name = f"images/{key.replace('/', '~')}+step+{step}+timestamp+{int(timestamp)}+{uuid.uuid4()}"
    full = io.BytesIO()
    pil_image.save(full, format="PNG")
    thumb = pil_image.copy()
    thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    if thumb.mode not in ("RGB", "RGBA", "L"):
        thumb = thumb.convert("RGBA")
    small = io.BytesIO()
    thumb.save(small, format="WEBP")
    return [(f"{name}.png", full.getvalue()), (f"{name}+compressed.webp", small.getvalue())]


def import_pandas(what: str) -> Any:
    return _need("pandas", "'modelyard[pandas]'", what)


def table_frame(data: Any) -> Any:
    """A pandas DataFrame of a DataFrame or a dict of columns (a dict of scalars is one row)."""
    pd = import_pandas("log_table")
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(dict(data))
        except ValueError:  # all scalars: one row
            return pd.DataFrame([dict(data)])
    raise InvalidInput(
        f"log_table: data must be a pandas DataFrame or a dict, not {type(data).__name__}."
    )


def check_table_file(artifact_file: str) -> str:
    path = safe_relative_path(artifact_file, what="artifact_file", allow_empty=False)
    if not path.endswith((".json", ".parquet")):
        raise InvalidInput(
            f"log_table: the artifact file '{artifact_file}' must end in .json or .parquet."
        )
    return path


def table_bytes(frame: Any, artifact_file: str) -> bytes:
    """The table as MLflow writes it: JSON ``{"columns": [...], "data": [[...]]}`` (pandas' split
    orientation, no index, ISO dates), or Parquet for a ``.parquet`` name."""
    if artifact_file.endswith(".parquet"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    try:
        text = frame.to_json(orient="split", index=False, date_format="iso")
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidInput(
            f"log_table: the table for '{artifact_file}' is not JSON serialisable: {e}"
        ) from None
    return str(text).encode("utf-8")


def read_table(data: bytes, artifact_file: str) -> Any:
    pd = import_pandas("load_table")
    if artifact_file.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_json(io.StringIO(text_of(data, artifact_file)), orient="split")


def logged_table_tag(current: str | None, artifact_file: str) -> str | None:
    """The new value of ``mlflow.loggedArtifacts`` with the table listed, or None if it already is."""
    try:
        entries = json.loads(current) if current else []
    except json.JSONDecodeError:
        entries = []
    if not isinstance(entries, list):
        entries = []
    entry = {"path": artifact_file, "type": "table"}
    if entry in entries:
        return None
    return json.dumps([*entries, entry])


def has_table(tag_value: str | None, artifact_file: str) -> bool:
    try:
        entries = json.loads(tag_value) if tag_value else []
    except json.JSONDecodeError:
        return False
    return isinstance(entries, list) and {"path": artifact_file, "type": "table"} in entries


__all__ = [
    "LOGGED_ARTIFACTS_TAG",
    "LOGGED_IMAGES_TAG",
    "THUMBNAIL_SIZE",
    "check_table_file",
    "dict_bytes",
    "figure_bytes",
    "has_table",
    "image_bytes",
    "image_series_files",
    "import_pandas",
    "logged_table_tag",
    "parse_dict",
    "read_table",
    "table_bytes",
    "table_frame",
    "text_of",
    "to_pil",
]
