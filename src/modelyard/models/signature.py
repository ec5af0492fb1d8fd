"""Model signatures: what a model takes and returns, in MLflow's JSON encoding.

A :class:`ModelSignature` has up to three parts, each stored in ``MLmodel`` as a JSON *string*:

* ``inputs`` and ``outputs``, each a :class:`Schema`: either a list of :class:`ColSpec` (named or
  positional columns of a type such as ``double`` or ``string``) or a list of :class:`TensorSpec`
  (a numpy dtype and a shape where ``-1`` is a free dimension), never both;
* ``params``, a :class:`ParamSchema` of :class:`ParamSpec` (name, type, default, optional shape).

:func:`infer_signature` builds one from an input example and the model's output;
:func:`enforce_schema` and :func:`enforce_params` check data against it at predict time and apply
only safe casts (``int`` to ``double``, ``float32`` to ``float64``), raising :class:`InvalidInput`
that names the column and the expected type otherwise.

numpy and pandas are imported only inside the functions that touch data.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from modelyard.errors import InvalidInput

_log = logging.getLogger(__name__)


class DataType(str, Enum):
    """A column or parameter type, by its MLflow name."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    @property
    def numpy_name(self) -> str:
        return _NUMPY_NAME[self]


_NUMPY_NAME = {
    DataType.boolean: "bool",
    DataType.integer: "int32",
    DataType.long: "int64",
    DataType.float: "float32",
    DataType.double: "float64",
    DataType.string: "object",
    DataType.binary: "object",
    DataType.datetime: "datetime64[ns]",
}


@dataclass(frozen=True)
class Array:
    """``{"type": "array", "items": ...}``: a list whose elements all have one type."""

    items: ColType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": _type_to_dict(self.items)}

    def __str__(self) -> str:
        return f"Array({_type_name(self.items)})"


@dataclass(frozen=True)
class Property:
    name: str
    type: ColType
    required: bool = True


@dataclass(frozen=True)
class Object:
    """``{"type": "object", "properties": {...}}``: a dict with typed keys."""

    properties: tuple[Property, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                p.name: {**_type_to_dict(p.type), "required": p.required} for p in self.properties
            },
        }

    def __str__(self) -> str:
        inner = ", ".join(f"{p.name}: {_type_name(p.type)}" for p in self.properties)
        return f"Object({inner})"


@dataclass(frozen=True)
class Map:
    """``{"type": "map", "values": ...}``: a dict from strings to values of one type."""

    values: ColType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": _type_to_dict(self.values)}

    def __str__(self) -> str:
        return f"Map(str -> {_type_name(self.values)})"


