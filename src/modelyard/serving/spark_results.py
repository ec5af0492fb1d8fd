"""The result side of :func:`modelyard.serving.spark.spark_udf`: which Spark types a UDF may
return, the default one for a signature, and a model's predictions shaped into that type.

Allowed: a scalar type (``int``, ``long``, ``float``, ``double``, ``string``, ``boolean``, ...),
an ``ArrayType`` of a scalar type, or a ``StructType`` whose fields are either. Predictions may be
a pandas DataFrame or Series, a numpy array (1-D or 2-D), a list or a dict of columns:

* a scalar type takes the leftmost column that fits (any column for ``string``, a numeric or
  boolean one otherwise), cast to the type;
* an array type takes every column that fits as one list per row (or the lists a column holds);
* a struct type takes each field from the column of the same name (positionally when the
  predictions have no column names), each cast to its field's type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import InvalidInput
from modelyard.models.signature import Array, ColSpec, DataType, ModelSignature, TensorSpec

_NUMPY_OF_SPARK = {
    "ByteType": "int8",
    "ShortType": "int16",
    "IntegerType": "int32",
    "LongType": "int64",
    "FloatType": "float32",
    "DoubleType": "float64",
    "BooleanType": "bool",
    "StringType": "str",
}


def _kind(spark_type: Any) -> str:
    return type(spark_type).__name__


def _scalar_of(data_type: DataType | str) -> Any:
    from pyspark.sql import types as T

    return {
        "boolean": T.BooleanType(),
        "integer": T.IntegerType(),
        "long": T.LongType(),
        "float": T.FloatType(),
        "double": T.DoubleType(),
        "string": T.StringType(),
        "int8": T.ByteType(),
        "int16": T.ShortType(),
        "int32": T.IntegerType(),
        "int64": T.LongType(),
        "float32": T.FloatType(),
        "float64": T.DoubleType(),
        "bool": T.BooleanType(),
        "object": T.StringType(),
        "str": T.StringType(),
    }.get(str(getattr(data_type, "value", data_type)), T.DoubleType())


def _spec_type(spec: ColSpec | TensorSpec) -> Any:
    from pyspark.sql import types as T

    if isinstance(spec, TensorSpec):
        element = _scalar_of(spec.dtype)
        return element if len(spec.shape) <= 1 else T.ArrayType(element)
    if isinstance(spec.type, Array) and isinstance(spec.type.items, DataType):
        return T.ArrayType(_scalar_of(spec.type.items))
    if isinstance(spec.type, DataType):
        return _scalar_of(spec.type)
    return T.DoubleType()


def default_result_type(signature: ModelSignature | None) -> Any:
    """The result type a signature's outputs describe; ``double`` when it says nothing usable."""
    from pyspark.sql import types as T

    outputs = signature.outputs if signature else None
    if outputs is None or not outputs.specs:
        return T.DoubleType()
    specs = outputs.specs
    if len(specs) == 1:
        return _spec_type(specs[0])
    if outputs.has_names and not outputs.is_tensor:
        return T.StructType(
            [T.StructField(str(s.name), _spec_type(s), nullable=True) for s in specs]
        )
    return T.DoubleType()


def check_result_type(result_type: Any) -> None:
    """Raise :class:`InvalidInput` unless ``result_type`` is one this UDF can produce."""
    from pyspark.sql import types as T

    def plain(t: Any) -> bool:
        return _kind(t) in _NUMPY_OF_SPARK or (
            isinstance(t, T.ArrayType) and _kind(t.elementType) in _NUMPY_OF_SPARK
        )

    if not isinstance(result_type, T.DataType):
        raise InvalidInput(
            f"result_type must be a pyspark.sql.types.DataType or a DDL string, not "
            f"{type(result_type).__name__}."
        )
    if plain(result_type):
        return
    if isinstance(result_type, T.StructType) and all(plain(f.dataType) for f in result_type):
        return
    raise InvalidInput(
        f"Unsupported result_type {result_type.simpleString()}: use a scalar type, an array of "
        "one, or a struct of those (e.g. 'double', 'array<float>', 'label string, score double')."
    )


