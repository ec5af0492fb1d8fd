"""Path traversal, local file reads and SSRF through the artifact routes (reference §9).

The attack strings are those of the published MLflow CVEs and issues (CVE-2023-1177, -1176, -6977,
-6909, -6831, CVE-2024-1483, -1558, -3848, -8859, #7166, PR #10653, #24767), aimed at every artifact
route under both prefixes and at experiment creation. Requests go over a real socket to uvicorn on
127.0.0.1, byte for byte as written (an HTTP client library would remove ``..`` segments before
sending). Every attempt must get a 400 with an MLflow ``error_code``, and the canary files outside
the proxy's root must never be read, written or deleted.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
import uvicorn

from modelyard.server.app import create_app
from modelyard.settings import load_settings

CANARY = b"canary: this file is outside every artifact root"
PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
TRACKING = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

#: Paths as a request carries them; the destination is <tmp>/root/destination, the canaries are at
#: <tmp>/canary.txt and <tmp>/root/canary.txt.
PATH_ATTACKS = [
    "../canary.txt",
    "../../canary.txt",
    "../../../../../../etc/passwd",
    "a/../../canary.txt",
    "1/run/artifacts/../../../../canary.txt",
    "..",
    "%2e%2e/canary.txt",
    "%2E%2E%2Fcanary.txt",
    "%252e%252e/%252e%252e/canary.txt",
    "%25252e%25252e%25252fcanary.txt",
    "..%2f..%2fcanary.txt",
    "..%252f..%252fcanary.txt",
    ".%2e/.%2e/canary.txt",
    "/etc/passwd",
    "//etc/passwd",
    "//proc/self/root/etc/passwd",
    "//proc/self/cwd/canary.txt",
    "C:\\Windows\\win.ini",
    "c:/windows/win.ini",
    "..\\..\\canary.txt",
    "a\\..\\..\\canary.txt",
    "x#/../../canary.txt",
    "%23/../../canary.txt",
    "canary.txt%00.png",
    "a/b?/../../canary.txt",
]

#: ``artifact_location`` values for experiments/create.
LOCATION_ATTACKS = [
    "runs:/0123456789abcdef/artifacts",
    "models:/model/1",
    "http:///#/../../",
    "http://example.com/#/../../canary.txt",
    "file:///tmp/x#/../../canary.txt",
    "/tmp/x?y=/../../canary.txt",
    "s3://bucket/key?versionId=1",
    "/tmp/x%23/../../etc",
    "//proc/self/root",
    "//proc/self/root/etc",
    "file:////proc/self/root",
    "file://evil.example.com/share",
    "../canary",
    "a/../../canary",
    "%2e%2e/%2e%2e/canary",
    "%252e%252e/canary",
    "file:///tmp/%2e%2e/etc",
    "mlflow-artifacts:/../../canary",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8080/artifacts",
    "http://[::1]/artifacts",
    "http://localhost/artifacts",
    "http://10.0.0.5/artifacts",
    "https://192.168.1.1/artifacts",
    "http://0.0.0.0/artifacts",
    "dbfs:/databricks/mlflow",
    "ftp://example.com/artifacts",
    "/tmp/x\x00y",
    "C:\\..\\..\\canary",
]


@dataclass
class Target:
    host: str
    port: int
    tmp: Path
    root: Path
    destination: Path
    run_id: str


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send(target: Target, method: str, url: str, body: bytes | None = None, json=None) -> Answer:
    """One request whose target is sent exactly as given (no normalisation, no re-encoding)."""
    headers = {}
    if json is not None:
        body = orjson.dumps(json)
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(target.host, target.port, timeout=30)
    try:
        connection.request(method, url, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def encode(attack: str) -> str:
    """The attack as it travels in a URL: existing %-escapes and '/' kept, everything else escaped."""
    return quote(attack, safe="/%.")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            out[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("traversal")
    root = tmp / "root"
    destination = root / "destination"
    destination.mkdir(parents=True)
    for canary in (tmp / "canary.txt", root / "canary.txt"):
        canary.write_bytes(CANARY)
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{root / 'server.db'}",
        artifacts_destination=str(destination),
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=_free_port(), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    base = Target("127.0.0.1", config.port, tmp, root, destination, run_id="")
    run = send(base, "POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    base.run_id = orjson.loads(run.body)["run"]["info"]["run_id"]
    artifacts = f"0/{base.run_id}/artifacts"
    assert send(base, "PUT", f"{PREFIXES[0]}/artifacts/{artifacts}/inside.txt", b"in").status == 200
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def untouched(target):
    """Checks after the test that nothing outside the destination changed and the canaries are whole."""
    before = {k: v for k, v in snapshot(target.tmp).items() if not k.startswith("root/destination")}
    yield
    after = {k: v for k, v in snapshot(target.tmp).items() if not k.startswith("root/destination")}
    after.pop("root/server.db", None), before.pop("root/server.db", None)
    for name in list(after):
        if name.startswith("root/server.db-"):  # SQLite's WAL files
            after.pop(name)
            before.pop(name, None)
    assert after == before
    assert (target.tmp / "canary.txt").read_bytes() == CANARY
    assert (target.root / "canary.txt").read_bytes() == CANARY


def assert_refused(target: Target, answer: Answer, what: str) -> None:
    """400 with an error_code, nothing of the canary, and none of the server's folders in the text."""
    assert answer.status == 400, f"{what}: {answer.status} {answer.body[:300]!r}"
    assert CANARY not in answer.body, what
    assert answer.headers["content-type"] == "application/json", what
    if answer.body:  # a HEAD answer has none
        error = orjson.loads(answer.body)
        assert error["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"), what
        assert str(target.tmp) not in error["message"], what


