"""The contract every artifact store keeps, run against each of them (local folder, S3 server).

The stores are real: a folder under ``tmp_path`` and a bucket of an S3-protocol server in its own
process (see conftest.py). The same test passes for each, or the store is wrong.
"""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from modelyard.errors import InvalidInput, NotFound
from modelyard.store.artifacts import CHUNK_SIZE, FileInfo

MIB = 1 << 20


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def read_all(store, path: str, start: int | None = None, end: int | None = None) -> bytes:
    return b"".join(store.read(path, start, end))


@pytest.mark.parametrize(
    "data",
    [b"", b"x", bytes(range(256)) * 3, payload(5 * MIB)],
    ids=["empty", "one-byte", "all-byte-values", "5MiB"],
)
def test_write_then_read_round_trips(artifact_store, data):
    written = artifact_store.write("dir/file.bin", chunked(data, 300_001))
    assert written == len(data)
    assert read_all(artifact_store, "dir/file.bin") == data
    assert artifact_store.stat("dir/file.bin").size == len(data)


def test_read_streams_in_bounded_chunks(artifact_store):
    data = payload(3 * MIB + 5)
    artifact_store.write("big.bin", [data])
    chunks = list(artifact_store.read("big.bin"))
    assert b"".join(chunks) == data
    assert len(chunks) >= 3
    assert max(len(c) for c in chunks) <= CHUNK_SIZE


def test_write_accepts_many_small_chunks_and_a_generator(artifact_store):
    def gen():
        for i in range(1000):
            yield str(i).encode() + b","

    written = artifact_store.write("gen.txt", gen())
    expected = b"".join(str(i).encode() + b"," for i in range(1000))
    assert written == len(expected)
    assert read_all(artifact_store, "gen.txt") == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, slice(0, 1)),
        (100, 199, slice(100, 200)),
        (1023, 1023, slice(1023, 1024)),
        (1000, None, slice(1000, None)),
        (None, 9, slice(0, 10)),
        (1020, 5000, slice(1020, None)),
        (0, None, slice(0, None)),
    ],
    ids=["first-byte", "middle", "last-byte", "to-end", "up-to", "end-past-size", "whole"],
)
def test_byte_ranges_are_inclusive(artifact_store, start, end, expected):
    data = bytes(range(256)) * 4
    artifact_store.write("ranged.bin", [data])
    assert read_all(artifact_store, "ranged.bin", start, end) == data[expected]


@pytest.mark.parametrize(("start", "end"), [(1024, None), (2000, 3000), (10, 5), (-1, None)])
def test_unsatisfiable_ranges_are_invalid_input(artifact_store, start, end):
    artifact_store.write("ranged.bin", [bytes(1024)])
    with pytest.raises(InvalidInput):
        read_all(artifact_store, "ranged.bin", start, end)


def test_range_over_a_large_file_streams_only_that_range(artifact_store):
    data = payload(3 * MIB, seed=3)
    artifact_store.write("large.bin", [data])
    start, end = MIB - 7, 2 * MIB + 11
    assert read_all(artifact_store, "large.bin", start, end) == data[start : end + 1]


def test_missing_file_is_not_found_and_stat_none(artifact_store):
    with pytest.raises(NotFound, match=r"nope\.txt"):
        read_all(artifact_store, "nope.txt")
    with pytest.raises(NotFound):
        read_all(artifact_store, "no/such/dir/nope.txt")
    assert artifact_store.stat("nope.txt") is None
    assert artifact_store.stat("no/such/dir") is None


def test_reading_a_folder_is_invalid_input(artifact_store):
    artifact_store.write("model/MLmodel", [b"flavors: {}\n"])
    with pytest.raises(InvalidInput, match="folder"):
        read_all(artifact_store, "model")


def test_stat_gives_size_and_an_etag_that_follows_the_content(artifact_store):
    artifact_store.write("a.txt", [b"first version"])
    first = artifact_store.stat("a.txt")
    assert first is not None
    assert first.size == len(b"first version")
    assert not first.is_dir
    assert first.etag.startswith('"') and first.etag.endswith('"') and len(first.etag) > 2
    assert first.last_modified > 0
    assert artifact_store.stat("a.txt") == first  # stable while unchanged

    artifact_store.write("a.txt", [b"second version, longer"])
    second = artifact_store.stat("a.txt")
    assert second.size == len(b"second version, longer")
    assert second.etag != first.etag


def test_stat_of_a_folder(artifact_store):
    artifact_store.write("model/data/weights.bin", [b"w"])
    for folder in ("model", "model/data", "model/"):
        info = artifact_store.stat(folder)
        assert info is not None and info.is_dir, folder


