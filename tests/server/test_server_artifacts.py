"""The artifact routes of the server: the proxy (§1.7), ``artifacts/list`` and the UI downloads (§1.6).

The app is the real one over a SQLite file, its proxy writing to a folder under ``tmp_path``; files are
checked on disk as well as through the routes.
"""

from __future__ import annotations

import pytest

from modelyard.server.app import create_app
from modelyard.settings import load_settings

PROXY = "/api/2.0/mlflow-artifacts"
AJAX_PROXY = "/ajax-api/2.0/mlflow-artifacts"
FILES = f"{PROXY}/artifacts"


def proxy_settings(tmp_path, **overrides):
    """A server that proxies to ``tmp_path/destination``; ``default_artifact_root`` left unset."""
    values = {
        "backend_store_uri": f"sqlite:///{tmp_path / 'server.db'}",
        "artifacts_destination": str(tmp_path / "destination"),
        **overrides,
    }
    return load_settings({}, **values)


@pytest.fixture
def app(tmp_path):
    return create_app(proxy_settings(tmp_path))


@pytest.fixture
def destination(tmp_path):
    return tmp_path / "destination"


def put(client, path: str, data: bytes, prefix: str = FILES):
    response = client.put(f"{prefix}/{path}", content=data)
    assert response.status_code == 200, response.text
    return response