def route_calls(target: Target, attack: str) -> list[tuple[str, str, dict]]:
    """(method, raw URL, options) for every artifact route, the attack in its path or query."""
    a = encode(attack)
    run = target.run_id
    calls: list[tuple[str, str, dict]] = []
    for prefix in PREFIXES:
        calls += [
            ("GET", f"{prefix}/artifacts/{a}", {}),
            ("HEAD", f"{prefix}/artifacts/{a}", {}),
            ("PUT", f"{prefix}/artifacts/{a}", {"body": b"pwned"}),
            ("DELETE", f"{prefix}/artifacts/{a}", {}),
            ("GET", f"{prefix}/artifacts?path={a}", {}),
            ("POST", f"{prefix}/mpu/create/{a}", {"json": {"path": "f.bin", "num_parts": 1}}),
            (
                "POST",
                f"{prefix}/mpu/complete/{a}",
                {
                    "json": {
                        "path": "f.bin",
                        "upload_id": "u",
                        "parts": [{"part_number": 1, "etag": "e"}],
                    }
                },
            ),
            ("POST", f"{prefix}/mpu/abort/{a}", {"json": {"path": "f.bin", "upload_id": "u"}}),
            ("GET", f"{prefix}/presigned/{a}", {}),
        ]
    for prefix in TRACKING:
        calls.append(("GET", f"{prefix}/artifacts/list?run_id={run}&path={a}", {}))
    calls += [
        ("GET", f"/get-artifact?run_id={run}&path={a}", {}),
        ("HEAD", f"/get-artifact?run_id={run}&path={a}", {}),
        ("GET", f"/model-versions/get-artifact?name=m&version=1&path={a}", {}),
    ]
    return calls


@pytest.mark.parametrize("attack", PATH_ATTACKS)
def test_every_artifact_route_refuses_the_attack(target, untouched, attack):
    inside_before = snapshot(target.destination)
    for method, url, options in route_calls(target, attack):
        answer = send(target, method, url, **options)
        assert_refused(target, answer, f"{method} {url}")
    assert snapshot(target.destination) == inside_before, (
        "a refused request changed the destination"
    )


@pytest.mark.parametrize("location", LOCATION_ATTACKS)
@pytest.mark.parametrize("prefix", TRACKING)
def test_experiment_creation_refuses_the_location(target, untouched, prefix, location):
    name = f"attack-{abs(hash((prefix, location)))}"
    answer = send(
        target,
        "POST",
        f"{prefix}/experiments/create",
        json={"name": name, "artifact_location": location},
    )
    assert_refused(target, answer, location)
    lookup = send(target, "GET", f"{prefix}/experiments/get-by-name?experiment_name={quote(name)}")
    assert lookup.status == 404, "the experiment was created anyway"


def test_a_run_located_outside_the_roots_cannot_read_files(target, untouched):
    """CVE-2023-1177's shape: point an experiment at a local folder, then download through a run."""
    created = send(
        target,
        "POST",
        "/api/2.0/mlflow/experiments/create",
        json={"name": "lfi", "artifact_location": str(target.tmp)},
    )
    assert created.status == 200
    exp_id = orjson.loads(created.body)["experiment_id"]
    run = send(target, "POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": exp_id})
    run_id = orjson.loads(run.body)["run"]["info"]["run_id"]
    for url in (
        f"/get-artifact?run_id={run_id}&path=canary.txt",
        f"/get-artifact?run_id={run_id}&path=..%2F..%2Fcanary.txt",
        f"/api/2.0/mlflow/artifacts/list?run_id={run_id}",
        f"/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}&path=.",
    ):
        assert_refused(target, send(target, "GET", url), url)


def test_symlinks_out_of_the_destination_are_refused(target, untouched):
    folder = target.destination / "links"
    folder.mkdir(exist_ok=True)
    file_link = folder / "canary-link.txt"
    dir_link = folder / "outside"
    for link, points_to in ((file_link, target.tmp / "canary.txt"), (dir_link, target.tmp)):
        if not link.is_symlink():
            link.symlink_to(points_to)
    for prefix in PREFIXES:
        for method, url, options in [
            ("GET", f"{prefix}/artifacts/links/canary-link.txt", {}),
            ("PUT", f"{prefix}/artifacts/links/canary-link.txt", {"body": b"pwned"}),
            ("DELETE", f"{prefix}/artifacts/links/canary-link.txt", {}),
            ("GET", f"{prefix}/artifacts/links/outside/canary.txt", {}),
            ("PUT", f"{prefix}/artifacts/links/outside/new.txt", {"body": b"pwned"}),
            ("DELETE", f"{prefix}/artifacts/links/outside", {}),
            ("GET", f"{prefix}/artifacts?path=links/outside", {}),
        ]:
            assert_refused(target, send(target, method, url, **options), f"{method} {url}")
        listing = orjson.loads(send(target, "GET", f"{prefix}/artifacts?path=links").body)
        assert listing == {}, "links out of the root must not be listed"
    assert file_link.is_symlink() and dir_link.is_symlink()
    assert not (target.tmp / "new.txt").exists()


def test_the_proxy_still_works_after_the_attacks(target):
    artifacts = f"0/{target.run_id}/artifacts"
    got = send(target, "GET", f"{PREFIXES[1]}/artifacts/{artifacts}/inside.txt")
    assert got.status == 200 and got.body == b"in"
