"""The scoring protocol against a real ``modelyard models serve``: every body form and content type
answers what the model predicts in-process; bad bodies get 4xx with an ``error_code``."""

from __future__ import annotations

import io
import json

import httpx
import pandas as pd
import pytest
from serving_support import FEATURES

import modelyard.pyfunc


@pytest.fixture(scope="module")
def expected(lr_model_dir, lr_frame) -> list[int]:
    model = modelyard.pyfunc.load_model(lr_model_dir)
    return [int(v) for v in model.predict(lr_frame.iloc[:7])]


@pytest.fixture(scope="module")
def rows(lr_frame) -> pd.DataFrame:
    return lr_frame.iloc[:7]


def _bodies(rows: pd.DataFrame) -> dict[str, object]:
    records = rows.to_dict(orient="records")
    return {
        "dataframe_split": {"dataframe_split": rows.to_dict(orient="split")},
        "split_without_index": {
            "dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
        },
        "dataframe_records": {"dataframe_records": records},
        "instances_rows": {"instances": rows.to_numpy().tolist()},
        "instances_objects": {"instances": records},
        "inputs_columns": {"inputs": {c: rows[c].tolist() for c in rows.columns}},
        "inputs_rows": {"inputs": rows.to_numpy().tolist()},
        "records_with_ints": {
            "dataframe_records": [{k: round(v) for k, v in r.items()} for r in records]
        },
        "columns_out_of_order": {
            "dataframe_split": {
                "columns": list(reversed(rows.columns)),
                "data": rows[list(reversed(rows.columns))].to_numpy().tolist(),
            }
        },
    }


@pytest.mark.parametrize(
    "form",
    [
        "dataframe_split",
        "split_without_index",
        "dataframe_records",
        "instances_rows",
        "instances_objects",
        "inputs_columns",
        "inputs_rows",
        "columns_out_of_order",
    ],
)
def test_every_json_form_answers_the_in_process_predictions(lr_server, rows, expected, form):
    response = lr_server.invoke(_bodies(rows)[form])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": expected}


def test_integer_values_for_double_columns_are_cast_safely(lr_server, lr_model_dir, rows):
    body = _bodies(rows)["records_with_ints"]
    frame = pd.DataFrame(body["dataframe_records"])
    want = [int(v) for v in modelyard.pyfunc.load_model(lr_model_dir).predict(frame)]
    assert lr_server.invoke(body).json() == {"predictions": want}


