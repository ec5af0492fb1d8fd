"""The proxy's fast path for small files (``server/routes/artifacts_fast.py``) behind a real uvicorn.

Each test runs the real app over SQLite on 127.0.0.1 with its proxy writing to a folder under
``tmp_path``, and checks the files on disk. The fast path must answer exactly as the streaming routes
do (a twin app over the same folder with the fast path taken out of its middleware list is the
reference), keep the security middleware's and the path checks' refusals, stay atomic, and notice a
remembered folder that was removed or swapped for a link behind the server's back.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from live_app import serve_in_thread
from modelyard.server.app import create_app
from modelyard.server.routes.artifacts_fast import FAST_BYTES, ArtifactFastPath
from modelyard.settings import load_settings

FILES = "/api/2.0/mlflow-artifacts/artifacts"
AJAX_FILES = "/ajax-api/2.0/mlflow-artifacts/artifacts"


def settings_for(tmp_path: Path, **overrides: Any):
    values = {
        "backend_store_uri": f"sqlite:///{tmp_path / 'server.db'}",
        "artifacts_destination": str(tmp_path / "destination"),
        "webhook_delivery_threads": 0,
        **overrides,
    }
    return load_settings({}, **values)


def has_fast_path(app: Any) -> bool:
    return any(m.cls is ArtifactFastPath for m in app.user_middleware)


def without_fast_path(app: Any) -> Any:
    """The same app answering through its routes only (before its middleware stack is built)."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ArtifactFastPath]
    return app


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    return tmp_path / "destination"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[httpx.Client]:
    app = create_app(settings_for(tmp_path))
    assert has_fast_path(app)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(fast, routes-only) clients of two live apps over the same destination folder."""
    fast_app = create_app(settings_for(tmp_path))
    route_app = without_fast_path(create_app(settings_for(tmp_path)))
    assert has_fast_path(fast_app) and not has_fast_path(route_app)
    with (
        serve_in_thread(fast_app) as fast_url,
        serve_in_thread(route_app) as route_url,
        httpx.Client(base_url=fast_url, timeout=30) as fast,
        httpx.Client(base_url=route_url, timeout=30) as routes,
    ):
        yield fast, routes


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".modelyard-*")]


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "server")}
    return response.status_code, headers, response.content


# ------------------------------------------------------------------------------ installation
def test_the_fast_path_is_installed_only_for_a_local_destination_without_auth(tmp_path):
    for name in "abcd":
        (tmp_path / name).mkdir()
    assert has_fast_path(create_app(settings_for(tmp_path / "a")))
    assert has_fast_path(create_app(settings_for(tmp_path / "b", artifacts_only=True)))
    assert not has_fast_path(create_app(settings_for(tmp_path / "c", serve_artifacts=False)))
    authed = settings_for(tmp_path / "d", auth=True, auth_admin_password="admin-password-1")
    assert not has_fast_path(create_app(authed))


# ------------------------------------------------------------------------------ same answers
@pytest.mark.parametrize(
    "name",
    [
        "model.bin",
        "notes.txt",
        "page.html",
        "metrics.csv",
        "data.json",
        "no_suffix",
        "spaced %C3%BC.txt",
    ],
)
def test_small_files_get_the_same_answers_as_through_the_routes(twins, destination, name):
    fast, routes = twins
    data = os.urandom(3000)
    for client, folder in ((fast, "fast"), (routes, "routes")):
        answer = client.put(f"{FILES}/{folder}/{name}", content=data)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {}
        assert answer.headers["content-type"] == "application/json"
    written = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*"))
    assert len(written) == 4 and not temp_files(destination)

    # Both apps read the file the fast one wrote: same ETag, type, disposition and bytes.
    url = f"{FILES}/fast/{name}"
    got = comparable(fast.get(url))
    assert got == comparable(routes.get(url))
    assert got[0] == 200 and got[2] == data
    assert got[1]["content-length"] == "3000"
    assert got[1]["content-disposition"].startswith("attachment; filename=")
    assert got[1]["x-content-type-options"] == "nosniff"
    assert comparable(fast.head(url)) == comparable(routes.head(url))
    etag = got[1]["etag"]
    not_modified = comparable(fast.get(url, headers={"If-None-Match": etag}))
    assert not_modified[0] == 304
    assert not_modified == comparable(routes.get(url, headers={"If-None-Match": etag}))
    other = comparable(fast.get(url, headers={"If-None-Match": '"other"'}))
    assert other == comparable(routes.get(url, headers={"If-None-Match": '"other"'}))
    assert other[0] == 200


def test_an_empty_file_round_trips_and_errors_match_the_routes(twins, destination):
    fast, routes = twins
    assert fast.put(f"{AJAX_FILES}/d/empty.txt", content=b"").status_code == 200
    assert (destination / "d/empty.txt").read_bytes() == b""
    assert comparable(fast.get(f"{FILES}/d/empty.txt")) == comparable(
        routes.get(f"{FILES}/d/empty.txt")
    )
    assert fast.put(f"{FILES}/d/sub/x.bin", content=b"x").status_code == 200
    for method, path in (
        ("GET", "d/missing.bin"),
        ("GET", "d/sub"),
        ("HEAD", "d/missing.bin"),
        ("PUT", "d/sub"),
        ("PUT", "d/empty.txt/below.bin"),
        ("GET", "./"),
        ("PUT", ""),
    ):
        got = fast.request(method, f"{FILES}/{path}", content=b"y" if method == "PUT" else None)
        want = routes.request(method, f"{FILES}/{path}", content=b"y" if method == "PUT" else None)
        assert comparable(got) == comparable(want), (method, path)
        assert got.status_code in (400, 404), (method, path, got.text)
    assert error_of(fast.get(f"{FILES}/d/missing.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    message = error_of(fast.put(f"{FILES}/d/sub", content=b"y"), 400, "INVALID_PARAMETER_VALUE")
    assert message == "Artifact 'd/sub' is a folder; a file cannot replace it."
    assert (destination / "d/sub/x.bin").read_bytes() == b"x"


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fescape.txt",
        "%252e%252e/%252e%252e/escape.txt",
        "a/..%2F..%2F..%2Fescape.txt",
        "a%5C..%5Cescape.txt",
        "a/%00escape.txt",
        "C:%2Fescape.txt",
        "a%23frag/escape.txt",
        "%2Fetc%2Fescape.txt",
    ],
)
def test_traversal_is_refused_before_anything_is_written(twins, tmp_path, destination, path):
    fast, routes = twins
    got = fast.put(f"{FILES}/{path}", content=b"attack")
    error_of(got, 400, "INVALID_PARAMETER_VALUE")
    assert comparable(got) == comparable(routes.put(f"{FILES}/{path}", content=b"attack"))
    error_of(fast.get(f"{FILES}/{path}"), 400, "INVALID_PARAMETER_VALUE")
    assert not list(tmp_path.rglob("escape.txt"))
    assert not destination.exists() or not any(destination.rglob("*"))


# ------------------------------------------------------------------------------ folders behind our back
def test_a_remembered_folder_swapped_for_a_link_out_of_the_root_is_refused(
    live, tmp_path, destination
):
    assert live.put(f"{FILES}/d/a.bin", content=b"first").status_code == 200
    assert live.get(f"{FILES}/d/a.bin").content == b"first"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.bin").write_bytes(b"secret")
    (destination / "d").rename(destination / "d-old")
    (destination / "d").symlink_to(outside, target_is_directory=True)

    message = error_of(live.put(f"{FILES}/d/b.bin", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert "leaves the artifact root" in message
    error_of(live.get(f"{FILES}/d/a.bin"), 400, "INVALID_PARAMETER_VALUE")
    assert sorted(p.name for p in outside.iterdir()) == ["a.bin"]
    assert (outside / "a.bin").read_bytes() == b"secret"


def test_a_file_link_inside_a_remembered_folder_is_resolved_as_the_routes_do(
    live, tmp_path, destination
):
    assert live.put(f"{FILES}/d/a.bin", content=b"first").status_code == 200
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret")
    (destination / "d/out.bin").symlink_to(outside)
    (destination / "d/in.bin").symlink_to(destination / "d/a.bin")

    error_of(live.put(f"{FILES}/d/out.bin", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    error_of(live.get(f"{FILES}/d/out.bin"), 400, "INVALID_PARAMETER_VALUE")
    assert outside.read_bytes() == b"secret"
    assert live.get(f"{FILES}/d/in.bin").content == b"first"
    assert live.put(f"{FILES}/d/in.bin", content=b"second").status_code == 200
    assert (destination / "d/a.bin").read_bytes() == b"second"  # written through the link
    assert (destination / "d/in.bin").is_symlink()


def test_a_folder_removed_or_deleted_is_made_again(live, destination):
    assert live.put(f"{FILES}/d/e/a.bin", content=b"a").status_code == 200
    shutil.rmtree(destination / "d")  # behind the server's back
    assert live.put(f"{FILES}/d/e/b.bin", content=b"b").status_code == 200
    assert (destination / "d/e/b.bin").read_bytes() == b"b"
    assert live.delete(f"{FILES}/d").status_code == 200
    error_of(live.get(f"{FILES}/d/e/b.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert live.put(f"{FILES}/d/e/c.bin", content=b"c").status_code == 200
    assert sorted(p.name for p in (destination / "d/e").iterdir()) == ["c.bin"]
    (destination / "d/e").rename(destination / "moved")
    (destination / "d/e").mkdir()
    assert live.put(f"{FILES}/d/e/d.bin", content=b"d").status_code == 200
    assert (destination / "d/e/d.bin").read_bytes() == b"d"
    assert not (destination / "moved/d.bin").exists()


# ------------------------------------------------------------------------------ what stays with the routes
def test_larger_chunked_and_ranged_transfers_take_the_streaming_routes(live, destination):
    big = os.urandom(FAST_BYTES + 1)
    assert live.put(f"{FILES}/big.bin", content=big).status_code == 200
    assert live.get(f"{FILES}/big.bin").content == big
    chunked = live.put(f"{FILES}/chunked.bin", content=iter([b"a" * 1000, b"b" * 1000]))
    assert chunked.status_code == 200
    assert (destination / "chunked.bin").read_bytes() == b"a" * 1000 + b"b" * 1000
    ranged = live.get(f"{FILES}/chunked.bin", headers={"Range": "bytes=990-1009"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == "bytes 990-1009/2000"
    assert ranged.content == b"a" * 10 + b"b" * 10


def test_the_security_middleware_still_answers_first(tmp_path, destination):
    app = create_app(settings_for(tmp_path, max_upload_bytes=1000))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        error_of(client.put(f"{FILES}/a.bin", content=b"x" * 1001), 413, "BAD_REQUEST")
        cross = client.put(
            f"{FILES}/a.bin", content=b"x", headers={"Origin": "http://evil.example"}
        )
        error_of(cross, 403, "PERMISSION_DENIED")
        rebound = client.put(f"{FILES}/a.bin", content=b"x", headers={"Host": "evil.example"})
        error_of(rebound, 400, "BAD_REQUEST")
        error_of(client.get(f"{FILES}/a.bin", headers={"Host": "evil.example"}), 400, "BAD_REQUEST")
        assert not destination.exists() or not any(destination.rglob("*"))
        assert client.put(f"{FILES}/a.bin", content=b"x" * 1000).status_code == 200


def test_with_auth_the_guarded_routes_answer(tmp_path):
    settings = settings_for(tmp_path, auth=True, auth_admin_password="admin-password-1")
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        error_of(client.put(f"{FILES}/1/r/artifacts/a.bin", content=b"x"), 401, "UNAUTHENTICATED")
        error_of(client.get(f"{FILES}/1/r/artifacts/a.bin"), 401, "UNAUTHENTICATED")
        admin = ("admin", "admin-password-1")
        assert (
            client.put(f"{FILES}/1/r/artifacts/a.bin", content=b"x", auth=admin).status_code == 200
        )
        assert client.get(f"{FILES}/1/r/artifacts/a.bin", auth=admin).content == b"x"


# ------------------------------------------------------------------------------ atomicity
def test_a_cut_off_upload_keeps_the_old_file(live, destination):
    assert live.put(f"{FILES}/d/a.bin", content=b"old").status_code == 200
    host, port = str(live.base_url.host), int(live.base_url.port or 80)
    with socket.create_connection((host, port)) as sock:
        head = f"PUT {FILES}/d/a.bin HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4096\r\n\r\n"
        sock.sendall(head.encode() + b"n" * 100)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while temp_files(destination) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert live.get(f"{FILES}/d/a.bin").content == b"old"
    assert (destination / "d/a.bin").read_bytes() == b"old"
    assert not temp_files(destination)


def test_readers_see_one_whole_version_or_the_other(live, destination):
    versions = [bytes([65 + i]) * 4096 for i in range(2)]
    assert live.put(f"{FILES}/d/flip.bin", content=versions[0]).status_code == 200
    stop = threading.Event()
    seen: list[bytes] = []
    failures: list[str] = []

    def write() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            answer = live.put(f"{FILES}/d/flip.bin", content=versions[i % 2])
            if answer.status_code != 200:
                failures.append(answer.text)

    def read() -> None:
        for _ in range(150):
            answer = live.get(f"{FILES}/d/flip.bin")
            if answer.status_code != 200:
                failures.append(answer.text)
            seen.append(answer.content)

    writer = threading.Thread(target=write)
    readers = [threading.Thread(target=read) for _ in range(2)]
    writer.start()
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    stop.set()
    writer.join()
    assert not failures
    assert len(seen) == 300 and set(seen) <= set(versions)
    assert not temp_files(destination)
