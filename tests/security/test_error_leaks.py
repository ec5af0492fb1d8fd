"""No error answer carries SQL text, a stack trace or a server file path (issue 9, part 5).

Errors are provoked on purpose: input the databases refuse (lone surrogates, NUL bytes, huge values,
invalid UTF-8 in URLs), missing files, invalid paths, a destination that became a file and a database
whose tables were dropped under the running server. Every error body must be an MLflow JSON error (or
the UI's error page) naming none of the internals.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid

import orjson
import pytest
from security_helpers import API, app_client, settings_for

from modelyard.server.app import create_app

LEAKS = ("Traceback", "sqlalchemy", "SELECT ", "INSERT ", "UPDATE ", "psycopg", "pymysql", 'File "')


def assert_clean(response, tmp: str, what: str) -> None:
    assert response.status_code >= 400, (what, response.status_code, response.text[:300])
    text = response.text
    found = [leak for leak in (*LEAKS, tmp) if leak in text]
    assert not found, (what, found, text[:500])
    if response.headers.get("content-type", "").startswith("application/json"):
        assert set(response.json()) == {"error_code", "message"}, (what, text[:300])


def _s(text: str) -> str:
    return orjson.dumps(text).decode()


def _obj(**fields: str) -> str:
    """A JSON object from raw JSON texts (so that a value may be JSON orjson would not write)."""
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


def _raw(client, path: str, text: str):
    return client.post(
        f"{API}/{path}", content=text.encode(), headers={"content-type": "application/json"}
    )


BAD_STRINGS = [
    '"\\ud800x"',  # a lone surrogate: valid JSON, no database can store it
    '"\\udfff"',
    '"a\\u0000b"',  # NUL: PostgreSQL refuses it in text
    '"' + "x" * 70000 + '"',
]


@pytest.mark.filterwarnings("ignore:The value of tag .* was truncated")
@pytest.mark.parametrize("bad", BAD_STRINGS, ids=["surrogate", "low-surrogate", "nul", "long"])
def test_input_the_database_refuses_gives_clean_4xx(db_uri, tmp_path, bad):
    """Regression: lone surrogates reached the stores through the NaN-tolerant JSON fallback and
    failed there with 500 (UnicodeEncodeError), or while the error itself was rendered."""
    settings = settings_for(tmp_path, backend_store_uri=db_uri)
    from starlette.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        run = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()
        run_id = run["run"]["info"]["run_id"]
        u = uuid.uuid4().hex[:8]
        named = bad.replace('x"', f'{u}"') if bad.endswith('x"') else bad
        rid, key = _s(run_id), _s(f"k{u}")
        calls = {
            "experiments/create": _obj(name=named),
            "registered-models/create": _obj(name=named),
            "runs/set-tag key": _obj(run_id=rid, key=bad, value=_s("v")),
            "runs/set-tag value": _obj(run_id=rid, key=key, value=bad),
            "runs/log-parameter": _obj(run_id=rid, key=bad, value=_s("v")),
            "runs/log-metric": _obj(run_id=rid, key=bad, value="1", timestamp="1"),
            "runs/search": _obj(experiment_ids='["0"]', filter=bad),
            "model-versions/create": _obj(name=_s(f"m{u}"), source=bad),
            "webhooks": _obj(name=bad, url=_s("https://93.184.216.34/"), events="[]"),
        }
        for what, body in calls.items():
            response = _raw(client, what.split(" ")[0], body)
            assert response.status_code != 500, (what, response.text[:300])
            if response.status_code >= 400:
                assert_clean(response, str(tmp_path), what)


@pytest.mark.parametrize("text", ["%ED%A0%80", "%FF%FE", "a%00b", "%C0%AE%C0%AE"])
def test_invalid_bytes_in_urls_give_clean_answers(tmp_path, text):
    with app_client(tmp_path) as client:
        run_id = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"][
            "info"
        ]["run_id"]
        for url in (
            f"{API}/experiments/get-by-name?experiment_name={text}",
            f"{API}/runs/get?run_id={text}",
            f"{API}/registered-models/get?name={text}",
            f"{API}/metrics/get-history?run_id={run_id}&metric_key={text}",
            f"/get-artifact?run_id={run_id}&path={text}",
            f"{API}/artifacts/list?run_id={run_id}&path={text}",
            f"/api/2.0/mlflow-artifacts/artifacts/{text}",
            f"{API}/webhooks/{text}",
            f"{API}/logged-models/{text}",
        ):
            response = client.get(url)
            assert response.status_code != 500, (url, response.text[:300])
            if response.status_code >= 400:
                assert_clean(response, str(tmp_path), url)


def test_missing_files_invalid_paths_and_a_broken_destination(tmp_path):
    with app_client(tmp_path) as client:
        tmp = str(tmp_path)
        run_id = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"][
            "info"
        ]["run_id"]
        proxy = "/api/2.0/mlflow-artifacts/artifacts"
        assert client.put(f"{proxy}/0/d/file.txt", content=b"x").status_code == 200
        for response, what in (
            (client.get(f"/get-artifact?run_id={run_id}&path=missing.txt"), "missing run file"),
            (client.get(f"{proxy}/0/nope.txt"), "missing proxy file"),
            (client.get(f"{proxy}/0/d"), "a folder"),
            (client.put(f"{proxy}/0/d", content=b"y"), "a file over a folder"),
            (client.put(f"{proxy}/0/d/file.txt/child", content=b"y"), "a file under a file"),
            (client.get(f"{proxy}/..%2f..%2fserver.db"), "traversal"),
            (client.get("/get-artifact?run_id=nope&path=x"), "missing run"),
            (client.get("/model-versions/get-artifact?name=nope&version=1&path=x"), "no model"),
            (client.post("/api/2.0/mlflow-artifacts/mpu/create/0", json={"path": "z"}), "mpu"),
        ):
            assert_clean(response, tmp, what)
        shutil.rmtree(tmp_path / "mlartifacts")
        (tmp_path / "mlartifacts").write_text("the destination is now a file")
        for response, what in (
            (client.put(f"{proxy}/0/y.txt", content=b"y"), "write into a file destination"),
            (client.get(f"{proxy}/0/y.txt"), "read from a file destination"),
        ):
            assert_clean(response, tmp, what)


def test_a_database_broken_under_the_server(tmp_path):
    with app_client(tmp_path) as client:
        run_id = client.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"][
            "info"
        ]["run_id"]
        db = sqlite3.connect(tmp_path / "server.db")
        db.execute("DROP TABLE tags")
        db.execute("DROP TABLE params")
        db.commit()
        db.close()
        for response, what in (
            (client.get(f"{API}/runs/get?run_id={run_id}"), "get run"),
            (
                client.post(
                    f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"}
                ),
                "set tag",
            ),
            (client.post(f"{API}/runs/search", json={"experiment_ids": ["0"]}), "search"),
            (
                client.post(
                    f"{API}/runs/log-batch",
                    json={"run_id": run_id, "params": [{"key": "p", "value": "1"}]},
                ),
                "log batch",
            ),
            (client.get(f"/runs/{run_id}"), "UI run page"),
        ):
            assert_clean(response, str(tmp_path), what)
