"""Fixtures for the artifact store suite: every store, each rooted in a fresh place.

``artifact_store`` is parametrised over the stores: ``local`` in a folder under ``tmp_path``, ``s3``
in a fresh bucket of an S3-protocol server (moto's server mode) that runs in its own process on
127.0.0.1 for the whole session, never the internet, and ``http``: the artifact proxy of a real
modelyard server (uvicorn in a thread, on 127.0.0.1) over a local destination folder, each test
rooted under a fresh prefix. ``outside_root`` lists whatever exists next to
the store's root, so a test can check that nothing was written outside it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.store.artifacts import ArtifactStore, open_artifact_store

#: Credentials for the fake S3 server; boto3 reads them through its usual chain (the environment).
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "modelyard-test",
    "AWS_SECRET_ACCESS_KEY": "modelyard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: S3 stores in the suite are rooted below this prefix; the bucket holds a sentinel object beside it.
S3_PREFIX = "root/prefix"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """The URL of an S3-protocol server (``python -m moto.server``) running in its own process."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    env = {**os.environ, **FAKE_AWS_ENV}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"moto's S3 server exited with {process.returncode}: {log_path.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"moto's S3 server did not answer on {url}: {log_path.read_text()[-2000:]}"
                    )
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
def aws_env(monkeypatch, tmp_path) -> None:
    """Dummy credentials in the environment, and no shared AWS files or profile of the machine."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("MODELYARD_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_client(moto_endpoint, aws_env):
    """A plain boto3 client on the fake server, for arranging and inspecting buckets directly."""
    import boto3.session

    return boto3.session.Session().client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_client) -> Iterator[str]:
    """A fresh, empty bucket on the fake server."""
    name = f"modelyard-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    keys = [
        {"Key": obj["Key"]}
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name)
        for obj in page.get("Contents", ())
    ]
    for i in range(0, len(keys), 1000):
        s3_client.delete_objects(Bucket=name, Delete={"Objects": keys[i : i + 1000]})
    s3_client.delete_bucket(Bucket=name)


def all_keys(s3_client, bucket: str) -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@dataclass(frozen=True)
class ProxyServer:
    url: str
    destination: Path


@pytest.fixture(scope="session")
def proxy_server(tmp_path_factory) -> Iterator[ProxyServer]:
    """A modelyard server whose artifact proxy writes to a local folder, for the whole session."""
    import uvicorn

    from modelyard.server.app import create_app
    from modelyard.settings import load_settings

    base = tmp_path_factory.mktemp("proxy")
    destination = base / "destination"
    settings = load_settings(
        {},
        backend_store_uri=f"sqlite:///{base / 'server.db'}",
        artifacts_destination=str(destination),
        default_artifact_root=str(base / "default-root"),
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-proxy", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the modelyard server for the proxy suite did not start")
        time.sleep(0.02)
    try:
        yield ProxyServer(f"http://127.0.0.1:{config.port}", destination)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class StoreCase:
    kind: str
    store: ArtifactStore
    #: What exists outside the store's root (paths or keys), apart from the sentinels put there.
    outside_root: Callable[[], list[str]]


def _local_case(tmp_path: Path) -> StoreCase:
    root = tmp_path / "root"
    root.mkdir()
    sentinel = tmp_path / "outside.txt"
    sentinel.write_bytes(b"do not touch")
    store = open_artifact_store(f"file://{root}")

    def outside() -> list[str]:
        assert sentinel.read_bytes() == b"do not touch"
        return [
            p
            for p in all_files(tmp_path)
            if p != "outside.txt" and p != "root" and not p.startswith("root/")
        ]

    return StoreCase("local", store, outside)


def _s3_case(request, monkeypatch) -> StoreCase:
    endpoint = request.getfixturevalue("moto_endpoint")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    client.put_object(Bucket=bucket, Key="outside.txt", Body=b"do not touch")
    client.put_object(Bucket=bucket, Key="root/prefix-sibling.txt", Body=b"do not touch")
    # The endpoint comes from the environment, as it would for a deployed server.
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", endpoint)
    store = open_artifact_store(f"s3://{bucket}/{S3_PREFIX}")

    def outside() -> list[str]:
        sentinels = {"outside.txt", "root/prefix-sibling.txt"}
        keys = all_keys(client, bucket)
        assert sentinels <= set(keys)
        return [k for k in keys if k not in sentinels and not k.startswith(f"{S3_PREFIX}/")]

    return StoreCase("s3", store, outside)


def _http_case(request) -> StoreCase:
    server: ProxyServer = request.getfixturevalue("proxy_server")
    case = uuid.uuid4().hex
    case_dir = server.destination / case
    case_dir.mkdir(parents=True)
    sentinel = case_dir / "outside.txt"
    sentinel.write_bytes(b"do not touch")
    store = open_artifact_store(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{case}/root")
    inside = f"{case}/root/"

    def elsewhere() -> set[str]:
        return {
            p
            for p in all_files(server.destination)
            if p != inside[:-1] and not p.startswith(inside)
        }

    before = elsewhere()

    def outside() -> list[str]:
        assert sentinel.read_bytes() == b"do not touch"
        return sorted(elsewhere() - before)

    return StoreCase("http", store, outside)


@pytest.fixture(params=["local", "s3", "http"])
def store_case(request, tmp_path, monkeypatch) -> StoreCase:
    if request.param == "local":
        return _local_case(tmp_path)
    if request.param == "http":
        return _http_case(request)
    return _s3_case(request, monkeypatch)


@pytest.fixture
def artifact_store(store_case) -> ArtifactStore:
    """Each artifact store, rooted in a fresh, empty place."""
    return store_case.store


@pytest.fixture
def outside_root(store_case) -> Callable[[], list[str]]:
    """Lists what exists outside the store's root (sentinels excepted); [] when nothing leaked."""
    return store_case.outside_root


@pytest.fixture
def local_store(tmp_path) -> StoreCase:
    return _local_case(tmp_path)


@pytest.fixture
def s3_store(request, monkeypatch) -> StoreCase:
    return _s3_case(request, monkeypatch)


@pytest.fixture
def http_store(request) -> StoreCase:
    return _http_case(request)
