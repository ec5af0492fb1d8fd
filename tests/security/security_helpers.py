"""Helpers of the security tests: the real app over SQLite in ``tmp_path``, in-process or on a real
uvicorn, and raw requests sent byte for byte."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import live_app
from modelyard.server.app import create_app
from modelyard.settings import load_settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
    from starlette.testclient import TestClient

API = "/api/2.0/mlflow"


def settings_for(tmp_path, **overrides: Any):
    """Server settings over files in ``tmp_path``, ignoring the caller's environment."""
    values = {
        "backend_store_uri": f"sqlite:///{tmp_path / 'server.db'}",
        "default_artifact_root": str(tmp_path / "artifacts"),
        "artifacts_destination": str(tmp_path / "mlartifacts"),
        "webhook_delivery_threads": 0,
        **overrides,
    }
    return load_settings({}, **values)


@contextlib.contextmanager
def app_client(tmp_path, **overrides: Any) -> Iterator[TestClient]:
    with app_client_for(create_app(settings_for(tmp_path, **overrides))) as client:
        yield client


@contextlib.contextmanager
def app_client_for(app: Any) -> Iterator[TestClient]:
    """The in-process client of ``app``, its lifespan run; server errors answer 500, not raise."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Live:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def raw(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request with the target sent byte for byte (no client-side normalising of ``..``)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
            if body is not None:
                sent.setdefault("Content-Length", str(len(body)))
            for name, value in sent.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@contextlib.contextmanager
def serve(app: object) -> Iterator[Live]:
    """A real uvicorn serving ``app`` on a free 127.0.0.1 port, in a thread."""
    with live_app.serve_in_thread(app, lifespan="on", name="uvicorn-security") as url:
        yield Live("127.0.0.1", int(url.rsplit(":", 1)[1]))


@dataclass
class Canary:
    """A TCP listener on 127.0.0.1 that answers a tiny 200 and records every request it receives."""

    port: int
    connections: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


CANARY_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\ncanary!"


@contextlib.contextmanager
def listening(reply: bytes = CANARY_REPLY) -> Iterator[Canary]:
    """A :class:`Canary` listening on 127.0.0.1 until the block ends; it answers ``reply``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    found = Canary(sock.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                found.connections.append(data)
                with contextlib.suppress(OSError):
                    conn.sendall(reply)

    thread = threading.Thread(target=accept, name="canary", daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
