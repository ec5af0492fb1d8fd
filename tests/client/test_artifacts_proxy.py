"""The file API through a real modelyard server's artifact proxy (``mlflow-artifacts:`` locations).

The shared round-trip suite (test_artifacts.py) already runs through the proxy as its ``proxy``
variant; these tests check what is particular to it: where files land on the server, which
credentials go where, and that a large file streams through.
"""

from __future__ import annotations

import base64
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.client.tracking import ModelyardClient

pytestmark = pytest.mark.slow


class Recorder:
    """A real HTTP server on 127.0.0.1 that forwards every request to ``upstream`` (streaming
    chunked bodies too) and records the headers each one carried."""

    def __init__(self, upstream: str) -> None:
        self.headers: list[tuple[str, str, dict[str, str]]] = []
        self._forward = httpx.Client(base_url=upstream, timeout=60)
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                seen = {k.lower(): v for k, v in self.headers.items()}
                recorder.headers.append((self.command, self.path, seen))
                body = self._body()
                keep = {
                    k: v
                    for k, v in seen.items()
                    if k in ("authorization", "content-type", "range", "user-agent")
                }
                answer = recorder._forward.request(
                    self.command, self.path, content=body or None, headers=keep
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._forward.close()


@pytest.fixture
def recorder(proxy_server) -> Iterator[Recorder]:
    with Recorder(proxy_server) as r:
        yield r


def test_files_land_below_the_servers_destination_under_the_experiment_and_run(
    proxy_server, tmp_path, client_settings
):
    with ModelyardClient(proxy_server, settings=client_settings()) as client:
        experiment_id = client.create_experiment("proxied")
        run_id = client.create_run(experiment_id).info.run_id
        uri = client.get_run(run_id).info.artifact_uri
        assert uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
        client.log_text(run_id, "on the server", "notes/a.txt")
        assert client.load_text(f"{uri}/notes/a.txt") == "on the server"
    on_disk = tmp_path / "destination" / experiment_id / run_id / "artifacts" / "notes" / "a.txt"
    assert on_disk.read_text() == "on the server"


def test_the_proxy_gets_the_tracking_credentials_and_another_host_gets_none(
    recorder, proxy_server, client_settings
):
    settings = client_settings(tracking_username="ann", tracking_password="pw")
    expected = "Basic " + base64.b64encode(b"ann:pw").decode()
    with ModelyardClient(recorder.url, settings=settings) as client:
        run_id = client.create_run("0").info.run_id
        client.log_dict(run_id, {"a": 1}, "d.json")
        assert client.load_dict(f"runs:/{run_id}/d.json") == {"a": 1}
        proxied = [h for method, path, h in recorder.headers if "mlflow-artifacts" in path]
        assert {"PUT", "GET"} <= {m for m, p, _ in recorder.headers if "mlflow-artifacts" in p}
        assert proxied and all(h.get("authorization") == expected for h in proxied)

        with Recorder(proxy_server) as other:
            store = client.artifacts.store(f"{other.url}/api/2.0/mlflow-artifacts/artifacts")
            assert store.list("") != []
            assert other.headers and all("authorization" not in h for _, _, h in other.headers)


def test_a_large_file_streams_up_and_down_through_the_proxy(
    proxy_server, tmp_path, client_settings
):
    size = 48 << 20
    local = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(local, "wb") as out:
        for i in range(size // len(block)):
            out.write(block[i:] + block[:i])
    with ModelyardClient(proxy_server, settings=client_settings()) as client:
        run_id = client.create_run("0").info.run_id
        client.log_artifact(run_id, local, "weights")
        assert client.list_artifacts(run_id, "weights")[0].file_size == size
        out = Path(client.download_artifacts(run_id, "weights/big.bin", tmp_path / "back"))
    assert out.stat().st_size == size
    with open(local, "rb") as a, open(out, "rb") as b:
        while chunk := a.read(1 << 20):
            assert chunk == b.read(1 << 20)


def test_the_runs_of_one_server_share_one_http_store(proxy_server, client_settings):
    with ModelyardClient(proxy_server, settings=client_settings()) as client:
        first = client.create_run("0").info.run_id
        second = client.create_run("0").info.run_id
        a, b = client.artifacts.run_store(first), client.artifacts.run_store(second)
        assert a.base is b.base  # one connection pool for every run of the server
        assert a.root_uri == f"mlflow-artifacts:/0/{first}/artifacts"
        assert a.prefix == f"0/{first}/artifacts"
