"""Path and location checks against the attack strings of MLflow's artifact CVEs (reference §9)."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidInput
from modelyard.store.artifacts.paths import (
    fully_unquote,
    is_private_host,
    safe_relative_path,
    validate_artifact_location,
)

TRAVERSALS = [
    "../x",
    "a/../../x",
    "..",
    "%2e%2e/x",
    "%252e%252e/x",
    "%25252e%25252e%25252fetc",
    "..%2f..%2fetc/passwd",
    "/etc/passwd",
    "//proc/self/root/etc/passwd",
    "C:\\Windows",
    "c:/windows",
    "a\\..\\b",
    "x#/../../y",
    "x%23y",
    "x\x00y",
    "x%00y",
    "a/b?c=1",
]


@pytest.mark.parametrize("attack", TRAVERSALS)
def test_traversal_strings_are_refused(attack):
    with pytest.raises(InvalidInput, match="Invalid path"):
        safe_relative_path(attack)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", ""),
        (".", ""),
        ("model", "model"),
        ("model/MLmodel", "model/MLmodel"),
        ("a//b/./c", "a/b/c"),
        ("dir/", "dir"),
        ("100%.txt", "100%.txt"),
        ("with space/ünï.txt", "with space/ünï.txt"),
        ("a..b/c..", "a..b/c.."),
    ],
)
def test_safe_paths_are_normalised(given, expected):
    assert safe_relative_path(given) == expected


def test_root_can_be_refused():
    with pytest.raises(InvalidInput, match="file path is required"):
        safe_relative_path("", allow_empty=False)


def test_decoding_is_bounded():
    deep = ".."
    for _ in range(12):
        deep = deep.replace("%", "%25").replace(".", "%2e")
    with pytest.raises(InvalidInput):
        safe_relative_path(deep)
    assert fully_unquote("%2541") == "A"


@pytest.mark.parametrize(
    "location",
    [
        "runs:/abc/model",
        "models:/m/1",
        "http:///#/../../",
        "file:///tmp/x#frag",
        "s3://bucket/prefix?versionId=1",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8080/x",
        "https://localhost/x",
        "http://[::1]/x",
        "http://10.0.0.5/x",
        "dbfs:/databricks/x",
        "file:///tmp/../../etc",
        "ftp://example.com/x",
        "",
    ],
)
def test_bad_artifact_locations_are_refused(location):
    with pytest.raises(InvalidInput, match="artifact location"):
        validate_artifact_location(location)


@pytest.mark.parametrize(
    "location",
    [
        "s3://bucket/prefix",
        "file:///data/mlartifacts",
        "/data/mlartifacts",
        "mlflow-artifacts:/",
        "https://example.com/a",
    ],
)
def test_good_artifact_locations_pass(location):
    assert validate_artifact_location(location) == location


def test_private_http_allowed_only_when_asked():
    assert validate_artifact_location("http://127.0.0.1:9000/a", allow_private_http=True)
    assert (
        is_private_host("LOCALHOST")
        and is_private_host("fd00::1")
        and not is_private_host("example.com")
    )
