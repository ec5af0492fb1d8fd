"""The payload layer in-process: typed decoding from the signature, its fallbacks to pandas (which
must refuse what the signature refuses), content types, splitting merged outputs, encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import BadRequest, InvalidInput
from modelyard.models.signature import (
    ColSpec,
    DataType,
    ModelSignature,
    Schema,
    enforce_schema,
)
from modelyard.serving.payloads import (
    Block,
    InputPlan,
    UnsupportedMediaType,
    content_kind,
    encode_predictions,
    merge_inputs,
    parse_json,
    split_output,
)


def _plan(kind: DataType, names=("a", "b")) -> InputPlan:
    return InputPlan.of(ModelSignature(inputs=Schema([ColSpec(kind, n) for n in names])))


def test_rows_of_one_numeric_type_decode_into_one_typed_array():
    plan = _plan(DataType.double)
    decoded = parse_json(b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5]]}}', plan)
    assert isinstance(decoded.data, Block)
    assert decoded.data.values.dtype == np.float64
    assert decoded.rows == 1
    records = parse_json(b'{"dataframe_records": [{"b": 2, "a": 1}, {"a": 3, "b": 4}]}', plan)
    assert isinstance(records.data, Block)
    assert records.data.values.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert decoded.key == records.key  # same columns, types and (no) params: mergeable
    frame = merge_inputs([decoded, records])
    assert frame.to_numpy().tolist() == [[1.0, 2.5], [1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    "body",
    [
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 2]]}}',  # lossy for int
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [["1", 2]]}}',  # a string
        b'{"dataframe_records": [{"a": null, "b": 2}]}',  # a null in an integer column
        b'{"dataframe_records": [{"a": 1}]}',  # a missing column
    ],
)
def test_what_the_typed_path_cannot_take_goes_to_pandas_and_the_signature_refuses_it(body):
    plan = _plan(DataType.long)
    decoded = parse_json(body, plan)
    assert not isinstance(decoded.data, Block)
    assert plan.schema is not None
    with pytest.raises(InvalidInput):
        enforce_schema(decoded.model_input(), plan.schema)


def test_params_and_an_index_keep_requests_apart():
    plan = _plan(DataType.double)
    a = parse_json(b'{"inputs": [[1, 2]], "params": {"k": 1}}', plan)
    b = parse_json(b'{"inputs": [[1, 2]], "params": {"k": 2}}', plan)
    c = parse_json(b'{"inputs": [[1, 2]]}', plan)
    assert len({a.key, b.key, c.key}) == 3
    indexed = parse_json(
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]], "index": [7]}}', plan
    )
    assert indexed.key is None
    assert list(indexed.model_input().index) == [7]


def test_a_conforming_frame_is_not_rebuilt_and_the_callers_frame_stays_untouched():
    schema = Schema([ColSpec(DataType.double, "a"), ColSpec(DataType.double, "b")])
    frame = pd.DataFrame({"a": [1.0], "b": [2.0]})
    enforced = enforce_schema(frame, schema)
    enforced["c"] = 3.0
    enforced.loc[0, "a"] = 9.0
    assert list(frame.columns) == ["a", "b"]
    assert frame.loc[0, "a"] == 1.0


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=UTF-8", "application/json"),
        ("text/csv; charset=utf-8", "text/csv"),
        ("application/vnd.apache.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_content_types_read(header, kind):
    assert content_kind(header) == kind


@pytest.mark.parametrize(
    "header",
    [None, "", "text/plain", "application/json; format=pandas-records", "text/csv; charset=latin1"],
)
def test_content_types_refused(header):
    with pytest.raises(UnsupportedMediaType) as info:
        content_kind(header)
    assert info.value.http_status == 415


@pytest.mark.parametrize(
    "body", [b"", b"{", b"3", b'{"inputs": 1, "instances": 2}', b'{"inputs": 1, "extra": 2}']
)
def test_bodies_refused(body):
    with pytest.raises(BadRequest):
        parse_json(body, _plan(DataType.double))


def test_split_output_cuts_every_row_aligned_shape():
    sizes = [1, 2]
    assert [p.tolist() for p in split_output(np.array([1, 2, 3]), sizes)] == [[1], [2, 3]]
    frames = split_output(pd.DataFrame({"y": [1, 2, 3]}), sizes)
    assert [f["y"].tolist() for f in frames] == [[1], [2, 3]]
    assert split_output([1, 2, 3], sizes) == [[1], [2, 3]]
    parts = split_output({"a": np.array([1, 2, 3]), "b": [4, 5, 6]}, sizes)
    assert [p["b"] for p in parts] == [[4], [5, 6]]
    assert split_output(np.array([1, 2]), sizes) is None  # not one row per input row
    assert split_output(7, sizes) is None


def test_encoding_follows_mlflow_with_null_for_nan():
    assert encode_predictions(np.array([1.5, np.nan])) == b'{"predictions":[1.5,null]}'
    frame = pd.DataFrame({"y": [1, 2], "s": ["a", "b"]})
    assert encode_predictions(frame) == b'{"predictions":[{"y":1,"s":"a"},{"y":2,"s":"b"}]}'
    assert encode_predictions(pd.Series([1, 2])) == b'{"predictions":[1,2]}'
    assert encode_predictions(np.array(["x", None], dtype=object)) == b'{"predictions":["x",null]}'
    stamp = encode_predictions([pd.Timestamp("2026-01-02T03:04:05")])
    assert stamp == b'{"predictions":["2026-01-02T03:04:05"]}'