class AnyType:
    """``{"type": "any"}``: no check at all."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnyType)

    def __hash__(self) -> int:
        return hash("any")

    def __str__(self) -> str:
        return "any"


ColType = DataType | Array | Object | Map | AnyType


def _type_to_dict(t: ColType) -> dict[str, Any]:
    if isinstance(t, DataType):
        return {"type": t.value}
    return t.to_dict()


def _type_name(t: ColType) -> str:
    return t.value if isinstance(t, DataType) else str(t)


def _type_from_dict(d: Mapping[str, Any]) -> ColType:
    kind = d.get("type")
    if kind == "array":
        return Array(_type_from_dict(d["items"]))
    if kind == "object":
        return Object(
            tuple(
                Property(name, _type_from_dict(spec), bool(spec.get("required", True)))
                for name, spec in d.get("properties", {}).items()
            )
        )
    if kind == "map":
        return Map(_type_from_dict(d["values"]))
    if kind == "any":
        return AnyType()
    try:
        return DataType(kind)
    except ValueError:
        raise InvalidInput(f"Unknown column type {kind!r} in a model signature.") from None


@dataclass(frozen=True)
class ColSpec:
    """One column: a type, an optional name, and whether it must be present."""

    type: ColType
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = _type_to_dict(self.type)
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    def describe(self) -> str:
        return _type_name(self.type) + ("" if self.required else " (optional)")


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: a numpy dtype name (``float32``), a shape with ``-1`` for free dimensions."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)},
        }
        if self.name is not None:
            out["name"] = self.name
        return out

    def describe(self) -> str:
        return f"tensor of {self.dtype} with shape {list(self.shape)}"


Spec = ColSpec | TensorSpec


@dataclass(frozen=True)
class Schema:
    """An ordered list of column specs or of tensor specs (never mixed)."""

    specs: tuple[Spec, ...]

    def __init__(self, specs: Sequence[Spec]) -> None:
        specs = tuple(specs)
        kinds = {type(s) for s in specs}
        if len(kinds) > 1:
            raise InvalidInput("A schema holds either column specs or tensor specs, not both.")
        names = [s.name for s in specs]
        if any(n is not None for n in names) and any(n is None for n in names):
            raise InvalidInput("Either every spec of a schema has a name or none has.")
        object.__setattr__(self, "specs", specs)

    @property
    def is_tensor(self) -> bool:
        return bool(self.specs) and isinstance(self.specs[0], TensorSpec)

    @property
    def has_names(self) -> bool:
        return bool(self.specs) and self.specs[0].name is not None

    def names(self) -> list[str]:
        return [s.name for s in self.specs if s.name is not None]

    def to_json(self) -> str:
        return json.dumps([s.to_dict() for s in self.specs])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls([_spec_from_dict(d) for d in json.loads(text)])


def _spec_from_dict(d: Mapping[str, Any]) -> Spec:
    if d.get("type") == "tensor":
        spec = d["tensor-spec"]
        return TensorSpec(str(spec["dtype"]), tuple(int(x) for x in spec["shape"]), d.get("name"))
    return ColSpec(_type_from_dict(d), d.get("name"), bool(d.get("required", True)))


@dataclass(frozen=True)
class ParamSpec:
    """A named inference parameter with a type, a default and a shape (``None`` or ``(-1,)``)."""

    name: str
    type: DataType
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if isinstance(default, (_dt.date, _dt.datetime)):
            default = default.isoformat()
        return {
            "name": self.name,
            "default": default,
            "shape": None if self.shape is None else list(self.shape),
            "type": self.type.value,
        }


@dataclass(frozen=True)
class ParamSchema:
    params: tuple[ParamSpec, ...]

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        object.__setattr__(self, "params", tuple(params))

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls(
            [
                ParamSpec(
                    d["name"],
                    DataType(d["type"]),
                    d.get("default"),
                    None if d.get("shape") is None else tuple(d["shape"]),
                )
                for d in json.loads(text)
            ]
        )


@dataclass(frozen=True)
class ModelSignature:
    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The ``signature`` block of ``MLmodel``: each part a JSON string, or ``None``."""
        return {
            "inputs": None if self.inputs is None else self.inputs.to_json(),
            "outputs": None if self.outputs is None else self.outputs.to_json(),
            "params": None if self.params is None else self.params.to_json(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSignature:
        def part(key: str, kind: Any) -> Any:
            raw = d.get(key)
            if raw is None:
                return None
            try:
                return kind.from_json(raw if isinstance(raw, str) else json.dumps(raw))
            except (ValueError, KeyError, TypeError) as e:
                raise InvalidInput(f"The signature's {key!r} is not a valid schema: {e}") from None

        return cls(part("inputs", Schema), part("outputs", Schema), part("params", ParamSchema))


# ---------------------------------------------------------------------------- inference


def _dtype_to_datatype(dtype: Any, values: Any = None) -> ColType:
    import numpy as np

    if not isinstance(dtype, np.dtype):  # a pandas extension dtype
        pd = _pandas_or_none()
        if pd is not None and isinstance(dtype, pd.StringDtype):
            return DataType.string
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if numpy_dtype is not None:
            dtype = numpy_dtype
        else:
            try:
                dtype = np.dtype(dtype)
            except TypeError:
                return _infer_value_type([v for v in values or [] if v is not None])
    if dtype.kind == "b":
        return DataType.boolean
    if dtype.kind in "iu":
        return DataType.long if dtype.itemsize > 4 or dtype == np.uint32 else DataType.integer
    if dtype.kind == "f":
        return DataType.double if dtype.itemsize > 4 else DataType.float
    if dtype.kind == "M":
        return DataType.datetime
    if dtype.kind in "US":
        return DataType.string if dtype.kind == "U" else DataType.binary
    if dtype.kind == "O" and values is not None:
        return _infer_value_type([v for v in values if v is not None])
    return DataType.string


def _infer_value_type(values: Sequence[Any]) -> ColType:
    """The column type of a list of Python values (all of one kind)."""
    import numpy as np

    if not values:
        return AnyType()
    first = values[0]
    if isinstance(first, (bool, np.bool_)):
        return DataType.boolean
    if isinstance(first, (int, np.integer)):
        return DataType.long
    if isinstance(first, (float, np.floating)):
        return DataType.double
    if isinstance(first, str):
        return DataType.string
    if isinstance(first, (bytes, bytearray)):
        return DataType.binary
    if isinstance(first, (_dt.datetime, _dt.date, np.datetime64)):
        return DataType.datetime
    if isinstance(first, (list, tuple, np.ndarray)):
        return Array(_infer_value_type([x for v in values for x in v]))
    if isinstance(first, Mapping):
        keys: dict[str, list[Any]] = {}
        for v in values:
            for k, x in v.items():
                keys.setdefault(str(k), []).append(x)
        return Object(
            tuple(
                Property(k, _infer_value_type(xs), all(k in v for v in values))
                for k, xs in keys.items()
            )
        )
    raise InvalidInput(f"Cannot infer a column type for values of type {type(first).__name__}.")


def _is_scalar(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (str, bytes, bool, int, float, _dt.date, np.generic)) or value is None


def infer_schema(data: Any) -> Schema:
    """The schema of an input example or a model output.

    pandas DataFrames give named columns; a Series one unnamed column; numpy arrays a tensor of
    shape ``(-1, *rest)``; a dict of arrays named tensors; other dicts and lists of dicts named
    columns; a list of scalars one unnamed column.
    """
    import numpy as np

    pd = _pandas_or_none()
    if pd is not None and isinstance(data, pd.DataFrame):
        return Schema(
            [
                ColSpec(
                    _dtype_to_datatype(data[col].dtype, data[col].tolist()),
                    str(col),
                    not bool(data[col].isna().any()),
                )
                for col in data.columns
            ]
        )
    if pd is not None and isinstance(data, pd.Series):
        return Schema([ColSpec(_dtype_to_datatype(data.dtype, data.tolist()))])
    if isinstance(data, np.ndarray):
        return Schema([_tensor_spec(data)])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema([_tensor_spec(v, str(k)) for k, v in data.items()])
        return Schema(
            [
                ColSpec(
                    _infer_value_type([v] if _is_scalar(v) else list(v)),
                    str(k),
                )
                for k, v in data.items()
            ]
        )
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(v, Mapping) for v in data):
            obj = _infer_value_type(list(data))
            assert isinstance(obj, Object)
            return Schema([ColSpec(p.type, p.name, p.required) for p in obj.properties])
        if data and all(_is_scalar(v) for v in data):
            return Schema([ColSpec(_infer_value_type(list(data)))])
        return Schema([_tensor_spec(np.asarray(data))])
    if _is_scalar(data):
        return Schema([ColSpec(_infer_value_type([data]))])
    raise InvalidInput(f"Cannot infer a schema from data of type {type(data).__name__}.")


def _tensor_spec(array: Any, name: str | None = None) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(str(array.dtype), tuple(int(x) for x in shape), name)


def infer_param_schema(params: Mapping[str, Any]) -> ParamSchema:
    """A parameter schema whose defaults are the values of ``params``."""
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            kind = _infer_value_type(list(value))
            if not isinstance(kind, DataType):
                raise InvalidInput(f"Parameter {name!r}: only lists of scalars are supported.")
            specs.append(ParamSpec(name, kind, list(value), (-1,)))
        elif _is_scalar(value) and value is not None:
            kind = _infer_value_type([value])
            assert isinstance(kind, DataType)
            specs.append(ParamSpec(name, kind, _plain(value)))
        else:
            raise InvalidInput(
                f"Parameter {name!r} must be a scalar or a list of scalars, "
                f"got {type(value).__name__}."
            )
    return ParamSchema(specs)


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """A signature from an input example, the model's output for it, and default params."""
    return ModelSignature(
        inputs=None if model_input is None else infer_schema(model_input),
        outputs=None if model_output is None else infer_schema(model_output),
        params=infer_param_schema(params) if params else None,
    )


def _plain(value: Any) -> Any:
    """numpy scalars as Python scalars."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def _pandas_or_none() -> Any:
    try:
        import pandas as pd
    except ImportError:
        return None
    return pd


def _require_pandas() -> Any:
    pd = _pandas_or_none()
    if pd is None:
        raise InvalidInput(
            "Column-based model signatures need pandas: pip install 'modelyard[pandas]'"
        )
    return pd


# ---------------------------------------------------------------------------- enforcement


def _expected_columns(schema: Schema) -> str:
    return ", ".join(f"{s.name or i} ({s.describe()})" for i, s in enumerate(schema.specs))


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` checked against ``schema`` and converted to what the model expects.

    Column schemas give a pandas DataFrame with the schema's columns in order (extra columns are
    dropped), except that a list for a single unnamed column stays a list; tensor schemas give a
    numpy array, or a dict of arrays for named tensors.
    """
    if schema.is_tensor:
        return _enforce_tensors(data, schema)
    if (
        isinstance(data, (list, tuple))
        and len(schema.specs) == 1
        and not schema.has_names
        and not any(isinstance(v, Mapping) for v in data)
    ):
        # a list for a single unnamed column stays a list (its values checked and cast)
        return _enforce_columns(data, schema).iloc[:, 0].tolist()
    return _enforce_columns(data, schema)


def _to_frame(data: Any, schema: Schema) -> Any:
    import numpy as np

    pd = _require_pandas()
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    names = schema.names() or list(range(len(schema.specs)))
    if isinstance(data, Mapping):
        if all(_is_scalar(v) for v in data.values()):
            return pd.DataFrame([dict(data)])
        try:
            return pd.DataFrame(
                {k: list(v) if _is_scalar(v) is False else [v] for k, v in data.items()}
            )
        except ValueError as e:
            raise InvalidInput(f"The input dict cannot be read as columns: {e}") from None
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data.reshape(-1, 1) if len(names) == 1 else data.reshape(1, -1)
        if data.ndim != 2 or data.shape[1] != len(names):
            raise InvalidInput(
                f"The input array has shape {list(data.shape)}, but the model expects "
                f"{len(names)} column(s): {_expected_columns(schema)}."
            )
        return pd.DataFrame(data, columns=names)
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(v, Mapping) for v in data):
            return pd.DataFrame(list(data))
        if len(names) == 1:
            return pd.DataFrame({names[0]: list(data)})
        return _to_frame(np.asarray(data, dtype=object), schema)
    if _is_scalar(data):
        return pd.DataFrame({names[0]: [data]})
    raise InvalidInput(
        f"Cannot read an input of type {type(data).__name__}; the model expects columns "
        f"{_expected_columns(schema)}."
    )


