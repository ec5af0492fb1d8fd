"""Signatures: inference from examples, MLflow's JSON encoding, and enforcement at predict time."""

from __future__ import annotations

import json
import warnings

import mlflow.models
import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidInput
from modelyard.models.signature import (
    Array,
    ColSpec,
    DataType,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    enforce_params,
    enforce_schema,
    infer_signature,
)


def _mlflow_json(sig: mlflow.models.ModelSignature) -> dict:
    return {k: (None if v is None else json.loads(v)) for k, v in sig.to_dict().items()}


def _ours_json(sig: ModelSignature) -> dict:
    return {k: (None if v is None else json.loads(v)) for k, v in sig.to_dict().items()}


@pytest.mark.parametrize(
    "example",
    [
        pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2], "s": ["x", "y"], "f": [True, False]}),
        pd.DataFrame(
            {"i32": np.array([1, 2], dtype=np.int32), "f32": np.array([1, 2], dtype="f4")}
        ),
        np.zeros((3, 4), dtype=np.float32),
        np.zeros((2, 3, 5), dtype=np.int64),
        {"x": np.zeros((2, 3)), "y": np.ones(2, dtype=np.int32)},
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
    ],
    ids=["frame", "frame-32bit", "tensor2d", "tensor3d", "named-tensors", "records"],
)
def test_inferred_signature_is_encoded_exactly_as_mlflow_encodes_it(example) -> None:
    ours = infer_signature(example, np.array([1, 0]), params={"k": 3, "name": "x", "ws": [1.0]})
    with warnings.catch_warnings():  # MLflow's hint about integer columns is only advice
        warnings.simplefilter("ignore")
        theirs = mlflow.models.infer_signature(
            example, np.array([1, 0]), params={"k": 3, "name": "x", "ws": [1.0]}
        )
    assert _ours_json(ours) == _mlflow_json(theirs)


def test_signature_json_round_trips_and_mlflow_parses_ours() -> None:
    sig = ModelSignature(
        inputs=Schema(
            [
                ColSpec(DataType.double, "a"),
                ColSpec(Array(DataType.string), "tags", required=False),
                ColSpec(
                    Object((Property("id", DataType.long), Property("n", DataType.string, False))),
                    "o",
                ),
            ]
        ),
        outputs=Schema([TensorSpec("float32", (-1, 2))]),
        params=ParamSchema(
            [ParamSpec("k", DataType.long, 5), ParamSpec("ws", DataType.double, [1.0], (-1,))]
        ),
    )
    encoded = sig.to_dict()
    assert all(isinstance(v, str) for v in encoded.values())
    assert ModelSignature.from_dict(encoded) == sig
    theirs = mlflow.models.ModelSignature.from_dict(encoded)
    assert _mlflow_json(theirs) == _ours_json(sig)
    assert theirs.inputs.input_names() == ["a", "tags", "o"]
    assert theirs.params.params[0].default == 5


def test_schema_refuses_mixed_specs_and_partial_names() -> None:
    with pytest.raises(InvalidInput, match="not both"):
        Schema([ColSpec(DataType.long, "a"), TensorSpec("float32", (-1,), "t")])
    with pytest.raises(InvalidInput, match="name"):
        Schema([ColSpec(DataType.long, "a"), ColSpec(DataType.long)])


def test_inference_from_dicts_and_lists() -> None:
    assert infer_signature({"a": 1.5, "b": "x"}).inputs == Schema(
        [ColSpec(DataType.double, "a"), ColSpec(DataType.string, "b")]
    )
    assert infer_signature(["x", "y"]).inputs == Schema([ColSpec(DataType.string)])
    assert infer_signature(pd.Series([1, 2])).inputs == Schema([ColSpec(DataType.long)])
    frame = pd.DataFrame({"a": [1.0, None]})
    assert infer_signature(frame).inputs == Schema([ColSpec(DataType.double, "a", required=False)])


# ---------------------------------------------------------------------------- enforcement

COLUMNS = Schema(
    [
        ColSpec(DataType.double, "price"),
        ColSpec(DataType.long, "qty"),
        ColSpec(DataType.string, "sku"),
    ]
)


def test_missing_column_names_the_column_and_its_type() -> None:
    with pytest.raises(InvalidInput) as info:
        enforce_schema(pd.DataFrame({"price": [1.0], "sku": ["a"]}), COLUMNS)
    assert "['qty']" in info.value.message
    assert "qty (long)" in info.value.message
    assert info.value.http_status == 400


def test_wrong_type_names_column_and_expected_type() -> None:
    with pytest.raises(InvalidInput, match=r"column 'sku': expected string \(object\), got int64"):
        enforce_schema(pd.DataFrame({"price": [1.0], "qty": [1], "sku": [7]}), COLUMNS)
    mixed = pd.DataFrame(
        {"price": [1.0, 2.0], "qty": [1, 2], "sku": pd.Series(["a", 7], dtype=object)}
    )
    with pytest.raises(InvalidInput, match=r"column 'sku': expected string .* holding int value 7"):
        enforce_schema(mixed, COLUMNS)
    with pytest.raises(InvalidInput, match=r"column 'qty': expected long \(int64\), got float64"):
        enforce_schema(pd.DataFrame({"price": [1.0], "qty": [1.5], "sku": ["a"]}), COLUMNS)
    with pytest.raises(
        InvalidInput, match=r"column 'price': expected double \(float64\), got str\.$"
    ):
        enforce_schema(pd.DataFrame({"price": ["cheap"], "qty": [1], "sku": ["a"]}), COLUMNS)


