"""What only the S3 store does: multipart uploads, keys under the prefix, endpoints, error translation.

All against the S3-protocol server that conftest.py starts on 127.0.0.1 (moto's server mode).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from modelyard.errors import InvalidInput, ModelyardError, NotFound, TemporarilyUnavailable
from modelyard.store.artifacts import CompletedPart, FileInfo, S3ArtifactStore, open_artifact_store

MIB = 1 << 20
S3_PREFIX = "root/prefix"  # where conftest.py roots the shared suite's S3 stores


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def all_keys(s3_client, bucket: str) -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))


def put_parts(upload, blobs: list[bytes]) -> list[CompletedPart]:
    """PUT each blob to its presigned URL, as a client of the artifact proxy would."""
    done = []
    with httpx.Client(timeout=30) as http:
        for part, blob in zip(upload.parts, blobs, strict=True):
            answer = http.put(part.url, content=blob, headers=part.headers)
            assert answer.status_code == 200, answer.text
            done.append(
                CompletedPart(
                    part_number=part.part_number, etag=answer.headers["ETag"], url=part.url
                )
            )
    return done


def pending_uploads(s3_client, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", ())]


def test_multipart_upload_through_presigned_urls(s3_store, s3_client, s3_bucket):
    store = s3_store.store
    first, second, third = os.urandom(5 * MIB), os.urandom(5 * MIB), b"the tail"
    upload = store.create_multipart_upload("model/weights.bin", 3)
    assert upload.upload_id
    assert [p.part_number for p in upload.parts] == [1, 2, 3]
    assert all(p.url.startswith(store.endpoint_url) for p in upload.parts)

    done = put_parts(upload, [first, second, third])
    store.complete_multipart_upload("model/weights.bin", upload.upload_id, list(reversed(done)))

    assert b"".join(store.read("model/weights.bin")) == first + second + third
    assert store.stat("model/weights.bin").size == 10 * MIB + len(third)
    assert store.list("model") == [FileInfo("model/weights.bin", False, 10 * MIB + len(third))]
    assert pending_uploads(s3_client, s3_bucket) == []
    assert s3_store.outside_root() == []


def test_abort_discards_the_upload(s3_store, s3_client, s3_bucket):
    store = s3_store.store
    upload = store.create_multipart_upload("big.bin", 2)
    put_parts(upload, [os.urandom(5 * MIB), b"end"])
    assert pending_uploads(s3_client, s3_bucket) == [f"{S3_PREFIX}/big.bin"]

    store.abort_multipart_upload("big.bin", upload.upload_id)
    assert pending_uploads(s3_client, s3_bucket) == []
    # (Completing it now is NoSuchUpload -> NotFound on S3; moto 5.2 answers a bare 500 instead.)
    with pytest.raises(NotFound):
        b"".join(store.read("big.bin"))
    store.abort_multipart_upload("big.bin", upload.upload_id)  # again: not an error


def test_complete_with_a_wrong_etag_is_invalid_input(s3_store):
    store = s3_store.store
    upload = store.create_multipart_upload("x.bin", 1)
    put_parts(upload, [b"only part"])
    with pytest.raises(InvalidInput, match="InvalidPart"):
        store.complete_multipart_upload("x.bin", upload.upload_id, [CompletedPart(1, '"0000"')])
    store.abort_multipart_upload("x.bin", upload.upload_id)


@pytest.mark.parametrize("num_parts", [0, -1, 10_001, True, "3"])
def test_bad_part_counts_are_invalid_input(s3_store, num_parts):
    with pytest.raises(InvalidInput, match="num_parts"):
        s3_store.store.create_multipart_upload("x.bin", num_parts)


@pytest.mark.parametrize("upload_id", ["", "a\x00b", None])
def test_bad_upload_ids_are_invalid_input(s3_store, upload_id):
    with pytest.raises(InvalidInput, match="upload_id"):
        s3_store.store.abort_multipart_upload("x.bin", upload_id)


def test_large_streamed_writes_use_multipart_parts(moto_endpoint, aws_env, s3_client, s3_bucket):
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/p", moto_endpoint, part_size=5 * MIB, multipart_threshold=5 * MIB
    )
    data = os.urandom(12 * MIB + 1)
    written = store.write("big.bin", (data[i : i + 700_000] for i in range(0, len(data), 700_000)))
    assert written == len(data)
    head = s3_client.head_object(Bucket=s3_bucket, Key="p/big.bin")
    assert head["ETag"].endswith('-3"')  # three parts: 5 MiB, 5 MiB and the rest
    assert b"".join(store.read("big.bin")) == data


def test_one_huge_chunk_is_cut_into_parts(moto_endpoint, aws_env, s3_client, s3_bucket):
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/p", moto_endpoint, part_size=5 * MIB, multipart_threshold=0
    )
    data = os.urandom(11 * MIB)
    assert store.write("one.bin", [data]) == len(data)
    assert s3_client.head_object(Bucket=s3_bucket, Key="p/one.bin")["ETag"].endswith('-3"')
    assert b"".join(store.read("one.bin")) == data


def test_a_failed_multipart_write_is_aborted(moto_endpoint, aws_env, s3_client, s3_bucket):
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/p", moto_endpoint, part_size=5 * MIB, multipart_threshold=5 * MIB
    )

    def failing():
        yield os.urandom(11 * MIB)
        raise RuntimeError("client disconnected")

    with pytest.raises(RuntimeError):
        store.write("big.bin", failing())
    assert pending_uploads(s3_client, s3_bucket) == []
    assert store.stat("big.bin") is None


def test_upload_file_uses_the_transfer_manager_for_large_files(
    moto_endpoint, aws_env, s3_client, s3_bucket, tmp_path
):
    store = S3ArtifactStore(
        f"s3://{s3_bucket}/p", moto_endpoint, part_size=5 * MIB, multipart_threshold=5 * MIB
    )
    source = tmp_path / "big.bin"
    data = os.urandom(11 * MIB)
    source.write_bytes(data)
    store.upload_file(str(source), "up/big.bin")
    assert s3_client.head_object(Bucket=s3_bucket, Key="p/up/big.bin")["ETag"].endswith('-3"')
    store.download_file("up/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data


def test_keys_are_the_prefix_and_the_path_exactly(s3_store, s3_client, s3_bucket):
    store = s3_store.store
    store.write("with space/ünï.txt", [b"1"])
    store.write("100%.txt", [b"2"])
    keys = all_keys(s3_client, s3_bucket)
    assert f"{S3_PREFIX}/with space/ünï.txt" in keys
    assert f"{S3_PREFIX}/100%.txt" in keys


def test_folder_markers_are_folders_not_files(s3_store, s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key=f"{S3_PREFIX}/made-by-console/", Body=b"")
    s3_client.put_object(Bucket=s3_bucket, Key=f"{S3_PREFIX}/made-by-console/file.txt", Body=b"abc")
    store = s3_store.store
    assert store.list() == [FileInfo("made-by-console", True, None)]
    assert store.list("made-by-console") == [FileInfo("made-by-console/file.txt", False, 3)]


def test_a_store_at_the_bucket_root(moto_endpoint, aws_env, s3_bucket):
    store = S3ArtifactStore(f"s3://{s3_bucket}", moto_endpoint)
    assert store.prefix == ""
    store.write("a/b.txt", [b"b"])
    store.write("c.txt", [b"c"])
    assert store.list() == [FileInfo("a", True, None), FileInfo("c.txt", False, 1)]
    assert store.list("a") == [FileInfo("a/b.txt", False, 1)]
    assert store.stat("").is_dir
    store.delete("")
    assert store.list() == []
    assert store.stat("") is None


def test_listing_and_deleting_across_many_pages(moto_endpoint, aws_env, s3_client, s3_bucket):
    store = S3ArtifactStore(f"s3://{s3_bucket}/p", moto_endpoint, page_size=7)
    names = [f"f{i:02d}" for i in range(30)] + [f"d{i:02d}/x" for i in range(12)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: store.write(f"run/{n}", [b"."]), names))
    s3_client.put_object(Bucket=s3_bucket, Key="p/run-other", Body=b"keep")
    listing = store.list("run")
    assert [f.path for f in listing] == sorted(f"run/{n.split('/')[0]}" for n in names)
    assert sum(f.is_dir for f in listing) == 12
    store.delete("run")
    assert all_keys(s3_client, s3_bucket) == ["p/run-other"]


@pytest.mark.parametrize("page_size", [0, 1001])
def test_page_size_is_bounded(page_size):
    with pytest.raises(InvalidInput, match="page size"):
        S3ArtifactStore("s3://bucket/p", page_size=page_size)


def test_endpoint_comes_from_the_argument_then_the_environment(monkeypatch, aws_env):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://mlflow-name:9000")
    assert S3ArtifactStore("s3://bucket/x").endpoint_url == "http://mlflow-name:9000"
    monkeypatch.setenv("MODELYARD_S3_ENDPOINT_URL", "http://modelyard-name:9000")
    assert S3ArtifactStore("s3://bucket/x").endpoint_url == "http://modelyard-name:9000"
    assert (
        S3ArtifactStore("s3://bucket/x", "http://explicit:9000").endpoint_url
        == "http://explicit:9000"
    )
    monkeypatch.delenv("MODELYARD_S3_ENDPOINT_URL")
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    assert S3ArtifactStore("s3://bucket/x").endpoint_url is None


@pytest.mark.parametrize(
    "uri",
    [
        "s3://",
        "s3:///prefix",
        "s3://bucket/../x",
        "s3://bucket/a/%2e%2e/b",
        "s3://bucket/a#b",
        "s3://bucket/a?b=1",
        "s3://x/p",
        "s3://bad_bucket!/p",
        "file:///not-s3",
    ],
)
def test_bad_roots_are_invalid_input(uri):
    with pytest.raises(InvalidInput):
        S3ArtifactStore(uri)


def test_an_unreachable_endpoint_is_temporarily_unavailable(aws_env):
    store = S3ArtifactStore("s3://bucket/p", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TemporarilyUnavailable, match="Cannot reach S3") as caught:
        store.list()
    assert caught.value.http_status == 503


def test_missing_credentials_are_temporarily_unavailable(moto_endpoint, aws_env, monkeypatch):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    store = S3ArtifactStore("s3://bucket/p", moto_endpoint)
    with pytest.raises(TemporarilyUnavailable, match="credentials"):
        store.stat("x")


def test_a_missing_bucket_is_a_short_error_without_xml(moto_endpoint, aws_env):
    store = S3ArtifactStore("s3://no-such-bucket-here/p", moto_endpoint)
    for call in (
        lambda: store.list(),
        lambda: store.write("a.txt", [b"a"]),
        lambda: store.stat("a.txt"),
    ):
        with pytest.raises(ModelyardError) as caught:
            call()
        assert type(caught.value) is ModelyardError
        assert "bucket does not exist" in caught.value.message
        assert "<" not in caught.value.message
        assert caught.value.to_dict()["error_code"] == "INTERNAL_ERROR"


def test_reads_return_the_connection_when_closed_early(s3_store):
    store = s3_store.store
    store.write("big.bin", [os.urandom(3 * MIB)])
    chunks = store.read("big.bin")
    assert len(next(chunks)) > 0
    chunks.close()
    assert list(chunks) == []
    assert b"".join(store.read("big.bin", 0, 9)) != b""  # the client still works


def test_the_registry_opens_s3_stores_without_network(monkeypatch, aws_env):
    store = open_artifact_store("s3://some-bucket/runs/1")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == ("some-bucket", "runs/1")


def test_without_boto3_the_error_says_how_to_install_it(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["boto3"] = None  # as if the s3 extra were not installed
        from modelyard.errors import InvalidInput
        from modelyard.store.artifacts import open_artifact_store
        store = open_artifact_store("s3://bucket/prefix")  # opening needs no boto3
        try:
            store.list()
        except InvalidInput as e:
            print(e.message)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'modelyard[s3]'" in result.stdout


def test_keys_the_store_could_not_read_back_are_not_listed(s3_store, s3_client, s3_bucket):
    for name in ("ok.txt", "..", "a#b", "%2e%2e", "dir/../x", "q?x"):
        s3_client.put_object(Bucket=s3_bucket, Key=f"{S3_PREFIX}/{name}", Body=b"x")
    assert s3_store.store.list() == [FileInfo("dir", True, None), FileInfo("ok.txt", False, 1)]