def _enforce_columns(data: Any, schema: Schema) -> Any:
    frame = _to_frame(data, schema)
    if _conforms(frame, schema):
        # already what the model expects (the scoring server decodes it so); a shallow copy
        # (copy-on-write) so that a model changing its input leaves the caller's frame alone
        return frame if frame is not data else frame.copy(deep=False)
    if schema.has_names:
        present = {str(c): c for c in frame.columns}
        missing = [s.name for s in schema.specs if s.required and s.name not in present]
        if missing:
            raise InvalidInput(
                f"The input is missing required column(s) {missing}; the model expects "
                f"{_expected_columns(schema)}.",
                missing=missing,
            )
        out = {}
        for spec in schema.specs:
            assert spec.name is not None
            if spec.name in present:
                out[spec.name] = _enforce_column(frame[present[spec.name]], spec, spec.name)
        pd = _require_pandas()
        return pd.DataFrame(out, index=frame.index)
    if frame.shape[1] != len(schema.specs):
        raise InvalidInput(
            f"The input has {frame.shape[1]} column(s), but the model expects "
            f"{len(schema.specs)}: {_expected_columns(schema)}."
        )
    frame = frame.copy()
    for i, spec in enumerate(schema.specs):
        frame.iloc[:, i] = _enforce_column(frame.iloc[:, i], spec, f"#{i}")
    return frame