def test_safe_casts_are_applied_and_extra_columns_dropped() -> None:
    out = enforce_schema(
        pd.DataFrame(
            {"sku": ["a"], "qty": np.array([2], dtype=np.int32), "price": [3], "extra": [0]}
        ),
        COLUMNS,
    )
    assert list(out.columns) == ["price", "qty", "sku"]
    assert out["price"].dtype == np.float64 and out["price"][0] == 3.0
    assert out["qty"].dtype == np.int64


def test_float32_column_does_not_take_int64() -> None:
    schema = Schema([ColSpec(DataType.float, "x")])
    assert (
        enforce_schema(pd.DataFrame({"x": np.array([1], dtype=np.int16)}), schema)["x"].dtype
        == np.float32
    )
    with pytest.raises(InvalidInput, match=r"column 'x': expected float \(float32\), got int64"):
        enforce_schema(pd.DataFrame({"x": [1]}), schema)


def test_dicts_lists_and_arrays_become_columns() -> None:
    out = enforce_schema({"price": 1.0, "qty": 2, "sku": "a"}, COLUMNS)
    assert out.to_dict("records") == [{"price": 1.0, "qty": 2, "sku": "a"}]
    out = enforce_schema(
        [{"price": 1.0, "qty": 2, "sku": "a"}, {"price": 2.5, "qty": 1, "sku": "b"}], COLUMNS
    )
    assert out["price"].tolist() == [1.0, 2.5]
    out = enforce_schema({"price": [1.0, 2.0], "qty": [1, 2], "sku": ["a", "b"]}, COLUMNS)
    assert len(out) == 2
    numeric = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")])
    out = enforce_schema(np.array([[1, 2], [3, 4]]), numeric)
    assert out["b"].tolist() == [2.0, 4.0]
    with pytest.raises(InvalidInput, match=r"shape \[2, 3\].*2 column"):
        enforce_schema(np.zeros((2, 3)), numeric)


def test_optional_columns_may_be_missing_or_null() -> None:
    schema = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.long, "b", required=False)])
    assert list(enforce_schema(pd.DataFrame({"a": [1.0]}), schema).columns) == ["a"]
    assert enforce_schema(pd.DataFrame({"a": [1.0], "b": [None]}), schema)["a"].tolist() == [1.0]


def test_nested_types_are_checked() -> None:
    schema = Schema(
        [
            ColSpec(Array(DataType.long), "ids"),
            ColSpec(Object((Property("n", DataType.string),)), "o"),
        ]
    )
    enforce_schema(pd.DataFrame({"ids": [[1, 2]], "o": [{"n": "x"}]}), schema)
    with pytest.raises(InvalidInput, match="Column 'ids': expected long"):
        enforce_schema(pd.DataFrame({"ids": [[1, "two"]], "o": [{"n": "x"}]}), schema)
    with pytest.raises(InvalidInput, match="misses required property 'n'"):
        enforce_schema(pd.DataFrame({"ids": [[1]], "o": [{"m": "x"}]}), schema)


def test_tensor_dtype_and_shape_enforcement() -> None:
    schema = Schema([TensorSpec("float32", (-1, 3))])
    out = enforce_schema([[1, 2, 3]], Schema([TensorSpec("float64", (-1, 3))]))
    assert out.dtype == np.float64 and out.shape == (1, 3)
    assert enforce_schema(np.zeros((5, 3), dtype=np.float16), schema).dtype == np.float32
    with pytest.raises(InvalidInput, match=r"tensor 'input': expected float32, got float64"):
        enforce_schema(np.zeros((5, 3)), schema)
    with pytest.raises(InvalidInput, match=r"expected \[-1, 3\] \(-1 is any size\), got \[5, 4\]"):
        enforce_schema(np.zeros((5, 4), dtype=np.float32), schema)
    with pytest.raises(InvalidInput, match=r"got \[3\]"):
        enforce_schema(np.zeros(3, dtype=np.float32), schema)


def test_named_tensors() -> None:
    schema = Schema([TensorSpec("int64", (-1,), "ids"), TensorSpec("float32", (-1, 2), "w")])
    out = enforce_schema({"ids": np.array([1, 2]), "w": np.zeros((2, 2), dtype=np.float32)}, schema)
    assert set(out) == {"ids", "w"}
    with pytest.raises(InvalidInput, match=r"missing tensor\(s\) \['w'\]"):
        enforce_schema({"ids": np.array([1])}, schema)


def test_params_defaults_conversions_and_errors() -> None:
    schema = ParamSchema(
        [
            ParamSpec("k", DataType.long, 5),
            ParamSpec("temperature", DataType.double, 0.5),
            ParamSpec("mode", DataType.string, "fast"),
            ParamSpec("weights", DataType.double, [1.0], (-1,)),
        ]
    )
    assert enforce_params(None, schema) == {
        "k": 5,
        "temperature": 0.5,
        "mode": "fast",
        "weights": [1.0],
    }
    got = enforce_params(
        {"k": np.int64(3), "temperature": 1, "weights": [1, 2], "unknown": 1}, schema
    )
    assert got == {"k": 3, "temperature": 1.0, "mode": "fast", "weights": [1.0, 2.0]}
    assert isinstance(got["temperature"], float)
    with pytest.raises(InvalidInput, match=r"Parameter 'k' must be a long, got str 'many'"):
        enforce_params({"k": "many"}, schema)
    with pytest.raises(InvalidInput, match=r"Parameter 'weights' must be a double list"):
        enforce_params({"weights": 2.0}, schema)
    with pytest.raises(InvalidInput, match=r"Parameter 'mode' must be a string"):
        enforce_params({"mode": ["a"]}, schema)
    assert enforce_params({"x": 1}, None) == {"x": 1}