def _as_frame(predictions: Any) -> pd.DataFrame | pd.Series:
    if isinstance(predictions, (pd.DataFrame, pd.Series)):
        return predictions.reset_index(drop=True)
    if isinstance(predictions, dict):
        return pd.DataFrame({k: list(np.asarray(v)) for k, v in predictions.items()})
    array = np.asarray(predictions) if not isinstance(predictions, list) else None
    if array is not None and array.ndim == 2:
        return pd.DataFrame(array)
    if array is not None and array.ndim == 1:
        return pd.Series(array)
    if isinstance(predictions, list):
        return pd.Series(predictions, dtype=object)
    raise InvalidInput(
        f"The model returned {type(predictions).__name__}, which cannot be read as rows."
    )


def _fits(column: pd.Series, spark_type: Any) -> bool:
    if _kind(spark_type) == "StringType":
        return True
    if _kind(spark_type) == "BooleanType":
        return pd.api.types.is_bool_dtype(column)
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _cast(column: pd.Series, spark_type: Any, label: str) -> pd.Series:
    from pyspark.sql import types as T

    if isinstance(spark_type, T.ArrayType):
        return pd.Series(
            [_cast_list(v, spark_type.elementType, label) for v in column], dtype=object
        )
    if _kind(spark_type) == "StringType":
        return column.map(lambda v: None if v is None else str(v)).astype(object)
    target = _NUMPY_OF_SPARK[_kind(spark_type)]
    try:
        return column.astype(target)
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"The model's output {label} cannot be cast to {spark_type.simpleString()}: {e}"
        ) from None


def _cast_list(value: Any, element_type: Any, label: str) -> list[Any] | None:
    if value is None:
        return None
    values = np.atleast_1d(np.asarray(value))
    return _cast(pd.Series(values), element_type, label).tolist()


def _column_result(frame: pd.DataFrame | pd.Series, spark_type: Any) -> pd.Series:
    from pyspark.sql import types as T

    if isinstance(frame, pd.Series):
        return _cast(frame, spark_type, "column")
    if isinstance(spark_type, T.ArrayType):
        element = spark_type.elementType
        chosen = [c for c in frame.columns if _fits(frame[c], element)]
        if len(chosen) == 1 and frame[chosen[0]].dtype == object:
            return _cast(frame[chosen[0]], spark_type, str(chosen[0]))  # a column of lists
        if not chosen:
            raise InvalidInput(f"No column of the model's output fits {spark_type.simpleString()}.")
        rows = pd.Series(list(frame[chosen].to_numpy()), dtype=object)
        return _cast(rows, spark_type, "columns")
    for name in frame.columns:
        if _fits(frame[name], spark_type):
            return _cast(frame[name], spark_type, repr(name))
    raise InvalidInput(
        f"No column of the model's output ({list(frame.columns)}) fits {spark_type.simpleString()}."
    )


def to_result(predictions: Any, result_type: Any, rows: int) -> pd.Series | pd.DataFrame:
    """``predictions`` for ``rows`` input rows as a Series (or a DataFrame for a struct type)."""
    from pyspark.sql import types as T

    frame = _as_frame(predictions)
    if len(frame) != rows:
        raise InvalidInput(f"The model returned {len(frame)} predictions for {rows} rows.")
    if not isinstance(result_type, T.StructType):
        return _column_result(frame, result_type)
    if isinstance(frame, pd.Series):
        if len(frame) and isinstance(frame.iloc[0], dict):
            frame = pd.DataFrame(list(frame))
        else:
            frame = frame.to_frame()
    names = [str(c) for c in frame.columns]
    by_name = all(f.name in names for f in result_type.fields)
    if not by_name and len(names) < len(result_type.fields):
        missing = [f.name for f in result_type.fields if f.name not in names]
        raise InvalidInput(f"The model's output has no column(s) {missing}; it has {names}.")
    out = {}
    for i, f in enumerate(result_type.fields):
        source = frame.iloc[:, names.index(f.name) if by_name else i]
        out[f.name] = _cast(source, f.dataType, f.name)
    return pd.DataFrame(out)


__all__ = ["check_result_type", "default_result_type", "to_result"]
