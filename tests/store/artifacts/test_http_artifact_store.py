"""What the HTTP store does beyond the shared contract: URIs, retries, error translation, credentials,
and multipart uploads and presigned downloads through a proxy whose destination is S3 (moto's server).

Retries and foreign errors are played by a small scripted HTTP server in a thread (it stands for a
remote server or a proxy in between, not for a modelyard component); everything else runs against a
real modelyard server.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from live_app import free_port
from live_app import serve_in_thread as serve
from modelyard.errors import (
    InvalidInput,
    ModelyardError,
    NotFound,
    PermissionDenied,
    TemporarilyUnavailable,
    Unauthenticated,
)
from modelyard.server.app import create_app
from modelyard.settings import load_settings
from modelyard.store.artifacts import (
    CompletedPart,
    HttpArtifactStore,
    open_artifact_store,
)
from modelyard.store.artifacts.http import parse_http_artifact_uri

MIB = 1 << 20


# ------------------------------------------------------------------------------ URIs
@pytest.mark.parametrize(
    ("uri", "api_root", "prefix"),
    [
        ("http://h:5000/api/2.0/mlflow-artifacts/artifacts", "http://h:5000/api/2.0", ""),
        ("http://h:5000/api/2.0/mlflow-artifacts/artifacts/", "http://h:5000/api/2.0", ""),
        (
            "https://h/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts",
            "https://h/api/2.0",
            "1/r/artifacts",
        ),
        ("http://h/proxy/api/2.0/mlflow-artifacts/artifacts/x", "http://h/proxy/api/2.0", "x"),
        ("http://h:5000", "http://h:5000/api/2.0", ""),
        ("HTTP://h:5000/", "http://h:5000/api/2.0", ""),
        ("http://h/api/2.0/mlflow-artifacts/artifacts/a%20b", "http://h/api/2.0", "a b"),
    ],
)
def test_uris_name_the_api_root_and_the_prefix(uri, api_root, prefix):
    assert parse_http_artifact_uri(uri) == (api_root, prefix)


@pytest.mark.parametrize(
    "uri",
    [
        "http:///api/2.0/mlflow-artifacts/artifacts",
        "ftp://h/api/2.0/mlflow-artifacts/artifacts",
        "http://h/somewhere/else",
        "http://h/api/2.0/mlflow-artifacts/artifacts?x=1",
        "http://h/api/2.0/mlflow-artifacts/artifacts#frag",
        "http://h/api/2.0/mlflow-artifacts/artifacts/../x",
        "http://h/api/2.0/mlflow-artifacts/artifacts/%2e%2e/x",
        "http://h/api/2.0/mlflow-artifacts/artifactsX",
    ],
)
def test_bad_uris_are_invalid_input(uri):
    with pytest.raises(InvalidInput):
        HttpArtifactStore(uri)


def test_http_and_https_schemes_open_the_http_store():
    for scheme in ("http", "https"):
        store = open_artifact_store(f"{scheme}://h:1/api/2.0/mlflow-artifacts/artifacts/p")
        assert isinstance(store, HttpArtifactStore)
        assert store.prefix == "p"
        store.close()


# ------------------------------------------------------------------------------ a scripted server
@dataclass
class Script:
    """Answers to give, in order (status, headers, body); the last one repeats. Requests are kept."""

    answers: list[tuple[int, dict[str, str], bytes]]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    """uvicorn in a thread, answering every request from ``script``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def answer(request: Request) -> Response:
        await request.body()
        script.seen.append(
            (
                request.method,
                request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                dict(request.headers),
            )
        )
        status, headers, body = script.answers[min(len(script.seen), len(script.answers)) - 1]
        return Response(body, status_code=status, headers=headers)

    methods = ["GET", "HEAD", "PUT", "POST", "DELETE"]
    app = Starlette(routes=[Route("/{rest:path}", answer, methods=methods)])
    with serve(app) as url:
        yield f"{url}/api/2.0/mlflow-artifacts/artifacts/p"


def store_for(uri: str, **kw) -> HttpArtifactStore:
    return HttpArtifactStore(uri, max_retries=kw.pop("max_retries", 3), backoff_s=0.01, **kw)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_answers_are_retried_then_succeed(status):
    script = Script(
        [(status, {"Retry-After": "0"}, b"busy"), (status, {}, b""), (200, {}, b"data")]
    )
    with scripted_server(script) as uri:
        store = store_for(uri)
        assert b"".join(store.read("f.bin")) == b"data"
        store.write("f.bin", [b"abc"])  # a replayable body is sent again too
    assert [s[0] for s in script.seen] == ["GET", "GET", "GET", "PUT"]


def test_retries_give_up_with_the_servers_error():
    script = Script(
        [
            (
                503,
                {"Content-Type": "application/json"},
                b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "down"}',
            )
        ]
    )
    with scripted_server(script) as uri, pytest.raises(TemporarilyUnavailable, match="down"):
        b"".join(store_for(uri, max_retries=2).read("f.bin"))
    assert len(script.seen) == 3


