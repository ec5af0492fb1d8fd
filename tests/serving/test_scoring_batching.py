"""Micro-batching and metrics against a real server: concurrent requests are merged into one
``predict`` call and each gets its own rows back; requests with other columns or params go alone;
``/metrics`` counts what happened."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import httpx
from serving_support import write_python_model

# Each output row says which request it came from (its x) and how many rows the predict call saw.
RECORDER = """
import time

import pandas as pd

from modelyard.pyfunc import PythonModel, set_model


class Recorder(PythonModel):
    def predict(self, model_input, params=None):
        time.sleep(0.05)  # slow enough for concurrent requests to queue behind a call
        tag = (params or {}).get("tag", "")
        return pd.DataFrame(
            {
                "x": model_input["x"],
                "columns": ",".join(model_input.columns),
                "batch": len(model_input),
                "tag": tag,
            }
        )


set_model(Recorder())
"""


async def _send_all(url: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(body: dict) -> tuple[int, dict]:
            async with session.post(f"{url}/invocations", json=body) as response:
                return response.status, await response.json()

        return await asyncio.gather(*(one(b) for b in bodies))


def _body(xs: list[int], extra: bool = False, tag: str | None = None) -> dict:
    columns = ["x", "y"] if extra else ["x"]
    body: dict = {
        "dataframe_split": {"columns": columns, "data": [[x, 0] if extra else [x] for x in xs]}
    }
    if tag is not None:
        body["params"] = {"tag": tag}
    return body


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_concurrent_requests_are_merged_and_split_back(start_scoring_server, tmp_path):
    model = write_python_model(tmp_path, RECORDER)
    with start_scoring_server(
        model, "--batch-max-size", "64", "--batch-max-wait-ms", "20"
    ) as server:
        # 40 requests of 1 to 3 rows, all in flight at once
        bodies = [_body([100 * i + k for k in range(1 + i % 3)]) for i in range(40)]
        answers = asyncio.run(_send_all(server.url, bodies))
        batches = []
        for body, (status, answer) in zip(bodies, answers, strict=True):
            assert status == 200, answer
            rows = answer["predictions"]
            sent = [r[0] for r in body["dataframe_split"]["data"]]
            assert [r["x"] for r in rows] == sent  # its own rows, in order
            assert len({r["batch"] for r in rows}) == 1
            batches.append(rows[0]["batch"])
        assert max(batches) > 3  # several requests shared a predict call
        assert max(batches) <= 64

        metrics = httpx.get(f"{server.url}/metrics").text
        calls = _metric(metrics, "modelyard_scoring_predict_calls_total")
        assert 1 <= calls < 40
        assert _metric(metrics, "modelyard_scoring_batch_size_sum") == sum(
            len(b["dataframe_split"]["data"]) for b in bodies
        )
        assert _requests(metrics, 200) == 40


def _requests(metrics: str, status: int) -> float:
    worker = _worker(metrics)
    labels = f'worker="{worker}",route="/invocations",status="{status}"'
    return _metric(metrics, "modelyard_scoring_requests_total{" + labels + "}")


def _worker(metrics: str) -> str:
    match = re.search(r'worker="(\d+)"', metrics)
    assert match is not None
    return match.group(1)


def test_requests_that_cannot_merge_go_apart(start_scoring_server, tmp_path):
    model = write_python_model(tmp_path, RECORDER)
    with start_scoring_server(
        model, "--batch-max-size", "8", "--batch-max-wait-ms", "20"
    ) as server:
        bodies = (
            [_body([i]) for i in range(12)]
            + [_body([1000 + i], extra=True) for i in range(6)]
            + [_body([2000 + i], tag="b") for i in range(6)]
            + [_body(list(range(3000, 3020)))]  # more rows than --batch-max-size: alone
        )
        answers = asyncio.run(_send_all(server.url, bodies))
        for body, (status, answer) in zip(bodies, answers, strict=True):
            assert status == 200, answer
            rows = answer["predictions"]
            data = body["dataframe_split"]
            assert [r["x"] for r in rows] == [r[0] for r in data["data"]]
            tag = body.get("params", {}).get("tag", "")
            for row in rows:
                # a batch holds only requests with this one's columns and params
                assert row["columns"] == ",".join(data["columns"])
                assert row["tag"] == tag
                assert row["batch"] <= max(8, len(data["data"]))
        assert answers[-1][1]["predictions"][0]["batch"] == 20


def test_a_bad_request_in_a_batch_fails_alone(start_scoring_server, lr_model_dir, lr_frame):
    with start_scoring_server(lr_model_dir, "--batch-max-size", "64") as server:
        good = {"dataframe_split": lr_frame.iloc[:2].to_dict(orient="split")}
        bad = {"dataframe_records": [{**lr_frame.iloc[0].to_dict(), "f3": "text"}]}
        answers = asyncio.run(_send_all(server.url, [good] * 10 + [bad] + [good] * 10))
        statuses = [status for status, _ in answers]
        assert statuses == [200] * 10 + [400] + [200] * 10
        assert answers[10][1]["error_code"] == "INVALID_PARAMETER_VALUE"
        assert len({str(answer) for _, answer in answers[:10] + answers[11:]}) == 1


def test_metrics_count_requests_by_status(lr_server, lr_model_dir, lr_frame):
    before = httpx.get(f"{lr_server.url}/metrics").text
    count = _requests

    good = {"dataframe_split": lr_frame.iloc[:3].to_dict(orient="split")}
    for _ in range(5):
        assert lr_server.invoke(good).status_code == 200
    for _ in range(2):
        assert lr_server.invoke({"nope": 1}).status_code == 400
    after = httpx.get(f"{lr_server.url}/metrics")
    assert after.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = after.text
    assert count(text, 200) - count(before, 200) == 5
    assert count(text, 400) - count(before, 400) == 2
    assert "# TYPE modelyard_scoring_request_duration_seconds histogram" in text
    assert _metric(text, "modelyard_scoring_request_duration_seconds_count") >= 7
    assert (
        _metric(text, "modelyard_scoring_request_rows_sum")
        - _metric(before, "modelyard_scoring_request_rows_sum")
        == 15
    )
    assert f'model_uri="{lr_model_dir}"' in text
    # every sample line is "name{labels} value"
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[a-z_]+(\{[^}]*\})? [0-9.e+-]+", line), line
