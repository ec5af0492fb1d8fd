"""The scoring protocol's bodies: parse every content type and JSON form, encode the predictions.

A ``POST /invocations`` body is one of (reference §4):

* ``application/json`` (only ``charset=utf-8`` may be given) holding an object with exactly one of
  ``dataframe_split`` (``{columns, data, index?}``), ``dataframe_records`` (a list of row objects),
  ``instances`` (rows: values or objects) or ``inputs`` (columns: a tensor, a list or a dict), and an
  optional ``params`` object passed to ``predict(..., params=)``;
* ``text/csv`` with a header row;
* ``application/vnd.apache.parquet``.

:func:`parse_request` turns a body into a :class:`Decoded` input. When the model's signature names
its columns and they all share one numeric type, rows are decoded straight into one typed numpy
array (a :class:`Block`), with no Python loop over rows; anything else goes through pandas and is
checked by the signature at predict time, so both paths accept and refuse the same inputs.
:func:`encode_predictions` writes ``{"predictions": ...}`` with orjson: DataFrames as records, numpy
as lists, NaN and infinities as ``null``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import pandas as pd

from modelyard.errors import BadRequest, InvalidInput
from modelyard.models.signature import ColSpec, DataType, ModelSignature, Schema, TensorSpec

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")

_NUMERIC = {
    DataType.boolean: np.dtype(np.bool_),
    DataType.integer: np.dtype(np.int32),
    DataType.long: np.dtype(np.int64),
    DataType.float: np.dtype(np.float32),
    DataType.double: np.dtype(np.float64),
}


class UnsupportedMediaType(BadRequest):
    """The body's content type (or its charset) is not one the scoring server reads: 415."""

    @property
    def http_status(self) -> int:
        return 415


class PayloadTooLarge(BadRequest):
    """The body is larger than the server's limit: 413."""

    @property
    def http_status(self) -> int:
        return 413


@dataclass(frozen=True, slots=True)
class Block:
    """Rows of one numeric dtype under named columns: a 2-D array, made a DataFrame only once."""

    columns: tuple[str, ...]
    values: Any  # a 2-D numpy array

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(self.columns), copy=False)


@dataclass(slots=True)
class Decoded:
    """A parsed request: the model input, the params, and how it may merge with others.

    ``rows`` is the number of rows when the input is row-shaped (a frame, a block, an array);
    ``key`` is what another request must share to be merged into one ``predict`` call with this
    one (its columns and types, and its params), or ``None`` when it must go alone.
    """

    data: Any
    params: dict[str, Any] | None
    rows: int | None
    key: Any

    def model_input(self) -> Any:
        return self.data.to_frame() if isinstance(self.data, Block) else self.data


@dataclass(frozen=True, slots=True)
class InputPlan:
    """What the parser needs to know of a model's input signature, worked out once at load time."""

    schema: Schema | None
    names: tuple[str, ...] | None  # the named columns of a column schema
    dtype: Any  # their common numeric dtype, if they share one
    csv_dtypes: dict[str, Any] | None
    tensor_dtype: Any  # the dtype of a single unnamed or named tensor input

    @classmethod
    def of(cls, signature: ModelSignature | None) -> InputPlan:
        schema = signature.inputs if signature is not None else None
        if schema is None or not schema.specs:
            return cls(None, None, None, None, None)
        if schema.is_tensor:
            specs = [s for s in schema.specs if isinstance(s, TensorSpec)]
            dtype = np.dtype(specs[0].dtype) if len(specs) == 1 else None
            return cls(schema, None, None, None, dtype)
        cols = [s for s in schema.specs if isinstance(s, ColSpec)]
        names = tuple(schema.names()) if schema.has_names else None
        numeric = [_NUMERIC.get(s.type) if isinstance(s.type, DataType) else None for s in cols]
        common = numeric[0] if numeric and all(d == numeric[0] for d in numeric) else None
        csv: dict[str, Any] = {}
        for spec, dtype in zip(cols, numeric, strict=True):
            if spec.name is None:
                continue
            if dtype is not None and dtype.kind == "f":
                csv[spec.name] = dtype
            elif spec.type in (DataType.string,):
                csv[spec.name] = str
        return cls(schema, names, common if names else None, csv or None, None)


# ---------------------------------------------------------------------------- content types