def _conforms(frame: Any, schema: Schema) -> bool:
    """True when ``frame`` has exactly the schema's named columns, in order, each already of its
    numeric type: then enforcing would only copy it."""
    import numpy as np

    if not schema.has_names or frame.shape[1] != len(schema.specs):
        return False
    if list(frame.columns) != schema.names():
        return False
    for spec, dtype in zip(schema.specs, frame.dtypes, strict=True):
        expected = spec.type  # type: ignore[union-attr]
        if (
            not isinstance(expected, DataType)
            or expected.numpy_name in ("object", "datetime64[ns]")
            or dtype != np.dtype(expected.numpy_name)
        ):
            return False
    return True


def _enforce_column(values: Any, spec: ColSpec, label: str) -> Any:
    import numpy as np

    pd = _require_pandas()
    expected = spec.type
    if isinstance(expected, AnyType):
        return values
    if not isinstance(expected, DataType):
        for v in values:
            if v is None and not spec.required:
                continue
            _check_nested(v, expected, label)
        return values
    if not spec.required and values.isna().all():
        return values
    dtype = values.dtype
    problem = (
        f"Incompatible input type for column '{label}': expected {expected.value}"
        f" ({expected.numpy_name}), got {dtype}"
    )
    if expected in (DataType.string, DataType.binary):
        kind = str if expected is DataType.string else (bytes, bytearray)
        if dtype.kind in "OUS" or isinstance(dtype, pd.StringDtype):
            non_null = values.dropna()
            if all(isinstance(v, kind) for v in non_null):
                return values
            bad = next(v for v in non_null if not isinstance(v, kind))
            raise InvalidInput(f"{problem} holding {type(bad).__name__} value {bad!r}.")
        raise InvalidInput(f"{problem}.")
    if expected is DataType.datetime:
        if dtype.kind == "M":
            return values
        if dtype.kind == "O":
            try:
                return pd.to_datetime(values)
            except (ValueError, TypeError):
                pass
        raise InvalidInput(f"{problem}.")
    target = np.dtype(expected.numpy_name)
    if dtype.kind == "O":
        try:
            values = values.infer_objects()
            dtype = values.dtype
        except (ValueError, TypeError):
            pass
    if dtype == target:
        return values
    if getattr(dtype, "kind", "O") not in "biuf":
        raise InvalidInput(f"{problem}.", column=label)
    if np.can_cast(dtype, target, casting="safe"):
        return values.astype(target)
    hint = ""
    if dtype.kind == "f" and target.kind in "iu":
        hint = (
            " Integer columns cannot hold missing values; if the data may have them, declare "
            "the column as double."
        )
    raise InvalidInput(f"{problem}: that cast could lose information.{hint}", column=label)


