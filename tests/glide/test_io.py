"""glide.io: the project's one implementation of atomic writes and file hashing."""

from __future__ import annotations

import hashlib
import os

import pytest

from glide.io import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text, sha256_file


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    assert atomic_write_text(path, "één\n") == path  # creates the folder
    assert path.read_text(encoding="utf-8") == "één\n"
    mode = os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # ordinary permissions, not mkstemp's 0600
    with pytest.raises(RuntimeError, match="half"):

        def fail(handle):
            handle.write(b"half")
            raise RuntimeError("half written")

        atomic_write(path, fail)
    assert path.read_text(encoding="utf-8") == "één\n"  # the old file untouched
    assert _leftovers(path.parent) == []  # no temp file left behind
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_atomic_path_keeps_the_suffix_and_only_replaces_on_success(tmp_path):
    path = tmp_path / "plot.svg"
    path.write_text("old")
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".svg" and tmp != path
        tmp.write_text("new")
        assert path.read_text() == "old"  # not visible before the block ends
    assert path.read_text() == "new"
    with pytest.raises(ValueError):
        with atomic_path(path) as tmp:
            tmp.write_text("broken")
            raise ValueError("writer failed")
    assert path.read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(3 * 1024 + 17)
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == want
    assert sha256_file(str(path), chunk_size=1000) == want  # several chunks, a partial last one
    assert sha256_file(tmp_path / "blob.bin", chunk_size=1 << 20) == want