def content_kind(header: str | None) -> str:
    """The media type of a ``Content-Type`` header, if the scoring server reads it.

    Raises :class:`UnsupportedMediaType` for another type, for a charset other than utf-8, and for
    any other parameter of ``application/json`` (as MLflow does).
    """
    if not header:
        raise UnsupportedMediaType(_unsupported("no Content-Type header"))
    media, *parameters = (part.strip() for part in header.split(";"))
    media = media.lower()
    if media not in CONTENT_TYPES:
        raise UnsupportedMediaType(_unsupported(f"content type {media!r}"))
    for parameter in parameters:
        if not parameter:
            continue
        name, _, value = parameter.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if name == "charset":
            if value not in ("utf-8", "utf8"):
                raise UnsupportedMediaType(
                    f"The charset {value!r} is not supported: send utf-8 (charset=utf-8)."
                )
        elif media == JSON:
            raise UnsupportedMediaType(
                _unsupported(f"the parameter {name!r} of {JSON} (only charset=utf-8 is allowed)")
            )
    return media


def _unsupported(what: str) -> str:
    return (
        f"This predictor only supports the following content types: {', '.join(CONTENT_TYPES)} "
        f"(got {what})."
    )


# ---------------------------------------------------------------------------- parsing


def parse_request(content_type: str | None, body: bytes, plan: InputPlan) -> Decoded:
    """A request body as a model input (see the module docstring); 4xx errors on bad input."""
    kind = content_kind(content_type)
    if kind == JSON:
        return parse_json(body, plan)
    if kind == CSV:
        return _frame_input(_read_csv(body, plan), None)
    return _frame_input(_read_parquet(body), None)


