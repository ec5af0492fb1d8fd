"""Fixtures for the client: real backends only.

* ``sqlite_client``: a :class:`ModelyardClient` in-process over a SQLite file;
* ``app_client``: the HTTP backend against the real app in-process (through starlette's TestClient);
* ``any_client``: each of the two;
* ``fluent``: the fluent API pointed at a fresh SQLite file, with every run ended afterwards;
* ``live_server``: the real app under uvicorn on a free 127.0.0.1 port (tests using it are slow);
* :class:`ScriptedServer`: a tiny real HTTP server on 127.0.0.1 that fails on command and records
  what it accepts, or forwards it to a real modelyard server.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import live_app
import modelyard
from live_app import free_port
from modelyard.client.tracking import ModelyardClient
from modelyard.server.app import create_app
from modelyard.settings import Settings, load_settings

with warnings.catch_warnings():
    # starlette 1.x asks for the httpx2 package; the httpx it still supports is what we have.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from starlette.testclient import TestClient


def client_settings(**overrides: Any) -> Settings:
    """Client settings independent of the caller's environment, with fast retries."""
    values: dict[str, Any] = {
        "http_max_retries": 3,
        "http_backoff_s": 0.01,
        "flush_interval_s": 0.05,
    }
    values.update(overrides)
    return load_settings({}, **values)


@pytest.fixture(name="client_settings")
def client_settings_fixture() -> Callable[..., Settings]:
    """``client_settings(**overrides)``: settings independent of the environment, fast retries."""
    return client_settings


def server_settings(tmp_path, **overrides: Any) -> Settings:
    values = {
        "backend_store_uri": f"sqlite:///{tmp_path / 'server.db'}",
        "default_artifact_root": str(tmp_path / "artifacts"),
        **overrides,
    }
    return load_settings({}, **values)


class AppTransport(httpx.BaseTransport):
    """An httpx transport that hands each request to the real app through starlette's TestClient.

    It goes through TestClient's public API, so it works whichever HTTP library TestClient uses.
    """

    def __init__(self, test_client: TestClient) -> None:
        self._tc = test_client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        target = url.raw_path.decode("ascii")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        answer = self._tc.request(request.method, target, headers=headers, content=request.read())
        return httpx.Response(
            answer.status_code, headers=list(answer.headers.multi_items()), content=answer.content
        )


@pytest.fixture(name="server_settings")
def server_settings_fixture() -> Callable[..., Settings]:
    """``server_settings(tmp_path, **overrides)``: a server over a SQLite file in ``tmp_path``."""
    return server_settings


@pytest.fixture
def app(tmp_path):
    return create_app(server_settings(tmp_path))


@pytest.fixture
def app_transport(app) -> Iterator[AppTransport]:
    with TestClient(app) as tc:
        yield AppTransport(tc)


@pytest.fixture
def sqlite_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'client.db'}"


@pytest.fixture
def sqlite_client(sqlite_uri, tmp_path) -> Iterator[ModelyardClient]:
    settings = client_settings(default_artifact_root=str(tmp_path / "artifacts"))
    client = ModelyardClient(sqlite_uri, settings=settings)
    yield client
    client.close()


@pytest.fixture
def app_client(app_transport) -> Iterator[ModelyardClient]:
    client = ModelyardClient(
        "http://testserver", settings=client_settings(), transport=app_transport
    )
    yield client
    client.close()


@pytest.fixture(params=["local", "http"])
def any_client(request) -> ModelyardClient:
    """A client of each backend: in-process SQLite, and HTTP to the real app."""
    return request.getfixturevalue("sqlite_client" if request.param == "local" else "app_client")


@pytest.fixture
def fluent(sqlite_uri, tmp_path, monkeypatch) -> Iterator[Any]:
    """The fluent API over a fresh SQLite file; active runs are ended afterwards."""
    monkeypatch.setenv("MODELYARD_DEFAULT_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MODELYARD_HTTP_BACKOFF", "0.01")
    modelyard.set_tracking_uri(sqlite_uri)
    yield modelyard
    while modelyard.active_run() is not None:
        with contextlib.suppress(Exception):
            modelyard.end_run()


# ---------------------------------------------------------------------------------------- real servers


@pytest.fixture
def live_server(tmp_path) -> Iterator[str]:
    with serve_in_thread(create_app(server_settings(tmp_path))) as url:
        yield url


def serve_in_thread(app: Any, port: int | None = None) -> Any:
    """The app under a real uvicorn on 127.0.0.1 (a free port unless given); yields its URL."""
    return live_app.serve_in_thread(app, port=port, lifespan="on", name="uvicorn-client-test")


