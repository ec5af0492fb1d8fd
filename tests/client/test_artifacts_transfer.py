"""Transfers (parallel, retried, with a progress bar on terminals), URI resolution, optional
libraries, and the fluent forms of the file API.

Retries are exercised with a store that wraps a real :class:`LocalArtifactStore` and fails on
command, the way a plugin store for another scheme would; nothing of modelyard is replaced.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from modelyard.client.artifacts import (
    PROXY_PATH,
    Download,
    Progress,
    Transfer,
    Upload,
    parse_runs_uri,
    proxy_url,
    split_uri,
)
from modelyard.client.tracking import ModelyardClient
from modelyard.errors import InvalidInput, ModelyardError, NotFound, TemporarilyUnavailable
from modelyard.store.artifacts import LocalArtifactStore


class FlakyStore:
    """A real local store that fails the first ``failures`` writes and reads of each path with
    ``error``, and records how many transfers ran at once."""

    def __init__(self, root: Path, failures: int = 0, error: Exception | None = None) -> None:
        self.inner = LocalArtifactStore(str(root))
        self.root_uri = self.inner.root_uri
        self.failures = failures
        self.error = error or TemporarilyUnavailable("S3 at somewhere is unavailable; try again.")
        self.attempts: dict[str, int] = {}
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def _enter(self, path: str) -> bool:
        with self.lock:
            self.attempts[path] = self.attempts.get(path, 0) + 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            return self.attempts[path] <= self.failures

    def _leave(self) -> None:
        with self.lock:
            self.active -= 1

    def write(self, path, chunks):
        fail = self._enter(path)
        try:
            time.sleep(0.01)
            if fail:
                next(iter(chunks), None)  # fail mid-stream, after a chunk was read
                raise self.error
            return self.inner.write(path, chunks)
        finally:
            self._leave()

    def read(self, path, start=None, end=None):
        fail = self._enter(path)
        try:
            time.sleep(0.01)
            if fail:
                raise self.error
            return iter(list(self.inner.read(path, start, end)))
        finally:
            self._leave()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _files(folder: Path, n: int) -> list[Upload]:
    folder.mkdir(parents=True, exist_ok=True)
    uploads = []
    for i in range(n):
        local = folder / f"f{i}.bin"
        local.write_bytes(os.urandom(100 + i))
        uploads.append(Upload(str(local), f"dir/f{i}.bin", local.stat().st_size))
    return uploads


def test_uploads_run_in_parallel_on_a_bounded_pool(tmp_path):
    store = FlakyStore(tmp_path / "root")
    uploads = _files(tmp_path / "src", 40)
    Transfer(store, max_workers=4).upload(uploads)
    assert 1 < store.peak <= 4
    for item in uploads:
        assert b"".join(store.inner.read(item.path)) == Path(item.local_path).read_bytes()


def test_transient_failures_are_retried_with_backoff_and_every_file_arrives(tmp_path):
    store = FlakyStore(tmp_path / "root", failures=2)
    uploads = _files(tmp_path / "src", 12)
    started = time.monotonic()
    Transfer(store, retries=2, backoff_s=0.05).upload(uploads)
    assert time.monotonic() - started >= 0.05 + 0.1  # two waits, doubling
    assert set(store.attempts.values()) == {3}
    assert [f.path for f in store.inner.list("dir")] == sorted(u.path for u in uploads)
    # no partial or temporary files were left by the failed attempts
    assert sorted(os.listdir(tmp_path / "root" / "dir")) == sorted(f"f{i}.bin" for i in range(12))

    downloads = [Download(u.path, str(tmp_path / "back" / u.path), u.size) for u in uploads]
    store.attempts.clear()
    Transfer(store, retries=2, backoff_s=0.01).download(downloads)
    for up, down in zip(uploads, downloads, strict=True):
        assert Path(down.local_path).read_bytes() == Path(up.local_path).read_bytes()


def test_a_file_that_keeps_failing_is_reported_by_name_after_the_retries(tmp_path):
    store = FlakyStore(tmp_path / "root", failures=10)
    uploads = _files(tmp_path / "src", 1)
    with pytest.raises(TemporarilyUnavailable, match=r"'dir/f0.bin'.*3 attempt"):
        Transfer(store, retries=2, backoff_s=0.0).upload(uploads)
    assert store.attempts == {"dir/f0.bin": 3}
    assert store.inner.list() == []


def test_a_deterministic_failure_is_not_retried_and_names_the_file(tmp_path):
    store = FlakyStore(tmp_path / "root", failures=10, error=NotFound("gone"))
    downloads = [Download("dir/x.bin", str(tmp_path / "x.bin"), 1)]
    with pytest.raises(NotFound, match=re.escape("dir/x.bin")):
        Transfer(store, retries=5, backoff_s=0.0).download(downloads)
    assert store.attempts == {"dir/x.bin": 1}
    assert not (tmp_path / "x.bin").exists()
    assert [p for p in os.listdir(tmp_path) if p.endswith(".modelyard-part")] == []


def test_after_a_failure_the_remaining_files_are_not_started(tmp_path):
    store = FlakyStore(tmp_path / "root", failures=10, error=ModelyardError("disk full"))
    uploads = _files(tmp_path / "src", 200)
    with pytest.raises(ModelyardError, match="disk full"):
        Transfer(store, max_workers=2).upload(uploads)
    assert len(store.attempts) < 200


def test_progress_is_drawn_only_on_a_terminal_and_only_for_large_or_many_files(tmp_path):
    class Terminal:
        def __init__(self, tty: bool) -> None:
            self.tty = tty
            self.text = ""

        def isatty(self) -> bool:
            return self.tty

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    tty = Terminal(True)
    bar = Progress("Uploading artifacts", 20, 2000, tty)
    for _ in range(20):
        bar.add_bytes(100)
        bar.file_done()
    bar.close()
    assert "Uploading artifacts: 100%" in tty.text
    assert "20/20 files" in tty.text
    assert tty.text.endswith("\n")

    pipe = Terminal(False)
    bar = Progress("Uploading artifacts", 20, 2000, pipe)
    bar.add_bytes(2000)
    bar.file_done()
    bar.close()
    assert pipe.text == ""

    small = Terminal(True)
    bar = Progress("Uploading artifacts", 2, 10, small)
    bar.file_done()
    bar.close()
    assert small.text == ""
    assert Progress("x", 1, 64 << 20, Terminal(True)).enabled


_SCRIPT = """
import os, sys
import modelyard
modelyard.set_tracking_uri(sys.argv[1])
src = sys.argv[2]
os.makedirs(src)
for i in range(30):
    with open(os.path.join(src, f"f{i}.txt"), "w") as f:
        f.write("x" * i)