def parse_json(body: bytes, plan: InputPlan) -> Decoded:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"The body is not valid JSON: {e}") from None
    if not isinstance(payload, dict):
        raise BadRequest(
            f"The body must be a JSON object with one of {', '.join(INPUT_KEYS)}; "
            f"got a JSON {type(payload).__name__}."
        )
    keys = [k for k in INPUT_KEYS if k in payload]
    unknown = sorted(k for k in payload if k not in INPUT_KEYS and k != "params")
    if len(keys) != 1 or unknown:
        found = ", ".join(repr(k) for k in payload) or "none"
        raise BadRequest(
            f"The body must be a JSON object with exactly one of {', '.join(INPUT_KEYS)} "
            f"(and optionally params); its keys are: {found}."
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput(f"params must be a JSON object, got {type(params).__name__}.")
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        return _split(value, params, plan)
    if key == "dataframe_records":
        return _records(value, params, plan)
    if key == "instances":
        return _instances(value, params, plan)
    return _inputs(value, params, plan)


def _params_key(params: dict[str, Any] | None) -> bytes:
    if not params:
        return b""
    try:
        return orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return repr(params).encode()


def _block_input(columns: tuple[str, ...], values: Any, params: dict[str, Any] | None) -> Decoded:
    key = ("block", columns, values.dtype.str, _params_key(params))
    return Decoded(Block(columns, values), params, int(values.shape[0]), key)


def _frame_input(frame: pd.DataFrame, params: dict[str, Any] | None) -> Decoded:
    key = ("frame", tuple(frame.columns), tuple(map(str, frame.dtypes)), _params_key(params))
    return Decoded(frame, params, len(frame), key)


def _typed_rows(rows: Any, plan: InputPlan) -> Any:
    """``rows`` (a list of lists) as a 2-D array of the signature's numeric dtype, or ``None``
    when they do not fit it exactly (strings, nulls, lossy casts: left for pandas to report)."""
    try:
        array = np.array(rows)
    except (ValueError, TypeError):
        return None
    assert plan.names is not None
    if array.ndim != 2 or array.shape[1] != len(plan.names) or array.dtype.kind not in "biuf":
        return None
    if array.dtype != plan.dtype:
        if not np.can_cast(array.dtype, plan.dtype, casting="safe"):
            return None
        array = array.astype(plan.dtype)
    return array


def _frame(build: Any, *args: Any, **kwargs: Any) -> pd.DataFrame:
    try:
        return build(*args, **kwargs)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise BadRequest(f"The input cannot be read as a DataFrame: {e}") from None


def _split(value: Any, params: dict[str, Any] | None, plan: InputPlan) -> Decoded:
    if not isinstance(value, dict):
        raise BadRequest(
            "dataframe_split must be an object with 'columns' and 'data' (and optionally "
            f"'index'), got a JSON {type(value).__name__}."
        )
    extra = sorted(set(value) - {"columns", "data", "index"})
    if extra or "data" not in value:
        raise BadRequest(
            "dataframe_split must be an object with 'columns' and 'data' (and optionally "
            f"'index'); its keys are: {sorted(value)}."
        )
    data, columns, index = value["data"], value.get("columns"), value.get("index")
    if not isinstance(data, list):
        raise BadRequest(f"dataframe_split.data must be a list of rows, got {type(data).__name__}.")
    if columns is not None and not isinstance(columns, list):
        raise BadRequest("dataframe_split.columns must be a list of column names.")
    if (
        plan.dtype is not None
        and index is None
        and columns is not None
        and tuple(columns) == plan.names
        and data
    ):
        array = _typed_rows(data, plan)
        if array is not None:
            return _block_input(plan.names, array, params)
    frame = _frame(pd.DataFrame, data=data, columns=columns, index=index)
    decoded = _frame_input(frame, params)
    if index is not None:
        decoded.key = None  # its index is part of the answer: never merged with others
    return decoded


def _records(value: Any, params: dict[str, Any] | None, plan: InputPlan) -> Decoded:
    if not isinstance(value, list):
        raise BadRequest(
            f"dataframe_records must be a list of row objects, got {type(value).__name__}."
        )
    if plan.dtype is not None and value and all(type(r) is dict for r in value):
        names = plan.names
        assert names is not None
        getter = itemgetter(*names)
        try:
            rows = list(map(getter, value))  # C-level iteration: no Python loop per row
        except KeyError:
            rows = None  # a missing column: pandas and the signature say which
        if rows is not None:
            array = _typed_rows([[r] for r in rows] if len(names) == 1 else rows, plan)
            if array is not None:
                return _block_input(names, array, params)
    if not all(isinstance(r, dict) for r in value):
        raise BadRequest("dataframe_records must be a list of JSON objects (one per row).")
    return _frame_input(_frame(pd.DataFrame.from_records, value), params)


def _instances(value: Any, params: dict[str, Any] | None, plan: InputPlan) -> Decoded:
    if not isinstance(value, list):
        raise BadRequest(
            f"instances must be a list (one item per row), got a JSON {type(value).__name__}."
        )
    if value and all(isinstance(v, dict) for v in value):
        if plan.schema is not None and plan.schema.is_tensor:
            return _tensor_dict(_columns_of_rows(value), params, plan)
        return _records(value, params, plan)
    # rows of values for named columns of one numeric type
    if (
        plan.names is not None
        and plan.dtype is not None
        and all(isinstance(r, list) for r in value)
    ):
        array = _typed_rows(value, plan) if value else None
        if array is not None:
            return _block_input(plan.names, array, params)
    return _array_input(value, params, plan)


def _inputs(value: Any, params: dict[str, Any] | None, plan: InputPlan) -> Decoded:
    if isinstance(value, dict):
        if plan.schema is not None and plan.schema.is_tensor:
            return _tensor_dict(value, params, plan)
        columns = {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return _frame_input(_frame(pd.DataFrame, columns), params)
    if isinstance(value, list):
        return _instances(value, params, plan) if value else _array_input(value, params, plan)
    return Decoded(value, params, None, None)


def _columns_of_rows(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = list(rows[0])
    if any(list(r) != keys for r in rows):
        raise BadRequest("Every object of instances must have the same keys.")
    return {k: [r[k] for r in rows] for k in keys}


def _tensor_dict(value: dict[str, Any], params: dict[str, Any] | None, plan: InputPlan) -> Decoded:
    assert plan.schema is not None
    dtypes = {s.name: np.dtype(s.dtype) for s in plan.schema.specs if isinstance(s, TensorSpec)}
    out = {}
    for name, v in value.items():
        out[name] = _array(v, dtypes.get(name))
    return Decoded(out, params, None, None)


def _array(value: Any, dtype: Any) -> Any:
    try:
        array = np.array(value)
        if (
            dtype is not None
            and array.dtype != dtype
            and array.dtype.kind in "biuf"
            and np.can_cast(array.dtype, dtype, casting="safe")
        ):
            array = array.astype(dtype)
        return array
    except (ValueError, TypeError) as e:
        raise BadRequest(f"The input cannot be read as an array: {e}") from None


def _array_input(value: Any, params: dict[str, Any] | None, plan: InputPlan) -> Decoded:
    array = _array(value, plan.tensor_dtype)
    if array.dtype.kind == "O" or array.ndim == 0:
        return Decoded(value if array.dtype.kind == "O" else array, params, None, None)
    key = ("array", array.dtype.str, array.shape[1:], _params_key(params))
    return Decoded(array, params, int(array.shape[0]), key)


def _read_csv(body: bytes, plan: InputPlan) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(body), dtype=plan.csv_dtypes)
    except (ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise BadRequest(f"The body is not CSV the model can read: {_one_line(e)}") from None


def _read_parquet(body: bytes) -> pd.DataFrame:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is in the serving extra
        raise UnsupportedMediaType(
            "Parquet bodies need pyarrow: pip install 'modelyard[serving]'"
        ) from None
    try:
        return pq.read_table(pa.BufferReader(body)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as e:
        raise BadRequest(f"The body is not a Parquet file: {_one_line(e)}") from None


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# ---------------------------------------------------------------------------- encoding

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.DataFrame):
        return _frame_records(value)
    if isinstance(value, pd.Series):
        return value.tolist()
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def jsonable(predictions: Any) -> Any:
    """What ``{"predictions": ...}`` holds for a model's output, as MLflow writes it."""
    if isinstance(predictions, pd.DataFrame):
        return _frame_records(predictions)
    if isinstance(predictions, pd.Series):
        return predictions.tolist() if predictions.dtype.kind == "O" else predictions.to_numpy()
    if isinstance(predictions, np.ndarray) and (
        predictions.dtype.kind == "O" or not predictions.flags.c_contiguous
    ):
        return predictions.tolist()
    return predictions


def encode_predictions(predictions: Any) -> bytes:
    """``{"predictions": ...}`` as JSON bytes; NaN and infinities become ``null``."""
    try:
        return orjson.dumps(
            {"predictions": jsonable(predictions)}, default=_default, option=_OPTIONS
        )
    except TypeError as e:
        raise BadRequest(f"The model's output cannot be written as JSON: {e}") from None


def split_output(predictions: Any, sizes: list[int]) -> list[Any] | None:
    """The output of one merged ``predict`` call cut back into one part per request, or ``None``
    when the output is not one row per input row (then each request is predicted alone)."""
    total = sum(sizes)
    if isinstance(predictions, (np.ndarray, pd.Series, pd.DataFrame, list)):
        if len(predictions) != total or (
            isinstance(predictions, np.ndarray) and predictions.ndim == 0
        ):
            return None
        take = (
            (lambda a, b: predictions.iloc[a:b])
            if isinstance(predictions, (pd.Series, pd.DataFrame))
            else (lambda a, b: predictions[a:b])
        )
    elif isinstance(predictions, dict):
        values = list(predictions.values())
        if not values or any(
            not isinstance(v, (np.ndarray, list)) or len(v) != total for v in values
        ):
            return None

        def take(a: int, b: int) -> Any:
            return {k: v[a:b] for k, v in predictions.items()}
    else:
        return None
    parts = []
    start = 0
    for size in sizes:
        parts.append(take(start, start + size))
        start += size
    return parts


def merge_inputs(items: list[Decoded]) -> Any:
    """The inputs of requests that share a merge key, as one model input."""
    first = items[0].data
    if isinstance(first, Block):
        return Block(first.columns, np.concatenate([i.data.values for i in items])).to_frame()
    if isinstance(first, pd.DataFrame):
        return pd.concat([i.data for i in items], ignore_index=True)
    return np.concatenate([i.data for i in items])


__all__ = [
    "CONTENT_TYPES",
    "CSV",
    "INPUT_KEYS",
    "JSON",
    "PARQUET",
    "Block",
    "Decoded",
    "InputPlan",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "content_kind",
    "encode_predictions",
    "jsonable",
    "merge_inputs",
    "parse_json",
    "parse_request",
    "split_output",
]