def error_of(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return body["message"]


# ------------------------------------------------------------------------------ upload and download
@pytest.mark.parametrize("prefix", [PROXY, AJAX_PROXY])
def test_put_then_get_round_trips_with_download_headers(client, destination, prefix):
    data = bytes(range(256)) * 100
    response = client.put(
        f"{prefix}/artifacts/1/run/artifacts/model.bin",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert response.json() == {}
    assert (destination / "1/run/artifacts/model.bin").read_bytes() == data

    got = client.get(f"{prefix}/artifacts/1/run/artifacts/model.bin")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["content-disposition"].startswith('attachment; filename="model.bin"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["etag"].startswith('"')
    assert got.headers["last-modified"].endswith("GMT")


def test_put_replaces_and_reports_nothing_but_success(client, destination):
    put(client, "a/notes.txt", b"a much longer first version")
    put(client, "a/notes.txt", b"second")
    assert client.get(f"{FILES}/a/notes.txt").content == b"second"
    assert sorted(p.name for p in (destination / "a").iterdir()) == ["notes.txt"]


def test_empty_file_and_unusual_names(client):
    put(client, "e/empty.txt", b"")
    got = client.get(f"{FILES}/e/empty.txt")
    assert got.status_code == 200 and got.content == b""
    put(client, "e/with%20space%20%C3%BC.txt", b"u")  # 'with space ü.txt'
    got = client.get(f"{FILES}/e/with%20space%20%C3%BC.txt")
    assert got.content == b"u"
    assert "filename*=UTF-8''with%20space%20%C3%BC.txt" in got.headers["content-disposition"]
    put(client, "e/100%25.txt", b"percent")  # a file really named '100%.txt'
    assert client.get(f"{FILES}/e/100%25.txt").content == b"percent"


def test_pages_and_scripts_download_as_plain_text(client):
    put(client, "ui/page.html", b"<script>alert(1)</script>")
    put(client, "ui/pic.svg", b"<svg onload=alert(1)/>")
    put(client, "ui/data.json", b"{}")
    for name in ("page.html", "pic.svg"):
        got = client.get(f"{FILES}/ui/{name}")
        assert got.headers["content-type"].startswith("text/plain")
        assert got.headers["content-disposition"].startswith("attachment")
    assert client.get(f"{FILES}/ui/data.json").headers["content-type"] == "application/json"


def test_missing_file_folder_and_root(client):
    message = error_of(client.get(f"{FILES}/nope/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "nope/missing.txt" in message
    put(client, "folder/inner.txt", b"x")
    assert "folder" in error_of(client.get(f"{FILES}/folder"), 400, "INVALID_PARAMETER_VALUE")
    error_of(client.get(f"{FILES}/"), 400, "INVALID_PARAMETER_VALUE")


def test_head_gives_the_headers_without_the_body(client):
    put(client, "h/file.bin", b"0123456789")
    response = client.head(f"{FILES}/h/file.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.content == b""
    assert client.head(f"{FILES}/h/missing.bin").status_code == 404
    assert client.head(f"{FILES}/h").status_code == 400


# ------------------------------------------------------------------------------ ranges and etags
@pytest.mark.parametrize(
    ("header", "expected", "content_range"),
    [
        ("bytes=2-4", slice(2, 5), "bytes 2-4/26"),
        ("bytes=20-", slice(20, None), "bytes 20-25/26"),
        ("bytes=-3", slice(23, None), "bytes 23-25/26"),
        ("bytes=-100", slice(0, None), "bytes 0-25/26"),
        ("bytes=24-1000", slice(24, None), "bytes 24-25/26"),
        ("bytes=0-0", slice(0, 1), "bytes 0-0/26"),
    ],
)
def test_ranges_answer_206_with_content_range(client, header, expected, content_range):
    data = b"abcdefghijklmnopqrstuvwxyz"
    put(client, "r/alphabet.txt", data)
    got = client.get(f"{FILES}/r/alphabet.txt", headers={"Range": header})
    assert got.status_code == 206
    assert got.content == data[expected]
    assert got.headers["content-range"] == content_range
    assert got.headers["content-length"] == str(len(data[expected]))


@pytest.mark.parametrize("header", ["bytes=26-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges_are_416_with_an_error_code(client, header):
    put(client, "r/alphabet.txt", b"abcdefghijklmnopqrstuvwxyz")
    got = client.get(f"{FILES}/r/alphabet.txt", headers={"Range": header})
    error_of(got, 416, "INVALID_PARAMETER_VALUE")
    assert got.headers["content-range"] == "bytes */26"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "lines=1-2", "bytes=abc", "bytes=5-2"])
def test_ranges_that_cannot_be_served_give_the_whole_file_or_416(client, header):
    data = b"abcdefghijklmnopqrstuvwxyz"
    put(client, "r/alphabet.txt", data)
    got = client.get(f"{FILES}/r/alphabet.txt", headers={"Range": header})
    if header == "bytes=5-2":
        error_of(got, 416, "INVALID_PARAMETER_VALUE")
    else:
        assert got.status_code == 200 and got.content == data


def test_if_range_with_a_stale_etag_gives_the_whole_file(client):
    data = b"abcdefghijklmnopqrstuvwxyz"
    put(client, "r/alphabet.txt", data)
    etag = client.head(f"{FILES}/r/alphabet.txt").headers["etag"]
    fresh = client.get(f"{FILES}/r/alphabet.txt", headers={"Range": "bytes=0-1", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == b"ab"
    stale = client.get(f"{FILES}/r/alphabet.txt", headers={"Range": "bytes=0-1", "If-Range": '"x"'})
    assert stale.status_code == 200 and stale.content == data


def test_if_none_match_gives_304_until_the_file_changes(client):
    put(client, "e/tag.txt", b"version one")
    etag = client.get(f"{FILES}/e/tag.txt").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = client.get(f"{FILES}/e/tag.txt", headers={"If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == etag
    put(client, "e/tag.txt", b"version two!")
    changed = client.get(f"{FILES}/e/tag.txt", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.content == b"version two!"
    assert changed.headers["etag"] != etag


# ------------------------------------------------------------------------------ listing and delete
def test_listing_gives_basenames_sizes_and_folders(client):
    put(client, "1/r/artifacts/model/MLmodel", b"12345")
    put(client, "1/r/artifacts/model/data/w.bin", b"1234567890")
    put(client, "1/r/artifacts/metrics.json", b"{}")
    listing = client.get(FILES, params={"path": "1/r/artifacts"})
    assert listing.status_code == 200
    assert listing.json() == {
        "files": [
            {"path": "metrics.json", "is_dir": False, "file_size": 2},
            {"path": "model", "is_dir": True},
        ]
    }
    nested = client.get(f"{AJAX_PROXY}/artifacts", params={"path": "1/r/artifacts/model"}).json()
    assert nested["files"] == [
        {"path": "MLmodel", "is_dir": False, "file_size": 5},
        {"path": "data", "is_dir": True},
    ]
    assert client.get(FILES).json() == {"files": [{"path": "1", "is_dir": True}]}
    assert client.get(FILES, params={"path": "missing"}).json() == {}
    assert client.get(FILES, params={"path": "1/r/artifacts/metrics.json"}).json() == {}


def test_delete_a_file_a_folder_and_a_missing_path(client, destination):
    put(client, "d/keep.txt", b"k")
    put(client, "d/gone.txt", b"g")
    put(client, "d/tree/a/b.txt", b"b")
    assert client.delete(f"{FILES}/d/gone.txt").json() == {}
    assert client.delete(f"{FILES}/d/tree").status_code == 200
    assert client.delete(f"{FILES}/d/never").status_code == 200
    assert sorted(p.name for p in (destination / "d").iterdir()) == ["keep.txt"]


def test_the_whole_destination_cannot_be_deleted(client, destination):
    put(client, "x/keep.txt", b"k")
    error_of(client.delete(f"{FILES}/"), 400, "INVALID_PARAMETER_VALUE")
    assert (destination / "x/keep.txt").read_bytes() == b"k"


def test_wrong_method_is_json_405(client):
    response = client.post(f"{FILES}/x.txt", json={})
    assert response.status_code == 405
    assert response.json()["error_code"] == "BAD_REQUEST"


# ------------------------------------------------------------------------------ multipart and presign
def test_multipart_on_a_local_destination_is_501_with_mlflows_fallback_message(client):
    body = {"path": "/home/me/big.bin", "num_parts": 3}
    message = error_of(
        client.post(f"{PROXY}/mpu/create/1/r/artifacts", json=body), 501, "NOT_IMPLEMENTED"
    )
    # MLflow's client falls back to a plain PUT when the message starts with this sentence.
    assert message.startswith(
        "Multipart upload is not supported for the current artifact repository"
    )
    complete = {"path": "big.bin", "upload_id": "u", "parts": [{"part_number": 1, "etag": "e"}]}
    error_of(client.post(f"{PROXY}/mpu/complete/1", json=complete), 501, "NOT_IMPLEMENTED")
    abort = {"path": "big.bin", "upload_id": "u"}
    error_of(client.post(f"{AJAX_PROXY}/mpu/abort/1", json=abort), 501, "NOT_IMPLEMENTED")


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("create", {"num_parts": 2}, "path"),
        ("create", {"path": "f.bin", "num_parts": "two"}, "num_parts"),
        ("complete", {"path": "f.bin", "parts": [{"part_number": 1, "etag": "e"}]}, "upload_id"),
        ("complete", {"path": "f.bin", "upload_id": "u"}, "parts"),
        ("complete", {"path": "f.bin", "upload_id": "u", "parts": [{"etag": 1}]}, "parts[0]"),
        ("abort", {"path": "f.bin"}, "upload_id"),
    ],
)
def test_multipart_bodies_are_checked(client, route, body, field):
    message = error_of(
        client.post(f"{PROXY}/mpu/{route}/dir", json=body), 400, "INVALID_PARAMETER_VALUE"
    )
    assert f"'{field}'" in message


def test_multipart_needs_a_json_content_type(client):
    response = client.post(f"{PROXY}/mpu/create/dir", content=b'{"path": "f", "num_parts": 1}')
    assert "Content-Type" in error_of(response, 400, "INVALID_PARAMETER_VALUE")


def test_presigned_download_on_a_local_destination_is_501(client):
    put(client, "p/file.bin", b"x")
    error_of(client.get(f"{PROXY}/presigned/p/file.bin"), 501, "NOT_IMPLEMENTED")


# ------------------------------------------------------------------------------ tracking API and UI
def test_new_experiments_and_runs_get_proxied_locations(api):
    default = api.ok_get("experiments/get", {"experiment_id": "0"})["experiment"]
    assert default["artifact_location"] == "mlflow-artifacts:/0"
    exp_id = api.experiment("proxied")
    experiment = api.ok_get("experiments/get", {"experiment_id": exp_id})["experiment"]
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{exp_id}"
    run_id = api.run(exp_id)
    info = api.ok_get("runs/get", {"run_id": run_id})["run"]["info"]
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"


def test_an_explicit_default_artifact_root_wins_over_the_proxy(tmp_path):
    from starlette.testclient import TestClient

    root = tmp_path / "explicit-root"
    app = create_app(proxy_settings(tmp_path, default_artifact_root=str(root)))
    with TestClient(app) as client:
        created = client.post("/api/2.0/mlflow/experiments/create", json={"name": "x"}).json()
        got = client.get(
            "/api/2.0/mlflow/experiments/get", params={"experiment_id": created["experiment_id"]}
        )
        location = got.json()["experiment"]["artifact_location"]
    assert location == f"file://{root}/{created['experiment_id']}"


def _run_with_files(api, client) -> tuple[str, str]:
    exp_id = api.experiment("with-files")
    run_id = api.run(exp_id)
    base = f"{exp_id}/{run_id}/artifacts"
    put(client, f"{base}/model/MLmodel", b"flavors: {}\n")
    put(client, f"{base}/model/data/weights.bin", b"0123456789")
    put(client, f"{base}/metrics.json", b'{"a": 1}')
    return exp_id, run_id


@pytest.mark.parametrize("prefix", ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"])
def test_tracking_list_gives_run_relative_paths(api, client, prefix):
    exp_id, run_id = _run_with_files(api, client)
    root_uri = f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
    top = client.get(f"{prefix}/artifacts/list", params={"run_id": run_id}).json()
    assert top == {
        "root_uri": root_uri,
        "files": [
            {"path": "metrics.json", "is_dir": False, "file_size": 8},
            {"path": "model", "is_dir": True},
        ],
    }
    nested = client.get(
        f"{prefix}/artifacts/list", params={"run_uuid": run_id, "path": "model"}
    ).json()
    assert nested["files"] == [
        {"path": "model/MLmodel", "is_dir": False, "file_size": 12},
        {"path": "model/data", "is_dir": True},
    ]
    deeper = client.get(
        f"{prefix}/artifacts/list", params={"run_id": run_id, "path": "model/data"}
    ).json()
    assert deeper["files"] == [{"path": "model/data/weights.bin", "is_dir": False, "file_size": 10}]


def test_tracking_list_of_an_empty_run_and_errors(api, client):
    run_id = api.run("0")
    assert api.ok_get("artifacts/list", {"run_id": run_id}) == {
        "root_uri": f"mlflow-artifacts:/0/{run_id}/artifacts"
    }
    assert "run_id" in error_of(api.get("artifacts/list"), 400, "INVALID_PARAMETER_VALUE")
    error_of(api.get("artifacts/list", {"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    error_of(api.get("artifacts/list", {"run_id": "bad id!"}), 400, "INVALID_PARAMETER_VALUE")


def test_get_artifact_downloads_a_run_file_as_an_attachment(api, client):
    _exp_id, run_id = _run_with_files(api, client)
    got = client.get("/get-artifact", params={"run_id": run_id, "path": "model/MLmodel"})
    assert got.status_code == 200
    assert got.content == b"flavors: {}\n"
    assert got.headers["content-disposition"].startswith('attachment; filename="MLmodel"')
    assert got.headers["x-content-type-options"] == "nosniff"
    ranged = client.get(
        "/get-artifact",
        params={"run_id": run_id, "path": "model/data/weights.bin"},
        headers={"Range": "bytes=3-5"},
    )
    assert ranged.status_code == 206 and ranged.content == b"345"


def test_get_artifact_errors(api, client):
    _exp_id, run_id = _run_with_files(api, client)
    get = lambda **params: client.get("/get-artifact", params=params)  # noqa: E731
    error_of(get(run_id=run_id), 400, "INVALID_PARAMETER_VALUE")
    error_of(get(path="metrics.json"), 400, "INVALID_PARAMETER_VALUE")
    error_of(get(run_id=run_id, path="model"), 400, "INVALID_PARAMETER_VALUE")
    error_of(get(run_id=run_id, path="absent.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    error_of(get(run_id="a" * 32, path="metrics.json"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_model_version_files_download_from_where_the_registry_says(api, client):
    _exp_id, run_id = _run_with_files(api, client)
    api.ok_post("registered-models/create", {"name": "m"})
    api.ok_post(
        "model-versions/create", {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id}
    )
    get = lambda **params: client.get("/model-versions/get-artifact", params=params)  # noqa: E731
    response = get(name="m", version="1", path="MLmodel")
    assert response.status_code == 200, response.text
    assert response.content == b"flavors: {}\n"
    assert response.headers["content-disposition"].startswith("attachment")
    assert get(name="m", version="1", path="data/weights.bin").content == b"0123456789"
    error_of(get(name="m", version="1"), 400, "INVALID_PARAMETER_VALUE")
    error_of(get(version="1", path="MLmodel"), 400, "INVALID_PARAMETER_VALUE")
    error_of(get(name="m", version="1", path="../metrics.json"), 400, "INVALID_PARAMETER_VALUE")
    error_of(get(name="m", version="9", path="MLmodel"), 404, "RESOURCE_DOES_NOT_EXIST")
    error_of(get(name="m", version="1", path="absent"), 404, "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------------------ modes
def test_no_serve_artifacts_answers_503_json_on_every_proxy_route(tmp_path):
    from starlette.testclient import TestClient

    app = create_app(
        proxy_settings(tmp_path, serve_artifacts=False, default_artifact_root=str(tmp_path / "r"))
    )
    with TestClient(app) as client:
        calls = [
            client.get(FILES, params={"path": ""}),
            client.get(f"{FILES}/a.txt"),
            client.put(f"{FILES}/a.txt", content=b"x"),
            client.delete(f"{FILES}/a.txt"),
            client.post(f"{PROXY}/mpu/create/a", json={"path": "f", "num_parts": 1}),
            client.get(f"{AJAX_PROXY}/presigned/a.txt"),
        ]
        for response in calls:
            assert "--no-serve-artifacts" in error_of(response, 503, "TEMPORARILY_UNAVAILABLE")
        assert not (tmp_path / "destination").exists()
        # Tracking still works, and new experiments use the default artifact root.
        created = client.post("/api/2.0/mlflow/experiments/create", json={"name": "e"}).json()
        experiment = client.get(
            "/api/2.0/mlflow/experiments/get", params={"experiment_id": created["experiment_id"]}
        ).json()["experiment"]
        assert (
            experiment["artifact_location"] == f"file://{tmp_path / 'r'}/{created['experiment_id']}"
        )


def test_without_the_proxy_run_files_under_the_default_root_are_served(tmp_path):
    from starlette.testclient import TestClient

    root = tmp_path / "root"
    app = create_app(
        proxy_settings(tmp_path, serve_artifacts=False, default_artifact_root=str(root))
    )
    with TestClient(app) as client:
        run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()
        run_id = run["run"]["info"]["run_id"]
        folder = root / "0" / run_id / "artifacts"
        folder.mkdir(parents=True)
        (folder / "out.txt").write_bytes(b"direct")
        listing = client.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}).json()
        assert listing["root_uri"] == f"file://{folder}"
        assert listing["files"] == [{"path": "out.txt", "is_dir": False, "file_size": 6}]
        got = client.get("/get-artifact", params={"run_id": run_id, "path": "out.txt"})
        assert got.content == b"direct"


def test_http_locations_are_never_fetched_by_the_server(api, client):
    exp_id = api.experiment("remote", artifact_location="https://artifacts.example.com/store")
    run_id = api.run(exp_id)
    message = error_of(
        client.get("/get-artifact", params={"run_id": run_id, "path": "a.txt"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "HTTP" in message
    error_of(api.get("artifacts/list", {"run_id": run_id}), 400, "INVALID_PARAMETER_VALUE")


def test_local_locations_outside_the_server_roots_are_not_read(api, client, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exp_id = api.experiment("local", artifact_location=str(elsewhere))
    run_id = api.run(exp_id)
    run_dir = elsewhere / run_id / "artifacts"
    run_dir.mkdir(parents=True)
    (run_dir / "secret.txt").write_bytes(b"secret")
    response = client.get("/get-artifact", params={"run_id": run_id, "path": "secret.txt"})
    assert "outside" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert b"secret" not in response.content
    error_of(api.get("artifacts/list", {"run_id": run_id}), 400, "INVALID_PARAMETER_VALUE")


def test_artifacts_only_serves_the_proxy_and_503s_tracking(tmp_path):
    from starlette.testclient import TestClient

    app = create_app(proxy_settings(tmp_path, artifacts_only=True))
    with TestClient(app) as client:
        put(client, "only/file.txt", b"still served")
        assert client.get(f"{FILES}/only/file.txt").content == b"still served"
        assert client.get("/health").text == "OK"
        calls = [
            client.post("/api/2.0/mlflow/experiments/create", json={"name": "x"}),
            client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}),
            client.post("/ajax-api/2.0/mlflow/runs/search", json={}),
            client.get("/api/2.0/mlflow/artifacts/list", params={"run_id": "a" * 32}),
            client.get("/get-artifact", params={"run_id": "a" * 32, "path": "x"}),
        ]
        for response in calls:
            assert "--artifacts-only" in error_of(response, 503, "TEMPORARILY_UNAVAILABLE")


def test_artifacts_only_needs_the_proxy(tmp_path):
    with pytest.raises(ValueError, match="serve_artifacts"):
        create_app(proxy_settings(tmp_path, artifacts_only=True, serve_artifacts=False))


def test_a_put_the_store_refuses_before_reading_the_body_is_400(client, destination):
    put(client, "f/inner/file.txt", b"x")
    big = bytes(8 << 20)  # more than the read-ahead queue holds
    response = client.put(f"{FILES}/f/inner", content=big)
    assert "folder" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    response = client.put(f"{FILES}/f/inner/file.txt/below.txt", content=b"y")
    assert "parent" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert (destination / "f/inner/file.txt").read_bytes() == b"x"