with modelyard.start_run():
    modelyard.log_artifacts(src, "many")
    print(len(modelyard.list_artifacts(artifact_path="many")), flush=True)
"""


def _script_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["MODELYARD_DEFAULT_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    return env


@pytest.mark.slow
def test_the_progress_bar_shows_on_a_pty_and_is_silent_on_a_pipe(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    script = tmp_path / "upload.py"
    script.write_text(_SCRIPT)

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(script), db, str(tmp_path / "src-tty")],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_script_env(tmp_path),
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = process.communicate(timeout=60)
    os.close(master)
    assert process.returncode == 0, seen.decode(errors="replace")
    assert out.decode().strip() == "30"
    text = seen.decode()
    assert "Uploading artifacts:" in text
    assert "100%" in text and "30/30 files" in text

    piped = subprocess.run(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'q.db'}", str(tmp_path / "src-pipe")],
        capture_output=True,
        text=True,
        env=_script_env(tmp_path),
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip() == "30"
    assert piped.stderr == ""


# ---------------------------------------------------------------------------------------- URIs
def test_mlflow_artifacts_locations_resolve_to_the_tracking_servers_proxy():
    assert proxy_url("mlflow-artifacts:/0/abc/artifacts", "http://host:5000") == (
        f"http://host:5000{PROXY_PATH}/0/abc/artifacts"
    )
    assert proxy_url("mlflow-artifacts:/0", "https://host/prefix/") == (
        f"https://host/prefix{PROXY_PATH}/0"
    )
    assert proxy_url("mlflow-artifacts:", "http://host") == f"http://host{PROXY_PATH}"
    assert proxy_url("mlflow-artifacts://other:7000/1/r", "https://host:5000") == (
        f"https://other:7000{PROXY_PATH}/1/r"
    )
    for bad in (
        "mlflow-artifacts:/../x",
        "mlflow-artifacts:/a/%2e%2e/b",
        "mlflow-artifacts:/a?x=1",
    ):
        with pytest.raises(InvalidInput):
            proxy_url(bad, "http://host")


def test_runs_uris_and_store_uris_split_into_a_root_and_a_checked_path():
    run_id = "a" * 32
    assert parse_runs_uri(f"runs:/{run_id}/model/MLmodel") == (run_id, "model/MLmodel")
    assert parse_runs_uri(f"runs:/{run_id}") == (run_id, "")
    for bad in (f"runs:/{run_id}/../x", "runs://host/x", "runs:relative", "runs:/not-an-id!/x"):
        with pytest.raises(InvalidInput):
            parse_runs_uri(bad)
    assert split_uri("s3://bucket/a/b/file.json") == ("s3://bucket/a/b", "file.json")
    assert split_uri("file:///tmp/x/y") == ("file:///tmp/x", "y")
    assert split_uri("mlflow-artifacts:/0/r/artifacts") == ("mlflow-artifacts:/0/r", "artifacts")
    assert split_uri("s3://bucket") == ("s3://bucket", "")


def test_an_mlflow_artifacts_location_with_a_database_tracking_uri_is_a_clear_error(
    sqlite_client, tmp_path
):
    experiment_id = sqlite_client.create_experiment(
        "proxied", artifact_location="mlflow-artifacts:/7"
    )
    run_id = sqlite_client.create_run(experiment_id).info.run_id
    assert sqlite_client.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:/7/")
    with pytest.raises(InvalidInput, match=r"only a tracking server.*http\(s\)://"):
        sqlite_client.log_text(run_id, "x", "a.txt")
    with pytest.raises(InvalidInput, match="tracking server"):
        sqlite_client.list_artifacts(run_id)


def test_http_backend_exposes_the_credentials_it_sends(client_settings):
    import base64

    client = ModelyardClient(
        "http://127.0.0.1:9",
        settings=client_settings(tracking_username="ann", tracking_password="s3cr:t"),
    )
    try:
        headers = client.backend.auth_headers
    finally:
        client.close()
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s3cr:t").decode()
    assert headers["User-Agent"].startswith("modelyard/")
    token = ModelyardClient("http://127.0.0.1:9", settings=client_settings(tracking_token="tok"))
    try:
        assert token.backend.auth_headers["Authorization"] == "Bearer tok"
    finally:
        token.close()


# ---------------------------------------------------------------------------------------- imports
def _run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_script_env(tmp_path),
        timeout=120,
    )


def test_the_file_api_loads_no_optional_library_until_one_is_needed(tmp_path):
    code = (
        "import json, sys, modelyard\n"
        "modelyard.set_tracking_uri('sqlite:///x.db')\n"
        "with modelyard.start_run():\n"
        "    modelyard.log_text('t', 't.txt'); modelyard.log_dict({'a': 1}, 'd.json')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'PIL', 'matplotlib', 'plotly', 'pandas', 'boto3', 'httpx'))))\n"
    )
    out = _run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("blocked", "call", "fix"),
    [
        ("PIL", "modelyard.log_image(object(), 'i.png')", "pip install pillow"),
        ("pandas", "modelyard.log_table({'a': [1]}, 't.json')", "pip install 'modelyard[pandas]'"),
        ("kaleido", "modelyard.log_figure(go.Figure(), 'f.png')", "pip install kaleido"),
    ],
)
def test_a_missing_optional_library_says_what_to_install(tmp_path, blocked, call, fix):
    code = (
        "import sys\n"
        "import plotly.graph_objects as go\n"
        f"sys.modules[{blocked!r}] = None  # as if it were not installed\n"
        "import modelyard\n"
        "modelyard.set_tracking_uri('sqlite:///x.db')\n"
        "try:\n"
        "    with modelyard.start_run():\n"
        f"        {call}\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = _run_python(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert fix in out.stdout


# ---------------------------------------------------------------------------------------- fluent
def test_the_fluent_file_api_acts_on_the_active_run(fluent, tmp_path):
    local = tmp_path / "model.pkl"
    local.write_bytes(b"\x80\x04pickle")
    folder = tmp_path / "plots"
    folder.mkdir()
    (folder / "a.txt").write_text("A")
    with fluent.start_run() as run:
        fluent.log_artifact(str(local), "model")
        fluent.log_artifacts(str(folder), "plots")
        fluent.log_dict({"k": [1, 2]}, "params.yaml")
        fluent.log_text("hello", "notes.txt")
        fluent.log_table({"a": [1, 2]}, "table.json")
        uri = fluent.get_artifact_uri()
        assert fluent.get_artifact_uri("notes.txt") == f"{uri}/notes.txt"
        assert [f.path for f in fluent.list_artifacts()] == [
            "model",
            "notes.txt",
            "params.yaml",
            "plots",
            "table.json",
        ]
    run_id = run.info.run_id
    assert [f.path for f in fluent.list_artifacts(run_id=run_id, artifact_path="plots")] == [
        "plots/a.txt"
    ]
    assert [f.path for f in fluent.list_artifacts(f"runs:/{run_id}/model")] == ["model/model.pkl"]
    assert fluent.load_dict(f"runs:/{run_id}/params.yaml") == {"k": [1, 2]}
    assert fluent.load_text(f"{uri}/notes.txt") == "hello"
    table = fluent.load_table("table.json", extra_columns=["run_id"])
    assert table.to_dict(orient="list") == {"a": [1, 2], "run_id": [run_id, run_id]}
    out = fluent.download_artifacts(
        run_id=run_id, artifact_path="model", dst_path=str(tmp_path / "d")
    )
    assert Path(out, "model.pkl").read_bytes() == b"\x80\x04pickle"
    out = fluent.download_artifacts(f"runs:/{run_id}/plots/a.txt", dst_path=str(tmp_path / "e"))
    assert out == str(tmp_path / "e" / "a.txt")
    assert Path(out).read_text() == "A"
    with pytest.raises(InvalidInput, match="exactly one"):
        fluent.download_artifacts()
    with pytest.raises(InvalidInput, match="no run is active"):
        fluent.list_artifacts()


def test_fluent_logging_without_an_active_run_starts_one(fluent):
    fluent.log_text("started for me", "auto.txt")
    active = fluent.active_run()
    assert active is not None
    assert fluent.load_text(f"runs:/{active.run_id}/auto.txt") == "started for me"
    fluent.end_run()
