"""Choosing a store by scheme: built-ins and entry-point plugins, looked up the same way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import modelyard.store.artifacts as artifacts
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.store.artifacts import (
    ENTRY_POINT_GROUP,
    LocalArtifactStore,
    S3ArtifactStore,
    available_schemes,
    open_artifact_store,
    uri_scheme,
)


@pytest.fixture
def fresh_registry():
    """Forget the entry points read so far, before and after the test."""
    artifacts._registry.cache_clear()
    yield
    artifacts._registry.cache_clear()


def test_plain_paths_and_file_uris_open_the_local_store(tmp_path):
    for uri in (str(tmp_path), f"file://{tmp_path}", f"file:{tmp_path}", "relative/mlartifacts"):
        store = open_artifact_store(uri)
        assert isinstance(store, LocalArtifactStore), uri
        assert store.root_uri == uri


def test_s3_uris_open_the_s3_store_lazily(monkeypatch):
    monkeypatch.delenv("MODELYARD_S3_ENDPOINT_URL", raising=False)
    store = open_artifact_store("S3://bucket/prefix/deeper")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == ("bucket", "prefix/deeper")
    assert store._client is None  # no boto3 client until the store is used


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("/data/x", "file"),
        ("data", "file"),
        ("C:\\data", "file"),
        ("file:///x", "file"),
        ("S3://b/p", "s3"),
        ("mlflow-artifacts:/x", "mlflow-artifacts"),
        ("gs://b/p", "gs"),
    ],
)
def test_uri_scheme(uri, scheme):
    assert uri_scheme(uri) == scheme


def test_an_unknown_scheme_names_itself_and_the_known_ones():
    with pytest.raises(InvalidInput) as caught:
        open_artifact_store("gs://bucket/prefix")
    message = caught.value.message
    assert "'gs:'" in message
    assert "file:, http:, https:, s3:" in message
    assert ENTRY_POINT_GROUP in message
    assert caught.value.http_status == 400


@pytest.mark.parametrize("uri", ["", "   ", None, 42])
def test_empty_uris_are_invalid_input(uri):
    with pytest.raises(InvalidInput):
        open_artifact_store(uri)


def test_builtins_are_listed():
    assert {"file", "http", "https", "s3"} <= set(available_schemes())
    assert available_schemes() == sorted(available_schemes())


def _install_plugin(folder, entry_points: str, module_source: str) -> None:
    """A real installed distribution on sys.path: a module plus dist-info metadata with entry points."""
    (folder / "modelyard_test_plugin.py").write_text(textwrap.dedent(module_source))
    info = folder / "modelyard_test_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: modelyard-test-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{textwrap.dedent(entry_points)}"
    )


PLUGIN = """
    class MemoryStore:
        def __init__(self, root_uri):
            self.root_uri = root_uri
            self.files = {}

    def broken(root_uri):
        raise AssertionError("never called")
"""


def test_an_entry_point_adds_a_scheme(tmp_path, monkeypatch, fresh_registry):
    _install_plugin(tmp_path, "memory = modelyard_test_plugin:MemoryStore\n", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "memory" in available_schemes()
    store = open_artifact_store("memory://bucket/x")
    assert type(store).__name__ == "MemoryStore"
    assert store.root_uri == "memory://bucket/x"
    # The built-ins are still there.
    assert isinstance(open_artifact_store(str(tmp_path)), LocalArtifactStore)


def test_an_entry_point_may_replace_a_builtin(tmp_path, monkeypatch, fresh_registry):
    _install_plugin(tmp_path, "s3 = modelyard_test_plugin:MemoryStore\n", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert type(open_artifact_store("s3://bucket/x")).__name__ == "MemoryStore"


def test_a_plugin_that_fails_to_load_is_a_clear_error(tmp_path, monkeypatch, fresh_registry):
    _install_plugin(tmp_path, "ghost = modelyard_test_plugin:NoSuchName\n", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelyardError, match=r"store for 'ghost:' .*could not be loaded"):
        open_artifact_store("ghost://x")


def test_importing_the_package_stays_light():
    script = (
        "import sys, modelyard.store.artifacts\n"
        "heavy = [m for m in ('boto3', 'botocore', 'sqlalchemy', 'fastapi', 'httpx', 'pandas') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_are_sorted_and_exist():
    # Sorted the way ruff sorts __all__: CONSTANTS, then Classes, then functions.
    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert artifacts.__all__ == sorted(artifacts.__all__, key=order)
    for name in artifacts.__all__:
        assert hasattr(artifacts, name), name
    assert artifacts.safe_relative_path("a//b") == "a/b"
    assert artifacts.validate_artifact_location("s3://bucket/x") == "s3://bucket/x"