def test_nested_listing_has_root_relative_paths_and_sizes(artifact_store):
    artifact_store.write("model/MLmodel", [b"12345"])
    artifact_store.write("model/data/weights.bin", [b"1234567890"])
    artifact_store.write("model/conda.yaml", [b""])
    artifact_store.write("metrics.json", [b"{}"])
    artifact_store.write("zeta/last.txt", [b"z"])

    assert artifact_store.list() == [
        FileInfo("metrics.json", False, 2),
        FileInfo("model", True, None),
        FileInfo("zeta", True, None),
    ]
    assert artifact_store.list("") == artifact_store.list()
    expected_model = [
        FileInfo("model/MLmodel", False, 5),
        FileInfo("model/conda.yaml", False, 0),
        FileInfo("model/data", True, None),
    ]
    assert artifact_store.list("model") == expected_model
    assert artifact_store.list("model/") == expected_model
    assert artifact_store.list("model/data") == [FileInfo("model/data/weights.bin", False, 10)]


def test_listing_a_missing_folder_or_a_file_is_empty(artifact_store):
    assert artifact_store.list() == []
    assert artifact_store.list("missing") == []
    artifact_store.write("file.txt", [b"x"])
    assert artifact_store.list("file.txt") == []
    assert artifact_store.list("missing/deeper") == []


def test_listing_many_entries_is_complete_and_sorted(artifact_store):
    names = [f"f{i:04d}.txt" for i in range(1105)]  # more than one S3 page of 1000
    with ThreadPoolExecutor(8) as pool:  # one store shared by threads, as in the server
        list(pool.map(lambda name: artifact_store.write(f"many/{name}", [b"."]), names))
    listing = artifact_store.list("many")
    assert [info.path for info in listing] == [f"many/{n}" for n in names]


def test_delete_a_file_keeps_its_siblings(artifact_store):
    artifact_store.write("dir/a.txt", [b"a"])
    artifact_store.write("dir/b.txt", [b"b"])
    artifact_store.delete("dir/a.txt")
    assert artifact_store.stat("dir/a.txt") is None
    assert [i.path for i in artifact_store.list("dir")] == ["dir/b.txt"]


def test_delete_a_tree_and_only_that_tree(artifact_store):
    artifact_store.write("model/MLmodel", [b"m"])
    artifact_store.write("model/data/a/b/c.bin", [b"c"])
    artifact_store.write("model2/keep.txt", [b"keep"])
    artifact_store.write("model.txt", [b"keep"])
    artifact_store.delete("model")
    assert artifact_store.stat("model") is None
    assert artifact_store.list("model") == []
    assert [i.path for i in artifact_store.list()] == ["model.txt", "model2"]
    assert read_all(artifact_store, "model2/keep.txt") == b"keep"


def test_delete_a_missing_path_is_not_an_error(artifact_store):
    artifact_store.delete("never/was")
    artifact_store.delete("never.txt")


def test_delete_the_root_empties_the_store(artifact_store, outside_root):
    artifact_store.write("a.txt", [b"a"])
    artifact_store.write("b/c.txt", [b"c"])
    artifact_store.delete("")
    assert artifact_store.list() == []
    assert outside_root() == []


def test_upload_file_and_download_file(artifact_store, tmp_path):
    data = payload(2 * MIB + 3, seed=7)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    artifact_store.upload_file(str(source), "uploaded/model.bin")
    assert read_all(artifact_store, "uploaded/model.bin") == data

    target = tmp_path / "downloads" / "nested" / "copy.bin"
    artifact_store.download_file("uploaded/model.bin", str(target))
    assert target.read_bytes() == data


def test_download_of_a_missing_file_is_not_found(artifact_store, tmp_path):
    with pytest.raises(NotFound):
        artifact_store.download_file("missing.bin", str(tmp_path / "out.bin"))


def test_upload_of_a_missing_local_file_is_not_found(artifact_store, tmp_path):
    with pytest.raises(NotFound):
        artifact_store.upload_file(str(tmp_path / "absent.bin"), "x.bin")
    assert artifact_store.list() == []


def test_overwriting_replaces_the_whole_file(artifact_store):
    artifact_store.write("over.txt", [b"a much longer first version of the file"])
    artifact_store.write("over.txt", [b"short"])
    assert read_all(artifact_store, "over.txt") == b"short"
    assert artifact_store.list() == [FileInfo("over.txt", False, 5)]


class _Boom(Exception):
    pass


@pytest.mark.parametrize(
    "size_before_failure", [10, 9 * MIB], ids=["small", "past-multipart-threshold"]
)
def test_a_failed_write_leaves_the_old_file_whole(
    artifact_store, outside_root, size_before_failure
):
    artifact_store.write("model.bin", [b"old content"])

    def failing() -> Iterator[bytes]:
        yield bytes(size_before_failure)
        raise _Boom("the client went away")

    with pytest.raises(_Boom):
        artifact_store.write("model.bin", failing())
    assert read_all(artifact_store, "model.bin") == b"old content"
    assert artifact_store.list() == [FileInfo("model.bin", False, len(b"old content"))]
    assert outside_root() == []


