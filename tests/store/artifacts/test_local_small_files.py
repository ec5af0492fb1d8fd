"""``LocalArtifactStore.write_small`` and ``read_small``: the server's in-memory small-file path.

They must do what ``write`` and ``stat`` + ``read`` do (same files, same ETags, same refusals), with
the folders they remember re-checked on every call: a folder removed, replaced or swapped for a link
after it was remembered is noticed, never written through.
"""

from __future__ import annotations

import os
import shutil

import pytest

from modelyard.errors import InvalidInput
from modelyard.store.artifacts import LocalArtifactStore


@pytest.fixture
def store(tmp_path):
    return LocalArtifactStore(f"file://{tmp_path / 'root'}")


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


def leftovers(root) -> list[str]:
    return [p.name for p in root.rglob(".modelyard-*")]


def test_write_small_writes_what_write_writes_and_read_small_agrees_with_stat(store, root):
    assert store.write_small("a/b/one.bin", b"1" * 10) == 10  # first write: the full path
    assert store.write_small("a/b/two.bin", b"2" * 20) == 20  # remembered folder
    assert store.write_small("a/b/one.bin", b"") == 0  # replaced by an empty file
    assert store.write_small("top.txt", b"top") == 3  # in the root itself
    assert store.write_small("top2.txt", b"top2") == 4
    assert (root / "a/b/one.bin").read_bytes() == b""
    assert (root / "a/b/two.bin").read_bytes() == b"2" * 20
    assert (root / "top2.txt").read_bytes() == b"top2"
    assert not leftovers(root)
    for path, data in (("a/b/two.bin", b"2" * 20), ("a/b/one.bin", b""), ("top.txt", b"top")):
        info, got = store.read_small(path, 1 << 16)
        assert got == data
        assert info == store.stat(path)
        assert b"".join(store.read(path)) == data


def test_read_small_answers_none_for_missing_and_large_files_and_marks_folders(store, root):
    store.write_small("a/big.bin", b"x" * 101)
    info, data = store.read_small("a/big.bin", 100)
    assert data is None and info.size == 101
    assert store.read_small("a/missing.bin", 100) is None
    assert store.read_small("nowhere/missing.bin", 100) is None
    store.write_small("a/sub/f.bin", b"f")
    info, data = store.read_small("a/sub", 100)
    assert info.is_dir and data is None


def test_refusals_are_the_same_as_write(store, root):
    store.write_small("a/sub/f.bin", b"f")
    store.write_small("a/g.bin", b"g")
    with pytest.raises(InvalidInput, match="is a folder; a file cannot replace it"):
        store.write_small("a/sub", b"x")
    with pytest.raises(InvalidInput, match="a parent of it is a file"):
        store.write_small("a/g.bin/below.bin", b"x")
    for bad in ("../escape.bin", "a/../../escape.bin", "/etc/escape.bin", "a\\b", "%2e%2e/x"):
        with pytest.raises(InvalidInput):
            store.write_small(bad, b"x")
        with pytest.raises(InvalidInput):
            store.read_small(bad, 100)
    assert not list(root.parent.rglob("escape.bin"))
    assert (root / "a/g.bin").read_bytes() == b"g"


def test_a_remembered_folder_swapped_for_a_link_is_not_written_through(store, root, tmp_path):
    store.write_small("d/a.bin", b"a")
    secret = tmp_path / "secret"
    secret.mkdir()
    (root / "d").rename(root / "d-old")
    (root / "d").symlink_to(secret, target_is_directory=True)
    with pytest.raises(InvalidInput, match="leaves the artifact root"):
        store.write_small("d/b.bin", b"b")
    with pytest.raises(InvalidInput, match="leaves the artifact root"):
        store.read_small("d/a.bin", 100)
    assert list(secret.iterdir()) == []


def test_a_link_to_a_folder_inside_the_root_is_followed_but_not_remembered(store, root):
    store.write_small("real/a.bin", b"a")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    store.write_small("alias/b.bin", b"b")
    assert (root / "real/b.bin").read_bytes() == b"b"
    # The link now points elsewhere (inside the root): the next write follows it again.
    (root / "other").mkdir()
    (root / "alias").unlink()
    (root / "alias").symlink_to(root / "other", target_is_directory=True)
    store.write_small("alias/c.bin", b"c")
    assert (root / "other/c.bin").read_bytes() == b"c"
    assert not (root / "real/c.bin").exists()


def test_removed_recreated_and_deleted_folders_are_noticed(store, root):
    store.write_small("d/e/a.bin", b"a")
    shutil.rmtree(root / "d")
    store.write_small("d/e/b.bin", b"b")
    assert sorted(os.listdir(root / "d/e")) == ["b.bin"]
    (root / "d/e").rename(root / "moved")
    (root / "d/e").mkdir()
    store.write_small("d/e/c.bin", b"c")
    assert (root / "d/e/c.bin").read_bytes() == b"c"
    assert sorted(os.listdir(root / "moved")) == ["b.bin"]
    store.delete("d")
    assert store.read_small("d/e/c.bin", 100) is None
    store.write_small("d/e/again.bin", b"again")
    assert (root / "d/e/again.bin").read_bytes() == b"again"
    assert not leftovers(root)


def test_a_parent_moved_out_of_the_root_behind_a_link_is_noticed(store, root, tmp_path):
    store.write_small("a/b/x.bin", b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "a").rename(outside / "a")  # the remembered folder a/b is the same inode, elsewhere
    (root / "a").symlink_to(outside / "a", target_is_directory=True)
    with pytest.raises(InvalidInput, match="leaves the artifact root"):
        store.write_small("a/b/y.bin", b"y")
    with pytest.raises(InvalidInput, match="leaves the artifact root"):
        store.read_small("a/b/x.bin", 100)
    assert sorted(os.listdir(outside / "a/b")) == ["x.bin"]