@pytest.fixture
def serve() -> Callable[..., Any]:
    """``serve(app, port=None)``: a context manager running ``app`` under uvicorn in a thread."""
    return serve_in_thread


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 whose answers a test scripts.

    ``fail_next(n, status)`` makes the next ``n`` requests fail with ``status`` (an HTML body, as a
    proxy would send); ``always_fail`` fails every request. ``lose_answers(n)`` forwards the next
    ``n`` requests and then answers 502, as if the answer were lost on the way back. Otherwise a
    request is forwarded to ``upstream`` (the URL of a real modelyard server, or an httpx transport
    to the real app) when set, or accepted with ``{}`` and recorded in ``accepted``.
    """

    def __init__(self, upstream: str | httpx.BaseTransport | None = None) -> None:
        self.upstream = upstream
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.failed: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.always_fail: int | None = None
        self._fail: list[int] = []
        self._lose = 0
        self._lock = threading.Lock()
        self._forward: httpx.Client | None = None
        if isinstance(upstream, str):
            self._forward = httpx.Client(base_url=upstream, timeout=30)
        elif upstream is not None:
            self._forward = httpx.Client(
                base_url="http://testserver", transport=upstream, timeout=30
            )
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * n)

    def lose_answers(self, n: int) -> None:
        with self._lock:
            self._lose += n

    def _answer_lost(self) -> bool:
        with self._lock:
            if self._lose:
                self._lose -= 1
                return True
            return False

    def _next_failure(self) -> int | None:
        with self._lock:
            if self.always_fail is not None:
                return self.always_fail
            return self._fail.pop(0) if self._fail else None

    def _handler(self) -> Callable[..., http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(
                self, status: int, body: bytes, content_type: str = "application/json"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                status = server._next_failure()
                if status is not None:
                    server.failed.append(self.path)
                    self._answer(status, b"<html>upstream unavailable</html>", "text/html")
                    return
                if server._forward is not None:
                    answer = server._forward.request(
                        self.command,
                        self.path,
                        content=raw or None,
                        headers={
                            "Content-Type": self.headers.get("Content-Type", "application/json")
                        },
                    )
                    if server._answer_lost():
                        server.failed.append(self.path)
                        self._answer(502, b"bad gateway", "text/plain")
                        return
                    self._answer(answer.status_code, answer.content)
                    return
                with server._lock:
                    server.accepted.append((self.path, json.loads(raw) if raw else {}))
                self._answer(200, b"{}")

            do_GET = do_POST = _handle

        return Handler

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._forward is not None:
            self._forward.close()


@pytest.fixture
def scripted_server() -> type[ScriptedServer]:
    """The :class:`ScriptedServer` class: ``with scripted_server(upstream) as server: ...``."""
    return ScriptedServer


# ---------------------------------------------------------------------------------------- artifacts
#: Credentials for the fake S3 server; boto3 reads them through its usual chain (the environment).
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "modelyard-test",
    "AWS_SECRET_ACCESS_KEY": "modelyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def client_moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """An S3-protocol server (``python -m moto.server``) in its own process on 127.0.0.1, as in
    tests/store/artifacts/conftest.py."""
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    port = free_port()
    log_path = tmp_path_factory.mktemp("moto-client") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **FAKE_AWS_ENV},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto's S3 server exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"moto's S3 server did not answer: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_artifact_root(client_moto_endpoint, monkeypatch, tmp_path) -> Iterator[str]:
    """``s3://<fresh bucket>/prefix`` on the fake server, its endpoint and dummy credentials in the
    environment (and no AWS files of the machine)."""
    import uuid

    import boto3.session

    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", client_moto_endpoint)
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=client_moto_endpoint, region_name="us-east-1"
    )
    bucket = f"modelyard-client-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/prefix"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [{"Key": o["Key"]} for page in pages for o in page.get("Contents", ())]
    for i in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[i : i + 1000]})
    s3.delete_bucket(Bucket=bucket)


def proxy_server_settings(tmp_path, **overrides: Any) -> Settings:
    """A server that proxies artifacts: new experiments get ``mlflow-artifacts:`` locations and the
    files land in ``tmp_path/destination``."""
    values = {
        "default_artifact_root": "./mlartifacts",  # the default: the server hands out the proxy
        "artifacts_destination": str(tmp_path / "destination"),
        "serve_artifacts": True,
        **overrides,
    }
    return server_settings(tmp_path, **values)


@pytest.fixture
def proxy_server(tmp_path) -> Iterator[str]:
    """A real modelyard server (uvicorn on 127.0.0.1) serving the artifact proxy; yields its URL."""
    with serve_in_thread(create_app(proxy_server_settings(tmp_path))) as url:
        yield url


@pytest.fixture(params=["local", "s3", pytest.param("proxy", marks=pytest.mark.slow)])
def artifact_client(request, tmp_path, sqlite_uri) -> Iterator[ModelyardClient]:
    """A client whose runs keep their files in each kind of store: a local folder, an S3 bucket,
    and a real server's artifact proxy (runs at ``mlflow-artifacts:`` locations, HTTP backend)."""
    if request.param == "proxy":
        url = request.getfixturevalue("proxy_server")
        client = ModelyardClient(url, settings=client_settings())
    else:
        if request.param == "local":
            root = str(tmp_path / "artifacts")
        else:
            root = request.getfixturevalue("s3_artifact_root")
        client = ModelyardClient(sqlite_uri, settings=client_settings(default_artifact_root=root))
    yield client
    client.close()