def _check_nested(value: Any, expected: ColType, label: str) -> None:
    if isinstance(expected, AnyType):
        return
    if isinstance(expected, Array):
        if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
            raise InvalidInput(f"Column '{label}': expected {expected}, got {value!r}.")
        for v in list(value):
            _check_nested(v, expected.items, label)
        return
    if isinstance(expected, (Object, Map)):
        if not isinstance(value, Mapping):
            raise InvalidInput(f"Column '{label}': expected {expected}, got {value!r}.")
        if isinstance(expected, Map):
            for v in value.values():
                _check_nested(v, expected.values, label)
            return
        for p in expected.properties:
            if p.name not in value:
                if p.required:
                    raise InvalidInput(
                        f"Column '{label}': the object misses required property '{p.name}' "
                        f"({_type_name(p.type)})."
                    )
                continue
            _check_nested(value[p.name], p.type, f"{label}.{p.name}")
        return
    if not _scalar_matches(value, expected):
        raise InvalidInput(
            f"Column '{label}': expected {expected.value}, got {type(value).__name__} {value!r}."
        )


def _scalar_matches(value: Any, expected: DataType) -> bool:
    import numpy as np

    if expected is DataType.boolean:
        return isinstance(value, (bool, np.bool_))
    if expected in (DataType.integer, DataType.long):
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if expected in (DataType.float, DataType.double):
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool
        )
    if expected is DataType.string:
        return isinstance(value, str)
    if expected is DataType.binary:
        return isinstance(value, (bytes, bytearray))
    return isinstance(value, (_dt.date, np.datetime64, str))


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import numpy as np

    specs = [s for s in schema.specs if isinstance(s, TensorSpec)]
    if schema.has_names and (len(specs) > 1 or isinstance(data, Mapping)):
        if not isinstance(data, Mapping):
            pd = _pandas_or_none()
            if pd is not None and isinstance(data, pd.DataFrame):
                data = {str(c): data[c].to_numpy() for c in data.columns}
            else:
                raise InvalidInput(
                    f"The model expects named tensors {schema.names()}; pass a dict of arrays."
                )
        missing = [s.name for s in specs if s.name not in data]
        if missing:
            raise InvalidInput(
                f"The input is missing tensor(s) {missing}; the model expects "
                f"{_expected_columns(schema)}.",
                missing=missing,
            )
        return {s.name: _enforce_tensor(data[s.name], s, s.name or "") for s in specs}
    spec = specs[0]
    pd = _pandas_or_none()
    if pd is not None and isinstance(data, (pd.DataFrame, pd.Series)):
        data = data.to_numpy()
    elif not isinstance(data, np.ndarray):
        data = np.asarray(data)
    return _enforce_tensor(data, spec, spec.name or "input")