def test_a_streamed_upload_is_not_retried_once_sent():
    script = Script([(503, {}, b""), (200, {}, b"")])
    with scripted_server(script) as uri, pytest.raises(TemporarilyUnavailable):
        store_for(uri).write("f.bin", (c for c in [b"one", b"two"]))
    assert [s[0] for s in script.seen] == ["PUT"]


def test_deterministic_errors_are_not_retried_and_keep_their_class():
    cases = [
        (404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such file"}', NotFound),
        (400, b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}', InvalidInput),
        (401, b"Unauthorized", Unauthenticated),
        (403, b"Permission denied", PermissionDenied),
        (500, b"<html>oops</html>", ModelyardError),
    ]
    for status, body, error in cases:
        script = Script([(status, {}, body)])
        with scripted_server(script) as uri, pytest.raises(error):
            b"".join(store_for(uri).read("f.bin"))
        assert len(script.seen) == 1, status


def test_an_unreachable_server_is_temporarily_unavailable_after_retries():
    uri = f"http://127.0.0.1:{free_port()}/api/2.0/mlflow-artifacts/artifacts"
    started = time.monotonic()
    with pytest.raises(TemporarilyUnavailable, match="3 attempt"):
        store_for(uri, max_retries=2).stat("x")
    assert time.monotonic() - started < 10


def test_headers_and_settings_credentials_are_sent(monkeypatch):
    script = Script([(200, {}, b"x")])
    with scripted_server(script) as uri:
        b"".join(store_for(uri, headers={"Authorization": "Bearer given"}).read("f"))
        monkeypatch.setenv("MODELYARD_TRACKING_TOKEN", "from-env")
        b"".join(store_for(uri).read("f"))
        monkeypatch.delenv("MODELYARD_TRACKING_TOKEN")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ann")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
        b"".join(store_for(uri).read("f"))
    auth = [headers.get("authorization") for _, _, headers in script.seen]
    assert auth == ["Bearer given", "Bearer from-env", "Basic YW5uOnB3"]
    assert script.seen[0][1] == "/api/2.0/mlflow-artifacts/artifacts/p/f"


def test_a_server_that_ignores_the_range_still_gives_only_the_range():
    script = Script([(200, {}, bytes(range(100)))])
    with scripted_server(script) as uri:
        assert b"".join(store_for(uri).read("f", 10, 19)) == bytes(range(10, 20))
        assert b"".join(store_for(uri).read("f", 95)) == bytes(range(95, 100))
    assert script.seen[0][2]["range"] == "bytes=10-19"


def test_a_listing_with_unsafe_names_drops_them():
    body = (
        b'{"files": [{"path": "ok.txt", "is_dir": false, "file_size": 2},'
        b' {"path": "../evil", "is_dir": false}, {"path": "a/b", "is_dir": true},'
        b' {"path": "..", "is_dir": true}, {"path": "dir", "is_dir": true}]}'
    )
    script = Script([(200, {"Content-Type": "application/json"}, body)])
    with scripted_server(script) as uri:
        listing = store_for(uri).list("sub")
    assert [(f.path, f.is_dir, f.file_size) for f in listing] == [
        ("sub/dir", True, None),
        ("sub/ok.txt", False, 2),
    ]
    assert script.seen[0][1] == "/api/2.0/mlflow-artifacts/artifacts?path=p%2Fsub"


# ------------------------------------------------------------------------------ broken downloads
FILE = bytes(range(256)) * (3 * 4096)  # 3 MiB: the client hands it out in 1 MiB chunks


@contextmanager
def breaking_server(answers: list[str]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A server whose GETs of the 3 MiB ``FILE`` play ``answers`` in order (the last repeats):
    ``"break"`` sends 1.5 MiB (of the range asked for) and drops the connection; ``"range"`` answers a
    ``Range`` with 206 and the rest; ``"whole"`` sends it whole (a server ignoring ranges);
    ``"changed"`` sends other bytes with another ETag. Yields the URI and the requests' headers."""
    seen: list[dict[str, str]] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append(headers)
        kind = answers[min(len(seen), len(answers)) - 1]
        etag, body, status = '"v1"', FILE, 200
        if kind in ("range", "break") and "range" in headers:
            start = int(headers["range"].removeprefix("bytes=").split("-")[0])
            body, status = FILE[start:], 206
        elif kind == "changed":
            etag, body = '"v2"', FILE[::-1]
        start_headers = [(b"content-length", str(len(body)).encode()), (b"etag", etag.encode())]
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        if kind == "break":
            await send({"type": "http.response.body", "body": body[: 3 << 19], "more_body": True})
            raise ConnectionAbortedError("the connection drops mid-body")
        await send({"type": "http.response.body", "body": body})

    with serve(app) as url:
        yield f"{url}/api/2.0/mlflow-artifacts/artifacts/p", seen


def test_a_broken_download_resumes_where_it_stopped():
    with breaking_server(["break", "range"]) as (uri, seen):
        assert b"".join(store_for(uri).read("f")) == FILE
    assert "range" not in seen[0]
    assert (seen[1]["range"], seen[1]["if-range"]) == ("bytes=1048576-", '"v1"')


def test_a_broken_range_resumes_inside_the_range():
    with breaking_server(["break", "range"]) as (uri, seen):
        assert b"".join(store_for(uri).read("f", 10)) == FILE[10:]
    assert seen[1]["range"] == f"bytes={10 + (1 << 20)}-"


def test_a_broken_download_from_a_server_ignoring_ranges_skips_what_it_had():
    with breaking_server(["break", "whole"]) as (uri, _):
        assert b"".join(store_for(uri).read("f")) == FILE


def test_a_file_replaced_while_downloading_is_refused_not_spliced():
    refused = pytest.raises(TemporarilyUnavailable, match="changed before it could resume")
    with breaking_server(["break", "changed"]) as (uri, _), refused:
        b"".join(store_for(uri).read("f"))


def test_a_download_that_keeps_breaking_gives_up_after_the_retries():
    refused = pytest.raises(TemporarilyUnavailable, match="broke off")
    with breaking_server(["break"]) as (uri, seen), refused:
        b"".join(store_for(uri, max_retries=1).read("f"))  # 1 MiB, then 1 more, then no retry
    assert [h.get("range") for h in seen] == [None, "bytes=1048576-"]


# ------------------------------------------------------------------------------ through a real proxy
@contextmanager
def modelyard_server(tmp_path, destination: str) -> Iterator[str]:
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=destination,
    )
    with serve(create_app(settings)) as url:
        yield url


def test_multipart_on_a_local_destination_raises_not_implemented(http_store):
    store = http_store.store
    with pytest.raises(NotImplementedError, match="Multipart upload is not supported"):
        store.create_multipart_upload("big.bin", 2)
    with pytest.raises(NotImplementedError):
        store.complete_multipart_upload("big.bin", "u", [CompletedPart(1, "e")])
    with pytest.raises(NotImplementedError):
        store.abort_multipart_upload("big.bin", "u")


@pytest.fixture
def s3_proxy(tmp_path, request, monkeypatch) -> Iterator[tuple[str, str, object]]:
    """(server URL, bucket, boto3 client) for a modelyard server proxying to a moto bucket."""
    endpoint = request.getfixturevalue("moto_endpoint")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", endpoint)
    with modelyard_server(tmp_path, f"s3://{bucket}/proxied") as url:
        yield url, bucket, client


def test_multipart_upload_through_the_proxy_to_s3(s3_proxy):
    url, bucket, client = s3_proxy
    store = HttpArtifactStore(f"{url}/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts")
    parts_data = [bytes([i]) * (5 * MIB) for i in range(2)] + [b"tail"]
    upload = store.create_multipart_upload("model/weights.bin", len(parts_data))
    assert [p.part_number for p in upload.parts] == [1, 2, 3]
    done = []
    with httpx.Client(timeout=60) as http:
        for part, data in zip(upload.parts, parts_data, strict=True):
            answer = http.put(part.url, content=data, headers=part.headers)
            assert answer.status_code == 200, answer.text
            done.append(CompletedPart(part.part_number, answer.headers["ETag"], part.url))
    store.complete_multipart_upload("model/weights.bin", upload.upload_id, done)

    key = "proxied/1/run/artifacts/model/weights.bin"
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts_data)).digest()
    assert b"".join(store.read("model/weights.bin", 5 * MIB - 1, 5 * MIB)) == b"\x00\x01"


