"""What only the local store does: symlinks that leave the root, folders on disk, file: URIs."""

from __future__ import annotations

import os

import pytest

from modelyard.errors import InvalidInput, NotFound
from modelyard.store.artifacts import FileInfo, LocalArtifactStore


@pytest.fixture
def escape(tmp_path):
    """A root, a secret folder beside it, and links from inside the root to the secret."""
    root = tmp_path / "root"
    secret = tmp_path / "secret"
    root.mkdir()
    secret.mkdir()
    (secret / "key.pem").write_bytes(b"PRIVATE")
    (root / "dirlink").symlink_to(secret, target_is_directory=True)
    (root / "filelink").symlink_to(secret / "key.pem")
    (root / "nested").mkdir()
    (root / "nested" / "up").symlink_to("../../secret", target_is_directory=True)
    (root / "real.txt").write_bytes(b"real")
    return LocalArtifactStore(f"file://{root}"), root, secret


ESCAPING = [
    "dirlink",
    "dirlink/key.pem",
    "dirlink/new.txt",
    "filelink",
    "nested/up",
    "nested/up/key.pem",
]


@pytest.mark.parametrize("path", ESCAPING)
def test_symlinks_out_of_the_root_are_refused_everywhere(escape, tmp_path, path):
    store, _root, secret = escape
    client = tmp_path / "client"
    client.mkdir()
    (client / "src.bin").write_bytes(b"overwrite")
    calls = {
        "write": lambda: store.write(path, [b"overwrite"]),
        "read": lambda: b"".join(store.read(path)),
        "stat": lambda: store.stat(path),
        "list": lambda: store.list(path),
        "delete": lambda: store.delete(path),
        "upload_file": lambda: store.upload_file(str(client / "src.bin"), path),
        "download_file": lambda: store.download_file(path, str(client / "out.bin")),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidInput, match="leaves the artifact root"):
            call()
        assert sorted(p.name for p in secret.iterdir()) == ["key.pem"], name
        assert (secret / "key.pem").read_bytes() == b"PRIVATE", name
    assert not (client / "out.bin").exists()


def test_listing_leaves_out_links_that_leave_the_root(escape):
    store, root, _secret = escape
    (root / "inner").symlink_to(root / "nested", target_is_directory=True)
    assert store.list() == [
        FileInfo("inner", True, None),
        FileInfo("nested", True, None),
        FileInfo("real.txt", False, 4),
    ]
    assert store.list("nested") == []


def test_links_that_stay_inside_the_root_work(escape):
    store, root, _secret = escape
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert b"".join(store.read("alias.txt")) == b"real"
    assert store.stat("alias.txt").size == 4


def test_root_that_is_itself_a_link_is_followed(tmp_path):
    real = tmp_path / "real-root"
    real.mkdir()
    (tmp_path / "link-root").symlink_to(real, target_is_directory=True)
    store = LocalArtifactStore(str(tmp_path / "link-root"))
    store.write("a/b.txt", [b"b"])
    assert (real / "a" / "b.txt").read_bytes() == b"b"
    assert store.list("a") == [FileInfo("a/b.txt", False, 1)]


def test_a_file_cannot_replace_a_folder_or_sit_below_a_file(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    store.write("model/MLmodel", [b"m"])
    with pytest.raises(InvalidInput, match="folder"):
        store.write("model", [b"x"])
    with pytest.raises(InvalidInput, match="parent"):
        store.write("model/MLmodel/inner.txt", [b"x"])
    assert b"".join(store.read("model/MLmodel")) == b"m"


def test_writes_leave_no_temporary_files_and_listings_hide_them(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    store.write("dir/a.txt", [b"a"])
    assert sorted(os.listdir(tmp_path / "dir")) == ["a.txt"]
    (tmp_path / "dir" / ".modelyard-0123abcd.tmp").write_bytes(b"in progress elsewhere")
    assert store.list("dir") == [FileInfo("dir/a.txt", False, 1)]


def test_files_are_created_with_the_usual_permissions(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    store.write("a.txt", [b"a"])
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("form", ["plain", "file:///", "file:/", "file://localhost/"])
def test_root_uri_forms(tmp_path, form):
    root = tmp_path / "my root"
    if form == "plain":
        uri = str(root)
    else:
        uri = form.rstrip("/") + "/" + str(root).lstrip("/").replace(" ", "%20")
    store = LocalArtifactStore(uri)
    assert store.root == str(root)
    assert store.root_uri == uri
    store.write("x.txt", [b"x"])
    assert (root / "x.txt").read_bytes() == b"x"


@pytest.mark.parametrize(
    "uri", ["", "file://otherhost/data", "file:///data?x=1", "file:///data#frag"]
)
def test_bad_root_uris_are_invalid_input(uri):
    with pytest.raises(InvalidInput, match="artifact root"):
        LocalArtifactStore(uri)


def test_multipart_uploads_are_not_implemented(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    with pytest.raises(NotImplementedError, match="local"):
        store.create_multipart_upload("big.bin", 3)
    with pytest.raises(NotImplementedError):
        store.complete_multipart_upload("big.bin", "id", [])
    with pytest.raises(NotImplementedError):
        store.abort_multipart_upload("big.bin", "id")


def test_an_unfinished_read_releases_its_file(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    store.write("big.bin", [bytes(3 << 20)])
    before = len(os.listdir("/proc/self/fd"))
    chunks = store.read("big.bin")
    assert len(next(chunks)) == 1 << 20
    assert len(os.listdir("/proc/self/fd")) == before + 1
    chunks.close()
    assert len(os.listdir("/proc/self/fd")) == before
    assert list(chunks) == []


def test_read_errors_are_raised_at_the_call_not_on_iteration(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    with pytest.raises(NotFound):
        store.read("missing.bin")  # no iteration needed
    (tmp_path / "folder").mkdir()
    with pytest.raises(InvalidInput):
        store.read("folder")


def test_stat_of_the_root(tmp_path):
    store = LocalArtifactStore(str(tmp_path / "root"))
    assert store.stat("") is None
    store.write("a.txt", [b"a"])
    assert store.stat("").is_dir


def test_names_the_store_could_not_read_back_are_not_listed(tmp_path):
    store = LocalArtifactStore(str(tmp_path))
    for name in ("ok.txt", "a#b", "q?x", "back\\slash", "%2e%2e", "ctl\x01"):
        (tmp_path / name).write_bytes(b"x")
    assert store.list() == [FileInfo("ok.txt", False, 1)]