def _enforce_tensor(value: Any, spec: TensorSpec, label: str) -> Any:
    import numpy as np

    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    target = np.dtype(spec.dtype)
    if array.dtype != target:
        if target.kind == "O" or np.can_cast(array.dtype, target, casting="safe"):
            array = array.astype(target)
        else:
            raise InvalidInput(
                f"Incompatible type for tensor '{label}': expected {spec.dtype}, got "
                f"{array.dtype}; that cast could lose information.",
                column=label,
            )
    if len(spec.shape) != array.ndim or any(
        want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=False)
    ):
        raise InvalidInput(
            f"Shape of tensor '{label}' does not match: expected {list(spec.shape)} "
            f"(-1 is any size), got {list(array.shape)}.",
            column=label,
        )
    return array


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any]:
    """``params`` with defaults filled in and values converted to the declared types.

    Without a schema the params pass unchanged. Params the schema does not declare are dropped
    with a log message, as MLflow does.
    """
    if schema is None:
        return dict(params or {})
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInput(f"params must be a dict, got {type(params).__name__}.")
    given = dict(params or {})
    out: dict[str, Any] = {}
    for spec in schema.params:
        if spec.name not in given:
            out[spec.name] = spec.default
            continue
        value = given.pop(spec.name)
        out[spec.name] = _convert_param(value, spec)
    if given:
        _log.warning("Ignoring params the model does not declare: %s", sorted(given))
    return out


def _convert_param(value: Any, spec: ParamSpec) -> Any:
    where = f"Parameter '{spec.name}'"
    expected = f"{spec.type.value}" + ("" if spec.shape is None else " list")
    if spec.shape is not None:
        if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
            raise InvalidInput(f"{where} must be a {expected}, got {value!r}.", param=spec.name)
        return [_convert_scalar(v, spec, where, expected) for v in list(value)]
    if isinstance(value, (list, tuple, Mapping)):
        raise InvalidInput(f"{where} must be a {expected}, got {value!r}.", param=spec.name)
    return _convert_scalar(value, spec, where, expected)


def _convert_scalar(value: Any, spec: ParamSpec, where: str, expected: str) -> Any:
    value = _plain(value)
    t = spec.type
    if t in (DataType.integer, DataType.long):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif t in (DataType.float, DataType.double):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif t is DataType.boolean:
        if isinstance(value, bool):
            return value
    elif t is DataType.string:
        if isinstance(value, str):
            return value
    elif t is DataType.binary:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
    elif t is DataType.datetime:
        if isinstance(value, _dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value)
            except ValueError:
                pass
    raise InvalidInput(
        f"{where} must be a {expected}, got {type(value).__name__} {value!r}.", param=spec.name
    )


__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
    "enforce_params",
    "enforce_schema",
    "infer_param_schema",
    "infer_schema",
    "infer_signature",
]