@pytest.mark.parametrize(
    "name",
    [
        "with space.txt",
        "ünïcödé/naïve résumé.txt",
        "emoji 🎉/file 📦.bin",
        "100%.txt",
        "50%25off.txt",
        "a%20b.txt",
        "semi;colon,comma=eq+plus&amp'quote'.txt",
        "dots..in..name",
        ".hidden",
        "a/b/c/d/e/f/g/deep.txt",
    ],
)
def test_unusual_names_round_trip_exactly(artifact_store, name):
    artifact_store.write(name, [name.encode()])
    assert read_all(artifact_store, name) == name.encode()
    assert artifact_store.stat(name).size == len(name.encode())
    folder = name.rsplit("/", 1)[0] if "/" in name else ""
    assert FileInfo(name, False, len(name.encode())) in artifact_store.list(folder)


ATTACKS = [
    "../x",
    "a/../../x",
    "..",
    "%2e%2e/x",
    "%252e%252e/x",
    "/etc/passwd",
    "C:\\x",
    "c:/x",
    "a\\..\\b",
    "x#y",
    "x%23y",
    "x\x00y",
    "x%00y",
    "..%2f..%2fetc",
    "..%252f..%252fetc/passwd",
    "//proc/self/root",
    "//proc/self/root/etc/passwd",
    "a/b?x=1",
]


def _every_method(store, attack: str, client_dir) -> list[tuple[str, object]]:
    local_file = client_dir / "attack-source.bin"
    local_file.write_bytes(b"payload")
    return [
        ("write", lambda: store.write(attack, [b"payload"])),
        ("read", lambda: read_all(store, attack)),
        ("stat", lambda: store.stat(attack)),
        ("list", lambda: store.list(attack)),
        ("delete", lambda: store.delete(attack)),
        ("upload_file", lambda: store.upload_file(str(local_file), attack)),
        (
            "download_file",
            lambda: store.download_file(attack, str(client_dir / "attack-download.bin")),
        ),
        ("create_multipart_upload", lambda: store.create_multipart_upload(attack, 2)),
        (
            "complete_multipart_upload",
            lambda: store.complete_multipart_upload(attack, "upload-1", []),
        ),
        ("abort_multipart_upload", lambda: store.abort_multipart_upload(attack, "upload-1")),
    ]


@pytest.mark.parametrize("attack", ATTACKS)
def test_traversal_is_refused_by_every_method(
    artifact_store, outside_root, tmp_path_factory, attack
):
    client_dir = tmp_path_factory.mktemp("client")
    artifact_store.write("inside.txt", [b"inside"])
    for method, call in _every_method(artifact_store, attack, client_dir):
        with pytest.raises(InvalidInput, match="Invalid path"):
            call()
        assert outside_root() == [], f"{method}({attack!r}) wrote outside the root"
    assert [i.path for i in artifact_store.list()] == ["inside.txt"]
    assert read_all(artifact_store, "inside.txt") == b"inside"
    assert sorted(p.name for p in client_dir.iterdir()) == ["attack-source.bin"]


def _lazy_chunks(total: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(total // MIB):
        yield rng.randbytes(MIB)


@pytest.mark.slow
def test_a_64_mib_streamed_write_keeps_python_memory_flat(artifact_store):
    total = 64 * MIB
    expected = hashlib.sha256()
    for chunk in _lazy_chunks(total, seed=11):
        expected.update(chunk)
    # Warm up first: making an S3 client loads botocore's service model, whatever the file size.
    assert artifact_store.stat("big/stream.bin") is None

    tracemalloc.start()
    try:
        written = artifact_store.write("big/stream.bin", _lazy_chunks(total, seed=11))
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got = hashlib.sha256()
        for chunk in artifact_store.read("big/stream.bin"):
            got.update(chunk)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == total
    assert got.hexdigest() == expected.hexdigest()
    assert artifact_store.stat("big/stream.bin").size == total
    # One S3 part (8 MiB) and the copy that joins its chunks at most; a chunk or two for the local store.
    assert peak_write < 24 * MIB, f"peak {peak_write / MIB:.1f} MiB while writing"
    # The proxy suite's server runs in this process, so for ``http`` tracemalloc sees both ends: the
    # server's send buffer and the client's receive buffer, each a chunk or two, and more of them
    # under load when the reader falls behind.
    read_limit = 16 * MIB if artifact_store.__class__.__name__ == "HttpArtifactStore" else 8 * MIB
    assert peak_read < read_limit, f"peak {peak_read / MIB:.1f} MiB while reading"
