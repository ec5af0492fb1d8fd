"""Input examples, stored as MLflow stores them.

``input_example.json`` holds the example itself and ``serving_input_example.json`` a ready request
body for the scoring server. The layouts, by the ``type`` recorded in
``saved_input_example_info``:

* ``dataframe``: ``{"columns": [...], "data": [[...]]}`` (pandas "split" orient without the index);
  served as ``{"dataframe_split": ...}``;
* ``ndarray``: nested lists, or ``{name: nested lists}`` for named tensors; served as
  ``{"inputs": ...}``;
* ``json_object``: any other dict or list, as is; served as ``{"inputs": ...}``.

With params the example file is ``{"inputs": <example>, "params": {...}}`` and the request body gets
a ``"params"`` key too.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, NotFound

INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_INPUT_FILE = "serving_input_example.json"


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        return isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def split_example(example: Any) -> tuple[Any, dict[str, Any] | None]:
    """``(data, params)`` from an example that may be a ``(data, params)`` tuple."""
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], Mapping):
        return example[0], dict(example[1])
    return example, None


def _encode(data: Any) -> tuple[str, Any, dict[str, Any]]:
    """``(type, json value, extra info)`` for an example."""
    import numpy as np

    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None and isinstance(data, pd.Series):
        data = data.to_frame()
    if pd is not None and isinstance(data, pd.DataFrame):
        split = json.loads(data.to_json(orient="split", index=False, date_format="iso"))
        return (
            "dataframe",
            {"columns": split["columns"], "data": split["data"]},
            {"pandas_orient": "split"},
        )
    if isinstance(data, np.ndarray):
        return "ndarray", data.tolist(), {}
    if isinstance(data, Mapping) and data and all(isinstance(v, np.ndarray) for v in data.values()):
        return "ndarray", {str(k): v.tolist() for k, v in data.items()}, {}
    if isinstance(data, (Mapping, list, str, int, float, bool)):
        return "json_object", data, {}
    raise InvalidInput(
        f"Cannot save an input example of type {type(data).__name__}: use a pandas DataFrame, a "
        "numpy array, a dict or a list."
    )


def save_input_example(model_dir: str | os.PathLike[str], example: Any) -> dict[str, Any]:
    """Write both example files; return the ``saved_input_example_info`` block for ``MLmodel``."""
    data, params = split_example(example)
    kind, value, extra = _encode(data)
    body = value if params is None else {"inputs": value, "params": params}
    model_dir = Path(model_dir)
    (model_dir / INPUT_EXAMPLE_FILE).write_text(json.dumps(body, default=_json_default))
    request: dict[str, Any] = (
        {"dataframe_split": value} if kind == "dataframe" else {"inputs": value}
    )
    if params is not None:
        request["params"] = params
    (model_dir / SERVING_INPUT_FILE).write_text(
        json.dumps(request, default=_json_default, indent=2)
    )
    info: dict[str, Any] = {
        "artifact_path": INPUT_EXAMPLE_FILE,
        "type": kind,
        "serving_input_path": SERVING_INPUT_FILE,
        **extra,
    }
    if params is not None:
        info["params"] = "true"
    return info


def load_input_example(model_dir: str | os.PathLike[str], info: Mapping[str, Any] | None) -> Any:
    """The saved example as data (a DataFrame, an array, a dict or a list), or ``None``.

    With params the result is ``(data, params)``.
    """
    if not info:
        return None
    file = Path(model_dir) / str(info.get("artifact_path", INPUT_EXAMPLE_FILE))
    if not file.is_file():
        raise NotFound(f"The model's input example {file.name} is missing from {model_dir}.")
    body = json.loads(file.read_text())
    params = None
    if info.get("params") and isinstance(body, dict) and "inputs" in body:
        params = body.get("params")
        body = body["inputs"]
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        if isinstance(body, dict) and "columns" in body:
            data: Any = pd.DataFrame(body["data"], columns=body["columns"])
        else:
            data = pd.DataFrame(body)
    elif kind == "ndarray":
        import numpy as np

        data = (
            {k: np.asarray(v) for k, v in body.items()}
            if isinstance(body, dict)
            else np.asarray(body)
        )
    else:
        data = body
    return data if params is None else (data, params)


__all__ = [
    "INPUT_EXAMPLE_FILE",
    "SERVING_INPUT_FILE",
    "load_input_example",
    "save_input_example",
    "split_example",
]