def test_an_aborted_multipart_upload_leaves_nothing(s3_proxy):
    url, bucket, client = s3_proxy
    store = HttpArtifactStore(f"{url}/api/2.0/mlflow-artifacts/artifacts/x")
    upload = store.create_multipart_upload("gone.bin", 1)
    store.abort_multipart_upload("gone.bin", upload.upload_id)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert store.stat("gone.bin") is None
    store.abort_multipart_upload("gone.bin", upload.upload_id)  # again: not an error


def test_presigned_download_through_the_proxy(s3_proxy):
    url, _bucket, _client = s3_proxy
    store = HttpArtifactStore(f"{url}/api/2.0/mlflow-artifacts/artifacts")
    store.write("p/file.txt", [b"presigned bytes"])
    with httpx.Client(timeout=30) as http:
        answer = http.get(f"{url}/api/2.0/mlflow-artifacts/presigned/p/file.txt").json()
        assert answer["file_size"] == len(b"presigned bytes")
        assert http.get(answer["url"], headers=answer["headers"]).content == b"presigned bytes"
        missing = http.get(f"{url}/ajax-api/2.0/mlflow-artifacts/presigned/p/none.txt")
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_the_proxy_streams_to_and_from_s3(s3_proxy):
    url, bucket, client = s3_proxy
    store = HttpArtifactStore(f"{url}/api/2.0/mlflow-artifacts/artifacts/2/r/artifacts")
    data = bytes(range(256)) * (40 * 1024)  # 10 MiB: a multipart upload from the proxy to S3
    assert store.write("big.bin", (data[i : i + MIB] for i in range(0, len(data), MIB))) == len(
        data
    )
    assert b"".join(store.read("big.bin")) == data
    assert [f.path for f in store.list()] == ["big.bin"]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["proxied/2/r/artifacts/big.bin"]
    store.delete("big.bin")
    assert store.stat("big.bin") is None