def test_charset_utf8_is_accepted(lr_server, rows, expected):
    content = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    response = lr_server.invoke(content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_csv_body(lr_server, rows, expected):
    headers = {"Content-Type": "text/csv"}
    content = rows.to_csv(index=False).encode()
    response = lr_server.invoke(content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_parquet_body(lr_server, rows, expected):
    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False)
    headers = {"Content-Type": "application/vnd.apache.parquet"}
    response = lr_server.invoke(content=buffer.getvalue(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_many_rows_in_one_body(lr_server, lr_model_dir, lr_frame):
    want = [int(v) for v in modelyard.pyfunc.load_model(lr_model_dir).predict(lr_frame)]
    response = lr_server.invoke({"dataframe_split": lr_frame.to_dict(orient="split")})
    assert response.json() == {"predictions": want}


ROW = [0.5] * len(FEATURES)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error_code"),
    [
        (b"{not json", "application/json", 400, "BAD_REQUEST"),
        (b"[1, 2]", "application/json", 400, "BAD_REQUEST"),
        (b'{"rows": [[1]]}', "application/json", 400, "BAD_REQUEST"),
        (
            b'{"instances": [[1]], "inputs": [[1]]}',
            "application/json",
            400,
            "BAD_REQUEST",
        ),
        (b'{"dataframe_split": [[1, 2]]}', "application/json", 400, "BAD_REQUEST"),
        (b'{"dataframe_split": {"columns": ["f0"]}}', "application/json", 400, "BAD_REQUEST"),
        (b'{"dataframe_records": {"f0": 1}}', "application/json", 400, "BAD_REQUEST"),
        (b'{"dataframe_records": [1, 2]}', "application/json", 400, "BAD_REQUEST"),
        (
            b'{"dataframe_split": {"columns": ["f0", "f1"], "data": [[1.0, 2.0]]}}',
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            b'{"dataframe_records": [{"f0": "a string"}]}',
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            json.dumps({"instances": [["x"] * 20]}).encode(),
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (b'{"inputs": [[1.0]], "params": [1]}', "application/json", 400, "INVALID_PARAMETER_VALUE"),
        (b"f0,f1\n1,2\n", "text/csv", 400, "INVALID_PARAMETER_VALUE"),
        (b"not parquet", "application/vnd.apache.parquet", 400, "BAD_REQUEST"),
        (b'{"inputs": [[1]]}', "text/plain", 415, "BAD_REQUEST"),
        (b'{"inputs": [[1]]}', "application/json; format=pandas-split", 415, "BAD_REQUEST"),
        (b'{"inputs": [[1]]}', "application/json; charset=latin-1", 415, "BAD_REQUEST"),
        (b"f0\n1\n", "text/csv; charset=utf-16", 415, "BAD_REQUEST"),
    ],
    ids=[
        "bad-json",
        "not-an-object",
        "wrong-key",
        "two-keys",
        "split-not-object",
        "split-without-data",
        "records-not-list",
        "records-not-objects",
        "missing-columns",
        "wrong-type",
        "strings-for-doubles",
        "params-not-object",
        "csv-missing-columns",
        "bad-parquet",
        "unsupported-type",
        "json-format-parameter",
        "json-latin1",
        "csv-utf16",
    ],
)
def test_bad_bodies_get_4xx_with_an_error_code(
    lr_server, content, content_type, status, error_code
):
    response = lr_server.invoke(content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == error_code
    assert body["message"]
    assert "Traceback" not in body["message"]


def test_missing_content_type_is_415(lr_server):
    response = httpx.post(f"{lr_server.url}/invocations", content=b'{"inputs": [[1]]}')
    assert response.status_code == 415
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_missing_columns_are_named(lr_server):
    response = lr_server.invoke({"dataframe_records": [{"f0": 1.0, "f1": 2.0}]})
    assert response.status_code == 400
    assert "f19" in response.json()["message"]


def test_get_on_invocations_and_unknown_routes(lr_server):
    response = httpx.get(f"{lr_server.url}/invocations")
    assert response.status_code == 405
    assert response.json()["error_code"] == "BAD_REQUEST"
    response = httpx.get(f"{lr_server.url}/nope")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_ping_health_version_and_metadata(lr_server, lr_model_dir):
    for route in ("/ping", "/health"):
        response = httpx.get(f"{lr_server.url}{route}")
        assert (response.status_code, response.text) == (200, "\n")
    assert httpx.get(f"{lr_server.url}/version").text == modelyard.__version__
    metadata = httpx.get(f"{lr_server.url}/metadata").json()
    assert metadata["model_uri"] == str(lr_model_dir)
    assert metadata["model_version"] is None
    assert set(metadata["flavors"]) == {"python_function", "sklearn"}
    names = [c["name"] for c in metadata["signature"]["inputs"]]
    assert names == FEATURES
    assert {c["type"] for c in metadata["signature"]["inputs"]} == {"double"}


def test_the_server_is_ready_soon_after_start(lr_server):
    # A generous bound for a loaded CI machine; the report measures it precisely.
    assert lr_server.ready_after_s < 60


def test_oversized_bodies_get_413(start_scoring_server, lr_model_dir, rows):
    with start_scoring_server(lr_model_dir, "--max-body-size", "2000") as server:
        small = {"dataframe_split": rows.iloc[:1].to_dict(orient="split")}
        assert server.invoke(small).status_code == 200
        big = {"dataframe_split": rows.to_dict(orient="split")}
        response = server.invoke(big)
        assert response.status_code == 413
        assert response.json()["error_code"] == "BAD_REQUEST"
        # sent in chunks, without a Content-Length header
        content = json.dumps(big).encode()
        chunks = iter([content[i : i + 500] for i in range(0, len(content), 500)])
        response = httpx.post(
            f"{server.url}/invocations",
            content=chunks,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["error_code"] == "BAD_REQUEST"
